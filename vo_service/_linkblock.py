"""A DataLink service block in every result VOTable, so clients that look there find the links.

Each result table gets a ``product_id`` column (the product's IVOA publisher DID, UCD
``meta.ref.ivoid``) and a ``RESOURCE type="meta" utype="adhoc:service"`` describing the
``{links}`` endpoint with its ID parameter referring to that column (DataLink 1.1 §4).
"""

from __future__ import annotations

import copy
from pathlib import Path

from astropy.io.votable.tree import VOTableFile
from lxml import etree

from datalink import add_service_descriptors, links_service_descriptor, to_bytes

__all__ = ["add_links_block"]

_COLUMN = "product_id"


def add_links_block(source: Path, target: Path, product_id: str, links_url: str) -> bool:
    """Write ``source`` with the links block to ``target``; ``False`` when it holds no table."""
    tree = etree.parse(str(source))
    root = tree.getroot()
    ns = etree.QName(root).namespace
    q = (lambda tag: f"{{{ns}}}{tag}") if ns else (lambda tag: tag)
    table = root.find(f".//{q('TABLE')}")
    if table is None or table.find(f"{q('DATA')}/{q('TABLEDATA')}") is None:
        return False
    fields = table.findall(q("FIELD"))
    if any(f.get("ID") == _COLUMN or f.get("name") == _COLUMN for f in fields):
        return False
    field = etree.Element(
        q("FIELD"),
        name=_COLUMN,
        ID=_COLUMN,
        datatype="char",
        arraysize="*",
        ucd="meta.ref.ivoid",
    )
    etree.SubElement(field, q("DESCRIPTION")).text = "IVOA identifier of the product (DataLink ID)"
    fields[-1].addnext(field)
    for row in table.iterfind(f"{q('DATA')}/{q('TABLEDATA')}/{q('TR')}"):
        etree.SubElement(row, q("TD")).text = product_id
    version = root.get("version", "1.4")
    holder = VOTableFile(version=version if version in {"1.3", "1.4", "1.5"} else "1.4")
    add_service_descriptors(holder, [links_service_descriptor(links_url, id_ref=_COLUMN)])
    built = etree.fromstring(to_bytes(holder))
    built_ns = etree.QName(built).namespace
    descriptor = built.find(f"{{{built_ns}}}RESOURCE" if built_ns else "RESOURCE")
    assert descriptor is not None
    if built_ns != ns:  # same elements, the document's namespace
        for element in descriptor.iter():
            if isinstance(element.tag, str):
                element.tag = q(etree.QName(element).localname)
    resources = root.findall(q("RESOURCE"))
    resources[-1].addnext(copy.deepcopy(descriptor))
    target.parent.mkdir(parents=True, exist_ok=True)
    tree.write(str(target), xml_declaration=True, encoding="UTF-8")
    return True
