"""Rows of the published tables for a stored product: written when it is stored, removed with it.

A product gets one ``ivoa.obscore`` row (its ``access_url`` is its DataLink ``{links}``);
an image product also gets one ``isgri.detections`` row per source of its catalog. Writing
is idempotent (the rows of a product are replaced), so storing a product again, or
republishing the whole store, leaves one set of rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from astropy.io.votable import parse_single_table
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from processing.archive import ArchiveIndex
from vo_service._detections import CATALOG_FILE, detection_id
from vo_service._store import StoredProduct
from vo_service._tap_db import PRODUCT_OBSCORE, is_postgres, set_service_info, tap_tables
from vo_service._tap_tables import DETECTIONS, IJD_TO_MJD

if TYPE_CHECKING:
    from vo_service._context import ServiceContext

__all__ = ["DATALINK_FORMAT", "TapPublisher", "detection_rows", "obscore_row", "publish_stored"]

log = logging.getLogger(__name__)

#: MIME type of a DataLink ``{links}`` response (ObsCore access_format of products).
DATALINK_FORMAT = "application/x-votable+xml;content=datalink"
_HC_KEV_M = 1.2398419843320026e-09  # h c in keV m
_DATAPRODUCT_TYPES = {
    "image": "image",
    "spectrum": "spectrum",
    "spectral_fit": "measurements",
    "light_curve": "timeseries",
    "transient_search": "timeseries",
}


def _exposure(archive: ArchiveIndex, scw_ids: Iterable[str]) -> float | None:
    windows = archive.get(list(scw_ids))
    if not windows:
        return None
    return float(sum(w.ontime * w.deadc for w in windows))


def obscore_row(
    stored: StoredProduct, ivoid: str, base_url: str, exposure: float | None
) -> dict[str, Any] | None:
    """The ObsCore row of a product, or ``None`` when it has no sky position."""
    meta = stored.metadata
    ra, dec = meta.get("ra"), meta.get("dec")
    if ra is None or dec is None:
        return None
    did = f"{ivoid}?{stored.hash}"
    request = meta.get("request") or {}
    radius = float(meta.get("radius_deg") or 15.0)
    e_min, e_max = meta.get("e_min_kev"), meta.get("e_max_kev")
    name = request.get("src_name") if isinstance(request, dict) else None
    return {
        "dataproduct_type": _DATAPRODUCT_TYPES.get(stored.product_type, "measurements"),
        "calib_level": 3,
        "obs_collection": "INTEGRAL/ISGRI products",
        "obs_id": stored.hash,
        "obs_publisher_did": did,
        "access_url": f"{base_url.rstrip('/')}/datalink/links?ID={quote(did, safe='')}",
        "access_format": DATALINK_FORMAT,
        "access_estsize": max(1, sum(f.size for f in stored.files) // 1024),
        "target_name": name or f"RA {float(ra):.3f} Dec {float(dec):+.3f}",
        "s_ra": float(ra),
        "s_dec": float(dec),
        "s_fov": 2 * radius,
        "s_region": f"CIRCLE ICRS {float(ra)!r} {float(dec)!r} {radius!r}",
        "s_resolution": 720.0,
        "s_xel1": None,
        "s_xel2": None,
        "t_xel": None,
        "t_min": meta.get("t_min_mjd"),
        "t_max": meta.get("t_max_mjd"),
        "t_exptime": exposure,
        "t_resolution": None,
        "em_xel": None,
        "em_min": None if e_max is None else _HC_KEV_M / float(e_max),
        "em_max": None if e_min is None else _HC_KEV_M / float(e_min),
        "em_res_power": None,
        "o_ucd": "phot.count",
        "pol_states": None,
        "pol_xel": None,
        "facility_name": "INTEGRAL",
        "instrument_name": "IBIS/ISGRI",
    }


def detection_rows(stored: StoredProduct, folder: Path, ivoid: str) -> list[dict[str, Any]]:
    """The ``isgri.detections`` rows of an image product's catalog (none for other types)."""
    if CATALOG_FILE not in {f.name for f in stored.files}:
        return []
    table = parse_single_table(str(folder / CATALOG_FILE))
    params = {p.name: float(p.value) for p in table.params}
    t_min = params.get("t_min")
    t_max = params.get("t_max")
    data = table.to_table()
    product_id = f"{ivoid}?{stored.hash}"
    names = set(data.colnames)
    rows = []
    for i, row in enumerate(data):
        rows.append(
            {
                "detection_id": detection_id(product_id, i + 1),
                "product_id": product_id,
                "source_name": str(row["name"]),
                "ra": float(row["ra"]),
                "dec": float(row["dec"]),
                "r90": float(row["r90"]) if "r90" in names else None,
                "e_min": float(row["e_min"]) if "e_min" in names else None,
                "e_max": float(row["e_max"]) if "e_max" in names else None,
                "rate": float(row["rate"]) if "rate" in names else None,
                "rate_err": float(row["rate_err"]) if "rate_err" in names else None,
                "significance": float(row["significance"]) if "significance" in names else None,
                "t_min": None if t_min is None else t_min + IJD_TO_MJD,
                "t_max": None if t_max is None else t_max + IJD_TO_MJD,
                "origin": str(row["origin"]) if "origin" in names else None,
                "in_catalog": bool(row["in_catalog"]) if "in_catalog" in names else None,
            }
        )
    return rows


class TapPublisher:
    """Writes and removes the published-table rows of products.

    Parameters
    ----------
    engine
        The service database (its migrations created the tables).
    archive
        The archive index (exposures of the product's science windows).
    ivoid, base_url
        The service's IVOA identifier and public URL (DIDs and DataLink URLs).
    """

    def __init__(self, engine: Engine, archive: ArchiveIndex, ivoid: str, base_url: str) -> None:
        self.engine = engine
        self.archive = archive
        self.ivoid = ivoid
        self.base_url = base_url

    def _delete(self, connection: Connection, product_hash: str) -> None:
        tables = tap_tables(is_postgres(connection))
        did = f"{self.ivoid}?{product_hash}"
        obscore = tables[PRODUCT_OBSCORE]
        detections = tables[DETECTIONS.name]
        connection.execute(obscore.delete().where(obscore.c.obs_publisher_did == did))
        connection.execute(detections.delete().where(detections.c.product_id == did))

    def publish(self, stored: StoredProduct, folder: Path) -> None:
        """Replace the rows of ``stored`` (whose files are in ``folder``)."""
        exposure = _exposure(self.archive, stored.metadata.get("scw_ids", []))
        row = obscore_row(stored, self.ivoid, self.base_url, exposure)
        detections = detection_rows(stored, folder, self.ivoid)
        with self.engine.begin() as connection:
            set_service_info(connection, self.ivoid, self.base_url)
            tables = tap_tables(is_postgres(connection))
            self._delete(connection, stored.hash)
            if row is not None:
                connection.execute(tables[PRODUCT_OBSCORE].insert(), [row])
            if detections:
                connection.execute(tables[DETECTIONS.name].insert(), detections)
        log.info("product %s published: %d detections", stored.hash, len(detections))

    def remove(self, product_hash: str) -> None:
        """Remove every row of a product (deleted or destroyed)."""
        with self.engine.begin() as connection:
            self._delete(connection, product_hash)


def publish_stored(context: ServiceContext, products: Iterable[StoredProduct]) -> None:
    """Publish freshly stored products in the TAP tables (the job handler calls this)."""
    settings = context.settings
    publisher = TapPublisher(
        context.engine, context.archive, settings.ivoid, settings.public_base_url
    )
    for stored in products:
        try:
            publisher.publish(stored, context.store.folder(stored.hash))
        except (SQLAlchemyError, OSError, ValueError, KeyError) as exc:
            # The product is built and stored; the job delivers it. Only discovery misses it
            # until it is published again (vo-service tap publish).
            log.error("product %s not published in the TAP tables: %s", stored.hash, exc)
