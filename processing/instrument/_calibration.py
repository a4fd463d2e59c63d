"""Instrument calibration (IC) files: written into a simulated archive, loaded by the analysis.

The archive keeps its calibration under ``ic/ibis/mod/`` as FITS files, the way OSA keeps its IC
files: the mask pattern, the detector geometry with its live-pixel map, the background template,
the effective area and the redistribution parameters. :func:`load_instrument` reads them back;
the code holds no second copy of the numbers.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from astropy.io import fits
from numpy.typing import NDArray

from processing.instrument._geometry import DetectorGeometry, MaskGeometry
from processing.instrument._mura import cyclic_extension, mura_pattern
from processing.instrument._response import EffectiveArea, EscapeLine, LowThreshold, Redistribution

__all__ = [
    "IC_DIR",
    "CalibrationError",
    "Instrument",
    "load_instrument",
    "write_calibration",
]

IC_DIR = Path("ic/ibis/mod")
_KINDS = {
    "mask": "isgr_mask_mod",
    "geometry": "isgr_geom_mod",
    "background": "isgr_back_mod",
    "arf": "isgr_effa_mod",
    "response": "isgr_resp_mod",
}
_VERSION_RE = re.compile(r"_(\d{4})\.fits$")


class CalibrationError(RuntimeError):
    """The archive's calibration files are missing or unreadable."""


@dataclass(frozen=True)
class Instrument:
    """The instrument model of one archive, loaded from its IC files."""

    name: str
    mask: MaskGeometry
    detector: DetectorGeometry
    background_template: NDArray[np.float32]
    effective_area: EffectiveArea
    redistribution: Redistribution
    low_threshold: LowThreshold
    energy_range_keV: tuple[float, float]
    calibration_files: tuple[tuple[str, str], ...]

    @property
    def calibration_version(self) -> str:
        """A short hash naming this exact set of calibration files (enters every node identity)."""
        digest = hashlib.sha256()
        for name, checksum in self.calibration_files:
            digest.update(f"{name}:{checksum}\n".encode())
        return digest.hexdigest()[:16]

    @property
    def sky_pixel_deg(self) -> float:
        """Angular size of one detector pixel seen from the mask, degrees (4.94′ for ISGRI)."""
        return float(np.degrees(np.arctan(self.detector.pitch_mm / self.mask.focal_mm)))

    def detector_efficiency(self, energy_keV: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability that a photon reaching a crystal is detected, before the threshold."""
        return self.effective_area.detector_efficiency(energy_keV, self.detector.sensitive_area_cm2)


# Writing --------------------------------------------------------------------------------------


def _seed() -> dict[str, Any]:
    text = (
        resources.files("processing.instrument") / "data" / "isgri_calibration.yaml"
    ).read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _primary(kind: str, seed: dict[str, Any]) -> fits.PrimaryHDU:
    hdu = fits.PrimaryHDU()
    hdu.header["TELESCOP"] = "INTEGRAL"
    hdu.header["INSTRUME"] = "IBIS"
    hdu.header["DETNAM"] = "ISGRI"
    hdu.header["CCNM0001"] = (kind.upper(), "calibration dataset")
    hdu.header["CVERSION"] = (int(seed["version"]), "calibration version")
    hdu.header["ORIGIN"] = "codedmask-vo-service simulator"
    return hdu


def _background_template(geometry: DetectorGeometry, seed: dict[str, Any]) -> NDArray[np.float32]:
    levels = np.asarray(seed["background"]["module_levels"], dtype=float)
    rise = float(seed["background"]["edge_rise"])
    y, z = geometry.y_mm[:, None], geometry.z_mm[None, :]
    r2 = (y / np.abs(geometry.y_mm).max()) ** 2 + (z / np.abs(geometry.z_mm).max()) ** 2
    template = (1.0 + rise * r2 / 2.0) * np.where(
        geometry.module >= 0, levels[geometry.module], 0.0
    )
    template *= geometry.live
    return (template / template[geometry.live > 0].mean()).astype(np.float32)


def _write(path: Path, hdus: list[fits.hdu.base.ExtensionHDU | fits.PrimaryHDU]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fits.HDUList(hdus).writeto(tmp, overwrite=True)
    tmp.replace(path)


def write_calibration(archive_root: Path, version: int = 1) -> list[Path]:
    """Write the IC files of a simulated archive from the instrument facts; return their paths."""
    seed = _seed()
    m, d, en = seed["mask"], seed["detector"], seed["energy"]
    folder = Path(archive_root) / IC_DIR
    names = {k: folder / f"{v}_{version:04d}.fits" for k, v in _KINDS.items()}

    pattern = cyclic_extension(mura_pattern(int(m["basic_order"])), int(m["extended_size"]))
    mask_hdu = fits.ImageHDU(pattern, name="ISGR-MASK-MOD")
    mask_hdu.header["MURAORD"] = (int(m["basic_order"]), "order of the basic MURA pattern")
    mask_hdu.header["MASKELEM"] = (float(m["element_mm"]), "[mm] mask element side")
    mask_hdu.header["MASKTHCK"] = (float(m["thickness_mm"]), "[mm] mask thickness")
    mask_hdu.header["FOCALLEN"] = (float(m["focal_mm"]), "[mm] detector to mask mid-plane")
    mask_hdu.header["AXIS1"] = ("Z", "NAXIS1 runs along the spacecraft Z axis")
    _write(names["mask"], [_primary("mask", seed), mask_hdu])

    gy = (int(d["pixels_y"]) // int(d["module_pixels_y"]) - 1) * int(d["gap_pixels"])
    gz = (int(d["pixels_z"]) // int(d["module_pixels_z"]) - 1) * int(d["gap_pixels"])
    shape = (int(d["pixels_y"]) + gy, int(d["pixels_z"]) + gz)
    geometry = _geometry_from(d, np.ones(shape, dtype=np.uint8))
    rng = np.random.default_rng(int(d["dead_pixel_seed"]))
    live = geometry.in_module.astype(np.uint8)
    dead = rng.random(shape) < float(d["dead_pixel_fraction"])
    live[dead] = 0
    geom_hdu = fits.ImageHDU(live, name="ISGR-LIVE-MAP")
    for key, card in (
        ("PIXPITCH", "pitch_mm"),
        ("CRYSTAL", "crystal_mm"),
        ("DEADTIME", "deadtime_s"),
    ):
        geom_hdu.header[key] = float(d[card])
    for key, card in (
        ("NPIXY", "pixels_y"),
        ("NPIXZ", "pixels_z"),
        ("MODPIXY", "module_pixels_y"),
        ("MODPIXZ", "module_pixels_z"),
        ("GAPPIX", "gap_pixels"),
    ):
        geom_hdu.header[key] = int(d[card])
    _write(names["geometry"], [_primary("geometry", seed), geom_hdu])

    geometry = _geometry_from(d, live)
    back_hdu = fits.ImageHDU(_background_template(geometry, seed), name="ISGR-BACK-MOD")
    back_hdu.header["COMMENT"] = "relative background rate per pixel, mean 1 over live pixels"
    _write(names["background"], [_primary("background", seed), back_hdu])

    ea = seed["effective_area"]
    arf_hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERGY", "E", unit="keV", array=np.asarray(ea["energy_keV"], float)),
            fits.Column("AREA", "E", unit="cm**2", array=np.asarray(ea["area_cm2"], float)),
        ],
        name="ISGR-EFFA-MOD",
    )
    arf_hdu.header["OPENFRAC"] = (float(ea["nominal_open_fraction"]), "mask open fraction in AREA")
    _write(names["arf"], [_primary("arf", seed), arf_hdu])

    resp_hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("ELEMENT", "4A", array=[e["element"] for e in en["escape_lines"]]),
            fits.Column("EDGE", "E", unit="keV", array=[e["edge_keV"] for e in en["escape_lines"]]),
            fits.Column("LINE", "E", unit="keV", array=[e["line_keV"] for e in en["escape_lines"]]),
            fits.Column("PROB", "E", array=[e["probability_at_edge"] for e in en["escape_lines"]]),
            fits.Column(
                "EFOLD", "E", unit="keV", array=[e["efold_keV"] for e in en["escape_lines"]]
            ),
        ],
        name="ISGR-ESCP-MOD",
    )
    for key, card in (
        ("EMIN", "min_keV"),
        ("EMAX", "max_keV"),
        ("FWHM60", "fwhm_60keV"),
        ("FWHMIDX", "fwhm_index"),
        ("TAILF60", "tail_fraction_60keV"),
        ("TAILIDX", "tail_fraction_index"),
        ("TAILMAX", "tail_fraction_max"),
        ("TAILLOSS", "tail_max_loss"),
        ("THRWIDTH", "threshold_width_keV"),
    ):
        resp_hdu.header[key] = float(en[card])
    thr = np.asarray(en["low_threshold"], dtype=float)
    thr_hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("REVOL", "J", array=thr[:, 0].astype(np.int32)),
            fits.Column("THRESHOLD", "E", unit="keV", array=thr[:, 1]),
        ],
        name="ISGR-LTHR-MOD",
    )
    _write(names["response"], [_primary("response", seed), resp_hdu, thr_hdu])
    return list(names.values())


# Loading --------------------------------------------------------------------------------------


def _geometry_from(d: dict[str, Any], live: NDArray[np.uint8]) -> DetectorGeometry:
    return DetectorGeometry(
        pitch_mm=float(d["pitch_mm"]),
        crystal_mm=float(d["crystal_mm"]),
        pixels_y=int(d["pixels_y"]),
        pixels_z=int(d["pixels_z"]),
        module_pixels_y=int(d["module_pixels_y"]),
        module_pixels_z=int(d["module_pixels_z"]),
        gap_pixels=int(d["gap_pixels"]),
        deadtime_s=float(d["deadtime_s"]),
        live=live,
    )


def _latest(folder: Path, stem: str) -> Path:
    candidates = sorted(folder.glob(f"{stem}_[0-9][0-9][0-9][0-9].fits"))
    if not candidates:
        raise CalibrationError(f"no calibration file {stem}_NNNN.fits in {folder}")
    return candidates[-1]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_instrument(archive_root: Path) -> Instrument:
    """Load the instrument model from an archive's newest IC files.

    Raises
    ------
    CalibrationError
        When a file is missing or does not hold what it should.
    """
    folder = Path(archive_root) / IC_DIR
    paths = {kind: _latest(folder, stem) for kind, stem in _KINDS.items()}
    try:
        with fits.open(paths["mask"]) as hl:
            h = hl["ISGR-MASK-MOD"].header
            mask = MaskGeometry(
                pattern=np.asarray(hl["ISGR-MASK-MOD"].data, dtype=np.uint8),
                element_mm=float(h["MASKELEM"]),
                thickness_mm=float(h["MASKTHCK"]),
                focal_mm=float(h["FOCALLEN"]),
                basic_order=int(h["MURAORD"]),
            )
        with fits.open(paths["geometry"]) as hl:
            h = hl["ISGR-LIVE-MAP"].header
            geom = {
                "pitch_mm": h["PIXPITCH"],
                "crystal_mm": h["CRYSTAL"],
                "deadtime_s": h["DEADTIME"],
                "pixels_y": h["NPIXY"],
                "pixels_z": h["NPIXZ"],
                "module_pixels_y": h["MODPIXY"],
                "module_pixels_z": h["MODPIXZ"],
                "gap_pixels": h["GAPPIX"],
            }
            detector = _geometry_from(geom, np.asarray(hl["ISGR-LIVE-MAP"].data, dtype=np.uint8))
        with fits.open(paths["background"]) as hl:
            template = np.asarray(hl["ISGR-BACK-MOD"].data, dtype=np.float32)
        with fits.open(paths["arf"]) as hl:
            t = hl["ISGR-EFFA-MOD"]
            area = EffectiveArea(
                energy_keV=np.asarray(t.data["ENERGY"], dtype=float),
                area_cm2=np.asarray(t.data["AREA"], dtype=float),
                nominal_open_fraction=float(t.header["OPENFRAC"]),
            )
        with fits.open(paths["response"]) as hl:
            esc, h = hl["ISGR-ESCP-MOD"].data, hl["ISGR-ESCP-MOD"].header
            lines = tuple(
                EscapeLine(
                    element=str(row["ELEMENT"]).strip(),
                    edge_keV=float(row["EDGE"]),
                    line_keV=float(row["LINE"]),
                    probability_at_edge=float(row["PROB"]),
                    efold_keV=float(row["EFOLD"]),
                )
                for row in esc
            )
            redistribution = Redistribution(
                fwhm_60keV=float(h["FWHM60"]),
                fwhm_index=float(h["FWHMIDX"]),
                tail_fraction_60keV=float(h["TAILF60"]),
                tail_fraction_index=float(h["TAILIDX"]),
                tail_fraction_max=float(h["TAILMAX"]),
                tail_max_loss=float(h["TAILLOSS"]),
                escape_lines=lines,
            )
            thr = hl["ISGR-LTHR-MOD"].data
            threshold = LowThreshold(
                revolutions=np.asarray(thr["REVOL"], dtype=np.int64),
                threshold_keV=np.asarray(thr["THRESHOLD"], dtype=float),
                width_keV=float(h["THRWIDTH"]),
            )
            energy_range = (float(h["EMIN"]), float(h["EMAX"]))
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise CalibrationError(f"unreadable calibration in {folder}: {exc}") from exc
    files = tuple((str(p.relative_to(archive_root)), _sha256(p)) for p in sorted(paths.values()))
    return Instrument(
        name="IBIS/ISGRI",
        mask=mask,
        detector=detector,
        background_template=template,
        effective_area=area,
        redistribution=redistribution,
        low_threshold=threshold,
        energy_range_keV=energy_range,
        calibration_files=files,
    )
