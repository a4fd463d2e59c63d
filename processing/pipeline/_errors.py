"""The pipeline's error hierarchy.

Every failure the pipeline reports is a :class:`PipelineError`; callers (the job runner)
map these to protocol error codes in one place. Errors caused by a caller's values derive
from :class:`ValueError` too, so that generic validation code recognises them.
"""

from __future__ import annotations

__all__ = [
    "CacheError",
    "CorruptEntryError",
    "NormalisationError",
    "ParameterError",
    "PipelineCancelled",
    "PipelineError",
    "RegistryError",
    "UnitFailed",
]


class PipelineError(Exception):
    """Base class of every error raised by :mod:`processing.pipeline`."""


class NormalisationError(PipelineError, ValueError):
    """A value cannot be put into canonical form (so it cannot be hashed)."""


class ParameterError(NormalisationError):
    """A unit parameter or input is missing, unknown or cannot be normalised.

    Parameters
    ----------
    unit
        Name of the unit the parameter belongs to.
    parameter
        Name of the parameter (or input).
    reason
        What is wrong, in words a user understands.
    """

    def __init__(self, unit: str, parameter: str, reason: str) -> None:
        super().__init__(f"{unit}: parameter {parameter!r}: {reason}")
        self.unit = unit
        self.parameter = parameter
        self.reason = reason

    def __reduce__(self) -> tuple[type[ParameterError], tuple[str, str, str]]:
        # Keeps the error picklable across Dask workers (default pickling replays args).
        return (type(self), (self.unit, self.parameter, self.reason))


class RegistryError(PipelineError, LookupError):
    """A unit or codec name is unknown, or registered twice with different classes."""


class CacheError(PipelineError):
    """The cache store or its index cannot be used."""


class CorruptEntryError(CacheError):
    """A cache entry failed its integrity check (missing file, wrong size or checksum)."""

    def __init__(self, provenance_hash: str, reason: str) -> None:
        super().__init__(f"cache entry {provenance_hash}: {reason}")
        self.provenance_hash = provenance_hash
        self.reason = reason

    def __reduce__(self) -> tuple[type[CorruptEntryError], tuple[str, str]]:
        return (type(self), (self.provenance_hash, self.reason))


class PipelineCancelled(PipelineError):
    """The run was cancelled through its :class:`CancelToken`."""


class UnitFailed(PipelineError):
    """A unit raised while running; the original exception is the ``__cause__``.

    Parameters
    ----------
    unit
        Name of the failing unit.
    provenance_hash
        Identity of the failing node.
    message
        The original error message.
    """

    def __init__(self, unit: str, provenance_hash: str, message: str) -> None:
        super().__init__(f"unit {unit} (node {provenance_hash[:12]}) failed: {message}")
        self.unit = unit
        self.provenance_hash = provenance_hash
        self.message = message

    def __reduce__(self) -> tuple[type[UnitFailed], tuple[str, str, str]]:
        return (type(self), (self.unit, self.provenance_hash, self.message))
