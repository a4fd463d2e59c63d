"""DALI examples of the TAP service (``/tap/examples``): XHTML with RDFa, one query each."""

from __future__ import annotations

from lxml import etree

__all__ = ["EXAMPLES", "examples_document"]

_XHTML = "http://www.w3.org/1999/xhtml"

#: (id, title, ADQL); the tests run every one of them.
EXAMPLES: tuple[tuple[str, str, str], ...] = (
    (
        "crab-detections",
        "Detections within 1 degree of the Crab",
        "SELECT detection_id, source_name, ra, dec, significance, "
        "DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 83.633, 22.014)) AS dist "
        "FROM isgri.detections "
        "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 83.633, 22.014, 1))",
    ),
    (
        "pointings-near",
        "Science windows pointing within 10 degrees of the Galactic Centre",
        "SELECT scw_id, ra, dec, t_min, t_max, ontime FROM isgri.scw "
        "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 266.4, -28.9, 10))",
    ),
    (
        "obscore-images",
        "Images covering a position, observed after 2005, in ObsCore",
        "SELECT obs_publisher_did, access_url, t_min, t_max, em_min, em_max "
        "FROM ivoa.obscore WHERE dataproduct_type = 'image' AND t_min > 53371 "
        "AND 1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', 83.63, 22.01, 15))",
    ),
    (
        "obscore-field-covers",
        "Science windows and products whose field of view covers the Crab",
        "SELECT obs_publisher_did, dataproduct_type, access_url, s_region FROM ivoa.obscore "
        "WHERE 1 = CONTAINS(POINT('ICRS', 83.633, 22.014), s_region)",
    ),
    (
        "obscore-region-overlaps",
        "Datasets whose field of view overlaps a polygon across RA = 0",
        "SELECT obs_publisher_did, dataproduct_type, s_ra, s_dec, s_region FROM ivoa.obscore "
        "WHERE 1 = INTERSECTS(s_region, POLYGON('ICRS', 355, -5, 5, -5, 5, 5, 355, 5))",
    ),
)


def examples_document() -> bytes:
    """The examples page."""
    html = etree.Element(f"{{{_XHTML}}}html", nsmap={None: _XHTML})
    head = etree.SubElement(html, f"{{{_XHTML}}}head")
    etree.SubElement(head, f"{{{_XHTML}}}title").text = "TAP examples"
    body = etree.SubElement(html, f"{{{_XHTML}}}body")
    container = etree.SubElement(
        body, f"{{{_XHTML}}}div", vocab="http://www.ivoa.net/rdf/examples#"
    )
    for ident, title, query in EXAMPLES:
        div = etree.SubElement(
            container, f"{{{_XHTML}}}div", id=ident, resource=f"#{ident}", typeof="example"
        )
        etree.SubElement(div, f"{{{_XHTML}}}h2", property="name").text = title
        etree.SubElement(div, f"{{{_XHTML}}}pre", property="query").text = query
    return etree.tostring(html, xml_declaration=True, encoding="UTF-8", doctype=None)
