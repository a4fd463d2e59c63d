"""The registry of instrument adapters, keyed by the name clients use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from processing.instruments._band import EnergyBand, band_channels

__all__ = [
    "InstrumentSpec",
    "UnknownInstrumentError",
    "get_instrument",
    "instrument_names",
    "register_instrument",
]


@dataclass(frozen=True)
class InstrumentSpec:
    """What the service needs to know of one camera before any data is read."""

    #: The name clients use (``instrument=isgri``), lower case.
    name: str
    #: A human title (``INTEGRAL IBIS/ISGRI``).
    title: str
    #: The fine channel grid every science window is binned into, edges in keV, increasing.
    channel_edges: tuple[float, ...]

    @property
    def energy_range_kev(self) -> tuple[float, float]:
        """The lowest and highest energy the channel grid covers."""
        return self.channel_edges[0], self.channel_edges[-1]

    def snap_band(self, e_min_kev: float, e_max_kev: float) -> EnergyBand:
        """The band [e_min, e_max] keV snapped to this instrument's channel grid.

        Raises
        ------
        BandError
            When the band is empty, reversed, outside the grid or narrower than one channel.
        """
        channels, lo, hi = band_channels(self.channel_edges, e_min_kev, e_max_kev)
        return EnergyBand(lo, hi, int(channels.start), int(channels.stop))


class UnknownInstrumentError(KeyError):
    """No adapter is registered under the name asked for."""


_FACTORIES: dict[str, Callable[[], InstrumentSpec]] = {}
_LOADED: dict[str, InstrumentSpec] = {}


def register_instrument(name: str, factory: Callable[[], InstrumentSpec]) -> None:
    """Register the adapter ``name``, built by ``factory`` on first use."""
    _FACTORIES[name] = factory
    _LOADED.pop(name, None)


def instrument_names() -> tuple[str, ...]:
    """The registered instruments, in registration order."""
    _ensure_builtins()
    return tuple(_FACTORIES)


def get_instrument(name: str) -> InstrumentSpec:
    """The adapter registered under ``name``.

    Raises
    ------
    UnknownInstrumentError
        When no instrument of that name is registered.
    """
    _ensure_builtins()
    if name not in _FACTORIES:
        raise UnknownInstrumentError(name)
    if name not in _LOADED:
        _LOADED[name] = _FACTORIES[name]()
    return _LOADED[name]


def _ensure_builtins() -> None:
    if "isgri" not in _FACTORIES:
        _FACTORIES["isgri"] = _isgri


def _isgri() -> InstrumentSpec:
    from processing.instruments._isgri import DEFAULT_CHANNEL_EDGES

    return InstrumentSpec(
        name="isgri",
        title="INTEGRAL IBIS/ISGRI",
        channel_edges=tuple(float(e) for e in DEFAULT_CHANNEL_EDGES),
    )
