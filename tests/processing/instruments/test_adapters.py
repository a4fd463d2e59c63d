"""Instrument adapters: what finds them, and that ISGRI's numbers live in its adapter only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processing.codedmask._bin import camera_of_events, detector_of
from processing.instrument import load_instrument, write_calibration
from processing.instruments import (
    UnknownInstrumentError,
    adapter_for_calibration,
    adapter_for_detector,
    adapter_for_events_file,
    adapter_of,
    default_instrument,
    get_instrument,
)

ROOT = Path(__file__).resolve().parents[3]


def test_an_archives_ic_files_name_the_isgri_adapter(tmp_path: Path) -> None:
    written = write_calibration(tmp_path)
    isgri = get_instrument("isgri")
    for path in written:
        assert isgri.layout.holds_calibration_file(str(path.relative_to(tmp_path)))
    assert adapter_of(load_instrument(tmp_path)) is isgri


def test_event_files_name_their_adapter_by_detnam() -> None:
    isgri = get_instrument("isgri")
    assert adapter_for_detector("ISGRI") is isgri
    assert adapter_for_detector(" isgri ") is isgri
    assert detector_of({"DETNAM": "ISGRI"}) is isgri
    assert detector_of({}) is default_instrument()
    with pytest.raises(UnknownInstrumentError):
        detector_of({"DETNAM": "NO-SUCH-CAMERA"})


def test_event_files_name_their_adapter_by_file_name() -> None:
    isgri = get_instrument("isgri")
    assert adapter_for_events_file(isgri.layout.events_file) is isgri
    assert adapter_for_events_file("unknown_events.fits.gz") is None
    # The file name decides; the header is asked only for files of no known name.
    assert camera_of_events(Path("scw/x") / isgri.layout.events_file, {}) is isgri
    assert camera_of_events("elsewhere.fits", {"DETNAM": "ISGRI"}) is isgri


def test_files_of_no_one_instrument_find_no_adapter() -> None:
    with pytest.raises(UnknownInstrumentError):
        adapter_for_calibration(["ic/elsewhere/mask_0001.fits"])
    with pytest.raises(UnknownInstrumentError):
        adapter_for_calibration([])


def test_the_isgri_adapter_describes_the_camera() -> None:
    isgri = get_instrument("isgri")
    assert isgri.n_channels == len(isgri.channel_edges) - 1
    assert isgri.energy_range_kev == (isgri.channel_edges[0], isgri.channel_edges[-1])
    assert dict(c[:2] for c in isgri.fits.cards())["DETNAM"] == "ISGRI"
    for lo, hi in isgri.default_bands_kev:
        band = isgri.snap_band(lo, hi)
        assert (band.e_min_kev, band.e_max_kev) == (lo, hi)


# ISGRI's numbers and names, as they would appear in code or data outside its adapter.
_ISGRI_CONSTANTS = re.compile(
    "|".join(
        [
            r"ic/ibis",  # its IC folder
            r"\bisgr_[a-z]+_",  # its IC and catalog file names
            r"isgri_events",  # its event files
            r"\b127\s+channels",  # its channel grid
            r"DEFAULT_CHANNEL_EDGES",
            r"np\.arange\(15\.0",
            r"\b15(?:\.0)?\s*keV",
            r"\b128\s*[x×]\s*128\b",  # its pixels
            r"\(130,\s*134\)",
            r"\b4\.6\s*mm",  # its pitch, mask element and focal length
            r"\b11\.2\s*mm",
            r"(?<![\d.])3200(?![\d.])",
            r"\bISGR-[A-Z]{3,4}-",  # its FITS extension names
        ]
    )
)
_PACKAGES = ("processing", "vo_service", "datalink", "registry", "uws")
_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".xml", ".html", ".txt", ".sql"}
#: The ISGRI adapter and its data files: where ISGRI's numbers belong.
_ADAPTER = (
    "processing/instruments/_isgri.py",
    "processing/instrument/data/isgri_",
    # ISGRI's product-level recipes (its own products: extension names, grid).
    "processing/isgri/",
)


def _holding(pattern: re.Pattern[str], packages: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*")):
            if path.suffix not in _SUFFIXES or not path.is_file():
                continue
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(_ADAPTER):
                continue
            hits = sorted({m.group(0) for m in pattern.finditer(path.read_text(errors="replace"))})
            if hits:
                found[rel] = hits
    return found


def test_no_isgri_constant_outside_its_adapter() -> None:
    found = _holding(_ISGRI_CONSTANTS, _PACKAGES)
    assert not found, f"ISGRI constants outside processing/instruments/_isgri.py: {found}"


def test_the_coded_mask_core_holds_no_isgri_constant() -> None:
    """The core and the adapter registry are clean now, with no exception."""
    assert _holding(_ISGRI_CONSTANTS, ("processing/codedmask", "processing/instruments")) == {}


def test_the_grep_sees_the_adapters_constants() -> None:
    """The patterns do match ISGRI's numbers where they are (the test above can fail)."""
    text = "".join(
        (ROOT / path).read_text()
        for path in (
            "processing/instruments/_isgri.py",
            "processing/instrument/data/isgri_calibration.yaml",
        )
    )
    hits = {m.group(0) for m in _ISGRI_CONSTANTS.finditer(text)}
    assert {"ic/ibis", "isgri_events", "DEFAULT_CHANNEL_EDGES", "127 channels"} <= hits
