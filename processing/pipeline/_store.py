"""The content-addressed filesystem half of the cache.

Layout under the root folder::

    objects/ab/cd/<hash>/manifest.json   published entries, sharded by the hash prefix
    objects/ab/cd/<hash>/<payload files>
    tmp/<hash>.<random>/                 entries being written, and entries being removed

An entry is written into a private folder under ``tmp/``; every file is flushed and
``fsync``-ed, the manifest (sizes and SHA-256 of every file) is written last, then the
folder is renamed into place. The rename is atomic, so a reader sees either no entry or a
complete one, and a writer that crashes leaves only a folder under ``tmp/`` (removed by
:meth:`CacheStore.sweep`). When two processes write the same hash, the second rename
fails because the target exists; the second writer discards its copy and uses the first
(same hash, same content). The store needs no database, so Dask workers use it directly;
:class:`~processing.pipeline.ProductCache` adds the index.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from processing.pipeline._codecs import get_codec
from processing.pipeline._errors import CacheError, CorruptEntryError
from processing.pipeline._hashing import ProvenanceHash, check_hash

__all__ = ["CacheStore", "EntryInfo", "FileRecord", "VerifyLevel"]

logger = logging.getLogger(__name__)

#: How much of an entry is checked when it is read: file sizes only, or full SHA-256.
VerifyLevel = Literal["size", "checksum"]

_MANIFEST = "manifest.json"
_FORMAT = 1


@dataclass(frozen=True)
class FileRecord:
    """Size and SHA-256 of one payload file of an entry."""

    size: int
    sha256: str


@dataclass(frozen=True)
class EntryInfo:
    """What a published entry's manifest says about it."""

    provenance_hash: ProvenanceHash
    unit: str
    unit_version: str
    codec: str
    files: dict[str, FileRecord]
    created: datetime

    @property
    def size_bytes(self) -> int:
        """Total size of the payload files."""
        return sum(record.size for record in self.files.values())

    def to_json(self) -> dict[str, Any]:
        """The manifest document."""
        return {
            "format": _FORMAT,
            "hash": self.provenance_hash,
            "unit": self.unit,
            "unit_version": self.unit_version,
            "codec": self.codec,
            "created": self.created.isoformat(),
            "files": {
                name: {"size": rec.size, "sha256": rec.sha256} for name, rec in self.files.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EntryInfo:
        """Parse a manifest document; :class:`KeyError`/:class:`ValueError` if malformed."""
        if data["format"] != _FORMAT:
            raise ValueError(f"unknown manifest format {data['format']!r}")
        return cls(
            provenance_hash=check_hash(data["hash"]),
            unit=str(data["unit"]),
            unit_version=str(data["unit_version"]),
            codec=str(data["codec"]),
            created=datetime.fromisoformat(data["created"]),
            files={
                str(name): FileRecord(int(rec["size"]), str(rec["sha256"]))
                for name, rec in data["files"].items()
            },
        )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


#: Files whose content matched their manifest in this process, by path: the file's identity
#: and times then (inode, size, mtime, ctime). Any write changes ctime, so a file with the same
#: stat is the same version and is not hashed again. As git does for its index, a file changed
#: within RACY_S of its check is not remembered: the kernel's clock ticks coarsely, and a
#: second write in the same tick could keep the times of the first.
_CHECKED: dict[tuple[str, str], tuple[int, int, int, int]] = {}
_CHECKED_MAX = 200_000
RACY_S = 2.0


def _signature(stat: os.stat_result) -> tuple[int, int, int, int]:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def _checksum_matches(path: Path, stat: os.stat_result, sha256: str) -> bool:
    """Whether the file's SHA-256 is ``sha256``: hashed once per version of the file."""
    key = (str(path), sha256)
    signature = _signature(stat)
    if _CHECKED.get(key) == signature:
        return True
    if _sha256_file(path) != sha256:
        _CHECKED.pop(key, None)
        return False
    if stat.st_ctime_ns < (time.time() - RACY_S) * 1e9:
        if len(_CHECKED) >= _CHECKED_MAX:
            _CHECKED.clear()
        _CHECKED[key] = signature
    return True


def _fsync_path(path: Path) -> None:
    """Flush a file or folder to disk (folders: so that the names in it are durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CacheStore:
    """Content-addressed folders of node outputs.

    Parameters
    ----------
    root
        The cache folder (``settings.cache_path``); created if missing. All Dask workers
        must see the same folder (a shared filesystem on a cluster).
    verify
        What :meth:`load` checks before decoding: ``"checksum"`` (default, SHA-256 of
        every file) or ``"size"``.
    durable
        ``fsync`` files and folders before publishing (default); turn off only for tests
        on throw-away folders.
    """

    def __init__(self, root: Path, *, verify: VerifyLevel = "checksum", durable: bool = True):
        self.root = Path(root)
        self.verify_level: VerifyLevel = verify
        self.durable = durable
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, provenance_hash: str) -> Path:
        """The folder of the entry with this hash (whether or not it exists)."""
        key = check_hash(provenance_hash)
        return self.objects / key[:2] / key[2:4] / key

    def contains(self, provenance_hash: str) -> bool:
        """Whether a published entry exists (its manifest is there); no integrity check."""
        return (self.path(provenance_hash) / _MANIFEST).is_file()

    def __iter__(self) -> Iterator[ProvenanceHash]:
        """Hashes of the published entries."""
        for manifest in self.objects.glob(f"*/*/*/{_MANIFEST}"):
            yield ProvenanceHash(manifest.parent.name)

    def info(self, provenance_hash: str) -> EntryInfo:
        """Read an entry's manifest.

        Raises
        ------
        KeyError
            When there is no such entry.
        CorruptEntryError
            When the manifest cannot be parsed or names another hash.
        """
        folder = self.path(provenance_hash)
        try:
            text = (folder / _MANIFEST).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyError(provenance_hash) from None
        try:
            info = EntryInfo.from_json(json.loads(text))
        except (KeyError, ValueError, TypeError) as exc:
            raise CorruptEntryError(provenance_hash, f"unreadable manifest: {exc}") from exc
        if info.provenance_hash != provenance_hash:
            raise CorruptEntryError(provenance_hash, "manifest names another hash")
        return info

    def verify(self, provenance_hash: str, level: VerifyLevel | None = None) -> EntryInfo:
        """Check an entry's files against its manifest and return the manifest.

        Raises
        ------
        KeyError
            When there is no such entry.
        CorruptEntryError
            When a file is missing, has the wrong size or (``"checksum"``) wrong content.
        A file is hashed once per version in a process (see ``_CHECKED``).
        """
        level = level or self.verify_level
        info = self.info(provenance_hash)
        folder = self.path(provenance_hash)
        for name, record in info.files.items():
            path = folder / name
            try:
                stat = path.stat()
            except FileNotFoundError:
                raise CorruptEntryError(provenance_hash, f"file {name} is missing") from None
            if stat.st_size != record.size:
                raise CorruptEntryError(
                    provenance_hash,
                    f"file {name} has {stat.st_size} bytes, expected {record.size}",
                )
            if level == "checksum" and not _checksum_matches(path, stat, record.sha256):
                raise CorruptEntryError(provenance_hash, f"file {name}: checksum mismatch")
        return info

    def load(self, provenance_hash: str) -> Any:
        """Verify an entry (at the store's level) and decode its value.

        A corrupt entry is removed before :class:`CorruptEntryError` is raised, so that the
        next run recomputes it.
        """
        try:
            info = self.verify(provenance_hash)
        except CorruptEntryError:
            logger.warning("removing corrupt cache entry %s", provenance_hash)
            self.remove(provenance_hash)
            raise
        return get_codec(info.codec).decode(self.path(provenance_hash), list(info.files))

    def write(
        self,
        provenance_hash: str,
        value: Any,
        *,
        codec: str,
        unit: str,
        unit_version: str,
    ) -> EntryInfo:
        """Encode ``value`` and publish it atomically under ``provenance_hash``.

        Returns the manifest of the published entry: this writer's, or the one another
        writer published first.

        Raises
        ------
        CacheError
            When the codec refuses the value or the filesystem fails.
        """
        key = check_hash(provenance_hash)
        codec_impl = get_codec(codec)
        staging = self.tmp / f"{key}.{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            codec_impl.encode(value, staging)
            files: dict[str, FileRecord] = {}
            for path in sorted(staging.iterdir()):
                if not path.is_file() or path.name == _MANIFEST:
                    raise CacheError(f"codec {codec} wrote {path.name!r}, not a plain file")
                if self.durable:
                    _fsync_path(path)
                files[path.name] = FileRecord(path.stat().st_size, _sha256_file(path))
            info = EntryInfo(key, unit, unit_version, codec, files, datetime.now(UTC))
            manifest = staging / _MANIFEST
            with manifest.open("w", encoding="utf-8") as handle:
                json.dump(info.to_json(), handle)
                handle.flush()
                if self.durable:
                    os.fsync(handle.fileno())
            if self.durable:
                _fsync_path(staging)
            return self._publish(key, staging, info)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _publish(self, key: ProvenanceHash, staging: Path, info: EntryInfo) -> EntryInfo:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staging, target)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise CacheError(f"cannot publish cache entry {key}: {exc}") from exc
            # Another writer won the race; its entry has the same identity.
            logger.debug("cache entry %s was published concurrently", key)
            try:
                return self.info(key)
            except KeyError:
                raise CacheError(f"cache entry {key} vanished while publishing") from None
        if self.durable:
            _fsync_path(target.parent)
        return info

    def remove(self, provenance_hash: str) -> bool:
        """Remove an entry; return whether there was one.

        The folder is first renamed under ``tmp/`` so that it disappears atomically.
        """
        folder = self.path(provenance_hash)
        trash = self.tmp / f"{folder.name}.removed.{uuid.uuid4().hex}"
        try:
            os.rename(folder, trash)
        except FileNotFoundError:
            return False
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def sweep(self, *, older_than: float = 3600.0) -> int:
        """Delete leftovers under ``tmp/`` older than ``older_than`` seconds.

        They come from writers that crashed (or were killed) before publishing. The age
        limit protects entries being written right now. Returns the number removed.
        """
        limit = time.time() - older_than
        removed = 0
        for path in self.tmp.iterdir():
            try:
                if path.stat().st_mtime < limit:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def scratch_dir(self, provenance_hash: str) -> Path:
        """A fresh private folder for a running unit's temporary files."""
        folder = self.tmp / f"{check_hash(provenance_hash)}.scratch.{uuid.uuid4().hex}"
        folder.mkdir(parents=True)
        return folder
