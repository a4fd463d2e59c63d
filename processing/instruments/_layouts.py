"""An adapter's archive layout and FITS identity, read from its camera's calibration facts.

The calibration YAML of each camera (``processing/instrument/data/<name>_calibration.yaml``)
says where its IC files and event files lie and which keywords name it; the simulator writes
archives by it and :func:`processing.instrument.load_instrument` reads them by it. The adapters
take the same names from there, so the layout is written down once.
"""

from __future__ import annotations

from processing.instruments._spec import ArchiveLayout, FitsIdentity

__all__ = ["archive_layout", "detector_shape", "fits_identity"]


def archive_layout(key: str, reference_catalog: str) -> ArchiveLayout:
    """The archive layout of the camera ``key`` (``isgri``, ``jemx``)."""
    from processing.instrument import calibration_layout

    layout = calibration_layout(key)
    return ArchiveLayout(
        events_file=layout.events.file,
        ic_folder=layout.ic_dir.as_posix(),
        ic_files=tuple(layout.stems.items()),
        reference_catalog=reference_catalog,
    )


def fits_identity(key: str) -> FitsIdentity:
    """``TELESCOP``, ``INSTRUME`` and ``DETNAM`` of the camera ``key``."""
    from processing.instrument import calibration_layout

    keys = calibration_layout(key).fits_keys
    return FitsIdentity(
        telescope=keys["telescop"], instrument=keys["instrume"], detector=keys["detnam"]
    )


def detector_shape(key: str) -> tuple[int, int]:
    """(DETY, DETZ) size of the camera's detector image, module gaps included."""
    from processing.instrument import calibration_facts

    d = calibration_facts(key)["detector"]
    shape = []
    for axis in ("y", "z"):
        pixels, module = int(d[f"pixels_{axis}"]), int(d[f"module_pixels_{axis}"])
        shape.append(pixels + (pixels // module - 1) * int(d["gap_pixels"]))
    return shape[0], shape[1]
