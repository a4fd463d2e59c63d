"""Analysis units: declared, configured, then run; external inputs; the unit registry.

A unit is a small class in the gammapy style: it is *configured* with its parameters in
``__init__`` (values are normalised there and any mistake raises at once) and *applied* with
:meth:`AnalysisUnit.run`. The class declares its ``name``, ``version``, ``params``,
``inputs`` and the ``codec`` its output is stored with; these declarations, not the code,
define the node identity, so a change of behaviour must come with a new ``version``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from processing.pipeline._errors import NormalisationError, ParameterError, RegistryError
from processing.pipeline._hashing import ProvenanceHash, hash_canonical
from processing.pipeline._params import Param

__all__ = [
    "AnalysisUnit",
    "Calibration",
    "ExternalFile",
    "FileInput",
    "Input",
    "NodeInput",
    "UnitContext",
    "declare",
    "file_checksum",
    "get_unit",
    "registered_units",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


def file_checksum(path: Path, *, chunk_size: int = 1 << 20) -> str:
    """Return ``"sha256:<hex>"`` of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


@dataclass(frozen=True)
class ExternalFile:
    """A file that enters the pipeline from outside: an archive event file, a calibration file.

    Its identity is its ``label`` and content ``checksum``, not its absolute ``path``, so
    that moving the archive to another disk keeps every cached product valid while any
    change of content makes new nodes.

    Parameters
    ----------
    path
        Where the file is read from now.
    checksum
        ``"<algorithm>:<hex digest>"`` of the content, e.g. from the archive index.
    label
        Stable logical name, e.g. the path relative to the archive root.
    attributes
        Descriptive metadata kept in provenance (e.g. ``{"scw_id": "066500230010"}``);
        not part of the identity.
    """

    path: Path
    checksum: str
    label: str
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9]+:[0-9a-f]+", self.checksum):
            raise NormalisationError(
                f"external file {self.label!r}: checksum {self.checksum!r} "
                "is not '<algorithm>:<lower-case hex>'"
            )
        if not self.label:
            raise NormalisationError("external file: empty label")
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))

    @classmethod
    def from_path(
        cls, path: Path, *, label: str | None = None, attributes: Mapping[str, str] | None = None
    ) -> ExternalFile:
        """Describe a file, computing its SHA-256 checksum (prefer the archive index's)."""
        path = Path(path)
        return cls(path, file_checksum(path), label or path.name, attributes or {})

    def identity(self) -> dict[str, Any]:
        """The canonical description hashed into :attr:`provenance_hash`."""
        return {"kind": "external_file", "label": self.label, "checksum": self.checksum}

    @property
    def provenance_hash(self) -> ProvenanceHash:
        """Identity of this input as seen by the nodes reading it."""
        return hash_canonical(self.identity())

    def __reduce__(self) -> tuple[Any, ...]:
        # mappingproxy cannot be pickled; Dask ships these to workers.
        return (ExternalFile, (self.path, self.checksum, self.label, dict(self.attributes)))


@dataclass(frozen=True)
class Calibration:
    """The instrument calibration a node was computed with.

    Parameters
    ----------
    version
        The calibration release, e.g. ``"isgri-ic-11.2"``.
    files
        The calibration files of the release, recorded in provenance; their checksums are
        part of the identity too, so a silently replaced file still makes new nodes.
    """

    version: str
    files: tuple[ExternalFile, ...] = ()

    def __post_init__(self) -> None:
        if not self.version:
            raise NormalisationError("calibration: empty version")
        object.__setattr__(self, "files", tuple(self.files))

    def identity(self) -> dict[str, Any]:
        """The canonical description hashed into every calibration-dependent node."""
        return {
            "version": self.version,
            "files": {item.label: item.checksum for item in self.files},
        }


class Input:
    """Declaration of one unit input.

    Parameters
    ----------
    many
        The input takes a sequence (a reduction such as a mosaic of per-ScW images).
    order_free
        For ``many`` inputs: the order carries no meaning, so items are sorted by their
        provenance hash, both for the identity and for the order ``run`` receives them in
        (which keeps floating-point reductions reproducible).
    doc
        One line describing the input.
    """

    kind: ClassVar[str] = ""

    def __init__(self, *, many: bool = False, order_free: bool = True, doc: str = "") -> None:
        self.many = many
        self.order_free = order_free
        self.doc = doc


class NodeInput(Input):
    """An input produced by another node; ``run`` receives its decoded output."""

    kind = "node"


class FileInput(Input):
    """An :class:`ExternalFile`; ``run`` receives the :class:`ExternalFile` and reads it."""

    kind = "file"


class UnitContext:
    """What a running unit may use besides its inputs.

    Parameters
    ----------
    provenance_hash
        Identity of the node being computed.
    calibration
        The calibration of the node (``None`` for calibration-independent units).
    scratch_dir
        A private folder for temporary files, removed after the unit ends; files a unit
        returns with the ``files`` codec may be written here.
    check
        Callable raising :class:`PipelineCancelled` once the run is cancelled.
    logger
        Logger with the unit name and node hash bound in.
    """

    def __init__(
        self,
        *,
        provenance_hash: ProvenanceHash,
        calibration: Calibration | None,
        scratch_dir: Path,
        check: Callable[[], None],
        logger: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self.provenance_hash = provenance_hash
        self.calibration = calibration
        self.scratch_dir = scratch_dir
        self.logger = logger
        self._check = check

    @classmethod
    def detached(cls, calibration: Calibration | None = None, name: str = "unit") -> UnitContext:
        """A context for calling a unit's ``run`` directly, outside any pipeline (benchmarks,
        campaigns of simulated data): a null node hash, the system temporary folder, never
        cancelled."""
        return cls(
            provenance_hash=ProvenanceHash("0" * 64),
            calibration=calibration,
            scratch_dir=Path(tempfile.gettempdir()),
            check=lambda: None,
            logger=logging.LoggerAdapter(logging.getLogger(name), {}),
        )

    def check(self) -> None:
        """Raise :class:`PipelineCancelled` if the run was cancelled.

        Long units call this regularly (every few tenths of a second of work), e.g. once
        per energy band or per chunk of events: it is how a cancellation stops them.
        """
        self._check()


_REGISTRY: dict[str, type[AnalysisUnit]] = {}


def declare(**declarations: Param | Input) -> Mapping[str, Any]:
    """Return read-only declarations for a unit's ``params`` or ``inputs``.

    ``params = declare(gain=Float(default=1.0))`` reads like a dict literal but gives an
    immutable mapping, so a class attribute cannot be changed by accident (and linters do
    not flag a mutable class attribute).
    """
    for key, value in declarations.items():
        if not isinstance(value, Param | Input):
            raise RegistryError(
                f"declaration {key!r} is a {type(value).__name__}, not a Param/Input"
            )
    return MappingProxyType(dict(declarations))


class AnalysisUnit(ABC):
    """Base class of every analysis step.

    Subclasses declare the class attributes below and implement :meth:`run`. A subclass
    that sets ``name`` is registered under it (see :func:`get_unit`).

    Attributes
    ----------
    name
        Dotted lower-case name, unique in the registry (e.g. ``"isgri.bin_events"``).
    version
        Bump it whenever the output for the same inputs changes; every descendant node
        then gets a new identity.
    params
        Parameter declarations (name → :class:`~processing.pipeline.Param`).
    inputs
        Input declarations (name → :class:`NodeInput` or :class:`FileInput`).
    codec
        Name of the codec the output is stored with (see :func:`register_codec`).
    uses_calibration
        Whether the calibration version is part of the identity (``False`` for steps
        that only read files, so a new calibration does not make them recompute).

    Parameters
    ----------
    **values
        Parameter values; each is normalised by its declaration.

    Raises
    ------
    ParameterError
        For an unknown or missing parameter or a value that cannot be normalised.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    params: ClassVar[Mapping[str, Param]] = MappingProxyType({})
    inputs: ClassVar[Mapping[str, Input]] = MappingProxyType({})
    codec: ClassVar[str] = "numpy"
    uses_calibration: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return  # an abstract intermediate class
        if not isinstance(cls.name, str) or not _NAME.match(cls.name):
            raise RegistryError(f"{cls.__qualname__}: invalid unit name {cls.name!r}")
        if not isinstance(getattr(cls, "version", None), str) or not cls.version:
            raise RegistryError(f"unit {cls.name}: 'version' must be a non-empty string")
        for key, value in cls.params.items():
            if not isinstance(value, Param):
                raise RegistryError(f"unit {cls.name}: params[{key!r}] is not a Param")
        for key, declared in cls.inputs.items():
            if not isinstance(declared, Input):
                raise RegistryError(f"unit {cls.name}: inputs[{key!r}] is not an Input")
        if "calibration" in cls.inputs:
            raise RegistryError(f"unit {cls.name}: 'calibration' is reserved (Graph.add)")
        clash = set(cls.params) & set(cls.inputs)
        if clash:
            raise RegistryError(f"unit {cls.name}: names both parameter and input: {clash}")
        known = _REGISTRY.get(cls.name)
        if known is not None and (known.__module__, known.__qualname__) != (
            cls.__module__,
            cls.__qualname__,
        ):
            raise RegistryError(
                f"unit name {cls.name!r} is already taken by "
                f"{known.__module__}.{known.__qualname__}"
            )
        _REGISTRY[cls.name] = cls

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.params)
        if unknown:
            name = sorted(unknown)[0]
            raise ParameterError(
                self.name, name, f"unknown parameter (known: {sorted(self.params)})"
            )
        config: dict[str, Any] = {}
        for key, declaration in self.params.items():
            if key in values:
                value = values[key]
            elif declaration.required:
                raise ParameterError(self.name, key, "missing required parameter")
            else:
                value = declaration.default
            try:
                config[key] = declaration.normalise(value)
            except NormalisationError as exc:
                raise ParameterError(self.name, key, str(exc)) from exc
        self._config = config

    @property
    def config(self) -> Mapping[str, Any]:
        """The normalised parameter values (canonical JSON values, read-only)."""
        return MappingProxyType(self._config)

    def identity(self) -> dict[str, Any]:
        """Name, version and normalised parameters: the unit's part of a node identity."""
        return {"unit": self.name, "version": self.version, "params": dict(self._config)}

    @abstractmethod
    def run(self, ctx: UnitContext, **inputs: Any) -> Any:
        """Compute the output from the inputs; must be deterministic.

        Parameters
        ----------
        ctx
            Cancellation check, scratch folder, logger, calibration.
        **inputs
            One keyword per declared input: the decoded output of the upstream node, the
            :class:`ExternalFile`, or a list of those for ``many`` inputs.
        """

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"{type(self).__name__}({args})"


def get_unit(name: str) -> type[AnalysisUnit]:
    """Return the unit class registered under ``name``.

    Raises
    ------
    RegistryError
        When no unit has that name (its module may not have been imported).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise RegistryError(f"no analysis unit named {name!r}") from None


def registered_units() -> Iterator[tuple[str, type[AnalysisUnit]]]:
    """Iterate over ``(name, class)`` of every registered unit, sorted by name."""
    return iter(sorted(_REGISTRY.items()))
