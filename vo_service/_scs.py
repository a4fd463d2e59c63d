"""Simple Cone Search 1.03 at ``/scs`` over ``isgri.detections``.

``RA``, ``DEC`` and ``SR`` (degrees) select the detections; ``VERB`` (1-3) picks the columns.
The cone runs as the same ADQL through the same translation and indexes as TAP, and the
result carries the DataLink descriptors of ``detection_id`` and ``product_id``.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response
from lxml import etree
from sqlalchemy import Engine

from registry import Capability, capabilities_of
from uws import ParameterError
from vo_service._dal_params import adql_number, dali_error, number, one, request_params
from vo_service._tap_adql import AdqlError
from vo_service._tap_jobs import LIMITS
from vo_service._tap_output import FORMATS, render_result
from vo_service._tap_query import run_query

__all__ = ["MAX_SR", "SCS_STANDARD", "install_scs", "scs_capability"]

SCS_STANDARD = "ivo://ivoa.net/std/ConeSearch"
#: The largest search radius (deg): ISGRI's partially coded field of view.
MAX_SR = 15.0
_MAX_RECORDS = 100_000
_COLUMNS = {
    1: "detection_id, ra, dec",
    2: "detection_id, ra, dec, source_name, r90, significance, rate, rate_err, e_min, e_max, "
    "product_id",
    3: "*",
}


def _query(ra: float, dec: float, sr: float, verb: int) -> str:
    circle = f"CIRCLE('ICRS', {adql_number(ra)}, {adql_number(dec)}, {adql_number(sr)})"
    return (
        f"SELECT {_COLUMNS[verb]} FROM isgri.detections "
        f"WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), {circle})"
    )


def _verb(text: str | None) -> int:
    if text is None:
        return 2
    try:
        verb = int(text)
    except ValueError as exc:
        raise ParameterError("VERB", f"{text!r} is not 1, 2 or 3") from exc
    if verb not in _COLUMNS:
        raise ParameterError("VERB", f"{verb} is not 1, 2 or 3")
    return verb


def scs_capability(path: str) -> Capability:
    """The ``cs:ConeSearch`` capability."""
    extra = []
    for tag, value in (("maxSR", MAX_SR), ("maxRecords", _MAX_RECORDS), ("verbosity", "true")):
        element = etree.Element(tag)
        element.text = str(value)
        extra.append(element)
    test = etree.Element("testQuery")
    for tag, value in (("ra", 83.633), ("dec", 22.014), ("sr", 1.0)):
        etree.SubElement(test, tag).text = str(value)
    extra.append(test)
    return Capability(
        SCS_STANDARD,
        path,
        "Cone search (SCS 1.03) of the source detections in the published images",
        capability_type="cs:ConeSearch",
        result_type="application/x-votable+xml",
        query_types=("GET", "POST"),
        extra=tuple(extra),
    )


def install_scs(app: Flask, engine: Engine, base_url: str) -> None:
    """Mount ``/scs`` and register its capability."""
    bp = Blueprint("scs", __name__)

    @bp.route("/scs", methods=["GET", "POST"])
    def cone() -> Response:
        params = request_params()
        try:
            values = {name: one(params, name) for name in ("RA", "DEC", "SR", "VERB")}
            for name in ("RA", "DEC", "SR"):
                if values[name] is None:
                    raise ParameterError(name, "missing (RA, DEC and SR in degrees)")
            ra = number("RA", values["RA"] or "", 0.0, 360.0)
            dec = number("DEC", values["DEC"] or "", -90.0, 90.0)
            sr = number("SR", values["SR"] or "", 0.0, MAX_SR)
            verb = _verb(values["VERB"])
            result = run_query(
                engine, _query(ra, dec, sr, verb), maxrec=_MAX_RECORDS, limits=LIMITS
            )
        except ParameterError as exc:
            return dali_error(exc)
        except AdqlError as exc:
            return dali_error(ParameterError("SR", str(exc)))
        return Response(render_result(result, FORMATS[0], base_url), mimetype=FORMATS[0].mime)

    app.register_blueprint(bp)
    capabilities_of(app).add(scs_capability("/scs"))
