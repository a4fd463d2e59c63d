"""The VOResource records: service (vs:CatalogService), registry and authority."""

from __future__ import annotations

import json

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import Latitude, Longitude
from flask import Flask
from mocpy import MOC

from registry import (
    SERVICE_RESOURCE,
    PointingCoverage,
    RecordError,
    ResourceIdentity,
    ResourceMetadata,
    capabilities_of,
    coverage_from_pointings,
)
from tests.registry.conftest import METADATA, RegistryApp
from tests.registry.xsd import assert_valid
from vo_service._publishing import publication_of
from vo_service.app import create_app
from vo_service.settings import Settings

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
KEV = 1.602176634e-16


def test_service_record_is_a_valid_catalog_service(service_app: Flask) -> None:
    record = assert_valid(publication_of(service_app).service_record())
    assert record.get(XSI_TYPE) == "vs:CatalogService"
    assert record.findtext("identifier") == "ivo://codedmask.example.org/isgri"
    assert record.findtext("curation/publisher")
    assert record.findtext("curation/contact/email") == "vo-admin@codedmask.example.org"
    assert record.xpath("coverage/waveband/text()") == ["X-ray", "Gamma-ray"]
    assert record.findtext("facility") == "INTEGRAL"
    assert record.xpath("tableset/schema/table/name/text()")[:3] == [
        "ivoa.obscore",
        "isgri.scw",
        "isgri.detections",
    ]


def test_record_capabilities_come_from_the_registry(service_app: Flask) -> None:
    record = publication_of(service_app).service_record()
    published = [
        (c.get("standardID"), c.findtext("interface/accessURL"))
        for c in record.findall("capability")
    ]
    expected = [
        (c.standard_id, "https://vo.example.org/isgri" + c.path)
        for c in capabilities_of(service_app).for_resource(SERVICE_RESOURCE)
    ]
    assert published == expected
    vosi = service_app.test_client().get("/capabilities").data
    listed = assert_valid(vosi).xpath("capability/interface/accessURL/text()")
    assert {url for _, url in published} <= set(listed)


def test_coverage_is_a_moc_of_the_pointings(registry_app: RegistryApp) -> None:
    record = assert_valid(registry_app.publication.service_record())
    moc = MOC.from_string(record.findtext("coverage/spatial"), format="ascii")
    inside = moc.contains_lonlat(
        Longitude([83.63, 90.0, 266.4] * u.deg), Latitude([22.01, 25.0, -29.0] * u.deg)
    )
    assert inside.all()  # both pointings and a point 6 degrees off the Crab
    outside = moc.contains_lonlat(Longitude([0.0, 180.0] * u.deg), Latitude([-80.0, 60.0] * u.deg))
    assert not outside.any()
    t_min, t_max = map(float, record.findtext("coverage/temporal").split())
    assert (t_min, t_max) == (52640.0, 60000.0)
    e_min, e_max = map(float, record.findtext("coverage/spectral").split())
    assert e_min == pytest.approx(15 * KEV) and e_max == pytest.approx(1000 * KEV)


def test_empty_archive_gives_band_only() -> None:
    coverage = coverage_from_pointings(PointingCoverage(e_min_kev=15.0, e_max_kev=1000.0))
    element = coverage.element()
    assert element.find("spatial") is None and element.find("temporal") is None
    assert element.findtext("spectral") is not None


def test_many_pointings_make_a_compact_moc() -> None:
    rng = np.random.default_rng(1)
    ra, dec = rng.uniform(0, 360, 2000), np.degrees(np.arcsin(rng.uniform(-1, 1, 2000)))
    coverage = coverage_from_pointings(PointingCoverage.of(ra, dec, 8.0))
    assert coverage.moc is not None
    moc = MOC.from_string(coverage.moc, format="ascii")
    assert moc.sky_fraction > 0.9  # 2000 fields of 8 degrees cover nearly the whole sky


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ra_deg": [1.0], "dec_deg": [1.0, 2.0], "radius_deg": 1.0}, "RA values"),
        ({"ra_deg": [1.0], "dec_deg": [95.0], "radius_deg": 1.0}, "dec"),
        ({"t_min_mjd": 5.0}, "both ends"),
        ({"e_min_kev": 100.0, "e_max_kev": 20.0}, "not a finite interval"),
    ],
)
def test_bad_coverage_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PointingCoverage.of(
            kwargs.pop("ra_deg", []),  # type: ignore[arg-type]
            kwargs.pop("dec_deg", []),  # type: ignore[arg-type]
            kwargs.pop("radius_deg", 0.0),  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )


def test_registry_and_authority_records(registry_app: RegistryApp) -> None:
    records = {r.identifier: r for r in registry_app.publication.records()}
    assert set(records) == {
        "ivo://vo.example.org/svc",
        "ivo://vo.example.org/registry",
        "ivo://vo.example.org",
    }
    registry = assert_valid(records["ivo://vo.example.org/registry"].resource)
    assert registry.get(XSI_TYPE) == "vg:Registry"
    assert registry.findtext("managedAuthority") == "vo.example.org"
    assert registry.findtext("full") == "false"
    authority = assert_valid(records["ivo://vo.example.org"].resource)
    assert authority.get(XSI_TYPE) == "vg:Authority"
    assert authority.findtext("managingOrg") == METADATA.publisher


def test_updated_moves_only_when_the_content_changes(registry_app: RegistryApp) -> None:
    publication, clock = registry_app.publication, registry_app.clock
    first = {r.identifier: r.datestamp for r in publication.records()}
    clock.advance(hours=1)
    assert {r.identifier: r.datestamp for r in publication.records()} == first
    registry_app.coverage.coverage = PointingCoverage.of([10.0], [10.0], 8.0, 52640.0, 60100.0)
    clock.advance(hours=1)
    second = {r.identifier: r.datestamp for r in publication.records()}
    service = "ivo://vo.example.org/svc"
    assert second[service] == first[service].replace(hour=first[service].hour + 2)
    assert second["ivo://vo.example.org"] == first["ivo://vo.example.org"]
    record = publication.service_record()
    assert record.get("created") < record.get("updated")


def test_file_stamps_survive_a_restart(service_app: Flask, service_settings: Settings) -> None:
    publication_of(service_app).records()
    stamp_file = service_settings.data_dir.resolve() / "registry" / "record-stamps.json"
    stamps = json.loads(stamp_file.read_text())
    assert set(stamps) == {
        "ivo://codedmask.example.org/isgri",
        "ivo://codedmask.example.org/registry",
        "ivo://codedmask.example.org",
    }
    for stamp in stamps.values():  # as if the records were first published in 2020
        stamp["created"] = stamp["updated"] = "2020-01-01T00:00:00+00:00"
    stamp_file.write_text(json.dumps(stamps))
    record = publication_of(create_app(service_settings)).service_record()
    assert record.get("created") == record.get("updated") == "2020-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("authority", "key", "message"),
    [
        ("x", "svc", "authority"),
        ("vo.example.org", "bad key?", "resource key"),
        ("vo.example.org", "registry", "cannot both"),
    ],
)
def test_bad_identity_is_refused(authority: str, key: str, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        ResourceIdentity(authority, key, "http://x")


def test_metadata_rules() -> None:
    with pytest.raises(RecordError, match="16 characters"):
        ResourceMetadata(**{**METADATA.__dict__, "short_name": "a much too long short name"})
    with pytest.raises(RecordError, match="subject"):
        ResourceMetadata(**{**METADATA.__dict__, "subjects": ()})


def test_merged_pointings_still_cover_every_field() -> None:
    """Snapping centres to merge repeated pointings must not lose any part of a field."""
    from astropy.coordinates import SkyCoord

    rng = np.random.default_rng(7)
    n = 300
    ra = np.concatenate([rng.uniform(0, 360, n), 83.63 + rng.normal(0, 2, n)]) % 360
    dec = np.concatenate([rng.uniform(-88, 88, n), 22.01 + rng.normal(0, 2, n)])
    radius = 4.0
    coverage = coverage_from_pointings(PointingCoverage.of(ra, dec, radius))
    moc = MOC.from_string(coverage.moc, format="ascii")
    edge = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(
        rng.uniform(0, 360, ra.size) * u.deg, 0.999 * radius * u.deg
    )
    assert moc.contains_lonlat(edge.ra, edge.dec).all()
    # ... while staying close to the true footprint: 600 fields of 4 degrees are not the sky.
    assert moc.sky_fraction < 0.75


def test_coverage_is_recomputed_only_when_the_archive_changes(registry_app: RegistryApp) -> None:
    publication = registry_app.publication
    calls = []
    provider = registry_app.coverage
    original = provider.pointing_coverage

    def counting() -> PointingCoverage:
        calls.append(1)
        return original()

    provider.pointing_coverage = counting  # type: ignore[method-assign]
    first = publication.service_record().findtext("coverage/spatial")
    cached = publication._coverage
    publication.service_record()
    assert publication._coverage is cached and len(calls) == 2  # asked twice, computed once
    provider.coverage = PointingCoverage.of([200.0], [-40.0], 8.0)
    assert publication.service_record().findtext("coverage/spatial") != first
