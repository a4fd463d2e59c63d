"""The UWS phase machine as one declarative table.

Every phase change in the service and in the runner goes through :func:`next_phase`;
storage applies a change only if the row is still in one of the phases the table
allows for the action (a compare-and-set), so that races resolve by the table: an
ABORTED job never becomes COMPLETED, because COMPLETE is only legal from EXECUTING.
"""

from __future__ import annotations

from enum import StrEnum

from vo_models.uws.types import ExecutionPhase

from uws._errors import InvalidTransitionError

__all__ = [
    "ACTIVE_PHASES",
    "FINAL_PHASES",
    "TRANSITIONS",
    "Action",
    "ExecutionPhase",
    "allowed_from",
    "next_phase",
]

P = ExecutionPhase


class Action(StrEnum):
    """What can happen to a job: requests by its owner and events from the runner."""

    RUN = "RUN"  # owner: PHASE=RUN
    ABORT = "ABORT"  # owner: PHASE=ABORT
    START = "START"  # runner claimed the job
    COMPLETE = "COMPLETE"  # handler returned results
    FAIL = "FAIL"  # handler raised, or parameters no longer valid
    EXPIRE = "EXPIRE"  # executionDuration exceeded
    REQUEUE = "REQUEUE"  # the runner executing it died; run it again
    LOSE = "LOSE"  # the runner executing it died; give up with an error


#: Phases in which the job may still change by itself (WAIT blocks in these).
ACTIVE_PHASES = frozenset({P.PENDING, P.QUEUED, P.EXECUTING, P.HELD, P.SUSPENDED})
#: Phases a job never leaves.
FINAL_PHASES = frozenset({P.COMPLETED, P.ERROR, P.ABORTED, P.ARCHIVED})

#: (current phase, action) -> new phase. ``None`` means "accepted, nothing to do"
#: (PHASE=RUN on a job that already runs is not an error). Anything absent is illegal.
TRANSITIONS: dict[tuple[ExecutionPhase, Action], ExecutionPhase | None] = {
    (P.PENDING, Action.RUN): P.QUEUED,
    (P.HELD, Action.RUN): P.QUEUED,
    (P.QUEUED, Action.RUN): None,
    (P.EXECUTING, Action.RUN): None,
    (P.PENDING, Action.ABORT): P.ABORTED,
    (P.QUEUED, Action.ABORT): P.ABORTED,
    (P.EXECUTING, Action.ABORT): P.ABORTED,
    (P.HELD, Action.ABORT): P.ABORTED,
    (P.SUSPENDED, Action.ABORT): P.ABORTED,
    (P.ABORTED, Action.ABORT): None,
    (P.QUEUED, Action.START): P.EXECUTING,
    (P.EXECUTING, Action.COMPLETE): P.COMPLETED,
    (P.QUEUED, Action.FAIL): P.ERROR,
    (P.EXECUTING, Action.FAIL): P.ERROR,
    (P.EXECUTING, Action.EXPIRE): P.ABORTED,
    (P.EXECUTING, Action.REQUEUE): P.QUEUED,
    (P.EXECUTING, Action.LOSE): P.ERROR,
}


def next_phase(phase: ExecutionPhase, action: Action) -> ExecutionPhase | None:
    """The phase ``action`` leads to from ``phase``; ``None`` when it changes nothing.

    Raises
    ------
    InvalidTransitionError
        When the table has no entry for the pair.
    """
    try:
        return TRANSITIONS[(phase, action)]
    except KeyError:
        raise InvalidTransitionError(
            f"cannot {action.value} a job in phase {phase.value}"
        ) from None


def allowed_from(action: Action) -> frozenset[ExecutionPhase]:
    """Phases from which ``action`` changes the phase (the compare-and-set guard)."""
    return frozenset(
        phase for (phase, act), target in TRANSITIONS.items() if act is action and target
    )
