"""Parameter normalisation, canonical hashing and node identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time

from processing.pipeline import (
    AnalysisUnit,
    Calibration,
    ExternalFile,
    FileInput,
    Float,
    Graph,
    Int,
    List,
    Node,
    NodeInput,
    NormalisationError,
    ParameterError,
    Quantity,
    RegistryError,
    SkyPosition,
    Str,
    TimeParam,
    canonical_json,
    declare,
    get_unit,
    hash_canonical,
)
from tests.processing.pipeline.conftest import build_request, make_archive
from tests.processing.pipeline.toy_units import BinEvents, Decode, Mosaic


class Configurable(AnalysisUnit):
    name = "test.configurable"
    version = "1"
    params = declare(
        energy=Quantity("keV"),
        threshold=Float(digits=6, default=5.0),
        count=Int(min=1, default=1),
        sources=List(Str(), order_free=True, default=[]),
        edges=List(Quantity("keV"), default=[]),
        method=Str(choices=["fast", "exact"], default="fast"),
        nullable=Float(nullable=True, default=None),
    )

    def run(self, ctx, **inputs):  # pragma: no cover - never run
        raise AssertionError


def test_canonical_json_is_stable_and_strict():
    assert canonical_json({"b": 1, "a": [1.5, None, "é"]}) == '{"a":[1.5,null,"é"],"b":1}'
    for bad in ({"a": (1, 2)}, {1: "x"}, {"a": float("nan")}, {"a": np.float64(1.0)}, {"a": {1}}):
        with pytest.raises(NormalisationError):
            canonical_json(bad)


def test_quantities_normalise_to_canonical_units():
    a = Configurable(energy=20 * u.keV)
    b = Configurable(energy=0.02 * u.MeV)
    c = Configurable(energy=20.0)
    assert a.config["energy"] == b.config["energy"] == c.config["energy"] == 20.0
    assert hash_canonical(a.identity()) == hash_canonical(b.identity())
    with pytest.raises(ParameterError) as info:
        Configurable(energy=3 * u.s)
    assert info.value.parameter == "energy" and "cannot be converted" in info.value.reason


def test_floats_are_rounded_to_declared_precision():
    a = Configurable(energy=20, threshold=5.0000001)
    b = Configurable(energy=20, threshold=np.float32(5.0))
    assert a.config["threshold"] == b.config["threshold"] == 5.0
    assert Configurable(energy=-0.0).config["energy"] == 0.0
    assert Configurable(energy=20, threshold=5.001).config["threshold"] == 5.001


def test_order_free_lists_sort_and_ordered_lists_keep_order():
    a = Configurable(energy=20, sources=["Crab", "Cyg X-1"], edges=[20, 40 * u.keV, 0.1 * u.MeV])
    b = Configurable(energy=20, sources=("Cyg X-1", "Crab"), edges=np.array([20.0, 40.0, 100.0]))
    assert a.config["sources"] == ["Crab", "Cyg X-1"]
    assert a.identity() == b.identity()
    c = Configurable(energy=20, edges=[40, 20])
    assert c.config["edges"] == [40.0, 20.0]
    assert c.identity() != Configurable(energy=20, edges=[20, 40]).identity()


@pytest.mark.parametrize(
    ("values", "parameter"),
    [
        ({}, "energy"),
        ({"energy": 20, "bogus": 1}, "bogus"),
        ({"energy": True}, "energy"),
        ({"energy": "20 keV"}, "energy"),
        ({"energy": float("inf")}, "energy"),
        ({"energy": 20, "count": 2.0}, "count"),
        ({"energy": 20, "count": 0}, "count"),
        ({"energy": 20, "method": "slow"}, "method"),
        ({"energy": 20, "sources": ["a", 3]}, "sources"),
        ({"energy": 20, "sources": "Crab"}, "sources"),
        ({"energy": 20, "threshold": None}, "threshold"),
        ({"energy": 20, "edges": [object()]}, "edges"),
    ],
)
def test_bad_values_raise_typed_errors_naming_the_parameter(values, parameter):
    with pytest.raises(ParameterError) as info:
        Configurable(**values)
    assert info.value.parameter == parameter
    assert info.value.unit == "test.configurable"


def test_time_and_sky_position_parameters():
    time_param = TimeParam()
    t = Time("2015-06-20T00:00:00", scale="utc")
    assert time_param.normalise(t) == time_param.normalise(Time(t.tt.mjd, format="mjd", scale="tt"))
    with pytest.raises(NormalisationError):
        time_param.normalise(57193.0)
    position = SkyPosition()
    crab = SkyCoord(83.633083 * u.deg, 22.0145 * u.deg)
    assert position.normalise(crab) == position.normalise(crab.galactic)
    assert position.normalise(SkyCoord(-10 * u.deg, 0 * u.deg)) == [350.0, 0.0]


def test_unit_registry():
    assert get_unit("toy.decode") is Decode
    with pytest.raises(RegistryError):
        get_unit("toy.nothing")
    with pytest.raises(RegistryError):

        class Clash(AnalysisUnit):  # same name as an existing, different class
            name = "toy.decode"
            version = "1"

            def run(self, ctx, **inputs):  # pragma: no cover
                return None

    with pytest.raises(RegistryError):

        class BadName(AnalysisUnit):
            name = "Not A Name"
            version = "1"

            def run(self, ctx, **inputs):  # pragma: no cover
                return None


def test_external_file_identity_is_label_and_content(tmp_path: Path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"events")
    moved = tmp_path / "elsewhere" / "a.bin"
    moved.parent.mkdir()
    moved.write_bytes(b"events")
    a = ExternalFile.from_path(path, label="scw/a")
    assert a.provenance_hash == ExternalFile.from_path(moved, label="scw/a").provenance_hash
    path.write_bytes(b"changed")
    assert a.provenance_hash != ExternalFile.from_path(path, label="scw/a").provenance_hash
    with pytest.raises(NormalisationError):
        ExternalFile(path, "not a checksum", "scw/a")


def test_inputs_are_checked(tmp_path: Path):
    files = make_archive(tmp_path, 2)
    graph = Graph(calibration=Calibration("ic"))
    with pytest.raises(ParameterError, match="events"):
        graph.add(BinEvents(e_min=20, e_max=40), events=files[0])  # a file, not a node
    with pytest.raises(ParameterError, match="missing input"):
        graph.add(Mosaic())
    with pytest.raises(ParameterError, match="sequence"):
        graph.add(Mosaic(), images=files[0])
    with pytest.raises(ParameterError, match="calibration"):
        Graph().add(Mosaic(), images=[])


def test_graph_deduplicates_and_orders_topologically(tmp_path: Path):
    files = make_archive(tmp_path, 3)
    graph, summary = build_request(files)
    assert len(graph) == 3 * 3 + 2
    _again, summary_again = build_request(files)
    assert summary_again.provenance_hash == summary.provenance_hash
    for node in graph:
        assert graph.add(node.unit, **node.inputs) is node  # same identity: same node
    seen: set[str] = set()
    for node in graph:
        assert all(parent.provenance_hash in seen for parent in node.parents())
        seen.add(node.provenance_hash)
    assert graph.ancestors([summary])[-1] is summary
    assert len(graph.ancestors([summary])) == len(graph)


def test_order_free_many_inputs_do_not_depend_on_order(tmp_path: Path):
    files = make_archive(tmp_path, 4)
    _, a = build_request(files)
    _, b = build_request(list(reversed(files)))
    assert a.provenance_hash == b.provenance_hash


def test_version_change_invalidates_exactly_the_descendants(tmp_path: Path, monkeypatch):
    files = make_archive(tmp_path, 3)
    before, _ = build_request(files)
    monkeypatch.setattr(BinEvents, "version", "2")
    after, _ = build_request(files)
    old = {node.provenance_hash for node in before}
    new = {node.provenance_hash for node in after}
    changed = {node.provenance_hash for node in before} - new
    expected: set[str] = set()
    for node in before:
        if node.name == "toy.bin_events":
            expected |= {
                item.provenance_hash for item in before.descendants(node, include_node=True)
            }
    assert changed == expected
    unchanged = old & new
    assert {before.get(key).name for key in unchanged} == {"toy.read_events"}


def test_calibration_changes_only_calibration_dependent_nodes(tmp_path: Path):
    files = make_archive(tmp_path, 2)
    graph_a, _ = build_request(files)
    graph_b = Graph(calibration=Calibration("toy-ic-2"))
    remap: dict[str, Node] = {}  # node of graph_a -> its rebuild in graph_b

    def rebuilt(item):
        return item if isinstance(item, ExternalFile) else remap[item.provenance_hash]

    for node in graph_a:
        inputs = {
            key: [rebuilt(item) for item in value] if isinstance(value, tuple) else rebuilt(value)
            for key, value in node.inputs.items()
        }
        remap[node.provenance_hash] = graph_b.add(node.unit, **inputs)
    same = {
        n.name for n in graph_a if remap[n.provenance_hash].provenance_hash == n.provenance_hash
    }
    assert same == {"toy.read_events"}
    assert len(graph_b) == len(graph_a)


def test_parameter_of_a_late_unit_changes_only_that_unit_and_below(tmp_path: Path):
    files = make_archive(tmp_path, 2)
    a, _ = build_request(files, weight=1.0)
    b, _ = build_request(files, weight=2.0)
    differing = {n.name for n in a if n.provenance_hash not in {m.provenance_hash for m in b}}
    assert differing == {"toy.mosaic", "toy.summary"}


def test_node_input_declaration_defaults():
    declaration = NodeInput(many=True)
    assert declaration.order_free and declaration.kind == "node"


def test_node_identity_is_the_sha256_of_a_documented_canonical_text(tmp_path: Path):
    """Pins the serialisation: a change here silently invalidates every cache entry."""
    import hashlib

    source = tmp_path / "events.npy"
    source.write_bytes(b"toy events")
    checksum = "sha256:" + hashlib.sha256(b"toy events").hexdigest()
    item = ExternalFile(source, checksum, "scw/x/events.npy")
    file_text = f'{{"checksum":"{checksum}","kind":"external_file","label":"scw/x/events.npy"}}'
    assert item.provenance_hash == hashlib.sha256(file_text.encode()).hexdigest()
    graph = Graph(calibration=Calibration("ic-1"))
    read = graph.add(ReadEventsForIdentity(), events=item)
    node = graph.add(BinEvents(e_min=20 * u.keV, e_max=0.04 * u.MeV), events=read)
    text = (
        '{"calibration":{"files":{},"version":"ic-1"},'
        f'"inputs":{{"events":"{read.provenance_hash}"}},'
        '"params":{"bins":16,"e_max":40.0,"e_min":20.0},'
        '"unit":"toy.bin_events","version":"1"}'
    )
    assert node.provenance_hash == hashlib.sha256(text.encode()).hexdigest()


class ReadEventsForIdentity(AnalysisUnit):
    name = "test.read_for_identity"
    version = "3"
    inputs = declare(events=FileInput())
    uses_calibration = False

    def run(self, ctx, **inputs):  # pragma: no cover - never run
        raise AssertionError
