"""The ``ast.parse`` guard against CPython 3.11.7's shared AST-constructor depth (gh-106905)."""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

from vo_service import _astguard

# A subprocess with the collector set to run on nearly every allocation: a collection that
# starts while ``ast.parse`` builds its tree runs the callback with the parse on the stack.
_PROBE = textwrap.dedent(
    """
    import ast, gc, sys
    from vo_service import _astguard
    if sys.argv[1] == "guarded":
        assert _astguard.install(force=True)
    else:
        ast.parse = getattr(ast.parse, "__wrapped_parse__", ast.parse)
    during = []
    def callback(phase, info):
        frame = sys._getframe()
        while frame is not None:
            if frame.f_code.co_name == "parse" and frame.f_code.co_filename == ast.__file__:
                during.append(phase)
                return
            frame = frame.f_back
    class Cycle:
        def __init__(self):
            self.me = self
    gc.callbacks.append(callback)
    gc.set_threshold(1, 1, 1)
    source = "\\n".join(f"x{i} = [{{'a': (1, {i})}}, [{i}]]" for i in range(400))
    for _ in range(5):
        [Cycle() for _ in range(50)]
        ast.parse(source)
    print(len(during), gc.isenabled())
    """
)


@pytest.fixture
def forced() -> Iterator[None]:
    """The guard in place for one test, the process's own ``ast.parse`` back afterwards."""
    before = ast.parse
    assert _astguard.install(force=True)
    yield
    ast.parse = before


def _probe(mode: str) -> tuple[int, bool]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    return int(out[0]), out[1] == "True"


def test_no_collection_runs_inside_a_guarded_parse() -> None:
    collections, enabled = _probe("guarded")
    assert collections == 0
    assert enabled  # collection resumes when the parse returns


def test_the_probe_sees_collections_inside_an_unguarded_parse() -> None:
    collections, _ = _probe("plain")
    assert collections > 0  # what the guard prevents happens without it


def test_installed_where_the_interpreter_has_the_race() -> None:
    # conftest, create_app and build_runner install it on 3.11 before 3.11.8, nowhere else.
    assert _astguard.installed() == _astguard.AFFECTED


@pytest.mark.usefixtures("forced")
def test_errors_pass_through_and_collection_state_is_restored() -> None:
    assert gc.isenabled()
    with pytest.raises(SyntaxError):
        ast.parse("def (")
    assert gc.isenabled()
    gc.disable()
    try:
        ast.parse("x = 1")
        assert not gc.isenabled()  # a collector disabled by the caller stays disabled
    finally:
        gc.enable()
    assert isinstance(ast.parse("x = 1").body[0], ast.Assign)


@pytest.mark.usefixtures("forced")
def test_concurrent_parses_with_finalizers_running() -> None:
    """Threads parsing at different stack depths while another makes garbage with finalizers
    (the CI failure's shape): no ``SystemError`` with the guard in place."""
    source = "\n".join(
        f"def f{i}(a=[1, {{'k': ({i},)}}]):\n    return [a] * {i}" for i in range(200)
    )
    errors: list[BaseException] = []
    stop = threading.Event()

    class Finalized:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            sum(range(100))

    def garbage() -> None:
        while not stop.is_set():
            [Finalized() for _ in range(500)]

    def parse(depth: int) -> None:
        if depth:
            return parse(depth - 1)
        for _ in range(40):
            try:
                ast.parse(source)
            except SystemError as exc:  # the race's symptom
                errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        maker = threading.Thread(target=garbage)
        maker.start()
        parsers = [threading.Thread(target=parse, args=(d,)) for d in (3, 17, 31)]
        for t in parsers:
            t.start()
        for t in parsers:
            t.join()
    finally:
        stop.set()
        maker.join()
        sys.setswitchinterval(interval)
    assert errors == []
