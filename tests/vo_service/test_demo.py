"""First run: an empty archive gets the demo scenario simulated and indexed, once."""

from __future__ import annotations

from pathlib import Path

from vo_service._context import ServiceContext
from vo_service._demo import ensure_demo_archive
from vo_service.app import create_app
from vo_service.settings import Settings

MINI = """name: minidemo
seed: 3
pointings:
  - {target: Crab, start: "2004-03-01T00:00:00", n_scw: 2, pattern: 5x5, scw_duration_s: 200}
"""


def test_first_run_simulates_and_indexes_then_leaves_it_alone(tmp_path: Path) -> None:
    scenario = tmp_path / "mini.yaml"
    scenario.write_text(MINI)
    settings = Settings.load(data_dir=tmp_path / "var", demo_scenario=str(scenario))
    context = ServiceContext.build(settings)
    ensure_demo_archive(context)
    assert context.archive.count() == 2
    files = sorted((settings.resolved_archive_path / "scw").glob("*/*/isgri_events.fits.gz"))
    stamps = [f.stat().st_mtime_ns for f in files]
    ensure_demo_archive(context)  # second start: nothing simulated again
    assert [f.stat().st_mtime_ns for f in files] == stamps
    page = create_app(settings, context).test_client().get("/")
    assert b"2 science windows" in page.data


def test_existing_files_are_ingested_not_resimulated(tmp_path: Path) -> None:
    scenario = tmp_path / "mini.yaml"
    scenario.write_text(MINI)
    first = Settings.load(data_dir=tmp_path / "a", demo_scenario=str(scenario))
    ensure_demo_archive(ServiceContext.build(first))
    # A second service pointing at the same archive with a fresh database only indexes it.
    second = Settings.load(
        data_dir=tmp_path / "b",
        archive_path=first.resolved_archive_path,
        demo_scenario="no-such-scenario",
    )
    context = ServiceContext.build(second)
    ensure_demo_archive(context)
    assert context.archive.count() == 2
