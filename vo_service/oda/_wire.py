"""What an oda_api call sends to ``/run_analysis``, and its translation into our request.

The wire format is PROTOCOL.md §1.2: every value a string, ``"\\x00"`` for ``None``,
``scw_list`` repeated or comma-separated, ``selected_catalog`` the JSON text of the
dispatcher's catalog dictionary, and a handful of control arguments (``query_status``,
``job_id``, ``session_id``, ``token``, ``api``...) beside the analysis parameters. The ODA
names of the analysis parameters are ours too (``vo_service._request``); what differs is
translated here, once: product names, ``osa_version`` values, ``time_bin_format``, the
catalog dictionary, and the parameters ODA has and we do not need.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from processing.instruments import instrument_names
from vo_service._request import PARAMETERS
from vo_service.oda._catalog import OdaCatalogError, sky_model_from_oda

__all__ = [
    "CONTROL_ARGUMENTS",
    "INSTRUMENT",
    "ODA_PRODUCTS",
    "OdaCall",
    "OdaParameterError",
    "Translation",
    "parameter_names",
    "read_call",
    "served_instruments",
    "translate",
]

INSTRUMENT = "isgri"
#: ODA product name -> our product type.
ODA_PRODUCTS = {
    "isgri_image": "image",
    "isgri_spectrum": "spectrum",
    "isgri_lc": "light_curve",
    "spectral_fit": "spectral_fit",
}
#: The instruments the ODA facade serves (registry names) -> their ODA product names. An
#: instrument is served here when it is registered (:mod:`processing.instruments`) and has
#: an entry; its requests then go through the same normalisation as every other.
ODA_INSTRUMENTS: dict[str, dict[str, str]] = {
    INSTRUMENT: ODA_PRODUCTS,
    "jemx": {
        "jemx_image": "image",
        "jemx_spectrum": "spectrum",
        "jemx_lc": "light_curve",
    },
}


def served_instruments() -> list[str]:
    """The registered instruments the ODA facade has products for, in registry order."""
    return [name for name in instrument_names() if name in ODA_INSTRUMENTS]


#: Arguments that steer the dispatcher, not the analysis (accepted, never forwarded).
CONTROL_ARGUMENTS = frozenset(
    {
        "instrument",
        "product_type",
        "query_type",
        "query_status",
        "session_id",
        "job_id",
        "token",
        "api",
        "oda_api_version",
        "off_line",
        "verbose",
        "dry_run",
        "async_dispatcher",
        "allow_unknown_args",
        "catalog_selected_objects",
        "run_asynch",
    }
)
#: The ISGRI parameters of every ODA product (dispatcher-plugin-integral), and per product.
_COMMON = (
    "src_name",
    "RA",
    "DEC",
    "T1",
    "T_format",
    "T2",
    "token",
    "scw_list",
    "selected_catalog",
    "radius",
    "max_pointings",
    "osa_version",
    "integral_data_rights",
    "E1_keV",
    "E2_keV",
)
_PER_PRODUCT = {
    "isgri_image": ("detection_threshold", "image_scale_min", "image_scale_max"),
    "isgri_spectrum": (),
    "isgri_lc": ("time_bin", "time_bin_format"),
    "spectral_fit": (),
    # JEM-X's products take the same, and the unit (PROTOCOL.md: "JEM-X adds jemx_num").
    "jemx_image": ("detection_threshold", "image_scale_min", "image_scale_max", "jemx_num"),
    "jemx_spectrum": ("jemx_num",),
    "jemx_lc": ("time_bin", "time_bin_format", "jemx_num"),
}
_ALL_ODA = frozenset(_COMMON).union(*_PER_PRODUCT.values())
#: ODA parameters that only shape the dispatcher's HTML preview.
_DISPLAY_ONLY = ("image_scale_min", "image_scale_max")
_USED_BY = {p.name: p for p in PARAMETERS}
#: OSA releases ODA users name (OSA10.2, OSA11.0, OSA11.2, with IC and modifier suffixes).
_OSA_RE = re.compile(r"^OSA\d+(\.\d+)?(-[\w.]+)?(--[\w,]+)?$", re.IGNORECASE)
_NUL = "\x00"


class OdaParameterError(ValueError):
    """A parameter the user must change; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class OdaCall:
    """One ``/run_analysis`` call as sent (control arguments apart)."""

    instrument: str | None
    product: str | None
    query_type: str
    query_status: str
    job_id: str | None
    session_id: str
    token: str | None
    #: Analysis parameters as given, ``None`` for the client's null.
    params: dict[str, str | None]

    def analysis_parameters(self) -> dict[str, Any]:
        """What the dispatcher echoes as ``products.analysis_parameters``."""
        return {
            "instrument": self.instrument,
            "product_type": self.product,
            "query_type": self.query_type,
            **self.params,
        }


@dataclass
class Translation:
    """Our request parameters for a call, and what the user should be told about it."""

    product_type: str
    pairs: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)


def _session_id() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(16))


def read_call(items: Iterable[tuple[str, list[str]]]) -> OdaCall:
    """Read a call from its (name, values) items (query string and form together)."""
    values: dict[str, list[str]] = {}
    for name, given in items:
        values.setdefault(name, []).extend(given)

    def one(name: str) -> str | None:
        got = values.get(name)
        if not got or got[-1] == _NUL or not got[-1].strip():
            return None
        return got[-1].strip()

    params: dict[str, str | None] = {}
    for name, given in values.items():
        if name in CONTROL_ARGUMENTS:
            continue
        if name == "scw_list":
            # Repeated keys (a Python list) or one comma-separated string (PROTOCOL §1.2).
            items_ = [s.strip() for v in given if v != _NUL for s in v.split(",") if s.strip()]
            params[name] = ",".join(items_) if items_ else None
        else:
            params[name] = None if given[-1] == _NUL else given[-1]
    session = one("session_id")
    return OdaCall(
        instrument=one("instrument"),
        product=one("product_type"),
        query_type=one("query_type") or "Real",
        query_status=one("query_status") or "new",
        job_id=one("job_id"),
        session_id=session if session and session != "new" else _session_id(),
        token=one("token"),
        params=params,
    )


def parameter_names(product: str) -> list[str]:
    """The argument names ``/api/par-names`` lists for an ODA product."""
    return [*_COMMON, *_PER_PRODUCT.get(product, ())]


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise OdaParameterError(name, f"not a number: {value!r}") from None


def translate(call: OdaCall) -> Translation:
    """Our request parameters for ``call``.

    Raises
    ------
    OdaParameterError
        For an unknown instrument, product, query type or parameter, or a value this
        service does not serve; the message says what to change.
    """
    served = served_instruments()
    if call.instrument is None:
        raise OdaParameterError(
            "instrument", f"missing: this service serves {', '.join(map(repr, served))}"
        )
    instrument = call.instrument.lower()
    if instrument not in served:
        raise OdaParameterError(
            "instrument",
            f"{call.instrument!r} is not served here (instruments: {', '.join(served)})",
        )
    products = ODA_INSTRUMENTS[instrument]
    if call.product is None or call.product not in products:
        raise OdaParameterError(
            "product",
            f"{call.product!r} is not offered (products: {', '.join(products)})",
        )
    if call.query_type.lower() == "dummy":
        raise OdaParameterError(
            "product_type",
            "'Dummy' (canned test products) is not offered by this service; use 'Real'",
        )
    if call.query_type.lower() != "real":
        raise OdaParameterError("product_type", f"{call.query_type!r} is not 'Real'")
    product = call.product
    ours = products[product]
    accepted = set(parameter_names(product))
    out = Translation(ours, [("product_type", ours), ("instrument", instrument)])
    bin_in_days = False
    for name, value in call.params.items():
        if name not in _ALL_ODA:
            raise OdaParameterError(
                name,
                f"unknown parameter of {product} (accepted: {', '.join(parameter_names(product))})",
            )
        if value is None:
            continue  # the client's None: the default
        if name not in accepted:
            out.notes.append(f"argument {name} is not used by {product}; ignored")
            continue
        spec = _USED_BY.get(name)
        if spec is not None and not spec.applies_to(ours):
            out.notes.append(f"argument {name} is not used by {product}; ignored")
            continue
        if name == "osa_version":
            if not _OSA_RE.match(value.strip()):
                raise OdaParameterError(name, f"{value!r} is not an OSA version (e.g. OSA11.2)")
            out.notes.append(
                f"osa_version={value}: this service runs its own coded-mask pipeline "
                "(osa_version 'current'), not OSA"
            )
            continue
        if name == "integral_data_rights":
            if value not in ("public", "all-private"):
                raise OdaParameterError(name, f"{value!r} is not 'public' or 'all-private'")
            continue  # the archive holds public data only: both select the same data
        if name in _DISPLAY_ONLY:
            _number(name, value)
            out.notes.append(f"argument {name} only shapes the dispatcher's web view; ignored")
            continue
        if name == "time_bin_format":
            if value not in ("sec", "jd"):
                raise OdaParameterError(name, f"{value!r} is not 'sec' or 'jd'")
            bin_in_days = value == "jd"
            continue
        if name == "selected_catalog":
            try:
                value = sky_model_from_oda(value)
            except OdaCatalogError as exc:
                raise OdaParameterError(name, str(exc)) from exc
        out.pairs.append((name, value))
    if bin_in_days:
        out.pairs = [
            (k, repr(_number(k, v) * 86400.0)) if k == "time_bin" else (k, v) for k, v in out.pairs
        ]
    return out
