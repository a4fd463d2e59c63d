"""Nodes (configured units bound to their inputs) and the graph builder.

A :class:`Node` is immutable and knows its inputs, so its identity, the
:class:`ProvenanceHash`, is computed once when it is made. A :class:`Graph` collects nodes
in insertion order, which is a topological order because a node can only be made from
existing inputs, and deduplicates them by hash: adding the same unit with the same
parameters on the same inputs twice returns the node already there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

from processing.pipeline._errors import ParameterError
from processing.pipeline._hashing import ProvenanceHash, hash_canonical
from processing.pipeline._unit import AnalysisUnit, Calibration, ExternalFile, FileInput

__all__ = ["Graph", "InputValue", "Node", "ancestors_of", "make_node"]

#: What one declared input is bound to.
InputValue: TypeAlias = "Node | ExternalFile | tuple[Node | ExternalFile, ...]"


def _hash_of(item: Node | ExternalFile) -> ProvenanceHash:
    return item.provenance_hash


class Node:
    """A unit configured with parameters and bound to its inputs: one vertex of the DAG.

    Make nodes with :meth:`Graph.add` (or :func:`make_node`); do not call this directly.

    Attributes
    ----------
    unit
        The configured unit.
    inputs
        Declared input name → upstream :class:`Node`, :class:`ExternalFile`, or a tuple
        of those for ``many`` inputs (sorted by hash when order-free).
    calibration
        Calibration this node depends on, or ``None``.
    provenance_hash
        SHA-256 of the canonical JSON of :meth:`identity`.
    """

    __slots__ = ("calibration", "inputs", "provenance_hash", "unit")

    def __init__(
        self,
        unit: AnalysisUnit,
        inputs: Mapping[str, Node | ExternalFile | tuple[Node | ExternalFile, ...]],
        calibration: Calibration | None,
    ) -> None:
        self.unit = unit
        self.inputs = dict(inputs)
        self.calibration = calibration
        self.provenance_hash = hash_canonical(self.identity())

    def identity(self) -> dict[str, Any]:
        """Unit name, version, normalised parameters, input hashes, calibration."""
        input_hashes: dict[str, Any] = {}
        for key, value in self.inputs.items():
            if isinstance(value, tuple):
                input_hashes[key] = [_hash_of(item) for item in value]
            else:
                input_hashes[key] = _hash_of(value)
        return {
            **self.unit.identity(),
            "inputs": input_hashes,
            "calibration": None if self.calibration is None else self.calibration.identity(),
        }

    @property
    def name(self) -> str:
        """The unit name."""
        return self.unit.name

    def parents(self) -> list[Node]:
        """Upstream nodes, in input declaration order."""
        found: list[Node] = []
        for value in self.inputs.values():
            items = value if isinstance(value, tuple) else (value,)
            found.extend(item for item in items if isinstance(item, Node))
        return found

    def external_files(self) -> list[ExternalFile]:
        """External files read directly by this node."""
        found: list[ExternalFile] = []
        for value in self.inputs.values():
            items = value if isinstance(value, tuple) else (value,)
            found.extend(item for item in items if isinstance(item, ExternalFile))
        return found

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and other.provenance_hash == self.provenance_hash

    def __hash__(self) -> int:
        return hash(self.provenance_hash)

    def __repr__(self) -> str:
        return f"<Node {self.unit.name} {self.provenance_hash[:12]}>"


def _bind(unit: AnalysisUnit, key: str, value: Any) -> Node | ExternalFile | tuple[Any, ...]:
    declaration = unit.inputs[key]
    expected = ExternalFile if isinstance(declaration, FileInput) else Node
    if declaration.many:
        if isinstance(value, Node | ExternalFile | str | bytes) or not isinstance(value, Sequence):
            raise ParameterError(unit.name, key, "expects a sequence of inputs")
        items = tuple(value)
        for item in items:
            if not isinstance(item, expected):
                raise ParameterError(
                    unit.name, key, f"expects {expected.__name__} items, got {type(item).__name__}"
                )
        if declaration.order_free:
            items = tuple(sorted(items, key=_hash_of))
        return items
    if not isinstance(value, expected):
        raise ParameterError(
            unit.name, key, f"expects a {expected.__name__}, got {type(value).__name__}"
        )
    return value


def make_node(
    unit: AnalysisUnit, inputs: Mapping[str, Any], calibration: Calibration | None = None
) -> Node:
    """Bind a configured unit to its inputs, checking them against the declarations.

    ``calibration`` is dropped for units with ``uses_calibration = False``.

    Raises
    ------
    ParameterError
        For a missing, unknown or wrongly typed input, or a calibration-dependent unit
        without a calibration.
    """
    unknown = set(inputs) - set(unit.inputs)
    if unknown:
        raise ParameterError(unit.name, sorted(unknown)[0], "unknown input")
    missing = set(unit.inputs) - set(inputs)
    if missing:
        raise ParameterError(unit.name, sorted(missing)[0], "missing input")
    bound = {key: _bind(unit, key, inputs[key]) for key in unit.inputs}
    if not unit.uses_calibration:
        calibration = None
    elif calibration is None:
        raise ParameterError(unit.name, "calibration", "this unit needs a calibration")
    return Node(unit, bound, calibration)


class Graph:
    """Builder and container of a provenance DAG.

    Parameters
    ----------
    calibration
        Default calibration of the nodes added (units that do not use one ignore it).

    Examples
    --------
    >>> graph = Graph(calibration=Calibration("ic-1"))            # doctest: +SKIP
    >>> images = [graph.add(Decode(band=[20, 40]), events=f) for f in files]  # doctest: +SKIP
    >>> mosaic = graph.add(Mosaic(pixel=0.05), images=images)      # doctest: +SKIP
    """

    def __init__(self, calibration: Calibration | None = None) -> None:
        self.calibration = calibration
        self._nodes: dict[ProvenanceHash, Node] = {}

    def add(
        self, unit: AnalysisUnit, *, calibration: Calibration | None = None, **inputs: Any
    ) -> Node:
        """Add ``unit`` bound to ``inputs``; return the graph's node with that identity.

        Upstream nodes made elsewhere are added too. ``calibration`` overrides the
        graph's default for this node.
        """
        node = make_node(unit, inputs, calibration or self.calibration)
        return self.insert(node)

    def insert(self, node: Node) -> Node:
        """Insert an existing node and its ancestors; return the graph's copy of it."""
        known = self._nodes.get(node.provenance_hash)
        if known is not None:
            return known
        for parent in node.parents():
            self.insert(parent)
        self._nodes[node.provenance_hash] = node
        return node

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        """Nodes in topological order (every node after its inputs)."""
        return iter(list(self._nodes.values()))

    def __contains__(self, item: object) -> bool:
        return isinstance(item, Node) and item.provenance_hash in self._nodes

    def get(self, provenance_hash: str) -> Node:
        """Return the node with this hash; :class:`KeyError` if absent."""
        return self._nodes[ProvenanceHash(provenance_hash)]

    def ancestors(self, targets: Iterable[Node], *, include_targets: bool = True) -> list[Node]:
        """Every node the ``targets`` depend on, in topological order."""
        targets = list(targets)
        wanted: set[ProvenanceHash] = set()
        stack = list(targets)
        target_hashes = {node.provenance_hash for node in stack}
        while stack:
            node = stack.pop()
            if node.provenance_hash in wanted:
                continue
            wanted.add(node.provenance_hash)
            stack.extend(node.parents())
        if not include_targets:
            wanted -= target_hashes
        return _topological(wanted, self._nodes, targets)

    def descendants(self, node: Node, *, include_node: bool = False) -> list[Node]:
        """Every node depending on ``node``, in topological order."""
        tainted = {node.provenance_hash}
        found: list[Node] = []
        for candidate in self._nodes.values():
            if any(parent.provenance_hash in tainted for parent in candidate.parents()):
                tainted.add(candidate.provenance_hash)
                found.append(candidate)
        return [node, *found] if include_node else found

    def external_files(self) -> list[ExternalFile]:
        """Every external file read by the graph's nodes, deduplicated by identity."""
        seen: dict[ProvenanceHash, ExternalFile] = {}
        for node in self._nodes.values():
            for item in node.external_files():
                seen.setdefault(item.provenance_hash, item)
        return list(seen.values())


def _topological(
    wanted: set[ProvenanceHash], known: Mapping[ProvenanceHash, Node], targets: Iterable[Node]
) -> list[Node]:
    """Order ``wanted`` topologically, also for nodes made outside the graph."""
    if all(item in known for item in wanted):
        return [node for key, node in known.items() if key in wanted]
    ordered: list[Node] = []
    done: set[ProvenanceHash] = set()

    def visit(node: Node) -> None:
        # iterative would be safer for huge depths; DAG depth here is a handful of units
        if node.provenance_hash in done or node.provenance_hash not in wanted:
            return
        for parent in node.parents():
            visit(parent)
        done.add(node.provenance_hash)
        ordered.append(node)

    for target in targets:
        visit(target)
    return ordered


def ancestors_of(targets: Iterable[Node]) -> list[Node]:
    """The ``targets`` and every node they depend on, in topological order."""
    targets = list(targets)
    wanted: set[ProvenanceHash] = set()
    stack = list(targets)
    while stack:
        node = stack.pop()
        if node.provenance_hash not in wanted:
            wanted.add(node.provenance_hash)
            stack.extend(node.parents())
    return _topological(wanted, {}, targets)
