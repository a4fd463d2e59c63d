"""The command line starts light: help pages load click, not the science stack (issue 22 item 6).

Each help page is asked for in a fresh interpreter, and what it imported is read from its
``sys.modules``: a module count, not a clock, so a busy machine cannot make these tests flaky.
``benchmarks/bench_cli.py`` measures the time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from processing.simulator import builtin_scenarios
from tests._archives import tiny_scenario
from vo_service.cli import main
from vo_service.cli._archive import _builtin_scenarios

ROOT = Path(__file__).resolve().parents[2]

# Packages a help page must not load. ``processing`` itself may be (its ``__init__`` is empty and
# the simulator's scenario folder is found through it); none of its sub-packages may.
HEAVY = {
    "numpy",
    "scipy",
    "astropy",
    "dask",
    "distributed",
    "matplotlib",
    "sqlalchemy",
    "alembic",
    "pydantic",
    "pydantic_settings",
    "flask",
    "gunicorn",
    "lxml",
    "pyvo",
    "tqdm",
    "uws",
    "datalink",
    "registry",
}

_PROBE = """
import contextlib, io, json, sys
from vo_service.cli import main
out = io.StringIO()
code = 0
with contextlib.redirect_stdout(out):
    try:
        main(sys.argv[1:], prog_name="vo-service")
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "output": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every group and command under ``group``, as the words that name it."""
    paths = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def _heavy_modules(argv: list[str]) -> tuple[dict[str, object], list[str]]:
    """Run the command line in a fresh interpreter; its answer and the heavy modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(done.stdout)
    heavy = [
        name
        for name in answer["modules"]
        if name.split(".")[0] in HEAVY or name.startswith("processing.")
    ]
    return answer, heavy


@pytest.mark.parametrize("words", _command_paths(main), ids=lambda w: " ".join(w) or "root")
def test_help_imports_no_science_stack(words: tuple[str, ...]) -> None:
    answer, heavy = _heavy_modules([*words, "--help"])
    assert answer["code"] == 0
    assert f"Usage: vo-service {' '.join(words)}".rstrip() in str(answer["output"])
    assert heavy == []


def test_version_imports_no_science_stack() -> None:
    answer, heavy = _heavy_modules(["--version"])
    assert answer["code"] == 0 and "vo-service, version" in str(answer["output"])
    assert heavy == []


def test_the_probe_sees_heavy_imports() -> None:
    """The probe itself works: running a command does load what the command needs."""
    answer, heavy = _heavy_modules(["archive", "simulate", "--scenario", "nope"])
    assert answer["code"] == 2
    assert "processing.simulator" in heavy


def test_scenario_help_lists_the_simulators_scenarios() -> None:
    assert _builtin_scenarios() == builtin_scenarios()
    result = CliRunner().invoke(main, ["archive", "simulate", "--help"])
    assert all(name in result.output for name in builtin_scenarios())


def test_simulate_runs_through_its_lazy_imports(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.json"
    scenario.write_text(tiny_scenario(n_scw=1).model_dump_json())
    out = tmp_path / "archive"
    result = CliRunner().invoke(
        main,
        ["archive", "simulate", "--scenario", str(scenario), "--out", str(out), "--no-ingest"],
        env={"VO_SERVICE_DATA_DIR": str(tmp_path / "var")},
    )
    assert result.exit_code == 0, result.output
    assert "1 science windows" in result.output
    assert len(list((out / "scw").glob("*/*/isgri_events.fits.gz"))) == 1
