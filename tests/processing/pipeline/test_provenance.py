"""PROV documents and provenance keywords in FITS headers and VOTables."""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import xmlschema
from astropy.io import fits
from astropy.io.votable import parse, writeto
from astropy.io.votable.tree import Resource, TableElement, VOTableFile
from lxml import etree
from prov.model import ProvDocument

from processing.pipeline import (
    PROVENANCE_INFO_NAME,
    Calibration,
    ExternalFile,
    Graph,
    InlineExecutor,
    Pipeline,
    fits_provenance_cards,
    prov_json,
    prov_xml,
    provenance_document,
    votable_provenance_infos,
)
from tests.processing.pipeline.conftest import make_archive
from tests.processing.pipeline.toy_units import BinEvents, Decode, Mosaic, ReadEvents, Summary

PROV_NS = "http://www.w3.org/ns/prov#"


@pytest.fixture
def calibrated_request(tmp_path: Path):
    ic = tmp_path / "ic"
    ic.mkdir()
    (ic / "isgri_arf.fits").write_bytes(b"arf")
    (ic / "isgri_rmf.fits").write_bytes(b"rmf")
    calibration = Calibration(
        "toy-ic-7",
        tuple(ExternalFile.from_path(p, label=f"ic/{p.name}") for p in sorted(ic.iterdir())),
    )
    files = make_archive(tmp_path / "archive", 5)
    graph = Graph(calibration=calibration)
    images = [
        graph.add(
            Decode(gain=2.0),
            shadowgram=graph.add(
                BinEvents(e_min=20, e_max=40), events=graph.add(ReadEvents(), events=item)
            ),
        )
        for item in files
    ]
    summary = graph.add(Summary(), mosaic=graph.add(Mosaic(), images=images))
    return graph, summary, files, calibration


def test_prov_document_round_trips_and_lists_every_input(calibrated_request):
    graph, summary, files, calibration = calibrated_request
    doc = provenance_document([summary], user="alice", software=("codedmask-vo-service", "9.9"))
    for content, fmt in ((prov_json(doc), "json"), (prov_xml(doc), "xml")):
        assert ProvDocument.deserialize(content=content, format=fmt) == doc
    records = {str(record.identifier): record for record in doc.get_records()}
    labels = {
        str(next(iter(record.get_attribute("prov:label")))): record
        for record in doc.get_records()
        if record.is_element()
    }
    entity_values = {
        str(value)
        for record in doc.get_records()
        if record.is_element()
        for _, value in record.attributes
    }
    for item in files:
        assert item.attributes["scw_id"] in entity_values
        assert item.checksum in entity_values
    for item in calibration.files:
        assert item.label in labels and item.checksum in entity_values
    assert "toy-ic-7" in labels
    for node in graph:  # every node: an entity and the activity that generated it
        assert f"node:sha256-{node.provenance_hash}" in records
        assert f"run:sha256-{node.provenance_hash}" in records
    activity = records[f"run:sha256-{summary.inputs['mosaic'].inputs['images'][0].provenance_hash}"]
    assert "toy.decode" in str(next(iter(activity.get_attribute("cm:unit"))))
    assert 2.0 in set(activity.get_attribute("par:gain"))
    assert "alice" in labels and "codedmask-vo-service" in labels


def test_prov_xml_validates_against_the_w3c_schema(calibrated_request):
    _, summary, _, _ = calibrated_request
    doc = provenance_document([summary], user="bob")
    schema_dir = resources.files("prov") / "tests" / "schemas"
    schema = xmlschema.XMLSchema(
        str(schema_dir / "prov.xsd"),
        locations={"http://www.w3.org/XML/1998/namespace": str(schema_dir / "xml.xsd")},
        allow="local",
    )
    tree = etree.fromstring(prov_xml(doc).encode())
    assert tree.tag == f"{{{PROV_NS}}}document"
    schema.validate(tree)


def test_prov_records_generation_times_from_the_cache(sqlite_cache, calibrated_request):
    graph, summary, _, _ = calibrated_request
    Pipeline(sqlite_cache, InlineExecutor()).run([summary])
    times = {n.provenance_hash: sqlite_cache.store.info(n.provenance_hash).created for n in graph}
    doc = provenance_document([summary], generated=times)
    text = prov_json(doc)
    assert times[summary.provenance_hash].isoformat()[:19] in text


def test_fits_header_and_votable_info_carry_the_hash(calibrated_request, tmp_path: Path):
    _, summary, _, _ = calibrated_request
    hdu = fits.PrimaryHDU(np.zeros((2, 2), dtype=np.float32))
    hdu.header.extend(fits_provenance_cards(summary))
    path = tmp_path / "product.fits"
    hdu.writeto(path)
    header = fits.getheader(path)
    assert header["PROVHASH"] == summary.provenance_hash
    assert header["PROVUNIT"] == "toy.summary" and header["CALVERS"] == "toy-ic-7"

    votable = VOTableFile()
    resource = Resource()
    votable.resources.append(resource)
    table = TableElement(votable)
    resource.tables.append(table)
    votable.infos.extend(votable_provenance_infos(summary))
    buffer = io.BytesIO()
    writeto(votable, buffer)
    buffer.seek(0)
    infos = {info.name: info.value for info in parse(buffer).infos}
    assert infos[PROVENANCE_INFO_NAME] == summary.provenance_hash
