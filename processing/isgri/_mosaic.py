"""Mosaics: per-ScW sky images reprojected onto one sky grid, inverse-variance weighted.

F = Σ(S/V)/Σ(1/V), V = 1/Σ(1/V); exposures add. Each mosaic pixel takes the ScW pixel that
contains its centre (nearest-neighbour reprojection keeps every ScW pixel's variance exact).
The mosaic is then searched again, and its catalog merged with the single-ScW detections.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from astropy.wcs import WCS
from numpy.typing import NDArray

from processing.instrument import Attitude, radec_to_unit
from processing.isgri._detect import _separation_deg, r90_arcmin, source_name
from processing.pipeline import (
    AnalysisUnit,
    Float,
    NodeInput,
    SkyPosition,
    Str,
    UnitContext,
    declare,
)

__all__ = ["MosaicImages", "mosaic_wcs", "search_mosaic"]

FloatArray = NDArray[np.float64]
#: Gaussian σ of the point-spread function in sky pixels (12′ FWHM, 4.94′ pixels).
PSF_SIGMA_PIX = 12.0 / 4.94 / 2.3548


def mosaic_wcs(
    ra: float, dec: float, radius_deg: float, pixel_deg: float, projection: str
) -> tuple[WCS, tuple[int, int]]:
    """North-up grid (TAN or CAR) of side 2·radius around (ra, dec); returns WCS and (ny, nx)."""
    n = int(np.ceil(2.0 * radius_deg / pixel_deg)) | 1  # odd: the centre is a pixel centre
    w = WCS(naxis=2)
    w.wcs.ctype = [f"RA---{projection}", f"DEC--{projection}"]
    w.wcs.crval = [ra, dec if projection == "TAN" else 0.0]
    w.wcs.crpix = [
        (n + 1) / 2.0,
        (n + 1) / 2.0 if projection == "TAN" else (n + 1) / 2.0 - dec / pixel_deg,
    ]
    w.wcs.cdelt = [-pixel_deg, pixel_deg]
    w.wcs.radesys = "ICRS"
    w.wcs.set()
    return w, (n, n)


def _refine_peak(values: FloatArray, a: int, b: int) -> tuple[float, float, float]:
    """Sub-pixel position and amplitude of a Gaussian through the 3-point log-parabolas."""
    ny, nx = values.shape
    if not (0 < a < ny - 1 and 0 < b < nx - 1):
        return float(a), float(b), float(values[a, b])
    offs, amp_log = [], float(np.log(max(values[a, b], 1e-30)))
    for lo, hi in ((values[a - 1, b], values[a + 1, b]), (values[a, b - 1], values[a, b + 1])):
        mid = values[a, b]
        if lo > 0 and hi > 0 and mid > 0:
            ll, lm, lh = np.log(lo), np.log(mid), np.log(hi)
            den = ll - 2 * lm + lh
            if den < 0:
                d = float(np.clip(0.5 * (ll - lh) / den, -0.5, 0.5))
                offs.append(d)
                amp_log += -0.25 * (ll - lh) * d + 0.0
                continue
        offs.append(0.0)
    # log A = lm − (ll − lh)²/(8·den) per axis: the expression above adds the same term.
    return a + offs[0], b + offs[1], float(np.exp(amp_log))


def search_mosaic(
    intensity: FloatArray,
    variance: FloatArray,
    wcs: WCS,
    threshold: float,
    max_sources: int = 200,
) -> list[dict[str, Any]]:
    """Peaks above ``threshold`` σ, brightest first; each is removed as a Gaussian PSF."""
    ok = variance > 0
    err = np.where(ok, np.sqrt(np.where(ok, variance, 1.0)), np.inf)
    work = np.where(ok, intensity, 0.0).astype(float)
    yy, xx = np.indices(work.shape)
    found: list[dict[str, Any]] = []
    excluded = np.zeros(work.shape, dtype=bool)
    for _ in range(max_sources):
        sig = np.where(excluded, -np.inf, work / err)
        a, b = np.unravel_index(int(np.argmax(sig)), sig.shape)
        peak = float(sig[a, b])
        if not peak >= threshold:
            break
        fa, fb, amp = _refine_peak(work, int(a), int(b))
        ra, dec = wcs.pixel_to_world_values(fb, fa)
        flux_err = float(err[a, b])
        snr = amp / flux_err
        found.append(
            {
                "ra": float(ra) % 360.0,
                "dec": float(dec),
                "flux": amp,
                "flux_error": flux_err,
                "significance": snr,
                "peak_significance": peak,
                "r90_arcmin": float(r90_arcmin(snr)),
            }
        )
        psf = np.exp(-((yy - fa) ** 2 + (xx - fb) ** 2) / (2 * PSF_SIGMA_PIX**2))
        work = work - amp * psf
        # The Gaussian is only an approximation of the PSF: no new peak is sought where this
        # source's own PSF is still above half the threshold (a bright source would split).
        excluded |= (amp * psf >= 0.5 * threshold * err) | (psf >= np.exp(-2.0 / PSF_SIGMA_PIX**2))
    return found


class MosaicImages(AnalysisUnit):
    """Reproject ScW images onto one grid around the request position, search, and catalog."""

    name = "isgri.mosaic"
    version = "1"
    uses_calibration = False
    params = declare(
        center=SkyPosition(doc="centre of the mosaic"),
        radius=Float(min=0.1, max=60.0, doc="half side, degrees"),
        pixel=Float(min=0.005, max=1.0, default=0.0823, doc="pixel size, degrees"),
        projection=Str(choices=["TAN", "CAR"], default="TAN"),
        threshold=Float(min=0.0, default=6.0, doc="mosaic detection threshold, sigma"),
    )
    inputs = declare(images=NodeInput(many=True, doc="outputs of isgri.image_scw"))
    codec = "numpy"

    def run(self, ctx: UnitContext, images: list[dict[str, Any]]) -> dict[str, Any]:  # type: ignore[override]
        ra0, dec0 = self.config["center"]
        wcs, shape = mosaic_wcs(
            ra0, dec0, self.config["radius"], self.config["pixel"], self.config["projection"]
        )
        n_bands = len(images[0]["bands"]) if images else 0
        if any(img["bands"] != images[0]["bands"] for img in images):
            raise ValueError("mosaic: the ScW images were made in different bands")
        yy, xx = np.indices(shape)
        ra, dec = wcs.pixel_to_world_values(xx, yy)
        vec = radec_to_unit(ra, dec)
        wsum = np.zeros((n_bands, *shape))
        wflux = np.zeros((n_bands, *shape))
        exposure = np.zeros((n_bands, *shape))
        for img in images:
            ctx.check()
            att = Attitude(img["ra_x"], img["dec_x"], img["ra_z"], img["dec_z"])
            x, y, z = att.axes
            nx = vec @ x
            front = nx > 0.5
            safe = np.where(front, nx, 1.0)
            ty, tz = (vec @ y) / safe, (vec @ z) / safe
            a0, b0 = img["centre_pixel"]
            ia = np.rint(ty / img["pixel_tan"] + a0).astype(np.int64)
            ib = np.rint(tz / img["pixel_tan"] + b0).astype(np.int64)
            sy, sz = img["variance"].shape[1:]
            inside = front & (ia >= 0) & (ia < sy) & (ib >= 0) & (ib < sz)
            ia, ib = np.where(inside, ia, 0), np.where(inside, ib, 0)
            for k in range(n_bands):
                v = np.asarray(img["variance"][k])[ia, ib]
                s = np.asarray(img["intensity"][k])[ia, ib]
                use = inside & (v > 0)
                inv = np.where(use, 1.0 / np.where(use, v, 1.0), 0.0)
                wsum[k] += inv
                wflux[k] += inv * np.where(use, s, 0.0)
                exposure[k] += np.where(use, np.asarray(img["exposure"][k])[ia, ib], 0.0)
        covered = wsum > 0
        flux = np.where(covered, wflux / np.where(covered, wsum, 1.0), 0.0)
        var = np.where(covered, 1.0 / np.where(covered, wsum, 1.0), 0.0)
        sig = np.where(covered, flux / np.sqrt(np.where(covered, var, 1.0)), 0.0)
        catalog: list[dict[str, Any]] = []
        bands = images[0]["bands"] if images else []
        for k in range(n_bands):
            ctx.check()
            mosaic_found = search_mosaic(flux[k], var[k], wcs, self.config["threshold"])
            scw_found = [dict(s, scw=i) for i, img in enumerate(images) for s in img["sources"]]
            catalog.extend(_merge(k, mosaic_found, [s for s in scw_found if s["band"] == k]))
        header = wcs.to_header()
        return {
            "intensity": flux.astype(np.float32),
            "variance": var.astype(np.float32),
            "significance": sig.astype(np.float32),
            "exposure": exposure.astype(np.float32),
            "bands": bands,
            "wcs": {k: header[k] for k in header},
            "sources": catalog,
            "n_scw": len(images),
            "tstart": min((float(i["tstart"]) for i in images), default=0.0),
            "tstop": max((float(i["tstop"]) for i in images), default=0.0),
        }


def _merge(
    band: int, mosaic: list[dict[str, Any]], single: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Mosaic detections named from single-ScW matches, plus sources seen only in single ScWs.

    A source appears once: single-ScW detections within max(2·r90, 0.2°) of a mosaic source are
    merged into it; the rest are grouped by name and reported with their most significant ScW.
    """
    rows: list[dict[str, Any]] = []
    used = [False] * len(single)
    for m in mosaic:
        radius = max(2.0 * m["r90_arcmin"] / 60.0, 0.2)
        names: dict[str, int] = {}
        n_scw = 0
        catalog_named = False
        for i, s in enumerate(single):
            if _separation_deg(m["ra"], m["dec"], s["ra"], s["dec"]) <= radius:
                used[i] = True
                n_scw += 1
                names[s["name"]] = names.get(s["name"], 0) + 1 + 1000 * int(s["catalog"])
                catalog_named |= bool(s["catalog"])
        name = max(names, key=lambda n: names[n]) if names else source_name(m["ra"], m["dec"])
        if any(r["name"] == name for r in rows):
            name = source_name(m["ra"], m["dec"])  # a second peak near a named source
            catalog_named = False
        rows.append(
            dict(m, band=band, name=name, origin="mosaic", n_scw=n_scw, catalog=catalog_named)
        )
    best: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for i, s in enumerate(single):
        if used[i]:
            continue
        counts[s["name"]] = counts.get(s["name"], 0) + 1
        if s["name"] not in best or s["significance"] > best[s["name"]]["significance"]:
            best[s["name"]] = s
    for name, s in best.items():
        if any(r["name"] == name for r in rows):
            continue
        rows.append(
            {
                "band": band,
                "name": name,
                "ra": s["ra"],
                "dec": s["dec"],
                "flux": s["flux"],
                "flux_error": s["flux_error"],
                "significance": s["significance"],
                "peak_significance": s["peak_significance"],
                "r90_arcmin": s["r90_arcmin"],
                "origin": "scw",
                "n_scw": counts[name],
                "catalog": bool(s["catalog"]),
            }
        )
    rows.sort(key=lambda r: -r["significance"])
    return rows
