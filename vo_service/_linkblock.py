"""A DataLink service block in every result VOTable, so clients that look there find the links.

Each result table gets a ``product_id`` column (the product's IVOA publisher DID, UCD
``meta.ref.ivoid``) and a ``RESOURCE type="meta" utype="adhoc:service"`` describing the
``{links}`` endpoint with its ID parameter referring to that column (DataLink 1.1 §4). A table
whose rows are detections (a source catalog) also gets a ``source_id`` column, each row's own
identifier, and the ID parameter refers to it instead: a row's links are then that source's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

from astropy.io.votable.tree import VOTableFile
from lxml import etree

from datalink import add_service_descriptors, links_service_descriptor, to_bytes

__all__ = ["add_links_block"]

_COLUMN = "product_id"
_ROW_COLUMN = "source_id"


def add_links_block(
    source: Path,
    target: Path,
    product_id: str,
    links_url: str,
    row_id: Callable[[int], str] | None = None,
) -> bool:
    """Write ``source`` with the links block to ``target``; ``False`` when it holds no table.

    ``row_id`` (given the row number, from 1) names each row of a table of detections.
    """
    tree = etree.parse(str(source))
    root = tree.getroot()
    ns = etree.QName(root).namespace
    q = (lambda tag: f"{{{ns}}}{tag}") if ns else (lambda tag: tag)
    table = root.find(f".//{q('TABLE')}")
    if table is None or table.find(f"{q('DATA')}/{q('TABLEDATA')}") is None:
        return False
    fields = table.findall(q("FIELD"))
    taken = {f.get("ID") for f in fields} | {f.get("name") for f in fields}
    if _COLUMN in taken or (row_id is not None and _ROW_COLUMN in taken):
        return False
    columns = [(_COLUMN, "meta.ref.ivoid", "IVOA identifier of the product (DataLink ID)")]
    if row_id is not None:
        columns.append(
            (
                _ROW_COLUMN,
                "meta.ref.ivoid;src",
                "IVOA identifier of this detection (DataLink ID: its catalog, image cut-out, "
                "light curve and spectrum)",
            )
        )
    anchor = fields[-1]
    for name, ucd, text in columns:
        field = etree.Element(
            q("FIELD"), name=name, ID=name, datatype="char", arraysize="*", ucd=ucd
        )
        etree.SubElement(field, q("DESCRIPTION")).text = text
        anchor.addnext(field)
        anchor = field
    for number, row in enumerate(table.iterfind(f"{q('DATA')}/{q('TABLEDATA')}/{q('TR')}"), 1):
        etree.SubElement(row, q("TD")).text = product_id
        if row_id is not None:
            etree.SubElement(row, q("TD")).text = row_id(number)
    version = root.get("version", "1.4")
    holder = VOTableFile(version=version if version in {"1.3", "1.4", "1.5"} else "1.4")
    id_ref = _COLUMN if row_id is None else _ROW_COLUMN
    add_service_descriptors(holder, [links_service_descriptor(links_url, id_ref=id_ref)])
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
