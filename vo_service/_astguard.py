"""Hold the garbage collector off while ``ast.parse`` runs, on CPython 3.11 before 3.11.8.

Those releases keep the recursion depth of the AST constructor (the C code that turns the
parser's tree into ``ast`` objects) in state shared by every thread of the interpreter, set at
the start of each ``ast.parse`` and compared at its end (CPython gh-106905, fixed in 3.11.8 by
per-call state). The constructor runs no Python code itself, so the thread running it keeps the
GIL, except when one of its allocations starts a garbage collection: finalizers, weakref
callbacks and ``gc.callbacks`` are Python code, and the GIL can pass to another thread there. If
that thread parses too, the first parse ends with ``SystemError: AST constructor recursion depth
mismatch`` for a tree it built correctly.

This service has such threads: on 3.11 every formatted traceback calls ``ast.parse`` for its
caret lines (a runner logging a failed job, an HTTP thread logging an error), and werkzeug parses
code when it compiles URL rules (``create_app``). The race made a test's app creation fail in CI
while a background thread logged a traceback. ``create_app`` and ``build_runner`` install the
guard (importing the client library does not: it patches nothing of its users').

With collection held off until the parse returns, the constructor runs no Python code, so no
other thread runs while it builds the tree. Nothing is caught or retried: every error of the
parse is raised as before. Collection resumes (if it was enabled) when the last parse in any
thread returns; garbage made meanwhile is collected then.
"""

from __future__ import annotations

import ast
import functools
import gc
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["AFFECTED", "install", "installed"]

#: Whether this interpreter has the race (3.11 releases before 3.11.8).
AFFECTED = sys.implementation.name == "cpython" and (3, 11) <= sys.version_info[:3] < (3, 11, 8)

_lock = threading.RLock()
_inside = 0  # parses running now, in all threads
_resume = False  # whether collection was enabled when the first of them started


@contextmanager
def collection_held() -> Iterator[None]:
    """No garbage collection while the block runs (in any thread), nested and thread-safe."""
    global _inside, _resume
    with _lock:
        if _inside == 0:
            _resume = gc.isenabled()
            gc.disable()
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0 and _resume:
                gc.enable()


def _guarded(parse: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(parse)
    def guarded_parse(*args: Any, **kwargs: Any) -> Any:
        with collection_held():
            return parse(*args, **kwargs)

    guarded_parse.__wrapped_parse__ = parse  # type: ignore[attr-defined]
    return guarded_parse


def installed() -> bool:
    """Whether ``ast.parse`` is the guarded version."""
    return hasattr(ast.parse, "__wrapped_parse__")


def install(*, force: bool = False) -> bool:
    """Guard ``ast.parse`` (once per process) where the interpreter has the race, or always
    with ``force``. Returns whether the guard is in place."""
    if installed():
        return True
    if not (AFFECTED or force):
        return False
    with _lock:
        if not installed():
            ast.parse = _guarded(ast.parse)
    return True
