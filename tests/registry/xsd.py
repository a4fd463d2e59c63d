"""Offline validation of the documents the service emits against the official IVOA and OAI XSDs.

The schemas come from Debian's ``python3-gavo`` (VOResource 1.1, VORegistry, RegistryInterface,
VOSI, OAI-PMH 2.0, oai_dc, STC 1.30, xlink) and from ``/work/shared/ivoa/schemata`` (the
VODataService 1.2 Recommendation, which replaces gavo's pre-release VODataService). Every
``schemaLocation`` in those files points at a remote URL; a local catalog maps each namespace
to one local file, and a resolver answers every remote fetch from that catalog by file name,
so that compiling the schemas never touches the network.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from lxml import etree

GAVO_SCHEMATA = Path("/usr/lib/python3/dist-packages/gavo/resources/schemata")
SHARED_SCHEMATA = Path(os.environ.get("IVOA_SCHEMATA", "/work/shared/ivoa/schemata"))

#: namespace -> local schema file, in an order where every import is already loaded.
CATALOG: dict[str, Path] = {
    "http://www.w3.org/XML/1998/namespace": GAVO_SCHEMATA / "xml.xsd",
    "http://www.w3.org/1999/xlink": GAVO_SCHEMATA / "xlink.xsd",
    "http://www.ivoa.net/xml/VOResource/v1.0": GAVO_SCHEMATA / "VOResource.xsd",
    "http://www.ivoa.net/xml/STC/stc-v1.30.xsd": GAVO_SCHEMATA / "stc.xsd",
    "http://www.ivoa.net/xml/VODataService/v1.1": SHARED_SCHEMATA / "VODataService-v1.2.xsd",
    "http://www.ivoa.net/xml/VORegistry/v1.0": GAVO_SCHEMATA / "VORegistry.xsd",
    "http://www.ivoa.net/xml/RegistryInterface/v1.0": GAVO_SCHEMATA / "RegistryInterface.xsd",
    "http://www.ivoa.net/xml/VOSICapabilities/v1.0": GAVO_SCHEMATA / "VOSICapabilities.xsd",
    "http://www.ivoa.net/xml/TAPRegExt/v1.0": GAVO_SCHEMATA / "TAPRegExt.xsd",
    "http://www.ivoa.net/xml/ConeSearch/v1.0": GAVO_SCHEMATA / "ConeSearch.xsd",
    "http://www.ivoa.net/xml/VOSIAvailability/v1.0": GAVO_SCHEMATA / "VOSIAvailability.xsd",
    "http://www.ivoa.net/xml/VOSITables/v1.0": GAVO_SCHEMATA / "VOSITables.xsd",
    "http://purl.org/dc/elements/1.1/": GAVO_SCHEMATA / "simpledc20021212.xsd",
    "http://www.openarchives.org/OAI/2.0/oai_dc/": GAVO_SCHEMATA / "oai_dc.xsd",
    "http://www.openarchives.org/OAI/2.0/": GAVO_SCHEMATA / "OAI-PMH.xsd",
}

#: Remote file names that do not equal the local file name.
_ALIASES = {
    "VODataService.xsd": CATALOG["http://www.ivoa.net/xml/VODataService/v1.1"],
    "v1.0": CATALOG["http://www.ivoa.net/xml/VOResource/v1.0"],
    "stc-v1.30.xsd": CATALOG["http://www.ivoa.net/xml/STC/stc-v1.30.xsd"],
}


class _OfflineResolver(etree.Resolver):
    """Answer every schema fetch from the local catalog; refuse anything else."""

    def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def]
        name = system_url.rstrip("/").rsplit("/", 1)[-1]
        local = _ALIASES.get(name) or next(
            (path for path in CATALOG.values() if path.name == name), None
        )
        if local is None:
            raise LookupError(f"schema {system_url} is not in the offline catalog")
        return self.resolve_filename(str(local), context)


def _driver() -> bytes:
    xs = "http://www.w3.org/2001/XMLSchema"
    root = etree.Element(f"{{{xs}}}schema", nsmap={"xs": xs})
    for namespace, path in CATALOG.items():
        etree.SubElement(
            root, f"{{{xs}}}import", namespace=namespace, schemaLocation=path.resolve().as_uri()
        )
    return etree.tostring(root)


@functools.cache
def schema() -> etree.XMLSchema:
    """All the schemas above compiled into one validator (cached per test session)."""
    missing = [str(p) for p in CATALOG.values() if not p.exists()]
    if missing:
        pytest.skip(f"official XSDs not installed: {missing}")
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_OfflineResolver())
    driver = etree.fromstring(_driver(), parser, base_url=str(GAVO_SCHEMATA) + "/driver.xsd")
    return etree.XMLSchema(driver)


def assert_valid(document: bytes | etree._Element) -> etree._Element:
    """Validate ``document`` against the official schemas; return its root element."""
    root = etree.fromstring(document) if isinstance(document, bytes) else document
    validator = schema()
    if not validator.validate(root):
        errors = "\n".join(f"line {e.line}: {e.message}" for e in validator.error_log)
        raise AssertionError(f"document does not validate:\n{errors}")
    return root
