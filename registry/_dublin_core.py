"""The ``oai_dc`` rendering of a VOResource record, derived from the record itself."""

from __future__ import annotations

from lxml import etree

from registry._xml import DC, OAI_DC

__all__ = ["dublin_core"]

#: (VOResource path relative to the record root, Dublin Core element), in output order.
_MAPPING = (
    ("title", "title"),
    ("identifier", "identifier"),
    ("curation/creator/name", "creator"),
    ("curation/publisher", "publisher"),
    ("curation/contributor", "contributor"),
    ("content/subject", "subject"),
    ("content/description", "description"),
    ("content/type", "type"),
    ("content/referenceURL", "relation"),
    ("rights", "rights"),
)


def dublin_core(resource: etree._Element) -> etree._Element:
    """An ``oai_dc:dc`` element with the Dublin Core view of ``resource`` (a ``ri:Resource``)."""
    root = etree.Element(f"{{{OAI_DC}}}dc", nsmap={"oai_dc": OAI_DC, "dc": DC})
    for path, dc_name in _MAPPING:
        for source in resource.findall(path):
            if source.text and source.text.strip():
                etree.SubElement(root, f"{{{DC}}}{dc_name}").text = " ".join(source.text.split())
    updated = resource.get("updated")
    if updated:
        etree.SubElement(root, f"{{{DC}}}date").text = updated
    return root
