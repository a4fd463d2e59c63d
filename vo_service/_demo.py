"""First-run set-up of the embedded default: a simulated demo archive, indexed."""

from __future__ import annotations

import logging
import os

import click
from tqdm import tqdm

from processing.instruments import DEFAULT_INSTRUMENT, get_instrument
from processing.simulator import load_scenario, simulate_archive
from vo_service._context import ServiceContext

__all__ = ["ensure_demo_archive"]

log = logging.getLogger(__name__)


def ensure_demo_archive(context: ServiceContext) -> None:
    """Make sure the archive holds science windows and that they are indexed.

    An archive folder without event files gets the demo scenario simulated into it (the
    scenario named by ``settings.demo_scenario``); files not yet indexed are ingested.
    """
    archive = context.archive
    if archive.count() > 0:
        return
    root = context.settings.resolved_archive_path
    events_file = get_instrument(DEFAULT_INSTRUMENT).layout.events_file.removesuffix(".gz")
    if not any((root / "scw").glob(f"*/*/{events_file}*")):
        scenario = load_scenario(context.settings.demo_scenario)
        click.echo(
            f"first run: simulating the '{scenario.name}' archive into {root} "
            "(a minute or two; only once)",
            err=True,
        )
        with tqdm(total=None, unit="ScW", desc="simulating", file=None) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            simulate_archive(scenario, root, workers=os.cpu_count() or 1, progress=progress)
    report = archive.ingest()
    click.echo(
        f"archive indexed: {len(report.added)} science windows"
        + (f", {len(report.skipped)} files skipped" if report.skipped else ""),
        err=True,
    )
