"""DALI parameter parsing shared by the simple protocols (SCS, SIAv2): numbers, intervals and
error documents. Values are checked here, at the edge; queries are then written in ADQL
from the checked numbers and run through the same parser and tables as TAP."""

from __future__ import annotations

import math
from collections.abc import Sequence

from flask import Response, request

from uws import ParameterError, ParameterSet, render_error_votable

__all__ = [
    "adql_number",
    "adql_string",
    "dali_error",
    "interval",
    "number",
    "numbers",
    "one",
    "request_params",
]


def request_params() -> ParameterSet:
    """The query string and form of the current request (names case-insensitive)."""
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        pairs += list(request.form.items(multi=True))
    return ParameterSet(pairs)


def dali_error(exc: ParameterError) -> Response:
    """A 400 DALI error document naming the parameter."""
    return Response(
        render_error_votable(f"UsageError: {exc}"),
        status=400,
        mimetype="application/x-votable+xml",
    )


def number(name: str, text: str, low: float | None = None, high: float | None = None) -> float:
    """A finite float within [low, high]."""
    try:
        value = float(text)
    except ValueError as exc:
        raise ParameterError(name, f"{text!r} is not a number") from exc
    if not math.isfinite(value):
        raise ParameterError(name, f"{text!r} is not a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (
            f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
        )
        raise ParameterError(name, f"{value:g} is outside {bounds}")
    return value


def numbers(name: str, text: str) -> list[float]:
    """Whitespace-separated finite numbers."""
    return [number(name, part) for part in text.split()]


def interval(name: str, text: str) -> tuple[float, float]:
    """A DALI interval ``lo hi``; ``-Inf``/``+Inf`` leave an end open."""
    parts = text.split()
    if len(parts) != 2:
        raise ParameterError(name, f"{text!r}: expected two numbers, low and high")
    ends: list[float] = []
    for part in parts:
        try:
            value = float(part)
        except ValueError as exc:
            raise ParameterError(name, f"{part!r} is not a number") from exc
        if math.isnan(value):
            raise ParameterError(name, "NaN is not an interval end")
        ends.append(value)
    low, high = ends
    if low > high:
        raise ParameterError(name, f"low end {low:g} is above high end {high:g}")
    return low, high


def adql_number(value: float) -> str:
    """A float as an ADQL literal (its grammar wants a decimal point before an exponent)."""
    text = repr(float(value))
    mantissa, sep, exponent = text.partition("e")
    if sep and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


def adql_string(value: str) -> str:
    """An ADQL string literal (quotes doubled)."""
    if "\x00" in value:
        raise ParameterError("value", "holds a NUL character")
    return "'" + value.replace("'", "''") + "'"


def one(params: ParameterSet, name: str) -> str | None:
    """The single value of ``name`` (``None`` when absent)."""
    values: Sequence[str] = params.getall(name)
    if not values:
        return None
    if len(values) > 1:
        raise ParameterError(params.given_name(name), "given more than once")
    return values[0]
