"""The job service describes its own parameters, from the one declaration in
:data:`vo_service._request.PARAMETERS`.

Two forms:

* ``/async/params`` and ``/sync/params``: a VOTable listing the product types (one row each)
  with a DataLink service descriptor per product type (``RESOURCE type="meta"
  utype="adhoc:service"``, DataLink 1.1 §4): every input PARAM with its datatype, unit, UCD,
  description and VALUES (MIN/MAX or OPTIONs). A PARAM's ``value`` is its default, as pyvo's
  ``DatalinkQuery.from_resource`` and TOPCAT's service forms read it (pre-filled, replaceable);
  ``product_type`` (and ``PHASE=RUN`` on ``/async``) are fixed per descriptor.
* the ``/async`` and ``/sync`` capabilities of VOSI and the registry record carry the same
  parameters as VODataService ``param`` elements (:func:`input_params`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue
from lxml import etree

from datalink import error_votable
from processing.products import recipe_keys
from registry import InputParam, StandardID
from vo_service._request import PARAMETERS, PRODUCT_TYPES, ParamSpec

__all__ = [
    "descriptor_document",
    "descriptor_id",
    "input_params",
    "parameters_of",
    "params_blueprint",
]

VOTABLE_NS = "http://www.ivoa.net/xml/VOTable/v1.3"
Endpoint = Literal["async", "sync"]
_MIME = "application/x-votable+xml"

#: One line per product type (the descriptor's DESCRIPTION and the table's description).
PRODUCT_DESCRIPTIONS = {
    "image": "Sky images and mosaic of the selected science windows, with a source catalog",
    "spectrum": "OGIP spectrum (PHA, RMF, ARF) of a source, fitted with the sky model",
    "light_curve": "OGIP light curve of a source in one energy band",
    "transient_search": "Light curve of a source searched for flares and transients",
    "spectral_fit": "Spectrum of a source with power-law and cut-off power-law fits",
}
_ENDPOINT_NOTES = {
    "sync": "GET or POST; answers with a redirect to the primary result when it is ready",
    "async": "POST creates a UWS 1.1 job (PHASE=RUN starts it); the job lists its results",
}


def parameters_of(product_type: str) -> list[ParamSpec]:
    """The parameters a ``product_type`` request uses (declaration order)."""
    return [p for p in PARAMETERS if p.applies_to(product_type)]


def descriptor_id(endpoint: Endpoint, product_type: str) -> str:
    """XML ID of the descriptor of ``product_type`` at ``endpoint`` (e.g. ``async-image``)."""
    return f"{endpoint}-{product_type}"


def _number(value: float, datatype: str) -> str:
    return str(int(value)) if datatype == "int" else repr(float(value))


def _description(spec: ParamSpec) -> str:
    text = spec.description
    if spec.default is None:
        return text
    if spec.datatype == "char":
        return f"{text} (default {spec.default})"
    return f"{text} (default {spec.default:g}{' ' + spec.unit if spec.unit else ''})"


def _param(parent: etree._Element, spec: ParamSpec, *, fixed: str | None = None) -> etree._Element:
    value = fixed if fixed is not None else ("" if spec.default is None else str(spec.default))
    if spec.default is not None and spec.datatype != "char" and fixed is None:
        value = _number(float(spec.default), spec.datatype)
    param = etree.SubElement(parent, f"{{{VOTABLE_NS}}}PARAM")
    param.set("name", spec.name)
    param.set("datatype", spec.datatype)
    if spec.datatype == "char":
        param.set("arraysize", "*")
    if spec.unit:
        param.set("unit", spec.unit)
    if spec.ucd:
        param.set("ucd", spec.ucd)
    if spec.xtype:
        param.set("xtype", spec.xtype)
    param.set("value", value)
    etree.SubElement(param, f"{{{VOTABLE_NS}}}DESCRIPTION").text = _description(spec)
    options = (fixed,) if fixed is not None else spec.choices
    if options or spec.minimum is not None or spec.maximum is not None:
        values = etree.SubElement(param, f"{{{VOTABLE_NS}}}VALUES")
        if not options and spec.minimum is not None:
            etree.SubElement(
                values, f"{{{VOTABLE_NS}}}MIN", value=_number(spec.minimum, spec.datatype)
            )
        if not options and spec.maximum is not None:
            bound = etree.SubElement(
                values, f"{{{VOTABLE_NS}}}MAX", value=_number(spec.maximum, spec.datatype)
            )
            if spec.maximum_exclusive:
                bound.set("inclusive", "no")
        for option in options:
            etree.SubElement(values, f"{{{VOTABLE_NS}}}OPTION", value=option)
    return param


def _plain_param(parent: etree._Element, name: str, value: str, ucd: str) -> None:
    etree.SubElement(
        parent,
        f"{{{VOTABLE_NS}}}PARAM",
        name=name,
        datatype="char",
        arraysize="*",
        ucd=ucd,
        value=value,
    )


def _descriptor(root: etree._Element, base_url: str, endpoint: Endpoint, product_type: str) -> None:
    resource = etree.SubElement(
        root,
        f"{{{VOTABLE_NS}}}RESOURCE",
        type="meta",
        utype="adhoc:service",
        ID=descriptor_id(endpoint, product_type),
        name=descriptor_id(endpoint, product_type),
    )
    etree.SubElement(resource, f"{{{VOTABLE_NS}}}DESCRIPTION").text = (
        f"{PRODUCT_DESCRIPTIONS.get(product_type, product_type)}: /{endpoint} "
        f"({_ENDPOINT_NOTES[endpoint]}). Give src_name, or RA and DEC, or a scw_list."
    )
    if endpoint == "async":
        _plain_param(resource, "standardID", StandardID.UWS, "meta.ref.ivoid")
    _plain_param(resource, "accessURL", f"{base_url}/{endpoint}", "meta.ref.url")
    group = etree.SubElement(resource, f"{{{VOTABLE_NS}}}GROUP", name="inputParams")
    for spec in parameters_of(product_type):
        _param(group, spec, fixed=product_type if spec.name == "product_type" else None)
    if endpoint == "async":
        phase = etree.SubElement(
            group,
            f"{{{VOTABLE_NS}}}PARAM",
            name="PHASE",
            datatype="char",
            arraysize="*",
            ucd="meta.code.status",
            value="RUN",
        )
        etree.SubElement(
            phase, f"{{{VOTABLE_NS}}}DESCRIPTION"
        ).text = "UWS phase: RUN queues the job at creation"
        values = etree.SubElement(phase, f"{{{VOTABLE_NS}}}VALUES")
        etree.SubElement(values, f"{{{VOTABLE_NS}}}OPTION", value="RUN")


def _types_table(root: etree._Element, endpoint: Endpoint, product_types: Sequence[str]) -> None:
    resource = etree.SubElement(root, f"{{{VOTABLE_NS}}}RESOURCE", type="results")
    table = etree.SubElement(resource, f"{{{VOTABLE_NS}}}TABLE", name="product_types")
    etree.SubElement(
        table, f"{{{VOTABLE_NS}}}DESCRIPTION"
    ).text = f"Product types of /{endpoint}; service_def names each one's service descriptor"
    columns = (
        ("product_type", "meta.code", "Value of the product_type parameter"),
        ("description", "meta.note", "What the product holds"),
        ("service_def", "meta.ref", "ID of the service descriptor of this product type"),
        ("parameters", "meta.note", "Parameters this product type uses"),
    )
    for name, ucd, text in columns:
        field = etree.SubElement(
            table, f"{{{VOTABLE_NS}}}FIELD", name=name, datatype="char", arraysize="*", ucd=ucd
        )
        etree.SubElement(field, f"{{{VOTABLE_NS}}}DESCRIPTION").text = text
    rows = etree.SubElement(
        etree.SubElement(table, f"{{{VOTABLE_NS}}}DATA"), f"{{{VOTABLE_NS}}}TABLEDATA"
    )
    for product_type in product_types:
        row = etree.SubElement(rows, f"{{{VOTABLE_NS}}}TR")
        for value in (
            product_type,
            PRODUCT_DESCRIPTIONS.get(product_type, product_type),
            descriptor_id(endpoint, product_type),
            " ".join(p.name for p in parameters_of(product_type)),
        ):
            etree.SubElement(row, f"{{{VOTABLE_NS}}}TD").text = value


def descriptor_document(
    base_url: str, endpoint: Endpoint, product_types: Sequence[str] = PRODUCT_TYPES
) -> bytes:
    """The VOTable describing ``endpoint`` for ``product_types``: a table of the types and a
    service descriptor for each."""
    root = etree.Element(f"{{{VOTABLE_NS}}}VOTABLE", nsmap={None: VOTABLE_NS}, version="1.3")
    etree.SubElement(
        root, f"{{{VOTABLE_NS}}}DESCRIPTION"
    ).text = f"Parameters of the product requests at /{endpoint}"
    _types_table(root, endpoint, product_types)
    for product_type in product_types:
        _descriptor(root, base_url, endpoint, product_type)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def input_params() -> tuple[InputParam, ...]:
    """Every request parameter as a VODataService input parameter (capabilities, records)."""
    out = []
    for spec in PARAMETERS:
        text = _description(spec)
        if spec.choices:
            text += f"; one of {', '.join(spec.choices)}"
        if spec.minimum is not None and spec.maximum is not None:
            text += f"; {spec.minimum:g} to {spec.maximum:g}{' ' + spec.unit if spec.unit else ''}"
        if spec.used_by:
            text += f"; used by {', '.join(spec.used_by)}"
        out.append(
            InputParam(
                name=spec.name,
                description=text,
                datatype=spec.datatype,
                arraysize="*" if spec.datatype == "char" else None,
                unit=spec.unit or None,
                ucd=spec.ucd or None,
                xtype=spec.xtype or None,
            )
        )
    return tuple(out)


def params_blueprint(base_url: str) -> Blueprint:
    """``GET /async/params`` and ``/sync/params`` (``?product_type=`` for one type)."""
    bp = Blueprint("job_params", __name__)

    def answer(endpoint: Endpoint) -> ResponseReturnValue:
        given = [v for k, v in request.args.items(multi=True) if k.lower() == "product_type"]
        unknown = [k for k in request.args if k.lower() != "product_type"]
        if unknown:
            message = f"{unknown[0]}: unknown parameter (only product_type is accepted)"
            return Response(error_votable(f"UsageError: {message}"), 400, mimetype=_MIME)
        offered = [t for t in PRODUCT_TYPES if t in {k for _, k in recipe_keys()}]
        types = [t.strip().lower() for t in given]
        bad = [t for t in types if t not in offered]
        if bad:
            message = f"product_type: {bad[0]!r} is not one of {', '.join(offered)}"
            return Response(error_votable(f"UsageError: {message}"), 400, mimetype=_MIME)
        chosen = [t for t in offered if t in types] if types else offered
        body = descriptor_document(base_url, endpoint, chosen)
        return Response(body, mimetype=_MIME)

    @bp.get("/async/params")
    def async_params() -> ResponseReturnValue:
        return answer("async")

    @bp.get("/sync/params")
    def sync_params() -> ResponseReturnValue:
        return answer("sync")

    return bp
