"""The dispatcher's self-description: ``/api/instr-list``, ``/api/par-names``,
``/api/meta-data`` (PROTOCOL.md §1.1, §1.10), from the one parameter declaration of
:mod:`vo_service._request`."""

from __future__ import annotations

from typing import Any

from vo_service._request import PARAMETERS, ParamSpec
from vo_service.oda._wire import (
    INSTRUMENT,
    ODA_INSTRUMENTS,
    parameter_names,
    served_instruments,
)

__all__ = ["instrument_description", "instruments"]

_BY_NAME = {p.name: p for p in PARAMETERS}
_SOURCE = ("src_name", "RA", "DEC", "T1", "T2", "T_format", "token")
#: ODA parameters our request model does not declare.
_ODA_ONLY: dict[str, dict[str, Any]] = {
    "integral_data_rights": {
        "units": "str",
        "value": "public",
        "restrictions": {"allowed_values": ["public", "all-private"]},
        "description": "Data rights; this archive holds public data only",
    },
    "image_scale_min": {"units": None, "value": None, "description": "ignored (web view)"},
    "image_scale_max": {"units": None, "value": None, "description": "ignored (web view)"},
    "time_bin_format": {
        "units": "str",
        "value": "sec",
        "restrictions": {"allowed_values": ["sec", "jd"]},
        "description": "Unit of time_bin",
    },
    "token": {"units": "str", "value": None, "description": "ODA token (JWT), optional"},
}


def instruments() -> list[str]:
    """The instrument list."""
    return served_instruments()


def _describe(spec: ParamSpec) -> dict[str, Any]:
    restrictions: dict[str, Any] = {"is_optional": True}
    if spec.minimum is not None:
        restrictions["min_value"] = spec.minimum
    if spec.maximum is not None:
        restrictions["max_value"] = spec.maximum
    if spec.choices:
        restrictions["allowed_values"] = list(spec.choices)
    units = spec.unit or ("str" if spec.datatype == "char" else None)
    value = spec.default
    if spec.name == "osa_version":
        value = "OSA11.2"  # accepted as the ODA default; served by our 'current' pipeline
        restrictions = {"is_optional": True}
    return {
        "name": spec.name,
        "units": units,
        "value": value,
        "restrictions": restrictions,
        "description": spec.description,
    }


def _parameter(name: str) -> dict[str, Any]:
    if name in _ODA_ONLY:
        return {"name": name, **_ODA_ONLY[name]}
    return _describe(_BY_NAME[name])


def instrument_description(
    product: str | None = None, instrument_name: str = INSTRUMENT
) -> list[list[Any]]:
    """``/api/meta-data``: the source query, the instrument query and each product query
    (only ``product``'s when given), in the dispatcher's nesting (and its ``instrumet``
    spelling, which clients read)."""
    offered = ODA_INSTRUMENTS[instrument_name]
    products = [product] if product in offered else list(offered)
    source = [{"query_name": "src_query"}, *(_parameter(n) for n in _SOURCE)]
    common = [n for n in parameter_names(f"{instrument_name}_spectrum") if n not in _SOURCE]
    instrument = [
        {"query_name": f"{instrument_name}_parameters"},
        *(_parameter(n) for n in common),
    ]
    described: list[Any] = [
        {"instrumet": instrument_name},
        {"prod_dict": {p: f"{p}_query" for p in products}},
        source,
        instrument,
    ]
    for p in products:
        extra = [n for n in parameter_names(p) if n not in _SOURCE and n not in common]
        described.append(
            [{"query_name": f"{p}_query"}, {"product_name": p}, *(_parameter(n) for n in extra)]
        )
    return [described]
