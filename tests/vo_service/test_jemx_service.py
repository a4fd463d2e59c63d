"""JEM-X products through the same service: ``instrument=jemx`` on an archive of both cameras.

One small simulated archive (four science windows of the Crab field, both cameras recording)
is built once for the module; image, spectrum and light-curve jobs of the JEM-X-like camera
complete through ``/async``, with the camera's defaults (band, radius), its files and its FITS
keywords; its products have DataLink links and SODA cut-outs as ISGRI's have; a JEM-X unit the
archive does not hold is a 400 naming ``jemx_num``; and an ISGRI request on the same archive is
what it is on an archive of ISGRI alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import astropy.constants as const
import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table
from flask.testing import FlaskClient
from lxml import etree

from processing.archive import ArchiveIndex
from processing.instrument import load_instrument
from processing.products import camera_field_deg, camera_windows
from processing.products._jemx import JEMX_CHOICES
from processing.simulator import PointingPlan, Scenario, SimulationResult, simulate_archive
from tests.vo_service.conftest import service_with_runner
from vo_service._context import ServiceContext
from vo_service.db import make_engine, upgrade_database

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


def _links(client: FlaskClient, product_id: str) -> etree._Element:
    response = client.get("/datalink/links", query_string={"ID": product_id})
    assert response.status_code == 200, response.get_data(as_text=True)
    return etree.fromstring(response.data)


def _product_id(context: ServiceContext, doc: etree._Element) -> str:
    """The product ID of a job's primary result (``/products/<hash>/<file>``)."""
    href = next(doc.iter(f"{UWS}result")).get(f"{XLINK}href")
    match = re.search(r"/products/([0-9a-f]{64})/", href)
    assert match, href
    return f"{context.settings.ivoid}?{match.group(1)}"


@pytest.fixture(scope="module")
def jemx_image(service: tuple[FlaskClient, ServiceContext]) -> etree._Element:
    client, _ = service
    doc = _run(client, instrument="jemx", src_name="Crab")
    assert doc.findtext(f"{UWS}phase") == "COMPLETED", etree.tostring(doc)
    return doc


def test_jemx_image_job(
    service: tuple[FlaskClient, ServiceContext], jemx_image: etree._Element, tmp_path: Path
) -> None:
    client, _ = service
    results = _results(client, jemx_image)
    assert next(iter(results)) == "image.fits"
    (tmp_path / "image.fits").write_bytes(results["image.fits"])
    with fits.open(tmp_path / "image.fits") as hdul:
        # The camera's keywords, its default band (3-10 keV) and radius (5 deg).
        assert hdul[0].header["DETNAM"] == "JMX1"
        assert (hdul[0].header["E_MIN"], hdul[0].header["E_MAX"]) == (3.0, 10.0)
        assert hdul[0].header["RAD_REQ"] == 5.0
        # The mosaic is made on the camera's own sky pixel, not ISGRI's.
        assert abs(hdul["SIGNIFICANCE"].header["CDELT2"]) == pytest.approx(0.0278)
    (tmp_path / "catalog.vot").write_bytes(results["catalog.vot"])
    table = parse_single_table(str(tmp_path / "catalog.vot")).to_table()
    crab = [row for row in table if str(row["name"]) == "Crab"]
    assert len(crab) == 1
    offset = np.hypot(
        (crab[0]["ra"] - CRAB[0]) * np.cos(np.radians(CRAB[1])), crab[0]["dec"] - CRAB[1]
    )
    assert offset * 60 < max(float(crab[0]["r90"]), 1.0)
    prov = results["provenance.json"].decode()
    assert "jmx1_events.fits.gz" in prov and "isgri_events" not in prov
    assert "jmx1_mask_mod" in prov


def test_equivalent_jemx_requests_are_one_product(
    service: tuple[FlaskClient, ServiceContext], jemx_image: etree._Element
) -> None:
    """JEM-X's defaults spelled out, a band snapping to the same channels, and the position the
    name resolves to: the same product, nothing computed again."""
    client, _ = service
    hrefs = [r.get(f"{XLINK}href") for r in jemx_image.iter(f"{UWS}result")]
    for params in (
        {"E1_keV": "3", "E2_keV": "10", "radius": "5", "jemx_num": "1"},
        {"E1_keV": "3.1", "E2_keV": "9.9"},  # the same 0.5 keV channels
        {"RA": str(CRAB[0]), "DEC": str(CRAB[1])},
    ):
        given = {"instrument": "jemx", **params}
        if "RA" not in params:
            given["src_name"] = "Crab"
        doc = _run(client, **given)
        assert doc.findtext(f"{UWS}phase") == "COMPLETED", etree.tostring(doc)
        assert [r.get(f"{XLINK}href") for r in doc.iter(f"{UWS}result")] == hrefs, params
        info = etree.tostring(doc.find(f"{UWS}jobInfo")).decode()
        assert " 0 computed" in info, info


def _sherpa_powerlaw(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, tuple[float, float]]:
    """Sherpa's power law (pivot 10 keV) fitted to Crab.pha with its own RMF and ARF."""
    ui = pytest.importorskip("sherpa.astro.ui")
    monkeypatch.chdir(folder)  # RESPFILE/ANCRFILE are relative to the spectrum
    ui.clean()
    ui.load_pha(1, "Crab.pha", use_errors=True)
    ui.set_stat("chi2")
    ui.notice(3.0, 35.0)
    ui.set_source(1, ui.powlaw1d.pl)
    ui.get_model_component("pl").ref = 10.0
    ui.fit(1)
    ui.covar(1)
    res = ui.get_covar_results()
    return {
        name.split(".")[1]: (float(v), float(e))
        for name, v, e in zip(res.parnames, res.parvals, res.parmaxes, strict=True)
    }


def test_jemx_spectrum_and_light_curve_jobs(
    service: tuple[FlaskClient, ServiceContext], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = service
    spectrum = _run(client, instrument="jemx", src_name="Crab", product_type="spectrum")
    assert spectrum.findtext(f"{UWS}phase") == "COMPLETED", etree.tostring(spectrum)
    files = _results(client, spectrum)
    assert list(files)[:3] == ["Crab.pha", "Crab.rmf", "Crab.arf"]
    for name in ("Crab.pha", "Crab.rmf", "Crab.arf"):
        (tmp_path / name).write_bytes(files[name])
    # Sherpa fits the JEM-X spectrum with its RMF and ARF: the simulated Crab (10 E^-2.1
    # photons cm^-2 s^-1 keV^-1) within the fit's errors.
    fit = _sherpa_powerlaw(tmp_path, monkeypatch)
    gamma, gamma_err = fit["gamma"]
    ampl, ampl_err = fit["ampl"]
    truth = 10.0 * 10.0**-2.1
    print("JEM-X Crab:", fit, truth)
    assert abs(gamma - 2.1) < 3 * gamma_err, fit
    assert abs(ampl - truth) < 3 * ampl_err, (fit, truth)
    assert gamma_err < 0.05
    # The quick fit reports its energy flux in JEM-X's band (3-10 keV), not ISGRI's.
    quick = next(
        f
        for f in json.loads(files["fits.json"])
        if (f["source"], f["model"]) == ("Crab", "powerlaw")
    )
    assert (quick["flux_e_min"], quick["flux_e_max"]) == (3.0, 10.0)
    grid = np.geomspace(3.0, 10.0, 2049)
    truth_flux = float(np.trapezoid(grid * 10.0 * grid**-2.1, grid)) * 1.602176634e-9
    assert 0 < quick["energy_flux_error"] < 0.1 * truth_flux, quick
    assert abs(quick["energy_flux"] - truth_flux) < 3 * quick["energy_flux_error"], (
        quick,
        truth_flux,
    )
    (tmp_path / "Crab.rmf").write_bytes(files["Crab.rmf"])
    with fits.open(tmp_path / "Crab.rmf") as rmf:
        edges = rmf["EBOUNDS"].data
        assert edges["E_MIN"][0] == pytest.approx(3.0) and edges["E_MAX"][-1] == pytest.approx(35)
        assert rmf["MATRIX"].header["DETNAM"] == "JMX1"
    curve = _run(client, instrument="jemx", src_name="Crab", product_type="light_curve")
    assert curve.findtext(f"{UWS}phase") == "COMPLETED", etree.tostring(curve)
    files = _results(client, curve)
    primary = next(iter(files))
    assert primary == "Crab_3-10keV.lc", list(files)
    (tmp_path / "Crab.lc").write_bytes(files[primary])
    with fits.open(tmp_path / "Crab.lc") as lc:
        assert lc[1].header["DETNAM"] == "JMX1"
        assert np.all(lc[1].data["RATE"] > 0)  # the Crab is seen in every science window


def test_a_unit_the_archive_lacks_is_a_400_naming_jemx_num(
    service: tuple[FlaskClient, ServiceContext],
) -> None:
    client, _ = service
    response = client.post(
        "/async", data={"instrument": "jemx", "src_name": "Crab", "jemx_num": "2"}
    )
    assert response.status_code == 400
    assert "jemx_num" in response.get_data(as_text=True)
    assert "jmx1_events" in response.get_data(as_text=True)
    # A band outside JEM-X's grid names the edge, with JEM-X's range.
    response = client.post(
        "/async", data={"instrument": "jemx", "src_name": "Crab", "E2_keV": "40"}
    )
    assert response.status_code == 400
    assert "E2_keV" in response.get_data(as_text=True)
    assert "3-35 keV" in response.get_data(as_text=True)


def test_datalink_and_soda_for_a_jemx_image(
    service: tuple[FlaskClient, ServiceContext], jemx_image: etree._Element, tmp_path: Path
) -> None:
    client, context = service
    product_id = _product_id(context, jemx_image)
    links = _links(client, product_id)
    text = etree.tostring(links).decode()
    assert "#this" in text and "#cutout" in text and "#progenitor" in text
    # The progenitors are the science windows' JEM-X event files, served as they are.
    urls = [u for u in re.findall(r"<TD>([^<]*/archive/scw/[^<]*)</TD>", text) if u.endswith(".gz")]
    assert urls and all(u.endswith("/jmx1_events.fits.gz") for u in urls), urls
    events = client.get(urls[0].split("127.0.0.1:8080")[-1])
    assert events.status_code == 200 and events.data[:2] == b"\x1f\x8b"
    scw_folder = urls[0].split("127.0.0.1:8080")[-1].rsplit("/", 1)[0]
    assert client.get(f"{scw_folder}/isgri_events.fits.gz").status_code == 200
    assert client.get(f"{scw_folder}/jmx1_events.fits").status_code == 404  # no such camera file
    assert client.get(f"{scw_folder}/isgri_spectrum.fits").status_code == 404
    # A circle cut from the JEM-X mosaic.
    cut = client.get(
        "/soda/sync", query_string={"ID": product_id, "CIRCLE": f"{CRAB[0]} {CRAB[1]} 1.0"}
    )
    assert cut.status_code == 200, cut.get_data(as_text=True)
    (tmp_path / "cut.fits").write_bytes(cut.data)
    with fits.open(tmp_path / "cut.fits") as hdul:
        shape = hdul["SIGNIFICANCE"].data.shape
        assert max(shape) * 0.0278 == pytest.approx(2.0, abs=0.2)
    # BAND re-derivation: JEM-X's grid bounds it, with /async's message.
    lo, hi = (const.h * const.c / (np.array([5.0, 20.0]) * u.keV)).to(u.m).value[::-1]
    rederived = client.get("/soda/sync", query_string={"ID": product_id, "BAND": f"{lo} {hi}"})
    assert rederived.status_code == 200, rederived.get_data(as_text=True)
    (tmp_path / "band.fits").write_bytes(rederived.data)
    with fits.open(tmp_path / "band.fits") as hdul:
        assert (hdul[0].header["E_MIN"], hdul[0].header["E_MAX"]) == (5.0, 20.0)
    # An empty band: refused with the message of /async.
    metres = (const.h * const.c / (10.0 * u.keV)).to(u.m).value
    bad = client.get("/soda/sync", query_string={"ID": product_id, "BAND": f"{metres} {metres}"})
    assert 400 <= bad.status_code < 500
    direct = client.post(
        "/async",
        data={"instrument": "jemx", "src_name": "Crab", "E1_keV": "10", "E2_keV": "10"},
    )
    assert direct.status_code == 400
    message = _message(direct.get_data(as_text=True))
    assert "must be above" in message
    assert message in bad.get_data(as_text=True)
    # A band within one of JEM-X's 0.5 keV channels is that channel, as for /async.
    lo, hi = (const.h * const.c / (np.array([10.1, 10.2]) * u.keV)).to(u.m).value[::-1]
    inside = client.get("/soda/sync", query_string={"ID": product_id, "BAND": f"{lo} {hi}"})
    assert inside.status_code == 200, inside.get_data(as_text=True)
    (tmp_path / "inside.fits").write_bytes(inside.data)
    with fits.open(tmp_path / "inside.fits") as hdul:
        assert (hdul[0].header["E_MIN"], hdul[0].header["E_MAX"]) == (10.0, 10.5)


def _message(text: str) -> str:
    """The 'E2_keV: ...' sentence of an error document."""
    match = re.search(r"E2_keV: [^<\n\"]+", text)
    assert match, text
    return match.group(0)


def _oda(client: FlaskClient, **extra: str) -> dict[str, Any]:
    """A JEM-X request through the ODA facade, polled as oda_api polls, to its end."""
    params = {
        "instrument": "jemx",
        "query_type": "Real",
        "query_status": "new",
        "src_name": "Crab",
        "jemx_num": "1",
        **extra,
    }
    answer: dict[str, Any] = client.get("/oda/run_analysis", query_string=params).get_json()
    while answer["job_status"] not in ("done", "failed"):
        params.update(
            query_status=answer["job_status"],
            job_id=answer["job_monitor"]["job_id"],
            session_id=answer["session_id"],
        )
        answer = client.get("/oda/run_analysis", query_string=params).get_json()
    assert answer["job_status"] == "done", answer.get("exit_status")
    return answer


def test_oda_facade_answers_a_jemx_image(service: tuple[FlaskClient, ServiceContext]) -> None:
    client, _ = service
    answer = _oda(client, product_type="jemx_image")
    (mosaic,) = answer["products"]["numpy_data_product_list"]
    assert '"instrument": "jemx"' in json.dumps(mosaic["meta_data"]) or (
        json.loads(mosaic["meta_data"])["instrument"] == "jemx"
        if isinstance(mosaic["meta_data"], str)
        else mosaic["meta_data"]["instrument"] == "jemx"
    )
    assert "Crab" in json.dumps(answer["products"]["catalog"])
    names = client.get(
        "/oda/api/par-names", query_string={"instrument": "jemx", "product_type": "jemx_image"}
    )
    assert "jemx_num" in names.get_json()
    assert "jemx" in client.get("/oda/api/instr-list").get_json()


def test_isgri_on_the_same_archive_is_unchanged(
    service: tuple[FlaskClient, ServiceContext], tmp_path: Path
) -> None:
    """An ISGRI request on the archive of both cameras: ISGRI's files only, its defaults."""
    client, context = service
    doc = _run(client, src_name="Crab")
    assert doc.findtext(f"{UWS}phase") == "COMPLETED", etree.tostring(doc)
    results = _results(client, doc)
    (tmp_path / "image.fits").write_bytes(results["image.fits"])
    with fits.open(tmp_path / "image.fits") as hdul:
        assert hdul[0].header["DETNAM"] == "ISGRI"
        assert (hdul[0].header["E_MIN"], hdul[0].header["E_MAX"]) == (20.0, 40.0)
        assert hdul[0].header["RAD_REQ"] == 15.0
        assert abs(hdul["SIGNIFICANCE"].header["CDELT2"]) == pytest.approx(0.0823)
    prov = results["provenance.json"].decode()
    assert "jmx1" not in prov and "isgri_events" in prov
    assert len(context.archive.all()) == 4


def test_the_mosaic_pixel_is_the_cameras_sky_pixel(both_archive: SimulationResult) -> None:
    """JEM-X's recipes mosaic on the sky pixel its IC files give (pitch over focal length)."""
    model = load_instrument(both_archive.root, "jemx")
    pixel = float(np.degrees(np.arctan(model.detector.pitch_mm / model.mask.focal_mm)))
    assert JEMX_CHOICES.mosaic_pixel_deg == pytest.approx(pixel, rel=2e-3)


def test_science_windows_are_those_with_the_cameras_events(
    tmp_path: Path, tiny_archive: SimulationResult, both_archive: SimulationResult
) -> None:
    """An ISGRI-only archive has no science window for JEM-X; on both cameras' archive, JEM-X
    keeps those pointing within its field of the position, ISGRI keeps the request's cone."""
    for name, archive in (("tiny", tiny_archive), ("both", both_archive)):
        engine = make_engine(f"sqlite:///{tmp_path / f'{name}.sqlite'}")
        upgrade_database(engine)
        index = ArchiveIndex(engine, archive.root)
        index.ingest()
        every = index.all()
        assert len(every) == 4
        assert camera_windows(index, every, "isgri", CRAB) == every
        if name == "tiny":
            assert camera_windows(index, every, "jemx", None) == []
            continue
        assert camera_windows(index, every, "jemx", CRAB) == every
        field = camera_field_deg(index, "jemx")
        assert field == pytest.approx(6.9, abs=0.1)
        assert camera_field_deg(index, "isgri") is None
        # 8.5 deg from the Crab (7.6 deg or more from every pointing): outside JEM-X's field of
        # every science window; ISGRI keeps them all.
        far = (CRAB[0], CRAB[1] + 8.5)
        assert camera_windows(index, every, "jemx", far) == []
        assert camera_windows(index, every, "isgri", far) == every


def test_oda_jemx_light_curve_reads_as_oda_api_reads_it(
    service: tuple[FlaskClient, ServiceContext], tmp_path: Path
) -> None:
    """oda_api's OdaLightCurve takes a JEM-X curve from ``data_unit[2]`` (an IBIS one from
    ``[1]``, by the INSTRUME of ``[1]``): the JEM-X layout puts its index table first."""
    from oda_api.api import DataCollection
    from oda_api.plot_tools import OdaLightCurve

    client, _ = service
    answer = _oda(client, product_type="jemx_lc", time_bin="500", time_bin_format="sec")
    data = DataCollection.from_response_json(answer, "jemx", "jemx_lc")
    (curve,) = [p for p in data._p_list if p.meta_data.get("src_name") == "Crab"]
    assert [u.name for u in curve.data_unit][:3] == ["PRIMARY", "GROUPING", "JMX1-SRC.-LCR"]
    assert curve.data_unit[1].header["INSTRUME"] == "JMX1"
    time, _, rate, error, *_ = OdaLightCurve(data).get_lc("Crab")
    assert len(time) == len(rate) > 0 and np.all(rate > 0) and np.all(error > 0)
    written, tstart, tstop, _ = OdaLightCurve(data).write_fits("Crab", output_dir=str(tmp_path))
    assert tstop > tstart > 51544
    with fits.open(written) as lc:
        assert np.array_equal(lc[1].data["RATE"], rate)
