"""Requests are normalised once, at the edge: equivalent requests are one product computed once,
and SODA re-derivation refuses what ``/async`` refuses, with the same messages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
import requests
from lxml import etree
from sqlalchemy import text

from datalink import kev_to_metres
from processing.instruments import _registry as instrument_registry
from processing.instruments import get_instrument, register_instrument
from processing.simulator import SimulationResult
from tests.vo_service.conftest import in_process_service
from uws import ParameterError as UWSParameterError
from uws import ParameterSet
from vo_service._context import ServiceContext
from vo_service._products import validate_product_parameters
from vo_service._request import ProductRequest, RequestError, parse_request

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK = "{http://www.w3.org/1999/xlink}"


def test_bands_selecting_the_same_channels_are_one_request() -> None:
    grid = get_instrument("isgri").channel_edges
    exact = parse_request([("src_name", "Crab"), ("E1_keV", "20"), ("E2_keV", "40")])
    near = parse_request([("src_name", "Crab"), ("E1_keV", "20.4"), ("E2_keV", "39.6")])
    assert near.canonical() == exact.canonical()
    assert (near.band.e_min_kev, near.band.e_max_kev) == (20.0, 40.0)
    assert near.band.channels == slice(grid.index(20.0), grid.index(40.0))
    other = parse_request([("src_name", "Crab"), ("E1_keV", "20.6"), ("E2_keV", "40")])
    assert other.canonical() != exact.canonical() and other.e1_kev == 21.0
    # A band within one channel is that channel (the one holding its middle).
    inside = parse_request([("src_name", "Crab"), ("E1_keV", "990"), ("E2_keV", "999")])
    assert (inside.e1_kev, inside.e2_kev) == (950.0, 1000.0)
    straddling = parse_request([("src_name", "Crab"), ("E1_keV", "99.8"), ("E2_keV", "100.1")])
    assert (straddling.e1_kev, straddling.e2_kev) == (99.0, 100.0)
    # Outside the instrument's range: refused before anything is hashed or run.
    with pytest.raises(RequestError) as info:
        parse_request([("src_name", "Crab"), ("E1_keV", "10"), ("E2_keV", "30")])
    # (10 keV is within every registered instrument's range together, JEM-X's 3 keV, not ISGRI's.)
    assert info.value.param == "E1_keV" and "outside the isgri range 15-1000 keV" in str(info.value)
    with pytest.raises(RequestError) as info:
        parse_request([("src_name", "Crab"), ("E1_keV", "2"), ("E2_keV", "30")])
    assert info.value.param == "E1_keV" and "below the minimum 3 keV" in info.value.message


def test_a_canonical_request_is_validated_again() -> None:
    request = parse_request([("src_name", "Crab"), ("E1_keV", "25"), ("E2_keV", "60")])
    assert ProductRequest.from_canonical(request.canonical()) == request
    listed = parse_request(
        [("scw_list", "004200010010"), ("T1", "57000"), ("T2", "57001"), ("T_format", "mjd")]
    )
    assert ProductRequest.from_canonical(listed.canonical()) == listed
    for change, param, reason in (
        ({"e1_kev": 60.0, "e2_kev": 25.0}, "E2_keV", "must be above"),
        ({"e1_kev": 1.0}, "E1_keV", "below the minimum"),
        # Within the registered instruments' range (JEM-X's 3 keV) but not ISGRI's.
        ({"e1_kev": 5.0}, "E1_keV", "outside the isgri range 15-1000 keV"),
        ({"ra": 400.0, "dec": 0.0}, "RA", "above the maximum"),
        ({"t1_ijd": 10.0, "t2_ijd": 5.0}, "T2", "must be after"),
        ({"instrument": "nosuch"}, "instrument", "is not one of"),
    ):
        with pytest.raises(RequestError) as info:
            ProductRequest.from_canonical({**request.canonical(), **change})
        assert info.value.param == param and reason in info.value.message, change


def test_instrument_choices_come_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RequestError) as info:
        parse_request([("src_name", "Crab"), ("instrument", "nosuch")])
    assert info.value.param == "instrument" and "isgri" in info.value.message


def test_an_instrument_without_a_recipe_is_refused_naming_instrument(
    monkeypatch: pytest.MonkeyPatch, tmp_path, tiny_archive: SimulationResult, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from vo_service.settings import Settings

    isgri = get_instrument("isgri")
    monkeypatch.setattr(instrument_registry, "_FACTORIES", dict(instrument_registry._FACTORIES))
    monkeypatch.setattr(instrument_registry, "_LOADED", dict(instrument_registry._LOADED))
    layout = replace(isgri.layout, events_file="camera_events.fits.gz", ic_folder="ic/camera")
    register_instrument(
        "camera", lambda: replace(isgri, name="camera", title="A camera", layout=layout)
    )
    archive = tmp_path / "archive"
    shutil.copytree(tiny_archive.root, archive)
    settings = Settings.load(
        data_dir=tmp_path / "var",
        archive_path=archive,
        database_url=database_url,
        executor="inline",
        network_resolvers=False,
    )
    ServiceContext.build(settings).archive.ingest()
    with pytest.raises(UWSParameterError) as info:
        validate_product_parameters(
            settings.model_dump_json(),
            ParameterSet([("src_name", "Crab"), ("INSTRUMENT", "camera")]),
        )
    assert info.value.parameter == "INSTRUMENT"
    assert "'camera' makes no image products" in info.value.reason


@dataclass
class Live:
    url: str
    context: ServiceContext

    def submit(self, **params: str) -> requests.Response:
        return requests.post(
            f"{self.url}/async", data={**params, "PHASE": "RUN"}, allow_redirects=False
        )

    def run(self, **params: str) -> str:
        """Run a product job; the ID of its first product."""
        created = self.submit(**params)
        assert created.status_code == 303, created.text
        job = created.headers["Location"]
        for _ in range(60):
            doc = etree.fromstring(requests.get(job, params={"WAIT": "10"}, timeout=30).content)
            if doc.findtext(f"{UWS}phase") in {"COMPLETED", "ERROR", "ABORTED"}:
                break
        assert doc.findtext(f"{UWS}phase") == "COMPLETED", etree.tostring(doc)
        first = next(doc.iter(f"{UWS}result")).get(f"{XLINK}href")
        return self.context.settings.ivoid + "?" + first.split("/products/")[1].split("/")[0]

    def computed_units(self) -> int:
        """Analysis results in the cache (each a unit that was computed once)."""
        with self.context.engine.connect() as conn:
            return int(conn.execute(text("select count(*) from pipeline_cache_entries")).scalar())


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult
) -> Iterator[Live]:
    with in_process_service(tmp_path_factory.mktemp("norm"), tiny_archive, serve=True) as svc:
        yield Live(svc.base_url, svc.context)


def test_bands_on_the_same_channels_give_one_product_computed_once(live: Live) -> None:
    first = live.run(src_name="Crab", radius="20", E1_keV="20.4", E2_keV="39.7")
    computed = live.computed_units()
    assert computed > 0
    again = live.run(src_name="Crab", radius="20", E1_keV="20", E2_keV="40")
    assert again == first
    assert live.computed_units() == computed


def test_a_name_and_its_resolved_position_give_one_product(live: Live) -> None:
    resolved = live.context.resolver.resolve("Crab")
    for product_type in ("spectrum", "image"):
        by_name = live.run(product_type=product_type, src_name="Crab", radius="20")
        computed = live.computed_units()
        by_position = live.run(
            product_type=product_type, RA=repr(resolved.ra), DEC=repr(resolved.dec), radius="20"
        )
        assert by_position == by_name, product_type
        assert live.computed_units() == computed, product_type
    # The catalog source at the position leads the sky model and names the files.
    spectrum = live.run(product_type="spectrum", RA=repr(resolved.ra), DEC=repr(resolved.dec))
    stored = live.context.store.get(spectrum.split("?")[1])
    assert stored is not None and stored.files[0].name == "Crab.pha"


def _async_refusal(live: Live, **params: str) -> str:
    refused = live.submit(**params)
    assert refused.status_code == 400, refused.text
    return refused.text


def _soda_refusal(live: Live, product: str, **params: str) -> str:
    refused = requests.get(f"{live.url}/soda/sync", params={"ID": product, **params}, timeout=300)
    assert 400 <= refused.status_code < 500, (refused.status_code, refused.text)
    return refused.text


def test_soda_rederivation_refuses_what_async_refuses(live: Live) -> None:
    product = live.run(src_name="Crab", radius="20", E1_keV="25", E2_keV="60")
    # BAND: an empty band.
    with pytest.raises(RequestError) as band:
        parse_request([("src_name", "Crab"), ("E1_keV", "300"), ("E2_keV", "300")])
    assert band.value.param == "E2_keV"
    async_text = _async_refusal(live, src_name="Crab", radius="20", E1_keV="300", E2_keV="300")
    lo, hi = kev_to_metres((300.0, 300.0))
    soda_text = _soda_refusal(live, product, BAND=f"{lo!r} {hi!r}")
    assert str(band.value) in async_text and str(band.value) in soda_text
    # TIME: an empty time range, refused by the same T1/T2 check.
    stored = live.context.store.get(product.split("?")[1])
    assert stored is not None
    t = stored.metadata["t_min_mjd"] + 0.01
    t_ijd = repr(t - 51544.0)
    with pytest.raises(RequestError) as times:
        parse_request([("src_name", "Crab"), ("T_format", "ijd"), ("T1", t_ijd), ("T2", t_ijd)])
    assert times.value.param == "T2"
    async_text = _async_refusal(
        live, src_name="Crab", radius="20", T_format="ijd", T1=t_ijd, T2=t_ijd
    )
    soda_text = _soda_refusal(live, product, TIME=f"{t!r} {t!r}")
    assert str(times.value) in async_text and str(times.value) in soda_text


def test_a_soda_band_is_snapped_like_a_new_request(live: Live) -> None:
    product = live.run(src_name="Crab", radius="20", E1_keV="25", E2_keV="60")
    lo, hi = kev_to_metres((30.2, 60.3))
    rederived = requests.get(
        f"{live.url}/soda/sync", params={"ID": product, "BAND": f"{lo!r} {hi!r}"}, timeout=300
    )
    assert rederived.status_code == 200, rederived.text
    fresh = live.run(src_name="Crab", radius="20", E1_keV="30", E2_keV="60")
    fresh_file = requests.get(
        f"{live.url}/products/{fresh.split('?')[1]}/image.fits", timeout=30
    ).content
    assert rederived.content == fresh_file
