"""Analysis units of IBIS/ISGRI: binning, and (with the imaging and spectral modules) the rest."""

from processing.isgri._bin import BinScienceWindow, bin_events, default_channel_edges, events_file
from processing.isgri._channels import DEFAULT_CHANNEL_EDGES, BandError, band_channels

__all__ = [
    "DEFAULT_CHANNEL_EDGES",
    "BandError",
    "BinScienceWindow",
    "band_channels",
    "bin_events",
    "default_channel_edges",
    "events_file",
]
