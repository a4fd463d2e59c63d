"""The declarative phase table: legal moves, idempotent requests, illegal ones."""

from __future__ import annotations

import pytest

from uws import (
    FINAL_PHASES,
    TRANSITIONS,
    Action,
    ExecutionPhase,
    InvalidTransitionError,
    next_phase,
)
from uws._transitions import allowed_from

P = ExecutionPhase


@pytest.mark.parametrize(
    ("phase", "action", "target"),
    [
        (P.PENDING, Action.RUN, P.QUEUED),
        (P.PENDING, Action.ABORT, P.ABORTED),
        (P.QUEUED, Action.ABORT, P.ABORTED),
        (P.EXECUTING, Action.ABORT, P.ABORTED),
        (P.QUEUED, Action.START, P.EXECUTING),
        (P.EXECUTING, Action.COMPLETE, P.COMPLETED),
        (P.EXECUTING, Action.FAIL, P.ERROR),
        (P.EXECUTING, Action.EXPIRE, P.ABORTED),
        (P.QUEUED, Action.RUN, None),
        (P.EXECUTING, Action.RUN, None),
        (P.ABORTED, Action.ABORT, None),
    ],
)
def test_legal(phase: ExecutionPhase, action: Action, target: ExecutionPhase | None) -> None:
    assert next_phase(phase, action) is target


@pytest.mark.parametrize("phase", sorted(FINAL_PHASES))
@pytest.mark.parametrize("action", [Action.RUN, Action.START, Action.COMPLETE, Action.FAIL])
def test_final_phases_never_move(phase: ExecutionPhase, action: Action) -> None:
    with pytest.raises(InvalidTransitionError, match=action.value):
        next_phase(phase, action)


def test_aborted_job_cannot_complete() -> None:
    """The race the compare-and-set relies on: COMPLETE is only legal from EXECUTING."""
    assert allowed_from(Action.COMPLETE) == {P.EXECUTING}
    assert not any(src in FINAL_PHASES for src, _ in TRANSITIONS if TRANSITIONS[(src, _)])
