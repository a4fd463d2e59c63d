"""Canonical JSON serialisation and the :class:`ProvenanceHash` computed from it.

The identity of every node is the SHA-256 of a canonical JSON text. Only a closed set of
types is accepted (``None``, ``bool``, ``int``, finite ``float``, ``str``, ``list`` and
``dict`` with ``str`` keys); anything else raises :class:`NormalisationError` rather than
being turned into some string representation, because a representation that is not
canonical would silently change identities between runs or library versions.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, NewType

from processing.pipeline._errors import NormalisationError

__all__ = ["HASH_ALGORITHM", "ProvenanceHash", "canonical_json", "check_hash", "hash_canonical"]

#: A node's identity: 64 lower-case hexadecimal digits of a SHA-256 digest.
ProvenanceHash = NewType("ProvenanceHash", str)

#: Name of the digest, recorded in provenance documents.
HASH_ALGORITHM = "sha256"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _check(value: Any, path: str) -> None:
    """Raise unless ``value`` consists only of canonical JSON types.

    Types are compared exactly: subclasses such as ``numpy.float64`` or an ``IntEnum``
    serialise in ways that may change between library versions, so they must be
    normalised (by a :class:`~processing.pipeline.Param`) before hashing.
    """
    kind = type(value)
    if value is None or kind in (bool, str, int):
        return
    if kind is float:
        if not math.isfinite(value):
            raise NormalisationError(f"{path}: non-finite float {value!r} has no canonical form")
        return
    if kind is list:
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise NormalisationError(f"{path}: dict key {key!r} is not a str")
            _check(item, f"{path}.{key}")
        return
    raise NormalisationError(
        f"{path}: {kind.__name__} is not a canonical JSON type "
        "(use None, bool, int, float, str, list or dict)"
    )


def canonical_json(value: Any) -> str:
    """Serialise ``value`` to its canonical JSON text.

    Keys are sorted, separators carry no white space, non-ASCII characters are kept as
    UTF-8 and floats use Python's shortest round-trip representation, so equal values
    give byte-identical texts.

    Raises
    ------
    NormalisationError
        When ``value`` holds a type outside the canonical set, a non-``str`` key, or a
        non-finite float.

    Examples
    --------
    >>> canonical_json({"b": [1, 2.5], "a": None})
    '{"a":null,"b":[1,2.5]}'
    """
    _check(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hash_canonical(value: Any) -> ProvenanceHash:
    """Return the SHA-256 hex digest of ``canonical_json(value)`` encoded as UTF-8."""
    digest = hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
    return ProvenanceHash(digest)


def check_hash(value: str) -> ProvenanceHash:
    """Return ``value`` as a :class:`ProvenanceHash`, or raise if it is not 64 hex digits."""
    if not isinstance(value, str) or not _HEX64.match(value):
        raise NormalisationError(f"not a provenance hash: {value!r}")
    return ProvenanceHash(value)
