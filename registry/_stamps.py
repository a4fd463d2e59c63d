"""Creation and update dates of the published records.

A record's ``updated`` date (and its OAI-PMH datestamp) must change exactly when its content
changes, or harvesters either miss changes or re-harvest needlessly. A stamp store keeps,
per identifier, a digest of the record's content and the dates; :meth:`RecordStamps.stamp`
moves ``updated`` forward only when the digest differs.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["FileStamps", "MemoryStamps", "RecordStamps", "Stamp"]


@dataclass(frozen=True)
class Stamp:
    """Dates of one record and the digest of the content they belong to."""

    digest: str
    created: datetime
    updated: datetime
    deleted: bool = False


class RecordStamps:
    """In-memory stamp store; subclasses persist it."""

    def __init__(self, initial: dict[str, Stamp] | None = None) -> None:
        self._lock = threading.Lock()
        self._stamps: dict[str, Stamp] = dict(initial or {})

    def stamp(self, identifier: str, digest: str, now: datetime) -> Stamp:
        """The dates for ``identifier`` whose content now hashes to ``digest``."""
        with self._lock:
            self._load()
            known = self._stamps.get(identifier)
            if known is not None and known.digest == digest and not known.deleted:
                return known
            created = known.created if known is not None else now
            stamp = Stamp(digest=digest, created=created, updated=max(now, created))
            self._stamps[identifier] = stamp
            self._save()
            return stamp

    def retire_others(self, keep: set[str], authority_id: str, now: datetime) -> dict[str, Stamp]:
        """Mark records under ``authority_id`` that are no longer published as deleted.

        Returns every deleted record under the authority, with the date it disappeared, so
        that harvesters learn of the deletion (OAI-PMH ``deletedRecord`` "transient").
        """
        with self._lock:
            self._load()
            changed = False
            deleted: dict[str, Stamp] = {}
            for identifier, known in self._stamps.items():
                if identifier in keep or not (
                    identifier == authority_id or identifier.startswith(authority_id + "/")
                ):
                    continue
                if not known.deleted:
                    known = Stamp("", known.created, max(now, known.created), deleted=True)
                    self._stamps[identifier] = known
                    changed = True
                deleted[identifier] = known
            if changed:
                self._save()
            return deleted

    def _load(self) -> None:
        """Refresh from storage (nothing to do in memory)."""

    def _save(self) -> None:
        """Persist (nothing to do in memory)."""


MemoryStamps = RecordStamps


class FileStamps(RecordStamps):
    """Stamps kept in a JSON file, written atomically, shared by every process of a host."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__()

    def _load(self) -> None:
        try:
            raw: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"record stamp file {self.path} is unreadable: {exc}") from exc
        self._stamps = {
            key: Stamp(
                digest=value["digest"],
                created=datetime.fromisoformat(value["created"]),
                updated=datetime.fromisoformat(value["updated"]),
                deleted=bool(value.get("deleted", False)),
            )
            for key, value in raw.items()
        }

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            key: {
                "digest": s.digest,
                "created": s.created.isoformat(),
                "updated": s.updated.isoformat(),
                "deleted": s.deleted,
            }
            for key, s in self._stamps.items()
        }
        handle, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".stamps-")
        with os.fdopen(handle, "w") as out:
            json.dump(payload, out, indent=1, sort_keys=True)
        os.replace(tmp, self.path)
