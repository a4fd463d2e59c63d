"""XML namespaces and small lxml helpers shared by the VOSI, VOResource and OAI-PMH builders.

The documents are built with lxml rather than vo-models wherever vo-models 0.5 cannot write
schema-valid XML: its ``Capability`` serialises subclass interfaces with an empty ``xsi:type``,
drops ``vs:ParamHTTP`` elements and whole ``vg:Harvest`` capabilities, and its ``Table``
escapes text twice (``&`` comes out as ``&amp;amp;``). The one document it writes correctly,
VOSI availability, comes from vo-models.
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

__all__ = [
    "CS",
    "DC",
    "NSMAP",
    "OAI",
    "OAI_DC",
    "RI",
    "TR",
    "VG",
    "VOSI_CAPABILITIES",
    "VOSI_TABLES",
    "VR",
    "VS",
    "XSI",
    "document_bytes",
    "sub",
    "xsi_type",
]

XSI = "http://www.w3.org/2001/XMLSchema-instance"
VR = "http://www.ivoa.net/xml/VOResource/v1.0"
#: VODataService 1.2 keeps the v1.1 namespace URI (minor versions share a namespace).
VS = "http://www.ivoa.net/xml/VODataService/v1.1"
VG = "http://www.ivoa.net/xml/VORegistry/v1.0"
RI = "http://www.ivoa.net/xml/RegistryInterface/v1.0"
#: SCS 1.03 registration (the ``cs:ConeSearch`` capability).
CS = "http://www.ivoa.net/xml/ConeSearch/v1.0"
#: TAPRegExt 1.0 (the ``tr:TableAccess`` capability of TAP services).
TR = "http://www.ivoa.net/xml/TAPRegExt/v1.0"
VOSI_CAPABILITIES = "http://www.ivoa.net/xml/VOSICapabilities/v1.0"
VOSI_TABLES = "http://www.ivoa.net/xml/VOSITables/v1.0"
OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"

#: Prefixes used in ``xsi:type`` values must be declared on the root of every document.
NSMAP: Mapping[str, str] = {"xsi": XSI, "vr": VR, "vs": VS, "vg": VG, "tr": TR, "cs": CS}


def xsi_type(element: etree._Element, value: str) -> None:
    """Set ``xsi:type`` (a QName whose prefix must be declared on an ancestor)."""
    element.set(f"{{{XSI}}}type", value)


def sub(
    parent: etree._Element,
    tag: str,
    text: str | None = None,
    attrib: Mapping[str, str | None] | None = None,
) -> etree._Element:
    """Append a child element; ``None`` attributes are left out.

    VOResource children are unqualified (``elementFormDefault="unqualified"``), so ``tag`` is
    normally a bare name.
    """
    child = etree.SubElement(parent, tag)
    for key, value in (attrib or {}).items():
        if value is not None:
            child.set(key, value)
    if text is not None:
        child.text = text
    return child


def document_bytes(element: etree._Element) -> bytes:
    """Serialise a document with an XML declaration, UTF-8 encoded."""
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8", pretty_print=True)
