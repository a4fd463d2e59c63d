"""The instruments this installation analyses, each described once by its adapter.

An :class:`InstrumentSpec` is the seam between the generic coded-mask analysis
(:mod:`processing.codedmask`) and one camera: its name, its fine energy-channel grid (a band is
snapped to it before a request is hashed), its archive layout, the FITS keywords that name it
and its detector image size. The mask, detector and response come from the archive's IC files
(:func:`processing.instrument.load_instrument`). ISGRI's adapter (the default) and the
JEM-X-like one (:func:`jemx_spec`, ``jemx``) are registered built in; others are registered with
:func:`register_instrument`. :func:`get_instrument` looks an adapter up by
the name clients use (``instrument=isgri``); :func:`adapter_for_detector` and
:func:`adapter_of` find it from an event file's ``DETNAM`` or an instrument model's IC files.
"""

from processing.instruments._band import BandError, EnergyBand, band_channels
from processing.instruments._jemx import jemx_spec
from processing.instruments._registry import (
    DEFAULT_INSTRUMENT,
    UnknownInstrumentError,
    adapter_for_calibration,
    adapter_for_detector,
    adapter_for_events_file,
    adapter_of,
    default_instrument,
    get_instrument,
    instrument_names,
    register_instrument,
)
from processing.instruments._spec import ArchiveLayout, FitsIdentity, InstrumentSpec

__all__ = [
    "DEFAULT_INSTRUMENT",
    "ArchiveLayout",
    "BandError",
    "EnergyBand",
    "FitsIdentity",
    "InstrumentSpec",
    "UnknownInstrumentError",
    "adapter_for_calibration",
    "adapter_for_detector",
    "adapter_for_events_file",
    "adapter_of",
    "band_channels",
    "default_instrument",
    "get_instrument",
    "instrument_names",
    "jemx_spec",
    "register_instrument",
]
