"""Instrument calibration (IC) files: written into a simulated archive, loaded by the analysis.

An archive keeps each camera's calibration as FITS files in the camera's IC folder, the way OSA
keeps its IC files (in the folder its calibration facts name, one per camera): the mask
pattern, the detector geometry with its live-pixel map, the background template, the effective
area and the redistribution parameters. :func:`load_instrument` reads them back; the code holds no
second copy of the numbers. Which folder, which file names and which extension names belong to a
camera is data too: the ``layout`` block of the camera's calibration YAML
(``processing/instrument/data/<name>_calibration.yaml``, or a YAML file given by path).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from astropy.io import fits
from numpy.typing import NDArray

from processing.instrument._geometry import DetectorGeometry, MaskGeometry
from processing.instrument._hura import hura, rasterise
from processing.instrument._mura import cyclic_extension, mura_pattern
from processing.instrument._response import EffectiveArea, EscapeLine, LowThreshold, Redistribution

__all__ = [
    "IC_DIR",
    "CalibrationError",
    "CalibrationLayout",
    "Instrument",
    "calibration_layout",
    "calibration_names",
    "load_instrument",
    "write_calibration",
]

_KIND_NAMES = ("mask", "geometry", "background", "arf", "response")
_VERSION_RE = re.compile(r"_(\d{4})\.fits$")
_DEFAULT = "isgri"

if TYPE_CHECKING:  # processing.archive imports this package; it is imported where it is used
    from processing.archive import EventLayout


class CalibrationError(RuntimeError):
    """The archive's calibration files are missing or unreadable."""


@dataclass(frozen=True)
class CalibrationLayout:
    """Where a camera's IC files live in an archive and how they and their events are named."""

    key: str
    title: str
    ic_dir: Path
    stems: dict[str, str]
    extnames: dict[str, str]
    fits_keys: dict[str, str]
    events: EventLayout


def _facts(instrument: str | Path) -> dict[str, Any]:
    """The calibration YAML of a built-in camera (by name) or of a YAML file (by path)."""
    name = str(instrument)
    if isinstance(instrument, Path) or name.endswith((".yaml", ".yml")):
        try:
            text = Path(name).read_text()
        except OSError as exc:
            raise CalibrationError(f"cannot read calibration facts {name}: {exc}") from exc
    else:
        source = resources.files("processing.instrument") / "data" / f"{name}_calibration.yaml"
        if not source.is_file():
            raise CalibrationError(
                f"no calibration facts for instrument {name!r}; known: "
                + ", ".join(calibration_names())
            )
        text = source.read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def calibration_names() -> list[str]:
    """The cameras whose calibration facts ship with the package (``isgri``, ``jemx``)."""
    folder = resources.files("processing.instrument") / "data"
    suffix = "_calibration.yaml"
    return sorted(p.name.removesuffix(suffix) for p in folder.iterdir() if p.name.endswith(suffix))


def calibration_facts(instrument: str | Path = _DEFAULT) -> dict[str, Any]:
    """The instrument facts a simulated archive's IC files are written from (the YAML, parsed)."""
    return _facts(instrument)


def _layout_from(facts: dict[str, Any]) -> CalibrationLayout:
    from processing.archive._layout import EventLayout

    try:
        lay, ev = facts["layout"], facts["layout"]["events"]
        cols = ev["columns"]
        extnames = {k: str(v["extname"]) for k, v in lay["files"].items()}
        extnames["threshold"] = str(lay["files"]["response"]["threshold_extname"])
        return CalibrationLayout(
            key=str(facts["instrument"]["key"]),
            title=str(facts["instrument"]["title"]),
            ic_dir=Path(lay["ic_dir"]),
            stems={k: str(lay["files"][k]["stem"]) for k in _KIND_NAMES},
            extnames=extnames,
            fits_keys={k: str(v) for k, v in lay["fits"].items()},
            events=EventLayout(
                file=str(ev["file"]),
                extname=str(ev["extname"]),
                gti_extname=str(ev["gti_extname"]),
                energy_column=str(cols["energy"]),
                y_column=str(cols["y"]),
                z_column=str(cols["z"]),
                flag_column=str(cols["flag"]),
            ),
        )
    except (KeyError, TypeError) as exc:
        raise CalibrationError(f"calibration facts lack their layout: {exc}") from exc


def calibration_layout(instrument: str | Path = _DEFAULT) -> CalibrationLayout:
    """The IC folder, IC file and extension names, and event-file layout of a camera.

    A built-in camera's layout is read once per process (every event file read asks for it:
    parsing the YAML each time cost ~20 ms per read); a YAML file given by path is read each
    time, as it may change.
    """
    name = str(instrument)
    if isinstance(instrument, Path) or name.endswith((".yaml", ".yml")):
        return _layout_from(_facts(instrument))
    return _builtin_layout(name)


@functools.cache
def _builtin_layout(name: str) -> CalibrationLayout:
    return _layout_from(_facts(name))


#: The default camera's IC folder in an archive, as its calibration facts give it.
IC_DIR = Path(_facts(_DEFAULT)["layout"]["ic_dir"])


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
    key: str = _DEFAULT
    events: EventLayout | None = None

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

    @property
    def zero_response_deg(self) -> float:
        """Off-axis angle beyond which no ray from the sky reaches the detector through the mask."""
        det = self.detector
        y, z = np.nonzero(det.in_module)
        r_det = float(np.max(np.hypot(det.y_mm[y], det.z_mm[z]))) + det.pitch_mm / np.sqrt(2.0)
        reach = self.mask.outer_radius_mm + r_det
        return float(
            np.degrees(np.arctan(reach / (self.mask.focal_mm - 0.5 * self.mask.thickness_mm)))
        )

    def detector_efficiency(self, energy_keV: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability that a photon reaching a crystal is detected, before the threshold."""
        return self.effective_area.detector_efficiency(energy_keV, self.detector.sensitive_area_cm2)


# Writing --------------------------------------------------------------------------------------


def _primary(kind: str, seed: dict[str, Any], layout: CalibrationLayout) -> fits.PrimaryHDU:
    hdu = fits.PrimaryHDU()
    hdu.header["TELESCOP"] = layout.fits_keys["telescop"]
    hdu.header["INSTRUME"] = layout.fits_keys["instrume"]
    hdu.header["DETNAM"] = layout.fits_keys["detnam"]
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


def _mask_hdus(m: dict[str, Any], extname: str) -> list[fits.hdu.base.ExtensionHDU]:
    """The mask pattern image: a square MURA, or a HURA rasterised with its support map."""
    kind = str(m.get("kind", "mura"))
    if kind == "mura":
        pattern = cyclic_extension(mura_pattern(int(m["basic_order"])), int(m["extended_size"]))
        mask_hdu = fits.ImageHDU(pattern, name=extname)
        mask_hdu.header["MURAORD"] = (int(m["basic_order"]), "order of the basic MURA pattern")
        mask_hdu.header["MASKELEM"] = (float(m["element_mm"]), "[mm] mask element side")
        mask_hdu.header["MASKTHCK"] = (float(m["thickness_mm"]), "[mm] mask thickness")
        mask_hdu.header["FOCALLEN"] = (float(m["focal_mm"]), "[mm] detector to mask mid-plane")
        mask_hdu.header["AXIS1"] = ("Z", "NAXIS1 runs along the spacecraft Z axis")
        return [mask_hdu]
    if kind != "hura":
        raise CalibrationError(f"unknown mask kind {kind!r} (mura or hura)")
    cell, pitch = float(m["cell_mm"]), float(m["raster_pitch_mm"])
    cells = hura(int(m["hura_order"]), int(m["residue_power"]))
    # The square grid: an even number of pixels reaching one pitch beyond the outermost cell edge.
    reach = (cells.circumradius_cells + 1.0) * cell
    size = 2 * int(np.ceil(reach / pitch)) + 2
    pattern, support = rasterise(cells, cell, pitch, size)
    mask_hdu = fits.ImageHDU(pattern, name=extname)
    mask_hdu.header["MASKTYPE"] = ("HURA", "hexagonal uniformly redundant array")
    mask_hdu.header["HURAORD"] = (cells.order, "cells in one HURA period")
    mask_hdu.header["HURAPOW"] = (cells.residue_power, "open cells: residues of this power")
    mask_hdu.header["HURAROOT"] = (cells.r, "label (i + r j) mod order; r^2 + r + 1 = 0")
    mask_hdu.header["CELLPTCH"] = (cell, "[mm] hexagonal cell pitch")
    mask_hdu.header["MASKELEM"] = (pitch, "[mm] pitch of the square raster")
    mask_hdu.header["MASKTHCK"] = (float(m["thickness_mm"]), "[mm] mask thickness")
    mask_hdu.header["FOCALLEN"] = (float(m["focal_mm"]), "[mm] detector to mask mid-plane")
    mask_hdu.header["AXIS1"] = ("Z", "NAXIS1 runs along the spacecraft Z axis")
    support_hdu = fits.ImageHDU(support, name=f"{extname}-SUPP")
    support_hdu.header["COMMENT"] = "1 where the raster pixel lies on the mask (open or closed)"
    cells_hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("I", "J", array=cells.i.astype(np.int32)),
            fits.Column("J", "J", array=cells.j.astype(np.int32)),
            fits.Column("LABEL", "J", array=cells.label.astype(np.int32)),
            fits.Column("OPEN", "B", array=cells.open),
        ],
        name=f"{extname}-CELL",
    )
    cells_hdu.header["COMMENT"] = "cell centre: y = pitch (I - J/2), z = pitch J sqrt(3)/2"
    return [mask_hdu, support_hdu, cells_hdu]


def _detector_shape(d: dict[str, Any]) -> tuple[int, int]:
    gy = (int(d["pixels_y"]) // int(d["module_pixels_y"]) - 1) * int(d["gap_pixels"])
    gz = (int(d["pixels_z"]) // int(d["module_pixels_z"]) - 1) * int(d["gap_pixels"])
    return int(d["pixels_y"]) + gy, int(d["pixels_z"]) + gz


def write_calibration(
    archive_root: Path, version: int = 1, instrument: str | Path = _DEFAULT
) -> list[Path]:
    """Write a camera's IC files into a simulated archive from its facts; return their paths.

    ``instrument``: a built-in camera's name (``isgri``, ``jemx``) or a calibration YAML file.
    """
    seed = _facts(instrument)
    layout = _layout_from(seed)
    m, d, en = seed["mask"], seed["detector"], seed["energy"]
    ext = layout.extnames
    folder = Path(archive_root) / layout.ic_dir
    names = {k: folder / f"{layout.stems[k]}_{version:04d}.fits" for k in _KIND_NAMES}

    _write(names["mask"], [_primary("mask", seed, layout), *_mask_hdus(m, ext["mask"])])

    shape = _detector_shape(d)
    geometry = _geometry_from(d, np.ones(shape, dtype=np.uint8))
    rng = np.random.default_rng(int(d["dead_pixel_seed"]))
    live = geometry.in_module.astype(np.uint8)
    dead = rng.random(shape) < float(d["dead_pixel_fraction"])
    live[dead] = 0
    geom_hdu = fits.ImageHDU(live, name=ext["geometry"])
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
    if d.get("outline", "square") != "square":
        geom_hdu.header["OUTLINE"] = (str(d["outline"]).upper(), "detector outline")
        geom_hdu.header["DIAMETER"] = (float(d["diameter_mm"]), "[mm] detector diameter")
    _write(names["geometry"], [_primary("geometry", seed, layout), geom_hdu])

    geometry = _geometry_from(d, live)
    back_hdu = fits.ImageHDU(_background_template(geometry, seed), name=ext["background"])
    back_hdu.header["COMMENT"] = "relative background rate per pixel, mean 1 over live pixels"
    _write(names["background"], [_primary("background", seed, layout), back_hdu])

    ea = seed["effective_area"]
    arf_hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERGY", "E", unit="keV", array=np.asarray(ea["energy_keV"], float)),
            fits.Column("AREA", "E", unit="cm**2", array=np.asarray(ea["area_cm2"], float)),
        ],
        name=ext["arf"],
    )
    arf_hdu.header["OPENFRAC"] = (float(ea["nominal_open_fraction"]), "mask open fraction in AREA")
    _write(names["arf"], [_primary("arf", seed, layout), arf_hdu])

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
        name=ext["response"],
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
    if "fwhm_relative" in en:
        resp_hdu.header["FWHMREL"] = (float(en["fwhm_relative"]), "FWHM/E = REL sqrt(1/E + 1/REF)")
        resp_hdu.header["FWHMREF"] = (float(en["fwhm_relative_keV"]), "[keV] REF of FWHMREL")
    thr = np.asarray(en["low_threshold"], dtype=float)
    thr_hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("REVOL", "J", array=thr[:, 0].astype(np.int32)),
            fits.Column("THRESHOLD", "E", unit="keV", array=thr[:, 1]),
        ],
        name=ext["threshold"],
    )
    if "energy_cut_keV" in en:
        thr_hdu.header["LLDCUT"] = (float(en["energy_cut_keV"]), "[keV] events below are dropped")
    _write(names["response"], [_primary("response", seed, layout), resp_hdu, thr_hdu])
    return list(names.values())


# Loading --------------------------------------------------------------------------------------


def _geometry_from(d: dict[str, Any], live: NDArray[np.uint8]) -> DetectorGeometry:
    outline = str(d.get("outline", "square")).lower()
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
        outline=outline,
        diameter_mm=float(d["diameter_mm"]) if outline != "square" else None,
    )


def _latest(folder: Path, stem: str) -> Path:
    candidates = sorted(folder.glob(f"{stem}_[0-9][0-9][0-9][0-9].fits"))
    if not candidates:
        raise CalibrationError(f"no calibration file {stem}_NNNN.fits in {folder}")
    return candidates[-1]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_mask(path: Path, extname: str) -> MaskGeometry:
    with fits.open(path) as hl:
        h = hl[extname].header
        pattern = np.asarray(hl[extname].data, dtype=np.uint8)
        element, thickness, focal = (float(h[k]) for k in ("MASKELEM", "MASKTHCK", "FOCALLEN"))
        if h.get("MASKTYPE", "MURA") == "HURA":
            return MaskGeometry(
                pattern=pattern,
                element_mm=element,
                thickness_mm=thickness,
                focal_mm=focal,
                basic_order=int(h["HURAORD"]),
                lattice="hexagonal",
                cell_mm=float(h["CELLPTCH"]),
                support=np.asarray(hl[f"{extname}-SUPP"].data, dtype=np.uint8),
            )
        return MaskGeometry(
            pattern=pattern,
            element_mm=element,
            thickness_mm=thickness,
            focal_mm=focal,
            basic_order=int(h["MURAORD"]),
        )


def _read_response(
    path: Path, ext: dict[str, str]
) -> tuple[Redistribution, LowThreshold, tuple[float, float]]:
    with fits.open(path) as hl:
        esc, h = hl[ext["response"]].data, hl[ext["response"]].header
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
            fwhm_relative=float(h["FWHMREL"]) if "FWHMREL" in h else None,
            fwhm_relative_keV=float(h.get("FWHMREF", 60.0)),
        )
        thr, thr_hdr = hl[ext["threshold"]].data, hl[ext["threshold"]].header
        threshold = LowThreshold(
            revolutions=np.asarray(thr["REVOL"], dtype=np.int64),
            threshold_keV=np.asarray(thr["THRESHOLD"], dtype=float),
            width_keV=float(h["THRWIDTH"]),
            cut_keV=float(thr_hdr["LLDCUT"]) if "LLDCUT" in thr_hdr else None,
        )
        return redistribution, threshold, (float(h["EMIN"]), float(h["EMAX"]))


def load_instrument(archive_root: Path, instrument: str | Path = _DEFAULT) -> Instrument:
    """Load a camera's instrument model from an archive's newest IC files.

    ``instrument``: a built-in camera's name (``isgri``, ``jemx``) or its calibration YAML; only
    its ``layout`` (folder, file and extension names) is taken from there, every number from the
    archive's files.

    Raises
    ------
    CalibrationError
        When a file is missing or does not hold what it should.
    """
    layout = calibration_layout(instrument)
    ext = layout.extnames
    folder = Path(archive_root) / layout.ic_dir
    paths = {kind: _latest(folder, stem) for kind, stem in layout.stems.items()}
    try:
        mask = _read_mask(paths["mask"], ext["mask"])
        with fits.open(paths["geometry"]) as hl:
            h = hl[ext["geometry"]].header
            geom = {
                "pitch_mm": h["PIXPITCH"],
                "crystal_mm": h["CRYSTAL"],
                "deadtime_s": h["DEADTIME"],
                "pixels_y": h["NPIXY"],
                "pixels_z": h["NPIXZ"],
                "module_pixels_y": h["MODPIXY"],
                "module_pixels_z": h["MODPIXZ"],
                "gap_pixels": h["GAPPIX"],
                "outline": str(h.get("OUTLINE", "SQUARE")).lower(),
                "diameter_mm": h.get("DIAMETER"),
            }
            live = np.asarray(hl[ext["geometry"]].data, dtype=np.uint8)
            detector = _geometry_from(geom, live)
        with fits.open(paths["background"]) as hl:
            template = np.asarray(hl[ext["background"]].data, dtype=np.float32)
        with fits.open(paths["arf"]) as hl:
            t = hl[ext["arf"]]
            area = EffectiveArea(
                energy_keV=np.asarray(t.data["ENERGY"], dtype=float),
                area_cm2=np.asarray(t.data["AREA"], dtype=float),
                nominal_open_fraction=float(t.header["OPENFRAC"]),
            )
        redistribution, threshold, energy_range = _read_response(paths["response"], ext)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise CalibrationError(f"unreadable calibration in {folder}: {exc}") from exc
    files = tuple((str(p.relative_to(archive_root)), _sha256(p)) for p in sorted(paths.values()))
    return Instrument(
        name=layout.title,
        mask=mask,
        detector=detector,
        background_template=template,
        effective_area=area,
        redistribution=redistribution,
        low_threshold=threshold,
        energy_range_keV=energy_range,
        calibration_files=files,
        key=layout.key,
        events=layout.events,
    )
