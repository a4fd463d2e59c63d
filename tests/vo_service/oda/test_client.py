"""Unchanged oda_api scripts against the service: the real client (PyPI oda-api) drives the
ODA front of a running ``vo-service serve`` and reads what users index into."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from astropy.coordinates import SkyCoord
from astropy.io import fits
from lxml import etree
from oda_api.api import DispatcherAPI, RemoteException
from oda_api.data_products import ApiCatalog
from oda_api.plot_tools import OdaImage, OdaLightCurve, OdaSpectrum

from tests.vo_service.oda.conftest import CRAB

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
JI = "{urn:x-uws:jobinfo:v1}"
IMAGE = {"E1_keV": 20.0, "E2_keV": 40.0, "detection_threshold": 7.0, **CRAB}

Factory = Callable[..., DispatcherAPI]


def _get(disp: DispatcherAPI, product: str, **params: Any) -> Any:
    return disp.get_product(
        instrument="isgri", product=product, product_type="Real", silent=True, **params
    )


@pytest.fixture(scope="module")
def image(live_service: str) -> tuple[Any, dict[str, Any]]:
    """An image through the client (its whole get_product, polling to done)."""
    disp = DispatcherAPI(url=f"{live_service}/oda", instrument="isgri")
    data = _get(disp, "isgri_image", osa_version="OSA10.2", T_format="isot", **IMAGE)
    return data, disp.response_json


def test_instruments_and_descriptions(dispatcher: Factory, live_service: str) -> None:
    index = requests.get(f"{live_service}/oda", timeout=30).json()
    assert index["usage"] == f"DispatcherAPI(url='{live_service}/oda')"
    unknown = requests.get(
        f"{live_service}/oda/api/par-names",
        params={"instrument": "isgri", "product_type": "jemx_image"},
        timeout=30,
    )
    assert unknown.status_code == 400 and "isgri_image" in unknown.json()["error"]
    disp = dispatcher()
    assert disp.get_instruments_list() == ["isgri", "jemx"]
    jemx = disp.get_instrument_description("jemx")[0]
    assert jemx[0] == {"instrumet": "jemx"}
    assert set(jemx[1]["prod_dict"]) == {"jemx_image", "jemx_spectrum", "jemx_lc"}
    assert "jemx_num" in {p.get("name") for p in jemx[3][1:]}
    described = disp.get_instrument_description("isgri")
    queries = described[0]
    assert queries[0] == {"instrumet": "isgri"}
    assert set(queries[1]["prod_dict"]) == {
        "isgri_image",
        "isgri_spectrum",
        "isgri_lc",
        "spectral_fit",
    }
    one = disp.get_product_description("isgri", "isgri_image")
    names = {p["name"] for query in one[0][2:] for p in query[1:] if "name" in p}
    assert {"RA", "DEC", "E1_keV", "detection_threshold", "osa_version"} <= names
    energy = next(p for query in one[0][2:] for p in query[1:] if p.get("name") == "E1_keV")
    assert energy["units"] == "keV" and energy["value"] == 20.0


def test_image_as_users_index_it(image: tuple[Any, dict[str, Any]], tmp_path: Path) -> None:
    data, response = image
    mosaic = data.mosaic_image_0_mosaic
    assert mosaic.meta_data["product"] == "mosaic"
    names = [u.name for u in mosaic.data_unit]
    assert names == ["PRIMARY", "GROUPING", "INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"]
    significance = mosaic.data_unit[4]  # what oda_api's OdaImage plots by default
    assert significance.header["INSTRUME"] == "IBIS" and "CTYPE1" in significance.header
    # Pixel for pixel the service's own file.
    with fits.open(_from_response(response, "image.fits")) as ours:
        assert np.array_equal(significance.data, ours["SIGNIFICANCE"].data, equal_nan=True)
        assert np.array_equal(mosaic.data_unit[5].data, ours["EXPOSURE"].data, equal_nan=True)
    catalog = data.dispatcher_catalog_1.table
    assert "Crab" in list(catalog["src_names"])
    crab = catalog[list(catalog["src_names"]).index("Crab")]
    assert crab["significance"] > 20 and abs(float(crab["ra"]) - 83.633) < 0.2
    # The client writes a FITS file astropy reads back with its WCS.
    mosaic.write_fits_file(str(tmp_path / "mosaic.fits"))
    with fits.open(tmp_path / "mosaic.fits") as written:
        assert written[4].header["IMATYPE"] == "SIGNIFICANCE"
        assert written[4].data.shape == significance.data.shape
    assert response["exit_status"]["comment"].count("osa_version=OSA10.2") == 1
    # oda_api's OdaImage draws data_unit[4] with the catalog and extracts a catalog string.
    picture = OdaImage(data).get_image_for_gallery(output_folder=str(tmp_path))
    assert Path(picture).stat().st_size > 0
    of_interest = ("Crab", SkyCoord(83.63308, 22.0145, unit="deg"))  # (an empty list fails)
    extracted = OdaImage(data).extract_catalog_string_from_image(
        det_sigma=5, objects_of_interest=[of_interest], update_catalog=False
    )
    assert "Crab" in json.loads(extracted)["cat_column_list"][1]


def _from_response(response: dict[str, Any], name: str) -> io.BytesIO:
    """A product file through the safe route the envelope names (no pickle, no eval)."""
    for product in response["products"]["datalink"]:
        for f in product["files"]:
            if f["name"] == name:
                return io.BytesIO(requests.get(f["url"], timeout=60).content)
    raise AssertionError(name)


def test_catalog_round_trips_into_selected_catalog(
    image: tuple[Any, dict[str, Any]], dispatcher: Factory, tmp_path: Path
) -> None:
    data, _ = image
    table = data.dispatcher_catalog_1.table
    keep = [i for i, n in enumerate(table["src_names"]) if not str(n).startswith("NEW")]
    data.dispatcher_catalog_1.table = table[keep]
    data.dispatcher_catalog_1.table.add_row((0, "My source", 0, 84.5, 21.0, 0, 2, 0, 0))
    api_cat = data.dispatcher_catalog_1.get_api_dictionary()
    assert isinstance(ApiCatalog.decode(api_cat).table, object)

    disp = dispatcher()
    spectra = _get(disp, "isgri_spectrum", selected_catalog=api_cat, **CRAB)
    sources = {p.meta_data["src_name"] for p in spectra._p_list}
    assert sources == {str(n) for n in data.dispatcher_catalog_1.table["src_names"]}
    spectrum = spectra.isgri_spectrum_0_Crab_isgri_spectrum
    arf = spectra.isgri_arf_1_Crab_isgri_arf
    rmf = spectra.isgri_rmf_2_Crab_isgri_rmf
    assert [p.meta_data["product"] for p in (spectrum, arf, rmf)] == [
        "isgri_spectrum",
        "isgri_arf",
        "isgri_rmf",
    ]
    assert {"CHANNEL", "RATE", "STAT_ERR", "SYS_ERR", "QUALITY"} <= set(
        spectrum.data_unit[1].data.dtype.names
    )
    assert spectrum.data_unit[1].header["EXPOSURE"] > 0
    # The triplet is written as files XSPEC reads; the matrix is the service's own.
    for name, product in (("s.pha", spectrum), ("a.arf", arf), ("r.rmf", rmf)):
        product.write_fits_file(str(tmp_path / name))
    with (
        fits.open(tmp_path / "r.rmf") as rmf_file,
        fits.open(_from_response(disp.response_json, "Crab.rmf")) as ours,
    ):
        assert rmf_file[1].name == "EBOUNDS" and rmf_file[2].name == "SPECRESP MATRIX"
        dense = rmf_file[2].data["MATRIX"]
        row = 40
        first = int(ours["MATRIX"].data["F_CHAN"][row]) - 1
        values = np.asarray(ours["MATRIX"].data["MATRIX"][row])
        assert np.allclose(dense[row][first : first + values.size], values)
    with fits.open(tmp_path / "s.pha") as pha:
        assert pha["SPECTRUM"].header["RESPFILE"] == "NONE"
    # oda_api's own helpers read the triplet (the spectrum's times, the RMF's EBOUNDS).
    helper = OdaSpectrum(spectra)
    written, tstart, tstop, exposure = helper.write_fits(
        source_name="Crab", output_dir=str(tmp_path)
    )
    assert Path(written).is_file() and tstop > tstart > 53000 and exposure > 0
    energies, _, rates, _ = helper.get_values(in_source_name="Crab")
    assert len(energies) == len(rates) > 10


def test_light_curve_one_product_per_source(dispatcher: Factory, tmp_path: Path) -> None:
    disp = dispatcher()
    data = _get(disp, "isgri_lc", src_name="Crab", time_bin=300, time_bin_format="sec", **CRAB)
    lc = data.isgri_lc_0_Crab
    assert lc.meta_data["src_name"] == "Crab" and lc.meta_data["time_bin"] == pytest.approx(300)
    table = lc.data_unit[1]
    assert table.name == "ISGR-SRC.-LCR"
    assert {"TIME", "TIMEDEL", "RATE", "ERROR"} <= set(table.data.dtype.names)
    assert len({p.meta_data["src_name"] for p in data._p_list}) == len(data._p_list)
    with fits.open(_from_response(disp.response_json, "Crab_20-40keV.lc")) as ours:
        assert np.array_equal(table.data["TIME"], ours["RATE"].data["TIME"])
        assert np.array_equal(table.data["RATE"], ours["RATE"].data["RATE"])
    # TIME is IJD (MJD - 51544), as users add t0 = 51544.
    assert 1500 < float(table.data["TIME"][0]) < 1600
    time, _, rate, *_ = OdaLightCurve(data).get_lc("Crab")
    assert len(time) == len(rate) == len(table.data)
    # write_fits takes an IBIS curve from data_unit[1] (by its INSTRUME).
    written, tstart, tstop, _ = OdaLightCurve(data).write_fits("Crab", output_dir=str(tmp_path))
    assert tstop > tstart > 51544
    with fits.open(written) as lc:
        assert np.array_equal(lc[1].data["RATE"], table.data["RATE"])


def test_poll_loop_to_done(dispatcher: Factory) -> None:
    disp = dispatcher(wait=False)
    params = {**IMAGE, "E1_keV": 25.0, "E2_keV": 60.0}
    first = _get(disp, "isgri_image", **params)
    statuses = [disp.query_status]
    data = first
    while data is None or not disp.is_complete:
        data = disp.poll()
        statuses.append(disp.query_status)
    assert statuses[0] in {"submitted", "done"} and statuses[-1] == "done"
    assert set(statuses) <= {"submitted", "progress", "done"}
    assert data.mosaic_image_0_mosaic.data_unit[4].name == "SIGNIFICANCE"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"E1_kev_typo": 20}, "E1_kev_typo"),
        ({"E1_keV": 5.0}, "E1_keV"),
        ({"osa_version": "OSA-latest"}, "osa_version"),
        ({"product_type": "Dummy"}, "Dummy"),
        (
            {"selected_catalog": '{"cat_column_list": [[1]], "cat_column_names": ["x"]}'},
            "selected_catalog",
        ),
    ],
)
def test_mistakes_end_as_failed_with_our_message(
    dispatcher: Factory, params: dict[str, Any], named: str
) -> None:
    disp = dispatcher()
    with pytest.raises(RemoteException) as caught:
        disp.get_product(
            instrument="isgri", product="isgri_image", silent=True, **{**CRAB, **params}
        )
    assert named in caught.value.message
    assert disp.response_json["query_status"] == "failed"
    assert "/" not in caught.value.message.replace("E1_keV", "")  # no path, no URL


def test_facade_and_async_are_one_job(
    image: tuple[Any, dict[str, Any]], live_service: str, dispatcher: Factory
) -> None:
    _, response = image
    facade_id = response["products"]["datalink"][0]["id"]
    # The facade's job is a UWS job of its owner, tagged with the ODA job_id.
    job_url = response["job_monitor"]["uws_job"]
    root = etree.fromstring(requests.get(job_url, timeout=30).content)
    assert root.findtext(f"{UWS}runId") == f"oda:{response['job_monitor']['job_id']}"
    assert [p.get("id") for p in root.iter(f"{JI}product")] == [facade_id]
    links = response["products"]["datalink"][0]["links"]
    assert [p.get("links") for p in root.iter(f"{JI}product")] == [links]

    # The same request through /async: same product, same files.
    created = requests.post(
        f"{live_service}/async",
        data={
            "product_type": "image",
            "PHASE": "RUN",
            "RA": "83.63308",
            "DEC": "22.0145",
            "radius": "20",
            "E1_keV": "20",
            "E2_keV": "40",
        },
        allow_redirects=False,
        timeout=60,
    )
    done = etree.fromstring(
        requests.get(created.headers["Location"] + "?WAIT=60", timeout=90).content
    )
    assert done.findtext(f"{UWS}phase") == "COMPLETED"
    assert [p.get("id") for p in done.iter(f"{JI}product")] == [facade_id]
    files = {r.get("id") for r in done.iter(f"{UWS}result")}
    assert {f["name"] for f in response["products"]["datalink"][0]["files"]} <= files | {
        "provenance.xml"
    }

    # A repeat through the facade is answered at creation: done at once, nothing computed.
    disp = dispatcher(wait=False)
    _get(disp, "isgri_image", osa_version="OSA10.2", T_format="isot", **IMAGE)
    assert disp.query_status == "done"
    assert disp.response_json["job_monitor"]["job_id"] == response["job_monitor"]["job_id"]
    repeat = etree.fromstring(
        requests.get(disp.response_json["job_monitor"]["uws_job"], timeout=30).content
    )
    progress = repeat.find(f"{UWS}jobInfo/{JI}progress")
    assert progress is not None and "0 computed" in (progress.text or "")


def test_scw_list_as_a_python_list(image: tuple[Any, dict[str, Any]], dispatcher: Factory) -> None:
    _, response = image
    scws = response["products"]["input_prod_list"]
    assert len(scws) == 4
    disp = dispatcher()
    data = _get(disp, "isgri_image", scw_list=list(reversed(scws)))  # repeated keys on the wire
    assert disp.response_json["products"]["input_prod_list"] == scws
    assert data.mosaic_image_0_mosaic.data_unit[4].data.shape


def test_spectral_fit_adds_the_fit_table(dispatcher: Factory) -> None:
    disp = dispatcher()
    data = _get(disp, "spectral_fit", src_name="Crab", **CRAB)
    assert data.isgri_spectrum_0_Crab_isgri_spectrum.meta_data["product"] == "isgri_spectrum"
    fit = data._p_list[-1]
    assert fit.name == "spectral_fit"
    assert "Crab" in [str(s) for s in fit.table["source"]]


@pytest.mark.parametrize(
    ("document", "after"),
    [("README.md", "Existing `oda_api` scripts"), ("docs/oda.md", "such a\nscript runs unchanged")],
)
def test_documented_scripts_run(
    live_service: str, document: str, after: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (Path(__file__).resolve().parents[3] / document).read_text()
    block = text[text.index(after) :].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(block.replace("http://127.0.0.1:8080", live_service), {})
    assert (tmp_path / "mosaic.fits").is_file()


def test_a_job_that_fails_is_failed_with_its_error(
    image: tuple[Any, dict[str, Any]], dispatcher: Factory
) -> None:
    _, response = image
    disp = dispatcher()
    with pytest.raises(RemoteException) as caught:
        # Valid parameters, but no catalog source near the position: the job ends in ERROR.
        _get(
            disp,
            "isgri_spectrum",
            scw_list=response["products"]["input_prod_list"],
            RA=10.0,
            DEC=-80.0,
            radius=1.0,
        )
    assert "no catalog source" in caught.value.message
    job = requests.get(disp.response_json["job_monitor"]["uws_job"], timeout=30).content
    assert etree.fromstring(job).findtext(f"{UWS}phase") == "ERROR"


def test_get_and_post_repeated_and_comma_lists_are_one_request(
    image: tuple[Any, dict[str, Any]], live_service: str
) -> None:
    _, response = image
    scws = response["products"]["input_prod_list"]
    common = {"instrument": "isgri", "product_type": "isgri_image", "query_type": "Real"}
    url = f"{live_service}/oda/run_analysis"
    by_get = requests.get(url, params={**common, "scw_list": ",".join(scws)}, timeout=60).json()
    form = [*common.items(), *(("scw_list", s) for s in scws), ("T1", "\x00")]
    by_post = requests.post(url, data=form, timeout=60).json()
    assert by_get["query_status"] in {"submitted", "progress", "done"}
    assert by_post["job_monitor"]["job_id"] == by_get["job_monitor"]["job_id"]
