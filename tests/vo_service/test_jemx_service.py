"""JEM-X products through the same service: ``instrument=jemx`` on an archive of both cameras.

One small simulated archive (four science windows of the Crab field, both cameras recording)
is built once for the module; image, spectrum and light-curve jobs of the JEM-X-like camera
complete through ``/async``, with the camera's defaults (band, radius), its files and its FITS
keywords; its products have DataLink links and SODA cut-outs as ISGRI's have; a JEM-X unit the
archive does not hold is a 400 naming ``jemx_num``; and an ISGRI request on the same archive is
what it is on an archive of ISGRI alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table
from flask.testing import FlaskClient
from lxml import etree

from processing.simulator import PointingPlan, Scenario, SimulationResult, simulate_archive
from tests.vo_service.conftest import service_with_runner
from vo_service._context import ServiceContext

pytestmark = pytest.mark.timeout(900)

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK = "{http://www.w3.org/1999/xlink}"
CRAB = (83.63308, 22.01450)


def both_cameras_scenario() -> Scenario:
    """Four 1000 s science windows in a hexagonal dither around the Crab, seen by JEM-X-like and ISGRI."""
    return Scenario(
        name="both-cameras",
        seed=23,
        instruments=["jemx", "isgri"],
        pointings=[
            PointingPlan(
                target="Crab",
                start="2005-09-01T00:00:00",
                n_scw=4,
                pattern="hex",
                step_deg=1.0,
                scw_duration_s=1000,
            )
        ],
    )


@pytest.fixture(scope="module")
def both_archive(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    return simulate_archive(both_cameras_scenario(), tmp_path_factory.mktemp("both_cameras"))


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, both_archive: SimulationResult
) -> Iterator[tuple[FlaskClient, ServiceContext]]:
    with service_with_runner(tmp_path_factory.mktemp("jemx_service"), both_archive) as service:
        yield service


def _run(client: FlaskClient, **params: str) -> etree._Element:
    created = client.post("/async", data={**params, "PHASE": "RUN"})
    assert created.status_code == 303, created.get_data(as_text=True)
    url = created.headers["Location"].split("127.0.0.1:8080")[-1]
    while True:
        doc = etree.fromstring(client.get(url, query_string={"WAIT": "10"}).get_data())
        if doc.findtext(f"{UWS}phase") in {"COMPLETED", "ERROR", "ABORTED"}:
            return doc


def _results(client: FlaskClient, doc: etree._Element) -> dict[str, bytes]:
    out = {}
    for result in doc.iter(f"{UWS}result"):
        response = client.get(result.get(f"{XLINK}href").split("127.0.0.1:8080")[-1])
        assert response.status_code == 200
        out[result.get("id")] = response.data
    return out


def test_jemx_image_job(service: tuple[FlaskClient, ServiceContext], tmp_path: Path) -> None:
    client, _ = service
    doc = _run(client, instrument="jemx", src_name="Crab")
    assert doc.findtext(f"{UWS}phase") == "COMPLETED", etree.tostring(doc)
    results = _results(client, doc)
    (tmp_path / "image.fits").write_bytes(results["image.fits"])
    with fits.open(tmp_path / "image.fits") as hdul:
        assert hdul[0].header["DETNAM"] == "JMX1"
        assert (hdul[0].header["E_MIN"], hdul[0].header["E_MAX"]) == (3.0, 10.0)
    (tmp_path / "catalog.vot").write_bytes(results["catalog.vot"])
    table = parse_single_table(str(tmp_path / "catalog.vot")).to_table()
    crab = [row for row in table if str(row["name"]) == "Crab"]
    assert len(crab) == 1
    print(table)
