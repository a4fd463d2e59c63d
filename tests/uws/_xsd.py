"""Offline validation against the official IVOA schemas shipped with python3-gavo."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

SCHEMATA = Path("/usr/lib/python3/dist-packages/gavo/resources/schemata")
UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
VOTABLE_NS = "http://www.ivoa.net/xml/VOTable/v1.3"


class _LocalResolver(etree.Resolver):
    """Map every remote schemaLocation to the file of the same name in SCHEMATA."""

    def resolve(self, system_url, public_id, context):
        local = SCHEMATA / Path(system_url).name
        if local.is_file():
            return self.resolve_filename(str(local), context)
        return None


@cache
def _schema(name: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalResolver())
    return etree.XMLSchema(etree.parse(str(SCHEMATA / name), parser))


def validate(document: bytes) -> etree._Element:
    """Parse ``document`` and validate it against the schema of its root namespace."""
    root = etree.fromstring(document)
    namespace = etree.QName(root).namespace
    name = {UWS_NS: "UWS.xsd", VOTABLE_NS: "VOTable.xsd"}.get(namespace or "")
    assert name is not None, f"no schema for namespace {namespace!r}"
    schema = _schema(name)
    if not schema.validate(root):
        raise AssertionError(f"{name} validation failed: {schema.error_log}\n{document.decode()}")
    return root
