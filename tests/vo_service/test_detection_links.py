"""Catalog rows as DataLink IDs (issue 22 items 4 and 5): every detection has its own identifier
whose ``{links}`` lead to its cut-out, light curve and spectrum; catalogs declare their ICRS
COOSYS and IJD TIMESYS. Through the real service over HTTP, with pyvo as users run it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import numpy as np
import pytest
import requests
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.io.votable import parse
from astropy.io.votable.tree import CooSys, TimeSys
from astropy.time import Time
from astropy.wcs import WCS
from pyvo.dal import TAPResults
from pyvo.dal.adhoc import DatalinkRecord

from tests.datalink.conftest import datalinklint, votlint
from tests.uws._xsd import validate
from tests.vo_service import test_datalink_products
from tests.vo_service.test_datalink_products import CRAB, Live
from uws import ParameterSet
from vo_service._products import validate_product_parameters

IJD_ORIGIN_JD = 2451544.5  # JD of MJD 51544.0, the IJD origin

#: The service over a copy of the tiny archive, started as the DataLink product tests start it
#: (a module fixture: one server for this module).
service = test_datalink_products.live


@dataclass
class Catalog:
    product_id: str
    url: str
    body: bytes


@pytest.fixture(scope="module")
def catalog(service: Live) -> Catalog:
    urls = service.run(src_name="Crab", radius="20", E1_keV="25", E2_keV="60")
    url = next(u for u in urls if u.endswith("/catalog.vot"))
    body = requests.get(url, timeout=30).content
    return Catalog(service.product_id(urls[0]), url, body)


def _links_url(service: Live, identifier: str) -> str:
    return f"{service.url}/datalink/links?ID={quote(identifier, safe='')}"


def _crab_row(catalog: Catalog) -> tuple[int, str]:
    table = parse(io.BytesIO(catalog.body)).get_first_table().to_table()
    index = [str(n) for n in table["name"]].index("Crab")
    return index, str(table["source_id"][index])


def test_catalog_validates_and_declares_icrs_and_ijd_tt(
    service: Live,
    catalog: Catalog,
    tmp_path: Path,
) -> None:
    validate(catalog.body)  # the official VOTable 1.4 XSD (TIMESYS needs 1.4)
    (tmp_path / "catalog.vot").write_bytes(catalog.body)
    report = votlint(tmp_path / "catalog.vot")
    assert report.errors == [], report.output
    votable = parse(io.BytesIO(catalog.body))
    assert votable.version == "1.4"
    table = votable.get_first_table()
    fields = {f.name: f for f in table.fields}
    coosys = {c.ID: c for c in votable.iter_coosys()}
    for name in ("ra", "dec"):
        system = coosys[fields[name].ref]
        assert system.system == "ICRS" and system.equinox is None
        assert system.epoch.startswith("J20")
    frame = coosys[fields["ra"].ref].to_astropy_frame()
    rows = table.to_table()
    crab = rows[[str(n) == "Crab" for n in rows["name"]]][0]
    position = SkyCoord(crab["ra"], crab["dec"], unit="deg", frame=frame)
    assert position.separation(SkyCoord(*CRAB, unit="deg", frame="icrs")).arcmin < 5
    # The time span: PARAMs referring to a TT TIMESYS whose origin is the IJD origin.
    params = {p.name: p for p in table.params}
    timesys = {t.ID: t for t in votable.iter_timesys()}
    system_t = timesys[params["t_min"].ref]
    assert isinstance(system_t, TimeSys)
    assert system_t.timescale == "TT" and float(system_t.timeorigin) == IJD_ORIGIN_JD
    assert params["t_max"].ref == params["t_min"].ref
    start = Time(system_t.timeorigin + params["t_min"].value, format="jd", scale="tt")
    scws = service.context.archive.all()
    assert start.mjd == pytest.approx(min(s.tstart for s in scws) + 51544.0, abs=1e-6)
    assert start.scale == "tt"
    stop = Time(system_t.timeorigin + params["t_max"].value, format="jd", scale="tt")
    assert stop.mjd == pytest.approx(max(s.tstop for s in scws) + 51544.0, abs=1e-6)
    assert isinstance(coosys[fields["dec"].ref], CooSys)


def test_every_row_has_its_own_resolvable_identifier(service: Live, catalog: Catalog) -> None:
    votable = parse(io.BytesIO(catalog.body))
    rows = votable.get_first_table().to_table()
    ids = [str(i) for i in rows["source_id"]]
    assert ids == [f"{catalog.product_id}/source/{n}" for n in range(1, len(ids) + 1)]
    assert {str(p) for p in rows["product_id"]} == {catalog.product_id}
    # Only URI characters that need no escaping in a query: the same ID encoded or not.
    assert all(set(i) <= set("abcdefghijklmnopqrstuvwxyz0123456789.:/?-") for i in ids)
    descriptor = next(r for r in votable.resources if r.type == "meta")
    (id_param,) = [p for p in descriptor.groups[0].entries if p.name == "ID"]
    assert id_param.ref == "source_id"
    raw = requests.get(f"{service.url}/datalink/links?ID={ids[0]}", timeout=30)  # not encoded
    encoded = requests.get(_links_url(service, ids[0]), timeout=30)
    assert raw.status_code == encoded.status_code == 200
    assert raw.content == encoded.content
    table = parse(io.BytesIO(raw.content)).get_first_table().to_table()
    assert set(table["ID"]) == {ids[0]} and not any(str(e) for e in table["error_message"])


def test_detection_links_pass_datalinklint_votlint_and_the_xsd(
    service: Live,
    catalog: Catalog,
    tmp_path: Path,
) -> None:
    _, source_id = _crab_row(catalog)
    url = _links_url(service, source_id)
    report = datalinklint(url)
    assert report.errors == [], report.output
    body = requests.get(url, timeout=30).content
    validate(body)
    (tmp_path / "links.vot").write_bytes(body)
    assert votlint(tmp_path / "links.vot").errors == []


def test_pyvo_follows_a_row_to_its_cutout_light_curve_and_spectrum(
    service: Live,
    catalog: Catalog,
) -> None:
    # The catalog as pyvo reads a result: its rows' DataLink through the service descriptor.
    results = TAPResults(parse(io.BytesIO(catalog.body)), url=catalog.url)
    _, source_id = _crab_row(catalog)
    (row_links,) = [
        links
        for links in results.iter_datalinks()
        if links.original_row is not None and str(links.original_row["name"]) == "Crab"
    ]
    crab = row_links.original_row
    assert str(crab["source_id"]) == source_id
    ra, dec = float(crab["ra"]), float(crab["dec"])
    by_semantics: dict[str, list[DatalinkRecord]] = {}
    for row in row_links:
        assert str(row["ID"]) == source_id
        by_semantics.setdefault(row.semantics, []).append(row)
    assert by_semantics["#this"][0].access_url == catalog.url
    progenitor = by_semantics["#progenitor"][0].access_url
    assert progenitor == _links_url(service, catalog.product_id)
    # The cut-out: a FITS whose centre is the source.
    (cutout,) = by_semantics["#cutout"]
    assert cutout.content_type == "application/fits"
    with fits.open(io.BytesIO(cutout.getdataset(timeout=60).read())) as hdus:
        image = hdus["SIGNIFICANCE"]
        ny, nx = image.data.shape
        assert nx < 40 and ny < 40  # a 1-degree circle, not the 20-degree mosaic
        centre = WCS(image.header).pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
        iy, ix = np.unravel_index(np.nanargmax(image.data), image.data.shape)
        peak = WCS(image.header).pixel_to_world(ix, iy)
    source = SkyCoord(ra, dec, unit="deg")
    assert centre.separation(source).deg < 0.1  # within about one 4.9' pixel
    assert peak.separation(source).arcmin < 5
    # The light curve and the spectrum: ready requests for this source and these data.
    procs = {str(r["content_qualifier"]): r for r in by_semantics["#proc"]}
    assert set(procs) == {"#timeseries", "#spectrum"}
    scws = {s.scw_id for s in service.context.archive.all()}
    for qualifier, row in procs.items():
        url = urlsplit(row.access_url)
        assert f"{url.scheme}://{url.netloc}" == service.url and url.path == "/sync"
        params = parse_qsl(url.query)
        given = dict(params)
        assert float(given["RA"]) == pytest.approx(ra, abs=1e-6)
        assert float(given["DEC"]) == pytest.approx(dec, abs=1e-6)
        assert set(given["scw_list"].split(",")) == scws
        if qualifier == "#timeseries":
            assert (given["E1_keV"], given["E2_keV"]) == ("25", "60")
        validated = validate_product_parameters(
            service.context.settings.model_dump_json(), ParameterSet(params)
        )
        assert validated["ra"] == pytest.approx(ra, abs=1e-6)
        assert sorted(validated["scw_ids"]) == sorted(scws)
        with fits.open(io.BytesIO(row.getdataset(timeout=300).read())) as hdus:
            header = hdus[1].header
            assert header["OBJECT"] == "Crab"
            answered = SkyCoord(header["RA_OBJ"], header["DEC_OBJ"], unit="deg")
            assert answered.separation(source).deg < 0.1
            if qualifier == "#timeseries":
                assert header["E_MIN"] == pytest.approx(25.0)
                assert header["E_MAX"] == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("suffix", "reason"),
    [
        ("/source/999", "has"),
        ("/source/0", "malformed"),
        ("/source/abc", "malformed"),
        ("/source/1/2", "malformed"),
        ("/source/<b>&1", "malformed"),
        ("/", "malformed"),
        ("/spectrum/1", "malformed"),
    ],
)
def test_unknown_or_malformed_detections_are_notfoundfault_rows(
    service: Live,
    catalog: Catalog,
    suffix: str,
    reason: str,
) -> None:
    identifier = catalog.product_id + suffix
    response = requests.get(f"{service.url}/datalink/links", params={"ID": identifier}, timeout=30)
    assert response.status_code == 200
    validate(response.content)
    table = parse(io.BytesIO(response.content)).get_first_table().to_table()
    assert len(table) == 1 and str(table["ID"][0]) == identifier
    message = str(table["error_message"][0])
    assert message.startswith("NotFoundFault: ") and reason in message, message
    assert "/" + "var" not in message and "127.0.0.1" not in message


def test_other_services_refuse_a_detection_id_cleanly(service: Live, catalog: Catalog) -> None:
    _, source_id = _crab_row(catalog)
    unknown = catalog.product_id.split("?")[0] + "?" + "0" * 64 + "/source/1"
    response = requests.get(f"{service.url}/datalink/links", params={"ID": unknown}, timeout=30)
    assert b"NotFoundFault" in response.content
    cut = requests.get(
        f"{service.url}/soda/sync", params={"ID": source_id, "CIRCLE": "83.6 22.0 1"}, timeout=30
    )
    assert cut.status_code == 422 and cut.text.startswith("UsageError"), cut.text
    band = requests.get(
        f"{service.url}/soda/sync", params={"ID": source_id, "BAND": "2e-11 5e-11"}, timeout=30
    )
    assert band.status_code == 422, band.text
    snippet = requests.get(
        f"{service.url}/datalink/links/snippet", params={"ID": source_id}, timeout=30
    )
    assert snippet.status_code == 404
