"""Codecs: how a node's output value is written to, and read from, its cache entry folder.

A unit names its codec (``AnalysisUnit.codec``). The built-in codecs avoid pickle, so that a
cache entry can be read by any Python version and never executes code:

``numpy``
    An array, or a mapping of names to arrays and JSON scalars. Each array is one ``.npy``
    file, read back memory-mapped (read-only), so a 16×130×134 cube costs no copy until it
    is touched; scalars go to ``meta.json``.
``npz``
    A mapping of names to arrays in one compressed ``.npz`` (for sparse or repetitive data);
    read back fully into memory.
``json``
    Any JSON value (a catalogue as a list of dicts, a few numbers).
``bytes``
    Raw bytes.
``fits``
    An :class:`astropy.io.fits.HDUList`; read back memory-mapped.
``table``
    An :class:`astropy.table.Table` (units and meta kept), stored as a FITS binary table.
``files``
    A mapping of file names to paths (e.g. finished FITS/PNG products written into
    ``ctx.scratch_dir``); the files are copied into the entry and read back as paths.

Register more with :func:`register_codec`.
"""

from __future__ import annotations

import json
import re
import shutil
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from astropy.io import fits
from astropy.table import Table

from processing.pipeline._errors import CacheError, RegistryError
from processing.pipeline._headers import write_fits

__all__ = ["Codec", "get_codec", "register_codec"]

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$")


def _safe_name(name: object) -> str:
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or name == "manifest.json":
        raise CacheError(f"{name!r} cannot name a file in a cache entry")
    return name


class Codec(ABC):
    """Write a value as files into a folder, and read it back.

    ``encode`` gets an empty private folder and may write any files with safe names
    (``manifest.json`` is reserved); the store checksums, syncs and publishes them
    atomically. ``decode`` gets the published folder and the file names.
    """

    name: ClassVar[str]

    @abstractmethod
    def encode(self, value: Any, folder: Path) -> None:
        """Write ``value`` into ``folder``; raise :class:`CacheError` for a wrong value type."""

    @abstractmethod
    def decode(self, folder: Path, files: Sequence[str]) -> Any:
        """Read the value back from ``folder``."""


class NumpyCodec(Codec):
    """Arrays as ``.npy`` files (memory-mapped on read) plus JSON scalars."""

    name = "numpy"

    def encode(self, value: Any, folder: Path) -> None:
        if isinstance(value, np.ndarray):
            self._save(folder / "array.npy", value)
            meta: dict[str, Any] = {"kind": "array"}
        elif isinstance(value, Mapping):
            arrays: list[str] = []
            scalars: dict[str, Any] = {}
            for key, item in value.items():
                _safe_name(key)
                if isinstance(item, np.ndarray):
                    self._save(folder / f"{key}.npy", item)
                    arrays.append(key)
                elif isinstance(item, np.generic):
                    scalars[key] = item.item()
                else:
                    scalars[key] = item
            meta = {"kind": "mapping", "arrays": arrays, "scalars": scalars}
        else:
            raise CacheError(
                f"numpy codec: expected an ndarray or a mapping, got {type(value).__name__}"
            )
        try:
            text = json.dumps(meta)
        except TypeError as exc:
            raise CacheError(f"numpy codec: a scalar is not JSON-serialisable: {exc}") from exc
        (folder / "meta.json").write_text(text, encoding="utf-8")

    @staticmethod
    def _save(path: Path, array: np.ndarray) -> None:
        if array.dtype.hasobject:
            raise CacheError(f"numpy codec: {path.stem}: object arrays would need pickle")
        np.save(path, np.ascontiguousarray(array), allow_pickle=False)

    def decode(self, folder: Path, files: Sequence[str]) -> Any:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta["kind"] == "array":
            return self._load(folder / "array.npy")
        result: dict[str, Any] = dict(meta["scalars"])
        for key in meta["arrays"]:
            result[key] = self._load(folder / f"{key}.npy")
        return result

    @staticmethod
    def _load(path: Path) -> np.ndarray:
        # Zero-size arrays cannot be memory-mapped.
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        return np.asarray(array)


class NpzCodec(Codec):
    """A mapping of arrays in one compressed ``.npz``."""

    name = "npz"

    def encode(self, value: Any, folder: Path) -> None:
        if not isinstance(value, Mapping) or not all(
            isinstance(item, np.ndarray) for item in value.values()
        ):
            raise CacheError("npz codec: expected a mapping of names to ndarrays")
        for key, item in value.items():
            _safe_name(key)
            if item.dtype.hasobject:
                raise CacheError(f"npz codec: {key}: object arrays would need pickle")
        np.savez_compressed(folder / "arrays.npz", **value)

    def decode(self, folder: Path, files: Sequence[str]) -> Any:
        with np.load(folder / "arrays.npz", allow_pickle=False) as data:
            return {key: data[key] for key in data.files}


class JsonCodec(Codec):
    """A JSON value."""

    name = "json"

    def encode(self, value: Any, folder: Path) -> None:
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise CacheError(f"json codec: {exc}") from exc
        (folder / "value.json").write_text(text, encoding="utf-8")

    def decode(self, folder: Path, files: Sequence[str]) -> Any:
        return json.loads((folder / "value.json").read_text(encoding="utf-8"))


class BytesCodec(Codec):
    """Raw bytes."""

    name = "bytes"

    def encode(self, value: Any, folder: Path) -> None:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise CacheError(f"bytes codec: expected bytes, got {type(value).__name__}")
        (folder / "value.bin").write_bytes(bytes(value))

    def decode(self, folder: Path, files: Sequence[str]) -> Any:
        return (folder / "value.bin").read_bytes()


class FitsCodec(Codec):
    """An :class:`~astropy.io.fits.HDUList`, read back memory-mapped."""

    name = "fits"

    def encode(self, value: Any, folder: Path) -> None:
        if not isinstance(value, fits.HDUList):
            raise CacheError(f"fits codec: expected an HDUList, got {type(value).__name__}")
        write_fits(value, folder / "value.fits")

    def decode(self, folder: Path, files: Sequence[str]) -> Any:
        return fits.open(folder / "value.fits", memmap=True, lazy_load_hdus=False)


class TableCodec(Codec):
    """An :class:`~astropy.table.Table` as a FITS binary table."""

    name = "table"

    def encode(self, value: Any, folder: Path) -> None:
        if not isinstance(value, Table):
            raise CacheError(f"table codec: expected a Table, got {type(value).__name__}")
        value.write(folder / "table.fits", format="fits")

    def decode(self, folder: Path, files: Sequence[str]) -> Any:
        return Table.read(folder / "table.fits", format="fits", memmap=True)


class FilesCodec(Codec):
    """A mapping of file names to paths; read back as paths into the entry."""

    name = "files"

    def encode(self, value: Any, folder: Path) -> None:
        if not isinstance(value, Mapping):
            raise CacheError("files codec: expected a mapping of file names to paths")
        for key, source in value.items():
            target = folder / _safe_name(key)
            if not isinstance(source, str | Path) or not Path(source).is_file():
                raise CacheError(f"files codec: {key}: {source!r} is not an existing file")
            shutil.copyfile(source, target)

    def decode(self, folder: Path, files: Sequence[str]) -> Any:
        return {name: folder / name for name in files}


_CODECS: dict[str, Codec] = {}


def register_codec(codec: Codec) -> None:
    """Make ``codec`` available to units under ``codec.name``.

    Raises
    ------
    RegistryError
        When another codec class already has that name.
    """
    known = _CODECS.get(codec.name)
    if known is not None and type(known) is not type(codec):
        raise RegistryError(f"codec name {codec.name!r} is already taken by {type(known)}")
    _CODECS[codec.name] = codec


def get_codec(name: str) -> Codec:
    """Return the codec registered under ``name``; :class:`RegistryError` if none."""
    try:
        return _CODECS[name]
    except KeyError:
        raise RegistryError(f"no codec named {name!r} (known: {sorted(_CODECS)})") from None


for _codec in (
    NumpyCodec(),
    NpzCodec(),
    JsonCodec(),
    BytesCodec(),
    FitsCodec(),
    TableCodec(),
    FilesCodec(),
):
    register_codec(_codec)
