"""The instrument model: geometry, optics and response of a coded-mask camera.

IBIS/ISGRI (a square MURA over a pixellated CdTe detector) and a JEM-X-like camera (a hexagonal
HURA over a circular gas chamber) are described by data, ``data/<name>_calibration.yaml``. The
numbers live in the archive's calibration files; :func:`load_instrument` reads them.
"""

from processing.instrument._attitude import Attitude, radec_to_unit, unit_to_radec
from processing.instrument._calibration import (
    IC_DIR,
    CalibrationError,
    CalibrationLayout,
    Instrument,
    calibration_facts,
    calibration_layout,
    calibration_names,
    load_instrument,
    write_calibration,
)
from processing.instrument._geometry import DetectorGeometry, MaskGeometry
from processing.instrument._hura import HexMask, cube_root_of_unity, hura, nearest_cell, rasterise
from processing.instrument._mura import cyclic_extension, mura_pattern
from processing.instrument._optics import (
    coded_fraction,
    pixel_illumination,
    pixel_illumination_exact,
    transmitted,
)
from processing.instrument._response import EffectiveArea, EscapeLine, LowThreshold, Redistribution

__all__ = [
    "IC_DIR",
    "Attitude",
    "CalibrationError",
    "CalibrationLayout",
    "DetectorGeometry",
    "EffectiveArea",
    "EscapeLine",
    "HexMask",
    "Instrument",
    "LowThreshold",
    "MaskGeometry",
    "Redistribution",
    "calibration_facts",
    "calibration_layout",
    "calibration_names",
    "coded_fraction",
    "cube_root_of_unity",
    "cyclic_extension",
    "hura",
    "load_instrument",
    "mura_pattern",
    "nearest_cell",
    "pixel_illumination",
    "pixel_illumination_exact",
    "radec_to_unit",
    "rasterise",
    "transmitted",
    "unit_to_radec",
    "write_calibration",
]
