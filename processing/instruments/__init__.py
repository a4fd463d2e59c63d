"""The instruments this installation analyses, each described once.

An :class:`InstrumentSpec` is the seam between the generic coded-mask analysis and one camera:
its name, its fine energy-channel grid (a band is snapped to it before a request is hashed)
and, as the adapters grow, the rest of what makes the camera itself. :func:`get_instrument`
looks one up by the name clients use (``instrument=isgri``).
"""

from processing.instruments._band import BandError, EnergyBand, band_channels
from processing.instruments._registry import (
    InstrumentSpec,
    UnknownInstrumentError,
    get_instrument,
    instrument_names,
    register_instrument,
)

__all__ = [
    "BandError",
    "EnergyBand",
    "InstrumentSpec",
    "UnknownInstrumentError",
    "band_channels",
    "get_instrument",
    "instrument_names",
    "register_instrument",
]
