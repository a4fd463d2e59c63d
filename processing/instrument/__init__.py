"""The instrument model: geometry, optics and response of a coded-mask camera (IBIS/ISGRI).

The numbers live in the archive's calibration files; :func:`load_instrument` reads them.
"""

from processing.instrument._attitude import Attitude, radec_to_unit, unit_to_radec
from processing.instrument._calibration import (
    IC_DIR,
    CalibrationError,
    Instrument,
    load_instrument,
    write_calibration,
)
from processing.instrument._geometry import DetectorGeometry, MaskGeometry
from processing.instrument._mura import cyclic_extension, mura_pattern
from processing.instrument._optics import coded_fraction, pixel_illumination, transmitted
from processing.instrument._response import EffectiveArea, EscapeLine, LowThreshold, Redistribution

__all__ = [
    "IC_DIR",
    "Attitude",
    "CalibrationError",
    "DetectorGeometry",
    "EffectiveArea",
    "EscapeLine",
    "Instrument",
    "LowThreshold",
    "MaskGeometry",
    "Redistribution",
    "coded_fraction",
    "cyclic_extension",
    "load_instrument",
    "mura_pattern",
    "pixel_illumination",
    "radec_to_unit",
    "transmitted",
    "unit_to_radec",
    "write_calibration",
]
