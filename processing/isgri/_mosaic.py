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
from processing.isgri._detect import _separation_deg, psf_at, r90_arcmin, source_name
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
        # The Gaussian only approximates the PSF of a reprojected mosaic: no new peak is sought
        # where this source's own PSF is still above 0.1 of the threshold (a bright source would
        # split; the zone stays well inside 20' even at 1000 sigma).
        excluded |= (amp * psf >= 0.1 * threshold * err) | (psf >= np.exp(-2.0 / PSF_SIGMA_PIX**2))
    return found


class MosaicImages(AnalysisUnit):
    """Reproject ScW images onto one grid around the request position, search, and catalog."""

    name = "isgri.mosaic"
    version = "3"
    uses_calibration = False
    params = declare(
        center=SkyPosition(doc="centre of the mosaic"),
        radius=Float(min=0.1, max=60.0, doc="half side, degrees"),
        pixel=Float(min=0.005, max=1.0, default=0.0823, doc="pixel size, degrees"),
        projection=Str(choices=["TAN", "CAR"], default="TAN"),
        threshold=Float(min=0.0, default=6.0, doc="mosaic detection threshold, sigma"),
    )
    inputs = declare(
        images=NodeInput(many=True, doc="outputs of isgri.image_scw"),
        catalog=NodeInput(doc="output of isgri.reference_catalog or isgri.user_catalog"),
    )
    codec = "numpy"

    def run(  # type: ignore[override]
        self, ctx: UnitContext, images: list[dict[str, Any]], catalog: list[dict[str, Any]]
    ) -> dict[str, Any]:
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
        rows: list[dict[str, Any]] = []
        bands = images[0]["bands"] if images else []
        for k in range(n_bands):
            ctx.check()
            mosaic_found = search_mosaic(flux[k], var[k], wcs, self.config["threshold"])
            for src in mosaic_found:
                _forced_photometry(src, images, k)
            scw_found = [dict(s, scw=i) for i, img in enumerate(images) for s in img["sources"]]
            single = _drop_ghosts([s for s in scw_found if s["band"] == k], mosaic_found, images)
            rows.extend(_merge(k, mosaic_found, single, catalog))
        header = wcs.to_header()
        return {
            "intensity": flux.astype(np.float32),
            "variance": var.astype(np.float32),
            "significance": sig.astype(np.float32),
            "exposure": exposure.astype(np.float32),
            "bands": bands,
            "wcs": {k: header[k] for k in header},
            "sources": rows,
            "n_scw": len(images),
            "tstart": min((float(i["tstart"]) for i in images), default=0.0),
            "tstop": max((float(i["tstop"]) for i in images), default=0.0),
        }


def _drop_ghosts(
    single: list[dict[str, Any]], mosaic: list[dict[str, Any]], images: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The single-ScW detections, less those on a ghost of a mosaic source in their own ScW.

    A source too faint to be found (and cleaned) in a ScW still has its 8 ghosts there, one
    mask period away along the detector axes and diagonals; noise can lift one of them over
    the threshold. The mosaic, deeper, knows the source: a single-ScW detection within
    max(2·r90, 0.2°) of such a ghost position is an artefact and is dropped.
    """
    if not mosaic:
        return single
    vecs = radec_to_unit(
        np.array([m["ra"] for m in mosaic]), np.array([m["dec"] for m in mosaic])
    ).reshape(-1, 3)
    keep = []
    for s in single:
        near = any(
            _separation_deg(m["ra"], m["dec"], s["ra"], s["dec"])
            <= max(2.0 * m["r90_arcmin"] / 60.0, 0.2)
            for m in mosaic
        )
        if near:  # a detection of a mosaic source itself (merged into it later)
            keep.append(s)
            continue
        img = images[s["scw"]]
        period = float(img["ghost_period_tan"])
        att = Attitude(img["ra_x"], img["dec_x"], img["ra_z"], img["dec_z"])
        x, y, z = att.axes
        sv = radec_to_unit(s["ra"], s["dec"])
        sx = float(sv @ x)
        if sx <= 0:
            keep.append(s)
            continue
        sy, sz = float(sv @ y) / sx, float(sv @ z) / sx
        mx = vecs @ x
        front = mx > 0
        my = np.where(front, (vecs @ y) / np.where(front, mx, 1.0), np.inf)
        mz = np.where(front, (vecs @ z) / np.where(front, mx, 1.0), np.inf)
        tol = np.tan(np.radians(max(2.0 * s["r90_arcmin"] / 60.0, 0.2)))
        dy, dz = np.abs(sy - my), np.abs(sz - mz)
        ghost = False
        for gy, gz in ((period, 0.0), (0.0, period), (period, period)):
            ghost |= bool(np.any((np.abs(dy - gy) < tol) & (np.abs(dz - gz) < tol)))
        if not ghost:
            keep.append(s)
    return keep


def _forced_photometry(source: dict[str, Any], images: list[dict[str, Any]], band: int) -> None:
    """Flux of a mosaic source from every ScW image at its exact position, inverse-variance mean.

    Reprojecting onto the mosaic grid shifts each ScW's peak by up to half a pixel, which lowers
    the mosaic peak; fitting the PSF (the decoded model's own peak at the source's sub-pixel
    phase) in each ScW's native grid at the mosaic position avoids that loss. Replaces
    ``flux``/``flux_error`` when at least one ScW covers the source.
    """
    vec = radec_to_unit(source["ra"], source["dec"])
    num = den = 0.0
    for img in images:
        att = Attitude(img["ra_x"], img["dec_x"], img["ra_z"], img["dec_z"])
        x, y, z = att.axes
        nx = float(vec @ x)
        if nx <= 0.5:
            continue
        a0, b0 = img["centre_pixel"]
        fa = float(vec @ y) / nx / img["pixel_tan"] + a0
        fb = float(vec @ z) / nx / img["pixel_tan"] + b0
        ia, ib = round(fa), round(fb)
        var_map = img["variance"][band]
        sy, sz = var_map.shape
        if not (1 <= ia < sy - 1 and 1 <= ib < sz - 1):
            continue
        win = (slice(ia - 1, ia + 2), slice(ib - 1, ib + 2))
        v = np.asarray(var_map[win], dtype=float)
        if np.any(v <= 0):
            continue
        inten = np.asarray(img["intensity"][band][win], dtype=float)
        psf = psf_at(np.asarray(img["psf_patches"]), fa - ia, fb - ib)
        amp = float((inten * psf).sum() / (psf * psf).sum())
        var_amp = float(v[1, 1] / psf[1, 1] ** 2)
        num += amp / var_amp
        den += 1.0 / var_amp
    if den > 0:
        source["flux"] = num / den
        source["flux_error"] = float(np.sqrt(1.0 / den))
        source["significance"] = source["flux"] / source["flux_error"]
        source["r90_arcmin"] = float(r90_arcmin(source["significance"]))


def _merge(
    band: int,
    mosaic: list[dict[str, Any]],
    single: list[dict[str, Any]],
    catalog: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Mosaic detections named from single-ScW matches, plus sources seen only in single ScWs.

    A source appears once: single-ScW detections within max(2·r90, 0.2°) of a mosaic source are
    merged into it; the rest are grouped by name and reported with their most significant ScW.
    A mosaic source without single-ScW detections is identified with the nearest catalog source
    within max(1.5·r90, 6′), or named by its position.
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
        if not names:
            # Seen in the mosaic only: identify it with the catalog directly.
            near = [
                (_separation_deg(m["ra"], m["dec"], c["ra"], c["dec"]), c["name"]) for c in catalog
            ]
            close = [d for d in near if d[0] <= max(1.5 * m["r90_arcmin"] / 60.0, 0.1)]
            if close:
                names[min(close)[1]] = 1000
                catalog_named = True
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
