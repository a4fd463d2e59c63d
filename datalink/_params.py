"""DALI parameter parsing for DataLink and SODA: case-insensitive names, DALI xtypes.

Pure functions, testable without an app. Shapes follow DALI 1.1: ``circle`` is
``ra dec radius``, ``polygon`` is ``ra1 dec1 ra2 dec2 ...`` (at least three vertices),
``interval`` is ``lo hi`` (``-Inf``/``+Inf`` for open ends); SODA ``POS`` prefixes a
shape name (``CIRCLE``, ``RANGE``, ``POLYGON``). ``RANGE`` is
``lon1 lon2 lat1 lat2``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from datalink._errors import MultiValuedParamNotSupported, SodaError

__all__ = [
    "SPATIAL_PARAMETERS",
    "Interval",
    "RawParameters",
    "SkyRegion",
    "parse_circle",
    "parse_interval",
    "parse_polygon",
    "parse_pos",
    "parse_spatial",
]

#: The SODA parameters that select a sky region.
SPATIAL_PARAMETERS = ("POS", "CIRCLE", "POLYGON")


class RawParameters:
    """Request parameters with case-insensitive names, in submission order.

    Parameters
    ----------
    pairs
        (name, value) pairs from the query string and the form body.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = [(str(k), str(v)) for k, v in pairs]

    def getall(self, name: str) -> list[str]:
        """Every value of ``name``, ignoring case."""
        key = name.lower()
        return [v for k, v in self.pairs if k.lower() == key]

    def single(self, name: str) -> str | None:
        """The one value of ``name``, ``None`` when absent.

        Raises
        ------
        MultiValuedParamNotSupported
            When the parameter is given more than once.
        """
        values = self.getall(name)
        if len(values) > 1:
            raise MultiValuedParamNotSupported(
                f"given {len(values)} times; this endpoint takes one value", name
            )
        return values[0] if values else None


@dataclass(frozen=True)
class SkyRegion:
    """A parsed sky region (ICRS degrees).

    ``shape`` is ``circle`` (``values`` = ra, dec, radius), ``range`` (lon1, lon2, lat1,
    lat2; infinite ends allowed) or ``polygon`` (ra1, dec1, ...).
    """

    shape: Literal["circle", "range", "polygon"]
    values: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible form (UWS job parameters); inverse of :meth:`from_json`."""
        return {"shape": self.shape, "values": [_json_float(v) for v in self.values]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SkyRegion:
        """Rebuild a region stored with :meth:`to_json`."""
        return cls(data["shape"], tuple(float(v) for v in data["values"]))

    def centre(self) -> tuple[float, float]:
        """A representative point (for cut-out headers and descriptions)."""
        if self.shape == "circle":
            return self.values[0], self.values[1]
        if self.shape == "range":
            lon1, lon2, lat1, lat2 = (max(min(v, 1e3), -1e3) for v in self.values)
            return (min(lon1, 360.0) + min(lon2, 360.0)) / 2, (max(lat1, -90) + min(lat2, 90)) / 2
        ras, decs = self.values[0::2], self.values[1::2]
        return sum(ras) / len(ras), sum(decs) / len(decs)


@dataclass(frozen=True)
class Interval:
    """A closed interval ``[lo, hi]``; ends may be infinite."""

    lo: float
    hi: float

    def intersect(self, lo: float, hi: float) -> Interval | None:
        """The overlap with ``[lo, hi]``, ``None`` when empty."""
        new_lo, new_hi = max(self.lo, lo), min(self.hi, hi)
        return Interval(new_lo, new_hi) if new_lo <= new_hi else None

    def to_json(self) -> list[float | str]:
        """A JSON-compatible form (infinities as strings)."""
        return [_json_float(self.lo), _json_float(self.hi)]

    @classmethod
    def from_json(cls, data: list[Any]) -> Interval:
        """Rebuild an interval stored with :meth:`to_json`."""
        return cls(float(data[0]), float(data[1]))


def _json_float(value: float) -> float | str:
    # JSON has no infinities; float("inf") / float("-inf") read these back.
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _numbers(text: str, name: str) -> list[float]:
    words = text.split()
    try:
        values = [float(w) for w in words]
    except ValueError:
        raise SodaError(f"{text!r} is not a list of numbers", name) from None
    if any(math.isnan(v) for v in values):
        raise SodaError("NaN is not a valid coordinate", name)
    return values


def _check_lat(dec: float, name: str) -> None:
    if not -90.0 <= dec <= 90.0:
        raise SodaError(f"latitude {dec:g} is outside [-90, 90] deg", name)


def _check_lon(ra: float, name: str) -> None:
    if not 0.0 <= ra <= 360.0:
        raise SodaError(f"longitude {ra:g} is outside [0, 360] deg", name)


def parse_circle(text: str, name: str = "CIRCLE") -> SkyRegion:
    """DALI ``circle``: ``ra dec radius`` in degrees, radius in (0, 180]."""
    values = _numbers(text, name)
    if len(values) != 3:
        raise SodaError(f"a circle is 'ra dec radius' (3 numbers), got {len(values)}", name)
    ra, dec, radius = values
    _check_lon(ra, name)
    _check_lat(dec, name)
    if not 0.0 < radius <= 180.0:
        raise SodaError(f"radius {radius:g} is outside (0, 180] deg", name)
    return SkyRegion("circle", (ra, dec, radius))


def parse_polygon(text: str, name: str = "POLYGON") -> SkyRegion:
    """DALI ``polygon``: ``ra1 dec1 ra2 dec2 ...``, at least three vertices."""
    values = _numbers(text, name)
    if len(values) < 6 or len(values) % 2:
        raise SodaError(
            f"a polygon is at least three 'ra dec' pairs, got {len(values)} numbers", name
        )
    for ra, dec in zip(values[0::2], values[1::2], strict=True):
        _check_lon(ra, name)
        _check_lat(dec, name)
    return SkyRegion("polygon", tuple(values))


def _parse_range(text: str, name: str) -> SkyRegion:
    values = _numbers(text, name)
    if len(values) != 4:
        raise SodaError(f"a range is 'lon1 lon2 lat1 lat2' (4 numbers), got {len(values)}", name)
    lon1, lon2, lat1, lat2 = values
    for lon in (lon1, lon2):
        if math.isfinite(lon):
            _check_lon(lon, name)
    for lat in (lat1, lat2):
        if math.isfinite(lat):
            _check_lat(lat, name)
    if lat1 > lat2:
        raise SodaError(f"latitude range {lat1:g} > {lat2:g}", name)
    if lon1 > lon2:
        raise SodaError(f"longitude range {lon1:g} > {lon2:g}", name)
    return SkyRegion("range", (lon1, lon2, lat1, lat2))


def parse_pos(text: str, name: str = "POS") -> SkyRegion:
    """SODA ``POS``: ``CIRCLE ...``, ``RANGE ...`` or ``POLYGON ...`` (shape case-insensitive)."""
    shape, _, rest = text.strip().partition(" ")
    kind = shape.upper()
    if kind == "CIRCLE":
        return parse_circle(rest, name)
    if kind == "RANGE":
        return _parse_range(rest, name)
    if kind == "POLYGON":
        return parse_polygon(rest, name)
    raise SodaError(f"shape {shape!r} is not one of CIRCLE, RANGE, POLYGON", name)


def parse_spatial(name: str, text: str) -> SkyRegion:
    """Parse the value of one of :data:`SPATIAL_PARAMETERS`."""
    key = name.upper()
    if key == "POS":
        return parse_pos(text, name)
    if key == "CIRCLE":
        return parse_circle(text, name)
    if key == "POLYGON":
        return parse_polygon(text, name)
    raise ValueError(f"{name} is not a spatial parameter")


def parse_interval(text: str, name: str) -> Interval:
    """DALI ``interval``: ``lo hi`` (``-Inf``/``+Inf`` allowed), ``lo <= hi``."""
    values = _numbers(text, name)
    if len(values) != 2:
        raise SodaError(f"an interval is 'lo hi' (2 numbers), got {len(values)}", name)
    lo, hi = values
    if lo > hi:
        raise SodaError(f"lower bound {lo:g} is above upper bound {hi:g}", name)
    return Interval(lo, hi)
