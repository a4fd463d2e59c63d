"""The ``/run_analysis`` response envelope (PROTOCOL.md §1.4), and the mapping of UWS phases
onto the ``query_status`` values the client accepts (§1.3, §1.9 item 7)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from uws import ExecutionPhase
from vo_service.oda._encode import clean_text

__all__ = ["QUERY_STATUS", "envelope", "failure"]

#: UWS phase -> query_status. Never a status outside the client's set (pitfall P5); ``ready``
#: is not used (a COMPLETED job is ``done`` with its products at once).
QUERY_STATUS = {
    ExecutionPhase.PENDING: "submitted",
    ExecutionPhase.QUEUED: "submitted",
    ExecutionPhase.HELD: "submitted",
    ExecutionPhase.SUSPENDED: "submitted",
    ExecutionPhase.EXECUTING: "progress",
    ExecutionPhase.COMPLETED: "done",
    ExecutionPhase.ERROR: "failed",
    ExecutionPhase.ABORTED: "failed",
    ExecutionPhase.ARCHIVED: "failed",
}


def _clean(value: Any) -> Any:
    """Every text with ``null`` spelt ``Null`` (the client rewrites it, pitfall P1)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def envelope(
    status: str,
    *,
    job_id: str,
    session_id: str,
    products: Mapping[str, Any] | None = None,
    comment: str = "",
    message: str = "",
    error_message: str = "",
    report: list[dict[str, Any]] | None = None,
    monitor: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete envelope: ``products``, ``exit_status`` and ``job_monitor`` are always there."""
    failed = status == "failed"
    return _clean(
        {
            "query_status": status,
            "job_status": status,
            "session_id": session_id,
            "time_request": time.time(),
            "job_monitor": {
                "job_id": job_id,
                "session_id": session_id,
                "status": status,
                "full_report_dict_list": report or [],
                **(monitor or {}),
            },
            "exit_status": {
                "status": 1 if failed else 0,
                "job_status": status,
                "message": message,
                "error_message": error_message,
                "debug_message": "",
                "comment": comment,
                "warning": "",
            },
            "products": dict(products or {}),
        }
    )


def failure(
    message: str,
    *,
    job_id: str,
    session_id: str,
    detail: str = "",
    monitor: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``failed`` envelope (HTTP 200: the client raises its RemoteException with
    ``message``)."""
    return envelope(
        "failed",
        job_id=job_id,
        session_id=session_id,
        message=message,
        error_message=detail or message,
        monitor=monitor,
    )
