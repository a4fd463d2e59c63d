"""Job kinds: what a job runs, registered by name.

A kind couples a parameter validator (raw HTTP parameters in, a validated and
normalised JSON-compatible dict out) with a handler that the runner executes in a
worker process. ``uws`` knows nothing of what the handler does; the application
registers its kinds (the product service registers product kinds).

Handlers and validators must be module-level callables: the runner hands the
registry to worker processes by pickling, which refers to functions by name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from uws._errors import ParameterError

__all__ = [
    "JobContext",
    "JobFailure",
    "JobKind",
    "JobResult",
    "KindRegistry",
    "ParameterSet",
    "select_by_parameter",
]


class ParameterSet(Mapping[str, str]):
    """Raw job parameters, looked up case-insensitively, with names echoed as given.

    A name may repeat (multi-valued parameters); ``self[name]`` is the last value and
    :meth:`getall` every value in order.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs: list[tuple[str, str]] = [(str(k), str(v)) for k, v in pairs]

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(name as given, value) in submission order."""
        return list(self._pairs)

    def getall(self, name: str) -> list[str]:
        """Every value of ``name`` (case-insensitive)."""
        key = name.lower()
        return [v for k, v in self._pairs if k.lower() == key]

    def given_name(self, name: str) -> str:
        """The spelling the client used for ``name`` (for error messages)."""
        key = name.lower()
        return next((k for k, _ in self._pairs if k.lower() == key), name)

    def __getitem__(self, name: str) -> str:
        values = self.getall(name)
        if not values:
            raise KeyError(name)
        return values[-1]

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for k, _ in self._pairs:
            if k.lower() not in seen:
                seen.add(k.lower())
                yield k

    def __len__(self) -> int:
        return len({k.lower() for k, _ in self._pairs})

    def replaced(self, updates: Iterable[tuple[str, str]]) -> ParameterSet:
        """A copy where every name in ``updates`` takes the new value(s)."""
        updates = list(updates)
        names = {k.lower() for k, _ in updates}
        kept = [(k, v) for k, v in self._pairs if k.lower() not in names]
        return ParameterSet([*kept, *updates])


@dataclass(frozen=True)
class JobResult:
    """One result of a job, as a handler reports it.

    Exactly one of ``path`` (a file, relative to the job's work folder or absolute)
    and ``href`` (a URL the client fetches directly) is given.
    """

    id: str
    mime_type: str | None = None
    path: str | None = None
    href: str | None = None
    size: int | None = None
    primary: bool = False

    def __post_init__(self) -> None:
        if (self.path is None) == (self.href is None):
            raise ValueError(f"result {self.id!r}: give exactly one of path and href")
        if not self.id or "/" in self.id:
            raise ValueError(f"result id {self.id!r}: must be non-empty without '/'")


class JobFailure(Exception):
    """Raised by a handler to end its job in ERROR with a message for the user.

    Parameters
    ----------
    message
        Shown in the job's errorSummary and error document.
    error_type
        ``"fatal"`` (running again will not help) or ``"transient"``.
    """

    def __init__(self, message: str, *, error_type: Literal["fatal", "transient"] = "fatal"):
        super().__init__(message)
        self.message = message
        self.error_type = error_type


@dataclass
class JobContext:
    """What a handler receives.

    Attributes
    ----------
    job_id
        The job's identifier (for logs and file names).
    owner
        The job's owner, ``None`` for anonymous jobs.
    parameters
        The validated, normalised parameters (the validator's output).
    work_dir
        A folder owned by this job; result files go here. Removed with the job.
    cancel_event
        Set when the job is aborted or runs out of time; long handlers check
        :meth:`should_stop` between steps and return or raise promptly.
    """

    job_id: str
    owner: str | None
    parameters: dict[str, Any]
    work_dir: Path
    cancel_event: threading.Event = field(default_factory=threading.Event)
    _progress: Callable[[float, float, str], None] | None = None

    def should_stop(self) -> bool:
        """True once the job has been aborted or its execution duration is over."""
        return self.cancel_event.is_set()

    def progress(self, done: float, total: float, note: str = "") -> None:
        """Report progress; shown in the job's jobInfo."""
        if self._progress is not None:
            self._progress(float(done), float(total), note)


Validator = Callable[[ParameterSet], dict[str, Any]]
Handler = Callable[[JobContext], Sequence[JobResult]]
#: Answers a job at creation from what already exists: (validated parameters, owner) ->
#: its results (URLs), or ``None`` to queue it for the handler.
Answerer = Callable[[dict[str, Any], str | None], Sequence[JobResult] | None]
#: One ``jobInfo`` entry a kind derives from a finished job's results: an element name
#: (an XML NCName) and its attributes.
InfoEntry = tuple[str, Mapping[str, str]]
#: Derives ``jobInfo`` entries from a job's stored results (``(id, href, mime_type)`` each).
Describer = Callable[[Sequence[tuple[str, str | None, str | None]]], Sequence[InfoEntry]]


@dataclass(frozen=True)
class JobKind:
    """A named kind of job.

    Parameters
    ----------
    name
        Registry key, stored with each job.
    validate
        Turns raw parameters into a normalised dict or raises
        :class:`~uws.ParameterError` naming the parameter.
    handler
        Runs the job in a worker process and returns its results.
    description
        One line for humans.
    answer
        Optional: asked when a job is created to run; when it returns results (``href``
        results only: there is no work folder yet), the job is stored COMPLETED with them at
        once, without a runner round trip (a repeated request whose products exist). It
        must be quick and must not raise for anything the user did.
    describe
        Optional: derives extra ``jobInfo`` entries of a job from its results (what the
        results mean to the application, e.g. the identifiers of the products they hold).
        It must be quick: it runs for every job document.
    """

    name: str
    validate: Validator
    handler: Handler
    description: str = ""
    answer: Answerer | None = None
    describe: Describer | None = None


class KindRegistry:
    """Job kinds by name; an extension point for the application."""

    def __init__(self, kinds: Iterable[JobKind] = ()) -> None:
        self._kinds: dict[str, JobKind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: JobKind) -> JobKind:
        """Add ``kind``; a second kind with the same name is a programming error."""
        if kind.name in self._kinds:
            raise ValueError(f"job kind {kind.name!r} is already registered")
        self._kinds[kind.name] = kind
        return kind

    def get(self, name: str) -> JobKind:
        """The kind called ``name``.

        Raises
        ------
        KeyError
            When no kind has that name.
        """
        return self._kinds[name]

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._kinds)

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def merged(self, other: KindRegistry) -> KindRegistry:
        """A registry with the kinds of both (names must not clash)."""
        return KindRegistry([*self._kinds.values(), *other._kinds.values()])

    def answer(
        self, name: str, spec: dict[str, Any], owner: str | None
    ) -> Sequence[JobResult] | None:
        """Kind ``name``'s answer at creation (:attr:`JobKind.answer`), or ``None``."""
        kind = self._kinds.get(name)
        if kind is None or kind.answer is None:
            return None
        return kind.answer(spec, owner)

    def describe(
        self, name: str, results: Sequence[tuple[str, str | None, str | None]]
    ) -> Sequence[InfoEntry]:
        """Kind ``name``'s ``jobInfo`` entries for these results (:attr:`JobKind.describe`)."""
        kind = self._kinds.get(name)
        if kind is None or kind.describe is None or not results:
            return ()
        return kind.describe(results)

    def validate(self, name: str, params: ParameterSet) -> dict[str, Any]:
        """Run kind ``name``'s validator; unknown kinds are a parameter error."""
        if name not in self._kinds:
            raise ParameterError("kind", f"unknown job kind {name!r}")
        return self._kinds[name].validate(params)


def select_by_parameter(
    name: str, registry: KindRegistry, default: str | None = None
) -> Callable[[ParameterSet], str]:
    """A kind selector reading the kind's name from parameter ``name``.

    Parameters
    ----------
    name
        Parameter carrying the kind (case-insensitive), e.g. ``KIND``.
    registry
        Kinds to choose from.
    default
        Kind used when the parameter is absent; without it the parameter is required.
    """

    def select(params: ParameterSet) -> str:
        if name not in params:
            if default is None:
                raise ParameterError(name, f"missing; one of {', '.join(registry.names())}")
            return default
        value = params[name].strip()
        if value not in registry:
            raise ParameterError(
                params.given_name(name),
                f"unknown kind {value!r}; one of {', '.join(registry.names())}",
            )
        return value

    return select
