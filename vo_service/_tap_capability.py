"""The TAP capability with its TAPRegExt 1.0 description (language, formats, uploads, limits)."""

from __future__ import annotations

from lxml import etree

from registry import Capability
from vo_service._tap_jobs import LIMITS
from vo_service._tap_output import FORMATS

__all__ = ["GEOMETRY_FUNCTIONS", "TAP_STANDARD", "tap_capability"]

TAP_STANDARD = "ivo://ivoa.net/std/TAP"
_TR = "ivo://ivoa.net/std/TAPRegExt"
#: ADQL geometry the service runs on both back ends.
GEOMETRY_FUNCTIONS = (
    "POINT",
    "CIRCLE",
    "POLYGON",
    "BOX",
    "CONTAINS",
    "INTERSECTS",
    "DISTANCE",
    "COORD1",
    "COORD2",
)
_FORMAT_IDS = {
    "application/x-votable+xml": f"{_TR}#output-votable-td",
    "application/x-votable+xml;serialization=BINARY2": f"{_TR}#output-votable-binary2",
}


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    child = etree.SubElement(parent, tag, attrib)
    if text is not None:
        child.text = text
    return child


def _extra() -> tuple[etree._Element, ...]:
    holder = etree.Element("holder")
    _el(holder, "dataModel", "ObsCore-1.1", **{"ivo-id": "ivo://ivoa.net/std/ObsCore#core-1.1"})
    language = _el(holder, "language")
    _el(language, "name", "ADQL")
    _el(language, "version", "2.0", **{"ivo-id": "ivo://ivoa.net/std/ADQL#v2.0"})
    _el(language, "description", "ADQL 2.0, parsed and translated by queryparser-python3")
    features = _el(language, "languageFeatures", type=f"{_TR}#features-adqlgeo")
    for form in GEOMETRY_FUNCTIONS:
        _el(_el(features, "feature"), "form", form)
    for fmt in FORMATS:
        attrib = {"ivo-id": _FORMAT_IDS[fmt.mime]} if fmt.mime in _FORMAT_IDS else {}
        output = _el(holder, "outputFormat", **attrib)
        _el(output, "mime", fmt.mime)
        for alias in fmt.aliases:
            _el(output, "alias", alias)
    for method in ("inline", "http", "https"):
        _el(holder, "uploadMethod", **{"ivo-id": f"{_TR}#upload-{method}"})
    retention = _el(holder, "retentionPeriod")
    _el(retention, "default", str(7 * 86400))
    duration = _el(holder, "executionDuration")
    _el(duration, "default", str(int(LIMITS.timeout_s)))
    _el(duration, "hard", str(int(LIMITS.timeout_s)))
    output_limit = _el(holder, "outputLimit")
    _el(output_limit, "default", str(LIMITS.default_maxrec), unit="row")
    _el(output_limit, "hard", str(LIMITS.hard_maxrec), unit="row")
    upload_limit = _el(holder, "uploadLimit")
    _el(upload_limit, "hard", str(LIMITS.upload_max_bytes), unit="byte")
    return tuple(holder)


def tap_capability(path: str) -> Capability:
    """The ``tr:TableAccess`` capability of the TAP service at ``path``."""
    return Capability(
        TAP_STANDARD,
        path,
        "TAP 1.1: ADQL queries of ivoa.obscore, isgri.scw and isgri.detections "
        "(sync, async, inline VOTable uploads)",
        use="base",
        version="1.1",
        capability_type="tr:TableAccess",
        interface_type="vs:ParamHTTP",
        query_types=("GET", "POST"),
        result_type="application/x-votable+xml",
        extra=_extra(),
    )
