"""Typed parameter declarations and their normalisation to canonical JSON values.

A unit declares its parameters as a mapping of names to :class:`Param` objects. When a
unit is configured, every value goes through its declaration's :meth:`Param.normalise`,
which returns a canonical JSON value (``None``, ``bool``, ``int``, ``float``, ``str``,
``list``, ``dict``) or raises :class:`NormalisationError`. The normalised values are what
the unit sees in ``self.params`` and what its identity is hashed from, so two requests that
mean the same thing (``20 keV`` and ``0.02 MeV``, ``[b, a]`` and ``[a, b]`` for an
order-free list) give the same node.
"""

from __future__ import annotations

import math
import numbers
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time

from processing.pipeline._errors import NormalisationError
from processing.pipeline._hashing import canonical_json

__all__ = [
    "REQUIRED",
    "Bool",
    "Float",
    "Int",
    "List",
    "Param",
    "Quantity",
    "SkyPosition",
    "Str",
    "TimeParam",
]


class _Required:
    """Sentinel type: the parameter has no default."""

    def __repr__(self) -> str:
        return "REQUIRED"


#: Marks a parameter without default value.
REQUIRED: Final = _Required()


def _round_significant(value: float, digits: int) -> float:
    """Round to ``digits`` significant decimal digits; ``-0.0`` becomes ``0.0``."""
    if not math.isfinite(value):
        raise NormalisationError(f"non-finite value {value!r}")
    rounded = float(f"{value:.{digits - 1}e}")
    return 0.0 if rounded == 0 else rounded


def _as_real(value: Any) -> float:
    """Return a plain ``float`` for Python or numpy reals; refuse booleans and the rest."""
    if isinstance(value, bool | np.bool_):
        raise NormalisationError(f"expected a number, got a boolean {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    raise NormalisationError(f"expected a number, got {type(value).__name__} {value!r}")


class Param(ABC):
    """Declaration of one unit parameter.

    Parameters
    ----------
    default
        Value used when the parameter is not given (normalised like a given value);
        :data:`REQUIRED` (the default) makes the parameter mandatory.
    nullable
        Whether ``None`` is an accepted value (it normalises to JSON ``null``).
    doc
        One line describing the parameter, shown in provenance and documentation.
    """

    def __init__(self, *, default: Any = REQUIRED, nullable: bool = False, doc: str = "") -> None:
        self.default = default
        self.nullable = nullable
        self.doc = doc

    @property
    def required(self) -> bool:
        """Whether the parameter must be given."""
        return self.default is REQUIRED

    def normalise(self, value: Any) -> Any:
        """Return the canonical JSON form of ``value``.

        Raises
        ------
        NormalisationError
            When ``value`` has the wrong type, is out of bounds, or has no canonical form.
        """
        if value is None:
            if self.nullable:
                return None
            raise NormalisationError("None is not allowed")
        return self._normalise(value)

    @abstractmethod
    def _normalise(self, value: Any) -> Any:
        """Normalise a value that is not ``None``."""


class _Bounded(Param):
    """Shared bound checks of numeric parameters."""

    def __init__(
        self,
        *,
        min: float | None = None,
        max: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.min = min
        self.max = max

    def _check_bounds(self, value: float) -> None:
        if self.min is not None and value < self.min:
            raise NormalisationError(f"{value!r} is below the minimum {self.min!r}")
        if self.max is not None and value > self.max:
            raise NormalisationError(f"{value!r} is above the maximum {self.max!r}")


class Float(_Bounded):
    """A real number, rounded to ``digits`` significant digits (default 12).

    Integers and numpy reals are accepted and become ``float``; booleans, strings and
    non-finite values are refused.
    """

    def __init__(self, *, digits: int = 12, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 1 <= digits <= 17:
            raise ValueError("digits must be within 1..17")
        self.digits = digits

    def _normalise(self, value: Any) -> float:
        number = _round_significant(_as_real(value), self.digits)
        self._check_bounds(number)
        return number


class Int(_Bounded):
    """An integer; floats are refused even when integral (``3.0`` is a mistake upstream)."""

    def _normalise(self, value: Any) -> int:
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
            raise NormalisationError(f"expected an integer, got {type(value).__name__} {value!r}")
        number = int(value)
        self._check_bounds(number)
        return number


class Bool(Param):
    """A boolean; integers such as ``0``/``1`` are refused."""

    def _normalise(self, value: Any) -> bool:
        if not isinstance(value, bool | np.bool_):
            raise NormalisationError(f"expected a boolean, got {type(value).__name__} {value!r}")
        return bool(value)


class Str(Param):
    """A string, optionally restricted to ``choices`` or to a regular expression ``pattern``."""

    def __init__(
        self,
        *,
        choices: Sequence[str] | None = None,
        pattern: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.choices = tuple(choices) if choices is not None else None
        self.pattern = re.compile(pattern) if pattern is not None else None

    def _normalise(self, value: Any) -> str:
        if not isinstance(value, str):
            raise NormalisationError(f"expected a string, got {type(value).__name__} {value!r}")
        if self.choices is not None and value not in self.choices:
            raise NormalisationError(f"{value!r} is not one of {list(self.choices)}")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise NormalisationError(f"{value!r} does not match {self.pattern.pattern!r}")
        return value


class Quantity(_Bounded):
    """A physical quantity, stored as a float in the canonical ``unit``.

    An :class:`astropy.units.Quantity` is converted to ``unit`` (``0.02 MeV`` and
    ``20 keV`` give the same value); an incompatible unit raises. A bare number is taken
    to be in ``unit`` already, unless ``allow_bare=False``. Bounds are in ``unit``.
    """

    def __init__(
        self, unit: str | u.UnitBase, *, digits: int = 12, allow_bare: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.unit = u.Unit(unit)
        self.digits = digits
        self.allow_bare = allow_bare

    def _normalise(self, value: Any) -> float:
        if isinstance(value, u.Quantity):
            if not value.isscalar:
                raise NormalisationError(f"expected a scalar quantity, got shape {value.shape}")
            try:
                raw = float(value.to_value(self.unit))
            except u.UnitConversionError as exc:
                raise NormalisationError(f"{value} cannot be converted to {self.unit}") from exc
        elif self.allow_bare:
            raw = _as_real(value)
        else:
            raise NormalisationError(f"expected a quantity in {self.unit}, got {value!r}")
        number = _round_significant(raw, self.digits)
        self._check_bounds(number)
        return number


class TimeParam(Param):
    """An instant, stored as a float in ``scale`` and ``format`` (default MJD in TT).

    Only :class:`astropy.time.Time` values are accepted: a bare number has no time scale.
    The default 15 significant digits keep ~1 µs on MJD values.
    """

    def __init__(
        self, *, scale: str = "tt", format: str = "mjd", digits: int = 15, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.scale = scale
        self.format = format
        self.digits = digits

    def _normalise(self, value: Any) -> float:
        if not isinstance(value, Time) or not value.isscalar:
            raise NormalisationError(f"expected a scalar astropy Time, got {value!r}")
        raw = float(getattr(getattr(value, self.scale), self.format))
        return _round_significant(raw, self.digits)


class SkyPosition(Param):
    """A sky position, stored as ``[ra_deg, dec_deg]`` in ICRS rounded to ``decimals``.

    Accepts a scalar :class:`astropy.coordinates.SkyCoord` in any frame. Right ascension
    is wrapped into [0, 360). The default 9 decimals is ~4 µas.
    """

    def __init__(self, *, decimals: int = 9, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.decimals = decimals

    def _normalise(self, value: Any) -> list[float]:
        if not isinstance(value, SkyCoord) or not value.isscalar:
            raise NormalisationError(f"expected a scalar SkyCoord, got {value!r}")
        icrs = value.icrs
        ra = round(float(icrs.ra.wrap_at(360 * u.deg).deg), self.decimals) % 360.0
        dec = round(float(icrs.dec.deg), self.decimals)
        return [ra + 0.0, dec + 0.0]


class List(Param):
    """A list of values of one declared ``item`` type.

    Tuples and 1-D numpy arrays are accepted. ``order_free=True`` declares that the
    order carries no meaning (a set of source names): items are then sorted by their
    canonical JSON text so that any order gives the same identity. Ordered lists (band
    edges) keep their order. ``unique=True`` refuses duplicates.
    """

    def __init__(
        self,
        item: Param,
        *,
        order_free: bool = False,
        unique: bool = False,
        min_length: int = 0,
        max_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.item = item
        self.order_free = order_free
        self.unique = unique
        self.min_length = min_length
        self.max_length = max_length

    def _normalise(self, value: Any) -> list[Any]:
        if isinstance(value, np.ndarray):
            if value.ndim != 1:
                raise NormalisationError(f"expected a 1-D array, got shape {value.shape}")
            items: list[Any] = list(value)
        elif isinstance(value, u.Quantity) and not value.isscalar:
            items = list(value.flatten())
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise NormalisationError(f"expected a list, got {type(value).__name__} {value!r}")
        if len(items) < self.min_length:
            raise NormalisationError(f"needs at least {self.min_length} items, got {len(items)}")
        if self.max_length is not None and len(items) > self.max_length:
            raise NormalisationError(f"allows at most {self.max_length} items, got {len(items)}")
        normalised = []
        for index, item in enumerate(items):
            try:
                normalised.append(self.item.normalise(item))
            except NormalisationError as exc:
                raise NormalisationError(f"item {index}: {exc}") from exc
        keys = [canonical_json(item) for item in normalised]
        if self.unique and len(set(keys)) != len(keys):
            raise NormalisationError("items must be unique")
        if self.order_free:
            order = sorted(range(len(keys)), key=keys.__getitem__)
            normalised = [normalised[index] for index in order]
        return normalised
