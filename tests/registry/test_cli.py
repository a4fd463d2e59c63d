"""``vo-service registry record`` writes the record OAI-PMH serves, for registration by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.registry.conftest import make_archive
from tests.registry.xsd import assert_valid
from vo_service.cli import main

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "VO_SERVICE_DATA_DIR": str(tmp_path / "var"),
        "VO_SERVICE_ARCHIVE_PATH": str(make_archive(tmp_path / "archive")),
        "VO_SERVICE_AUTHORITY": "heasarc.example.net",
        "VO_SERVICE_SERVICE_NAME": "isgri-products",
        "VO_SERVICE_PUBLIC_BASE_URL": "https://vo.example.net/isgri/",
    }


def test_record_to_stdout(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["registry", "record"], env=env)
    assert result.exit_code == 0, result.output
    record = assert_valid(result.stdout_bytes)
    assert record.get(XSI_TYPE) == "vs:CatalogService"
    assert record.findtext("identifier") == "ivo://heasarc.example.net/isgri-products"
    assert "https://vo.example.net/isgri/capabilities" in record.xpath(
        "capability/interface/accessURL/text()"
    )


@pytest.mark.parametrize(
    ("which", "xsi_type", "identifier"),
    [
        ("service", "vs:CatalogService", "ivo://heasarc.example.net/isgri-products"),
        ("registry", "vg:Registry", "ivo://heasarc.example.net/registry"),
        ("authority", "vg:Authority", "ivo://heasarc.example.net"),
    ],
)
def test_record_to_file(
    env: dict[str, str], tmp_path: Path, which: str, xsi_type: str, identifier: str
) -> None:
    out = tmp_path / f"{which}.xml"
    result = CliRunner().invoke(
        main, ["registry", "record", "--which", which, "-o", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    record = assert_valid(out.read_bytes())
    assert (record.get(XSI_TYPE), record.findtext("identifier")) == (xsi_type, identifier)


def test_bad_settings_are_named(env: dict[str, str]) -> None:
    env["VO_SERVICE_PUBLIC_BASE_URL"] = "ftp://nope"
    result = CliRunner().invoke(main, ["registry", "record"], env=env)
    assert result.exit_code != 0
    assert "public_base_url" in result.output
