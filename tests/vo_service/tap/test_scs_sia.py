"""SCS 1.03 over isgri.detections and SIA 2.0 over the published images, with pyvo, on both
back ends; their rows' DataLink resolves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import requests
from astropy.time import Time
from pyvo.dal import SCSService
from pyvo.dal.adhoc import DatalinkResults
from pyvo.dal.sia2 import SIA2Service

from tests.datalink.conftest import votlint
from tests.registry.xsd import assert_valid
from tests.uws._xsd import validate
from tests.vo_service.tap.conftest import TapLive
from tests.vo_service.tap.test_tap import _separation


@pytest.fixture(scope="module")
def image_id(tap_live: TapLive) -> str:
    return tap_live.run_image()


def test_capabilities_list_scs_and_sia(tap_live: TapLive) -> None:
    caps = assert_valid(requests.get(f"{tap_live.url}/capabilities", timeout=30).content)
    ids = caps.xpath("capability/@standardID")
    assert {"ivo://ivoa.net/std/ConeSearch", "ivo://ivoa.net/std/SIA#query-2.0"} <= set(ids)
    cone = caps.xpath("capability[@standardID='ivo://ivoa.net/std/ConeSearch']")[0]
    assert float(cone.findtext("maxSR")) == 15.0
    assert_valid(requests.get(f"{tap_live.url}/sia/capabilities", timeout=30).content)


def test_the_registry_record_over_oai_pmh_lists_tap_scs_and_sia(tap_live: TapLive) -> None:
    ivoid = tap_live.context.settings.ivoid
    response = requests.get(
        f"{tap_live.url}/oai",
        params={"verb": "GetRecord", "identifier": ivoid, "metadataPrefix": "ivo_vor"},
        timeout=30,
    )
    root = assert_valid(response.content)
    ids = set(root.xpath("//capability/@standardID"))
    assert {
        "ivo://ivoa.net/std/TAP",
        "ivo://ivoa.net/std/ConeSearch",
        "ivo://ivoa.net/std/SIA#query-2.0",
    } <= ids
    tables = root.xpath("//tableset/schema/table/name/text()")
    assert {"ivoa.obscore", "isgri.scw", "isgri.detections"} <= set(tables)
    assert root.xpath("//coverage/moc/text()") or root.xpath("//coverage/*")


def test_cone_search_returns_the_detections_in_the_cone(tap_live: TapLive, tmp_path: Path) -> None:
    results = SCSService(f"{tap_live.url}/scs").search(pos=(83.0, 22.0), radius=2.0, verbosity=3)
    ra, dec = tap_live.positions.T
    expected = int(np.sum(_separation(ra, dec, 83.0, 22.0) <= 2))
    synthetic = [r for r in results if "synthetic" in str(r["detection_id"])]
    assert len(synthetic) == expected > 0
    body = requests.get(
        f"{tap_live.url}/scs", params={"RA": 83, "DEC": 22, "SR": 2, "VERB": 1}, timeout=30
    ).content
    validate(body)
    (tmp_path / "cone.vot").write_bytes(body)
    assert votlint(tmp_path / "cone.vot").errors == []


def test_cone_search_rows_resolve_through_datalink(tap_live: TapLive, image_id: str) -> None:
    results = SCSService(f"{tap_live.url}/scs").search(pos=(83.633, 22.014), radius=1.0)
    ours = [r for r in results if str(r["product_id"]) == image_id]
    assert ours
    links = next(results.iter_datalinks())
    assert "#this" in {link.semantics for link in links}


def test_sia2_finds_the_image_and_its_datalink(tap_live: TapLive, image_id: str) -> None:
    service = SIA2Service(f"{tap_live.url}/sia")
    span = (Time(50000, format="mjd"), Time(70000, format="mjd"))
    found = service.search(pos=(83.633, 22.014, 1.0), time=span, band=(1e-11, 1e-10))
    ids = [str(r.obs_publisher_did) for r in found]
    assert image_id in ids
    record = next(r for r in found if str(r.obs_publisher_did) == image_id)
    links = DatalinkResults.from_result_url(str(record.access_url))
    assert "#this" in {link.semantics for link in links}
    # Far away, outside the band, in polarisation: nothing.
    assert len(service.search(pos=(200.0, -60.0, 1.0))) == 0
    assert len(service.search(pos=(83.633, 22.014, 1.0), band=(1e-9, 2e-9))) == 0
    assert len(service.search(pos=(83.633, 22.014, 1.0), pol=["I"])) == 0


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/scs", {"RA": "x", "DEC": "0", "SR": "1"}, "RA"),
        ("/scs", {"RA": "10", "DEC": "95", "SR": "1"}, "DEC"),
        ("/scs", {"RA": "10", "DEC": "0"}, "SR"),
        ("/scs", {"RA": "10", "DEC": "0", "SR": "90"}, "SR"),
        ("/scs", {"RA": "10", "DEC": "0", "SR": "1", "VERB": "7"}, "VERB"),
        ("/sia/query", {"POS": "CIRCLE 1 2"}, "POS"),
        ("/sia/query", {"POS": "BOX 1 2 3 4"}, "POS"),
        ("/sia/query", {"BAND": "2 1"}, "BAND"),
        ("/sia/query", {"TIME": "a b"}, "TIME"),
        ("/sia/query", {"MAXREC": "-1"}, "MAXREC"),
        ("/sia/query", {"TARGET": "x' OR '1'='1"}, None),
    ],
)
def test_bad_values_are_dali_errors_naming_the_parameter(
    tap_live: TapLive, path: str, params: dict[str, str], named: str | None
) -> None:
    response = requests.get(f"{tap_live.url}{path}", params=params, timeout=30)
    root = validate(response.content)
    if named is None:  # quoted into an ADQL string: a valid query that matches nothing
        assert response.status_code == 200
        assert not root.xpath("//*[local-name()='TR']")
        return
    assert response.status_code == 400
    info = root.xpath("//*[local-name()='INFO'][@name='QUERY_STATUS']")[0]
    assert info.get("value") == "ERROR" and named in info.text
