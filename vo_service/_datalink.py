"""The service's DataLink/SODA product source: the product store, re-derivation by the DAG.

``describe`` turns a stored product into what ``datalink`` publishes (files with semantics,
progenitor science windows and products, the PROV document, a runnable pyvo snippet, the
product's sky/band/time extents); a catalog row's ID (``<product ID>/source/<row>``) is
described by :mod:`vo_service._detections`. ``rederive`` re-runs the product's request for a new
band or time range: the per-ScW binned cubes come from the cache, so a new band reads no event
file.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from datalink import (
    ProductDescription,
    ProductExtents,
    ProductFile,
    ProductNotFoundError,
    Progenitor,
    RederivationError,
    SkyCircle,
    split_product_id,
)
from processing.archive import MJDREF
from processing.instruments import DEFAULT_INSTRUMENT, get_instrument, instrument_names
from processing.pipeline import CancelToken, Progress
from vo_service._detections import describe_detection, split_detection_key
from vo_service._products import _context, _settings, accept_rederivation, build_products
from vo_service._request import ProductRequest, RequestError
from vo_service._store import StoredProduct
from vo_service.settings import Settings

__all__ = ["StoreProductSource"]

_QUALIFIERS = {".fits": None, ".pha": "#spectrum", ".lc": "#timeseries"}
_LOCAL = {".rmf": "rmf", ".arf": "arf"}


def _snippet(base_url: str, request: dict[str, Any]) -> str:
    params = {
        "product_type": request["product_type"],
        "E1_keV": request["e1_kev"],
        "E2_keV": request["e2_kev"],
        "radius": request["radius_deg"],
        "scw_list": ",".join(request["scw_list"]) if request["scw_list"] else None,
        "RA": request["ra"],
        "DEC": request["dec"],
        "src_name": request["src_name"] if request["ra"] is None else None,
        "T1": request["t1_ijd"],
        "T2": request["t2_ijd"],
        "T_format": "ijd"
        if request["t1_ijd"] is not None or request["t2_ijd"] is not None
        else None,
        "max_pointings": request["max_pointings"],
        "detection_threshold": request["detection_threshold"],
        "time_bin": request["time_bin_s"],
    }
    given = {k: v for k, v in params.items() if v is not None}
    lines = [
        '"""Reproduce this product: the same request gives the same product (from the cache)."""',
        "import requests",
        "from pyvo.dal.tap import AsyncTAPJob",
        "",
        f"params = {json.dumps(given, indent=4)}",
        f'created = requests.post("{base_url}/async", data=params, allow_redirects=False)',
        'job = AsyncTAPJob(created.headers["Location"])',
        "job.run()",
        'job.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=3600)',
        "job.raise_if_error()",
        "for result in job.job.results:",
        "    print(result.id_, result.href)",
    ]
    return "\n".join(lines) + "\n"


class StoreProductSource:
    """:class:`datalink.ProductSource` over the product store (picklable: holds the settings)."""

    def __init__(self, settings: Settings) -> None:
        self._settings_json = settings.model_dump_json()

    @functools.cached_property
    def settings(self) -> Settings:
        return _settings(self._settings_json)

    def __getstate__(self) -> dict[str, Any]:
        return {"_settings_json": self._settings_json}

    def _lookup(self, product_id: str) -> tuple[StoredProduct, str | None]:
        """The stored product an ID names, and its detection part (``None`` for the product)."""
        authority, key = split_product_id(product_id)
        if authority is not None and authority.lower() != self.settings.ivoid.lower():
            raise ProductNotFoundError(product_id, f"not a product of {self.settings.ivoid}")
        product_hash, part = split_detection_key(key)
        stored = _context(self._settings_json).store.get(product_hash)
        if stored is None:
            raise ProductNotFoundError(product_id)
        return stored, part

    def _stored(self, product_id: str) -> StoredProduct:
        stored, part = self._lookup(product_id)
        if part is not None:
            raise ProductNotFoundError(
                product_id, "a catalog row is not re-derived: use its product's ID"
            )
        return stored

    def describe(self, product_id: str) -> ProductDescription:
        """The stored product (or one detection of its catalog) as DataLink sees it."""
        stored, part = self._lookup(product_id)
        store = _context(self._settings_json).store
        if part is not None:
            return describe_detection(
                product_id,
                part,
                stored,
                store.folder(stored.hash),
                f"{self.settings.ivoid}?{stored.hash}",
            )
        base = f"/products/{stored.hash}"
        files, provenance = [], None
        for f in stored.files:
            if f.semantics == "#provenance":
                if f.name.endswith(".json"):
                    provenance = f"{base}/{f.name}"
                continue
            suffix = "." + f.name.rsplit(".", 1)[-1]
            files.append(
                ProductFile(
                    semantics=f.semantics,
                    access_url=f"{base}/{f.name}",
                    content_type=f.content_type,
                    description=f.description or f.name,
                    path=store.folder(stored.hash) / f.name,
                    content_length=f.size,
                    content_qualifier="#image"
                    if f.name == "image.fits"
                    else _QUALIFIERS.get(suffix),
                    local_semantics=_LOCAL.get(suffix),
                )
            )
        meta = stored.metadata
        camera = get_instrument(str(meta.get("request", {}).get("instrument", DEFAULT_INSTRUMENT)))
        progenitors = [
            Progenitor(
                id=f"{self.settings.ivoid}/scw?{scw}",
                description=f"science window {scw} ({camera.title} events)",
                access_url=f"/archive/scw/{scw}/{camera.layout.events_file}",
                content_type="application/fits",
            )
            for scw in meta.get("scw_ids", [])
        ]
        progenitors += [
            Progenitor(id=f"{self.settings.ivoid}?{h}", description="input product")
            for h in stored.progenitors
        ]
        sky = None
        if meta.get("ra") is not None and stored.product_type == "image":
            sky = SkyCircle(float(meta["ra"]), float(meta["dec"]), float(meta["radius_deg"]))
        band = (meta["e_min_kev"], meta["e_max_kev"]) if "e_min_kev" in meta else None
        rederive_band = stored.product_type in {"image", "light_curve"}
        if rederive_band:
            # The archive's events allow any band of the instrument: that is the BAND range.
            instrument = (meta.get("request") or {}).get("instrument", instrument_names()[0])
            band = get_instrument(instrument).energy_range_kev
        time = (meta["t_min_mjd"], meta["t_max_mjd"]) if "t_min_mjd" in meta else None
        request = meta.get("request")
        return ProductDescription(
            id=f"{self.settings.ivoid}?{stored.hash}",
            kind=stored.product_type,
            files=files,
            progenitors=progenitors,
            provenance_url=provenance,
            documentation=None
            if request is None
            else _snippet(self.settings.public_base_url, request),
            extents=ProductExtents(sky=sky, band_kev=band, time_mjd=time),
            spatial_cut=stored.product_type == "image",
            rederive_band=rederive_band,
            rederive_time=stored.product_type in {"image", "light_curve", "spectrum"},
        )

    def rederive(
        self,
        product_id: str,
        *,
        band_kev: tuple[float, float] | None = None,
        time_mjd: tuple[float, float] | None = None,
    ) -> ProductDescription:
        """Re-run the product's request for a new band and/or time range, from the cache."""
        stored = self._stored(product_id)
        meta = stored.metadata
        if "request" not in meta:
            raise RederivationError(f"product {stored.hash} carries no request to re-run")
        request = dict(meta["request"])
        scws = list(meta.get("scw_ids", []))
        if band_kev is not None:
            # keV -> m -> keV leaves float noise: keep 6 significant digits (the band is then
            # snapped to the channel grid like any other request's).
            request["e1_kev"] = float(f"{band_kev[0]:.6g}")
            request["e2_kev"] = float(f"{band_kev[1]:.6g}")
        if time_mjd is not None:
            t1, t2 = time_mjd[0] - MJDREF, time_mjd[1] - MJDREF
            archive = _context(self._settings_json).archive
            scws = [s.scw_id for s in archive.get(scws) if s.tstop > t1 and s.tstart < t2]
            if not scws:
                raise RederivationError("no science window of the product falls in TIME")
            request["t1_ijd"], request["t2_ijd"] = t1, t2
        # The new request is normalised and checked as a client's request with the same
        # values would be at /async (same refusals, same messages), on the product's ScWs.
        position = None if meta.get("ra") is None else (float(meta["ra"]), float(meta["dec"]))
        try:
            normalised = ProductRequest.from_canonical(request)
            accept_rederivation(self._settings_json, normalised, position, scws)
        except RequestError as exc:
            raise RederivationError(str(exc)) from exc
        params = {
            "request": normalised.canonical(),
            "ra": meta.get("ra"),
            "dec": meta.get("dec"),
            "resolver": meta.get("resolver"),
            "scw_ids": scws,
            "user_catalog": meta.get("user_catalog"),
        }

        def progress(_: Progress) -> None:
            return None

        built = build_products(
            self._settings_json,
            params,
            token=CancelToken(),
            progress=progress,
            holder=f"soda-{stored.hash[:12]}",
            user=None,
        )
        if not built:
            raise RederivationError("the re-derivation produced no product")
        return self.describe(built[0][1].hash)
