"""SIA 2.0 at ``/sia/query``: the published images, as ObsCore rows of ``ivoa.obscore``.

Each parameter becomes an ADQL condition on ObsCore columns (values of one parameter are
ORed, parameters ANDed, as SIA 2.0 says): ``POS`` (CIRCLE, RANGE, POLYGON) matches images
whose field reaches the region, ``BAND`` (metres) and ``TIME`` (MJD) intervals overlap the
image's, ``POL`` matches nothing (no polarimetry), and ``ID``, ``CALIB``, ``DPTYPE``,
``COLLECTION``, ``FACILITY``, ``INSTRUMENT``, ``TARGET``, ``FOV``, ``SPATRES``, ``EXPTIME``
select as named. The rows' ``access_url`` is their DataLink ``{links}``, and the result
declares the DataLink service descriptor of ``obs_publisher_did``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, Response
from sqlalchemy import Engine

from registry import Capability, StandardID, capabilities_document, capabilities_of, document_bytes
from uws import ParameterError, ParameterSet
from vo_service._dal_params import (
    adql_number,
    adql_string,
    dali_error,
    interval,
    number,
    numbers,
    one,
    request_params,
)
from vo_service._tap_adql import AdqlError
from vo_service._tap_jobs import LIMITS
from vo_service._tap_output import FORMATS, render_result
from vo_service._tap_query import run_query

__all__ = ["SIA_STANDARD", "install_sia", "sia_query"]

SIA_STANDARD = "ivo://ivoa.net/std/SIA#query-2.0"
_POINT = "POINT('ICRS', s_ra, s_dec)"


def _pos(text: str) -> str:
    shape, _, rest = text.strip().partition(" ")
    values = numbers("POS", rest)
    shape = shape.upper()
    if shape == "CIRCLE" and len(values) == 3:
        ra, dec, radius = values
        if not (0 <= ra <= 360 and -90 <= dec <= 90 and 0 <= radius <= 180):
            raise ParameterError("POS", "CIRCLE ra dec radius: ra 0-360, dec -90-90, radius >= 0")
        centre = f"POINT('ICRS', {adql_number(ra)}, {adql_number(dec)})"
        return f"DISTANCE({_POINT}, {centre}) < {adql_number(radius)} + s_fov / 2"
    if shape == "RANGE" and len(values) == 4:
        ra1, ra2, dec1, dec2 = values
        ras = f"s_ra BETWEEN {adql_number(ra1)} AND {adql_number(ra2)}"
        decs = f"s_dec BETWEEN {adql_number(dec1)} AND {adql_number(dec2)}"
        return f"({ras} AND {decs})"
    if shape == "POLYGON" and len(values) >= 6 and len(values) % 2 == 0:
        vertices = ", ".join(adql_number(v) for v in values)
        return f"1 = CONTAINS({_POINT}, POLYGON('ICRS', {vertices}))"
    raise ParameterError(
        "POS", f"{text!r}: expected CIRCLE ra dec r, RANGE ra1 ra2 dec1 dec2 or POLYGON ..."
    )


def _overlap(low_column: str, high_column: str) -> Callable[[str, str], str]:
    def condition(name: str, text: str) -> str:
        low, high = interval(name, text)
        parts = []
        if high != float("inf"):
            parts.append(f"{low_column} <= {adql_number(high)}")
        if low != float("-inf"):
            parts.append(f"{high_column} >= {adql_number(low)}")
        return "(" + " AND ".join(parts or ["1 = 1"]) + ")"

    return condition


def _within(column: str) -> Callable[[str, str], str]:
    def condition(name: str, text: str) -> str:
        low, high = interval(name, text)
        parts = [f"{column} IS NOT NULL"]
        if high != float("inf"):
            parts.append(f"{column} <= {adql_number(high)}")
        if low != float("-inf"):
            parts.append(f"{column} >= {adql_number(low)}")
        return "(" + " AND ".join(parts) + ")"

    return condition


def _equals(column: str) -> Callable[[str, str], str]:
    def condition(_name: str, text: str) -> str:
        return f"{column} = {adql_string(text)}"

    return condition


def _calib(name: str, text: str) -> str:
    return f"calib_level = {int(number(name, text, 0, 4))}"


_CONDITIONS: dict[str, Callable[[str, str], str]] = {
    "POS": lambda _name, text: _pos(text),
    "BAND": _overlap("em_min", "em_max"),
    "TIME": _overlap("t_min", "t_max"),
    "POL": lambda _name, _text: "1 = 0",  # no polarisation states in this archive
    "ID": _equals("obs_publisher_did"),
    "CALIB": _calib,
    "DPTYPE": _equals("dataproduct_type"),
    "COLLECTION": _equals("obs_collection"),
    "FACILITY": _equals("facility_name"),
    "INSTRUMENT": _equals("instrument_name"),
    "TARGET": _equals("target_name"),
    "FOV": _within("s_fov"),
    "SPATRES": _within("s_resolution"),
    "EXPTIME": _within("t_exptime"),
}


def sia_query(params: ParameterSet) -> tuple[str, int]:
    """The ADQL of a SIA 2.0 request and its MAXREC.

    Raises
    ------
    uws.ParameterError
        Naming the parameter.
    """
    conditions = ["dataproduct_type IN ('image', 'cube')"]
    for name, condition in _CONDITIONS.items():
        values = params.getall(name)
        if values:
            ors = [condition(name, value) for value in values]
            conditions.append("(" + " OR ".join(ors) + ")")
    maxrec_text = one(params, "MAXREC")
    maxrec = LIMITS.default_maxrec
    if maxrec_text is not None:
        maxrec = int(number("MAXREC", maxrec_text, 0, LIMITS.hard_maxrec))
    if (fmt := one(params, "RESPONSEFORMAT")) is not None and fmt.strip() not in (
        "votable",
        FORMATS[0].mime,
    ):
        raise ParameterError("RESPONSEFORMAT", f"{fmt!r}: only {FORMATS[0].mime}")
    return "SELECT * FROM ivoa.obscore WHERE " + " AND ".join(conditions), maxrec


def install_sia(app: Flask, engine: Engine, base_url: str) -> None:
    """Mount ``/sia/query`` (and ``/sia/capabilities``, where pyvo looks) and register SIA."""
    bp = Blueprint("sia", __name__, url_prefix="/sia")
    capability = Capability(
        SIA_STANDARD,
        "/sia/query",
        "SIA 2.0 search of the published sky images (ObsCore rows with DataLink)",
        query_types=("GET", "POST"),
        result_type="application/x-votable+xml",
    )

    @bp.route("/query", methods=["GET", "POST"])
    def query() -> Response:
        try:
            adql, maxrec = sia_query(request_params())
            result = run_query(engine, adql, maxrec=maxrec, limits=LIMITS)
        except ParameterError as exc:
            return dali_error(exc)
        except AdqlError as exc:
            return dali_error(ParameterError("POS", str(exc)))
        return Response(render_result(result, FORMATS[0], base_url), mimetype=FORMATS[0].mime)

    @bp.get("/capabilities")
    def capabilities() -> Response:
        listed = [
            capability,
            Capability(StandardID.VOSI_CAPABILITIES, "/sia/capabilities"),
            Capability(StandardID.VOSI_AVAILABILITY, "/availability"),
        ]
        document = capabilities_document(listed, base_url)
        return Response(document_bytes(document), mimetype="application/xml")

    app.register_blueprint(bp)
    registry = capabilities_of(app)
    registry.add(capability)
    registry.add(
        Capability(
            StandardID.VOSI_CAPABILITIES,
            "/sia/capabilities",
            "Capabilities of the SIA 2.0 service (where SIA clients look for its query URL)",
        )
    )
