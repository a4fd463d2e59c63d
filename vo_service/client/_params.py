"""The request parameters as the service describes them, and their check before submission.

``GET /async/params`` answers a VOTable with, per product type, a DataLink service descriptor
(``RESOURCE type="meta" utype="adhoc:service" ID="async-<type>"``) whose ``inputParams`` list
each parameter with its datatype, unit, UCD, range or options and default. The client reads
them with astropy (pyvo's ``DatalinkQuery.from_resource`` fails on the scalar numeric PARAMs
without a default, RA and DEC) and checks every value against them, so that most mistakes are
reported before anything is sent. Rules that join several parameters (RA with DEC, E1_keV
below E2_keV, T1 before T2) are the service's: its 400 answer becomes the same exception.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from astropy.io.votable import parse
from astropy.io.votable.tree import Param, Resource

from vo_service.client._errors import ParameterError

__all__ = ["Parameter", "ProductTypes", "read_descriptors", "to_text"]

#: IJD = MJD - 51544 (INTEGRAL Julian Date), the service's ``T_format=ijd``.
_IJD_ZERO_MJD = 51544.0
#: Parameters a descriptor fixes, which the client sets itself.
_FIXED = {"product_type", "phase"}


@dataclass(frozen=True)
class Parameter:
    """One request parameter as the service describes it.

    Attributes
    ----------
    name : str
        Its name (the client accepts any case and sends this spelling).
    datatype : str
        ``double``, ``int`` or ``char``.
    description : str
        What it means.
    unit, ucd : str
        Its unit (empty when none) and UCD.
    default : str or None
        The value used when it is not given, as text; ``None`` when there is none.
    minimum, maximum : float or None
        Allowed range (``maximum`` itself excluded when ``maximum_inclusive`` is false).
    options : tuple of str
        Allowed values, when they are enumerated.
    """

    name: str
    datatype: str
    description: str = ""
    unit: str = ""
    ucd: str = ""
    default: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    maximum_inclusive: bool = True
    options: tuple[str, ...] = ()

    def __str__(self) -> str:
        unit = f" [{self.unit}]" if self.unit else ""
        default = f" = {self.default}" if self.default is not None else ""
        allowed = ""
        if self.options:
            allowed = f" ({' | '.join(self.options)})"
        elif self.minimum is not None and self.maximum is not None:
            top = "]" if self.maximum_inclusive else "["
            allowed = f" [{self.minimum:g}, {self.maximum:g}{top}"
        return f"{self.name}{unit}{default}{allowed}: {self.description}"

    def check(self, value: Any) -> str:
        """``value`` as the text the service expects, or :class:`ParameterError`.

        Numbers are checked against the range (an astropy ``Quantity`` is converted to the
        parameter's unit first), enumerated values against the options (ignoring case).
        """
        text = to_text(self.name, value, self.unit)
        if self.datatype in ("double", "int"):
            return self._check_number(text)
        if self.options:
            folded = {o.lower(): o for o in self.options}
            if text.strip().lower() not in folded:
                raise ParameterError(self.name, f"{text!r} is not one of {', '.join(self.options)}")
            return folded[text.strip().lower()]
        return text

    def _check_number(self, text: str) -> str:
        try:
            number = float(text)
        except ValueError:
            raise ParameterError(self.name, f"not a number: {text!r}") from None
        if not math.isfinite(number):
            raise ParameterError(self.name, f"not a finite number: {text!r}")
        if self.datatype == "int":
            if number != int(number):
                raise ParameterError(self.name, f"not an integer: {text!r}")
            text = str(int(number))
        unit = f" {self.unit}" if self.unit else ""
        if self.minimum is not None and number < self.minimum:
            raise ParameterError(self.name, f"{text} is below the minimum {self.minimum:g}{unit}")
        if self.maximum is not None and (
            number > self.maximum or (number == self.maximum and not self.maximum_inclusive)
        ):
            bound = "maximum" if self.maximum_inclusive else "(excluded) maximum"
            raise ParameterError(self.name, f"{text} is above the {bound} {self.maximum:g}{unit}")
        return text


@dataclass(frozen=True)
class ProductTypes:
    """What ``/async/params`` says: each product type's description and parameters."""

    descriptions: Mapping[str, str]
    parameters: Mapping[str, Mapping[str, Parameter]]

    def of(self, product_type: str) -> Mapping[str, Parameter]:
        """The parameters of ``product_type`` (by name), or :class:`ParameterError`."""
        known = self.parameters.get(product_type.strip().lower())
        if known is None:
            raise ParameterError(
                "product_type",
                f"{product_type!r} is not one of {', '.join(self.parameters)}",
            )
        return known

    def check(self, product_type: str, values: Mapping[str, Any]) -> dict[str, str]:
        """The request for ``product_type`` as the text to send: each value checked, names
        spelt as the service declares them, ``None`` values left out.

        Raises
        ------
        ParameterError
            For an unknown product type, a parameter this product type does not use, or a
            value outside what the descriptor allows.
        """
        known = self.of(product_type)
        by_lower = {name.lower(): p for name, p in known.items()}
        out = {"product_type": product_type.strip().lower()}
        formats = [str(v) for k, v in values.items() if k.lower() == "t_format" and v is not None]
        time_format = formats[0].strip().lower() if formats else "isot"
        for name, value in values.items():
            if value is None:
                continue
            if name.lower() in ("t1", "t2") and _is_time(value):
                value = _time_text(value, time_format)
            spec = by_lower.get(name.lower())
            if spec is None or spec.name.lower() in _FIXED:
                usable = ", ".join(n for n in known if n.lower() not in _FIXED)
                raise ParameterError(
                    name, f"not a parameter of {out['product_type']} requests (they take: {usable})"
                )
            if spec.name in out:
                raise ParameterError(name, f"given twice (as {spec.name} too)")
            out[spec.name] = spec.check(value)
        return out


def _param(entry: Param) -> Parameter:
    values = entry.values
    options = tuple(str(value) for _, value in values.options) if values is not None else ()
    value = entry.value
    default: str | None
    if value is None or (isinstance(value, str) and value == ""):
        default = None
    elif entry.datatype == "int":
        default = str(int(value))
    else:
        default = str(value)
    minimum = None if values is None or values.min is None else float(values.min)
    maximum = None if values is None or values.max is None else float(values.max)
    return Parameter(
        name=str(entry.name),
        datatype=str(entry.datatype),
        description=str(entry.description or ""),
        unit="" if entry.unit is None else entry.unit.to_string(),
        ucd=str(entry.ucd or ""),
        default=default,
        minimum=minimum,
        maximum=maximum,
        maximum_inclusive=bool(values.max_inclusive) if values is not None else True,
        options=options,
    )


def _input_params(resource: Resource) -> dict[str, Parameter]:
    for group in resource.groups:
        if group.name == "inputParams":
            return {str(e.name): _param(e) for e in group.entries if isinstance(e, Param)}
    return {}


def read_descriptors(document: bytes, endpoint: str = "async") -> ProductTypes:
    """The product types and parameters in a ``/<endpoint>/params`` document."""
    votable = parse(io.BytesIO(document), verify="ignore")
    descriptions: dict[str, str] = {}
    table = votable.get_first_table().to_table()
    for row in table:
        descriptions[str(row["product_type"])] = str(row["description"])
    parameters: dict[str, dict[str, Parameter]] = {}
    prefix = f"{endpoint}-"
    for resource in votable.resources:
        if resource.type == "meta" and resource.utype == "adhoc:service":
            ident = str(resource.ID or "")
            if ident.startswith(prefix):
                parameters[ident[len(prefix) :]] = _input_params(resource)
    return ProductTypes(descriptions, parameters)


def to_text(name: str, value: Any, unit: str = "") -> str:
    """A Python value as request text.

    Numbers and strings as they are; an astropy ``Quantity`` in ``unit``; an astropy ``Time``
    as ISO date-time in TT (the service's default ``T_format``; :meth:`ProductTypes.check`
    writes it in the request's ``T_format``); a list of science windows
    comma-separated; a list of ``{name, ra, dec}`` mappings (a sky model) as JSON; a product
    (anything with a ``product_id``) as its identifier.
    """
    if isinstance(value, bool):
        raise ParameterError(name, f"a truth value is not a valid value: {value!r}")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    product_id = getattr(value, "product_id", None)
    if isinstance(product_id, str):
        return product_id
    if hasattr(value, "to_value") and hasattr(value, "unit"):  # astropy Quantity
        from astropy import units as u

        try:
            number = value.to_value(u.Unit(unit) if unit else u.dimensionless_unscaled)
        except u.UnitsError as exc:
            raise ParameterError(
                name, f"{value} cannot be converted to {unit or 'a number'}"
            ) from exc
        return repr(float(number))
    if _is_time(value):
        return _time_text(value, "isot")
    if isinstance(value, Iterable):
        items = list(value)
        if all(isinstance(i, Mapping) for i in items):
            return json.dumps([dict(i) for i in items])
        return ",".join(str(i) for i in items)
    return str(value)


def _is_time(value: Any) -> bool:
    return hasattr(value, "tt") and hasattr(value, "isot") and hasattr(value, "mjd")


def _time_text(value: Any, time_format: str) -> str:
    """An astropy ``Time`` in the service's ``T_format`` (all in TT)."""
    tt = value.tt
    if time_format == "mjd":
        return repr(float(tt.mjd))
    if time_format == "ijd":
        return repr(float(tt.mjd) - _IJD_ZERO_MJD)
    return str(tt.isot)
