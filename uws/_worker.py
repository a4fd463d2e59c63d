"""The worker process: runs one handler at a time for the runner.

The runner keeps one worker process per slot, started ahead of time so that a job
starts in milliseconds, and talks to it over a pipe. A worker can be terminated at
any moment (ABORT, executionDuration), which is what makes stopping a handler that
does not cooperate possible. It exits by itself when its runner dies (the pipe
closes), so a ``kill -9`` of the runner leaves no work running.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from uws._kinds import JobContext, JobFailure, KindRegistry

__all__ = ["worker_main"]

log = logging.getLogger(__name__)


def _result_dict(result: Any, work_dir: Path) -> dict[str, Any]:
    path = result.path
    size = result.size
    if path is not None:
        full = Path(path) if Path(path).is_absolute() else work_dir / path
        if not full.is_file():
            raise JobFailure(f"result {result.id!r}: file {path} was not written")
        if size is None:
            size = full.stat().st_size
        try:
            path = str(full.resolve().relative_to(work_dir.resolve()))
        except ValueError:
            path = str(full.resolve())
    return {
        "id": result.id,
        "path": path,
        "href": result.href,
        "mime_type": result.mime_type,
        "size": size,
        "primary": result.primary,
    }


def _progress_sender(
    send: Callable[[tuple[Any, ...]], None], job_id: str
) -> Callable[[float, float, str], None]:
    def progress(done: float, total: float, note: str) -> None:
        send(("progress", job_id, done, total, note))

    return progress


def worker_main(conn: Connection, kinds: KindRegistry) -> None:
    """Serve jobs sent over ``conn`` until it closes.

    Messages in: ``("run", job_id, kind, owner, spec, work_dir)`` and
    ``("cancel", job_id)``. Messages out: ``("ready", pid)`` once, then
    ``("progress", job_id, done, total, note)``, ``("done", job_id, results)`` and
    ``("failed", job_id, error_type, message, detail)``.
    """
    jobs: queue.Queue[tuple[Any, ...]] = queue.Queue()
    send_lock = threading.Lock()
    current: dict[str, threading.Event] = {}

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(message)

    def listen() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                # The runner is gone: nobody will record what we do, stop now.
                os._exit(0)
            if message[0] == "run":
                jobs.put(message)
            elif message[0] == "cancel":
                event = current.get(message[1])
                if event is not None:
                    event.set()

    threading.Thread(target=listen, name="uws-worker-listen", daemon=True).start()
    send(("ready", os.getpid()))
    while True:
        _, job_id, kind_name, owner, spec, work_dir = jobs.get()
        cancel = threading.Event()
        current[job_id] = cancel
        work = Path(work_dir)
        context = JobContext(
            job_id=job_id,
            owner=owner,
            parameters=spec,
            work_dir=work,
            cancel_event=cancel,
            _progress=_progress_sender(send, job_id),
        )
        try:
            results = kinds.get(kind_name).handler(context)
            send(("done", job_id, [_result_dict(r, work) for r in results]))
        except JobFailure as exc:
            send(("failed", job_id, exc.error_type, exc.message, None))
        except Exception as exc:  # the job boundary: any handler bug ends its job in ERROR
            log.exception("job %s: handler failed", job_id)
            send(
                (
                    "failed",
                    job_id,
                    "fatal",
                    # The exception text may name files or hosts: the log and the stored
                    # detail keep it, the public message does not.
                    f"internal error ({type(exc).__name__}); the service log has the details "
                    f"of job {job_id}",
                    traceback.format_exc(),
                )
            )
        finally:
            current.pop(job_id, None)
