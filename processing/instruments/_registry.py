"""The registry of instrument adapters, keyed by the name clients use."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from processing.instruments._spec import InstrumentSpec

if TYPE_CHECKING:
    from processing.instrument import Instrument

__all__ = [
    "DEFAULT_INSTRUMENT",
    "UnknownInstrumentError",
    "adapter_for_calibration",
    "adapter_for_detector",
    "adapter_for_events_file",
    "adapter_of",
    "default_instrument",
    "get_instrument",
    "instrument_names",
    "register_instrument",
]

#: The instrument a request names when it names none.
DEFAULT_INSTRUMENT = "isgri"


class UnknownInstrumentError(KeyError):
    """No adapter is registered under the name asked for, or none matches a file."""


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


def default_instrument() -> InstrumentSpec:
    """The adapter of :data:`DEFAULT_INSTRUMENT`."""
    return get_instrument(DEFAULT_INSTRUMENT)


def _adapters() -> list[InstrumentSpec]:
    return [get_instrument(name) for name in instrument_names()]


def adapter_for_detector(detnam: str) -> InstrumentSpec:
    """The adapter whose event files carry ``DETNAM = detnam``.

    Raises
    ------
    UnknownInstrumentError
        When no registered instrument has that detector name.
    """
    wanted = detnam.strip().upper()
    for spec in _adapters():
        if spec.fits.detector.upper() == wanted:
            return spec
    raise UnknownInstrumentError(f"no instrument has the detector {detnam!r}")


def adapter_for_events_file(name: str) -> InstrumentSpec | None:
    """The adapter whose per-ScW event files are called ``name`` (a file name, not a path);
    None when no registered instrument names its event files so."""
    for spec in _adapters():
        if spec.layout.events_file == name:
            return spec
    return None


def adapter_for_calibration(labels: Iterable[str]) -> InstrumentSpec:
    """The adapter whose IC files these archive-relative paths are.

    Raises
    ------
    UnknownInstrumentError
        When the files are no registered instrument's, or several instruments'.
    """
    names = list(labels)
    found = [
        s for s in _adapters() if names and all(s.layout.holds_calibration_file(n) for n in names)
    ]
    if len(found) != 1:
        raise UnknownInstrumentError(f"calibration files {names} are no one instrument's")
    return found[0]


def adapter_of(instrument: Instrument) -> InstrumentSpec:
    """The adapter of an instrument model, found from the IC files it was loaded from."""
    return adapter_for_calibration(label for label, _ in instrument.calibration_files)


def _ensure_builtins() -> None:
    """Register the built-in adapters, ISGRI (the default) first, whenever the default is
    missing (on first use, or after a test replaced the registry)."""
    if DEFAULT_INSTRUMENT in _FACTORIES:
        return
    from processing.instruments._isgri import isgri_spec
    from processing.instruments._jemx import jemx_spec

    others = dict(_FACTORIES)
    _FACTORIES.clear()
    _FACTORIES[DEFAULT_INSTRUMENT] = isgri_spec
    _FACTORIES["jemx"] = others.pop("jemx", jemx_spec)
    _FACTORIES.update(others)
