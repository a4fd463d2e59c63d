"""Test doubles: job kinds that exercise the job machine without any science.

Used by the test suite and the benchmarks (and handy to try a deployment):

``echo``
    Writes its parameters to ``parameters.txt`` (primary result) and adds a second
    result by reference. Instant.
``sleep``
    Sleeps ``SECONDS`` (default 1) in ``STEPS`` steps, reporting progress and
    honouring cancellation between steps; with ``COOPERATE=false`` it ignores
    cancellation (to test the hard stop).
``fail``
    Ends in ERROR with ``MESSAGE``; with ``CRASH=true`` it raises an unexpected
    exception instead, and with ``EXIT=true`` its process dies.

Handlers are module-level so worker processes can unpickle them.
"""

from __future__ import annotations

import os
import time
from typing import Any

from uws._errors import ParameterError
from uws._kinds import JobContext, JobFailure, JobKind, JobResult, KindRegistry, ParameterSet

__all__ = ["test_kinds"]


def _bool(params: ParameterSet, name: str, default: bool) -> bool:
    if name not in params:
        return default
    value = params[name].strip().lower()
    if value in {"true", "1", "yes"}:
        return True
    if value in {"false", "0", "no"}:
        return False
    raise ParameterError(params.given_name(name), f"{params[name]!r} is not a boolean")


def _float(params: ParameterSet, name: str, default: float, lo: float, hi: float) -> float:
    if name not in params:
        return default
    try:
        value = float(params[name])
    except ValueError:
        raise ParameterError(params.given_name(name), f"{params[name]!r} is not a number") from None
    if not lo <= value <= hi:
        raise ParameterError(params.given_name(name), f"must be between {lo} and {hi}")
    return value


def validate_echo(params: ParameterSet) -> dict[str, Any]:
    """Anything goes, except a parameter literally valued ``INVALID``."""
    for name, value in params.pairs:
        if value == "INVALID":
            raise ParameterError(name, "the value INVALID is refused")
    return {"pairs": params.pairs}


def run_echo(ctx: JobContext) -> list[JobResult]:
    """Write the parameters to a file."""
    text = "".join(f"{k}={v}\n" for k, v in ctx.parameters["pairs"])
    (ctx.work_dir / "parameters.txt").write_text(text)
    ctx.progress(1, 1, "written")
    return [
        JobResult("reference", href="https://example.org/reference", mime_type="text/html"),
        JobResult("parameters", path="parameters.txt", mime_type="text/plain", primary=True),
    ]


def validate_sleep(params: ParameterSet) -> dict[str, Any]:
    """SECONDS in [0, 3600], STEPS in [1, 1000], COOPERATE boolean."""
    return {
        "seconds": _float(params, "SECONDS", 1.0, 0.0, 3600.0),
        "steps": int(_float(params, "STEPS", 10, 1, 1000)),
        "cooperate": _bool(params, "COOPERATE", True),
    }


def run_sleep(ctx: JobContext) -> list[JobResult]:
    """Sleep in steps, reporting progress; stop early when asked (if cooperating)."""
    seconds, steps = ctx.parameters["seconds"], ctx.parameters["steps"]
    for step in range(steps):
        if ctx.parameters["cooperate"]:
            if ctx.cancel_event.wait(seconds / steps):
                raise JobFailure("cancelled")
        else:
            time.sleep(seconds / steps)
        ctx.progress(step + 1, steps, f"step {step + 1} of {steps}")
    (ctx.work_dir / "slept.txt").write_text(f"{seconds}\n")
    return [JobResult("slept", path="slept.txt", mime_type="text/plain")]


def validate_fail(params: ParameterSet) -> dict[str, Any]:
    """MESSAGE (text), CRASH and EXIT booleans."""
    return {
        "message": params.get("MESSAGE", "failed on purpose"),
        "crash": _bool(params, "CRASH", False),
        "exit": _bool(params, "EXIT", False),
    }


def run_fail(ctx: JobContext) -> list[JobResult]:
    """Fail as configured."""
    if ctx.parameters["exit"]:
        os._exit(3)
    if ctx.parameters["crash"]:
        raise RuntimeError(ctx.parameters["message"])
    raise JobFailure(ctx.parameters["message"])


def test_kinds() -> KindRegistry:
    """A registry with the ``echo``, ``sleep`` and ``fail`` kinds."""
    return KindRegistry(
        [
            JobKind("echo", validate_echo, run_echo, "writes its parameters to a file"),
            JobKind("sleep", validate_sleep, run_sleep, "sleeps, reporting progress"),
            JobKind("fail", validate_fail, run_fail, "fails on purpose"),
        ]
    )


test_kinds.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
