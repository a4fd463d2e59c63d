"""``vo-service archive``: simulate, ingest and list the event archive."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vo_service.cli._main import load_settings, main

if TYPE_CHECKING:
    from processing.archive import ArchiveIndex, IngestReport

__all__ = ["archive"]


def _builtin_scenarios() -> list[str]:
    """The simulator's built-in scenario names, read without importing the simulator."""
    # ``processing.simulator.builtin_scenarios`` lists the same folder, but importing it
    # loads numpy and astropy, seconds for a help page.
    folder = resources.files("processing") / "simulator" / "scenarios"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def _index(archive_path: Path | None = None) -> ArchiveIndex:
    from processing.archive import ArchiveIndex
    from vo_service.db import make_engine, upgrade_database

    settings = load_settings()
    engine = make_engine(settings.resolved_database_url)
    settings.ensure_dirs()
    upgrade_database(engine)
    return ArchiveIndex(engine, archive_path or settings.resolved_archive_path)


def _print_report(report: IngestReport) -> None:
    click.echo(
        f"ingested: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.skipped)} skipped"
    )
    for name, reason in report.skipped:
        click.echo(f"  skipped {name}: {reason}", err=True)


@main.group()
def archive() -> None:
    """Manage the science-window archive."""


@archive.command()
@click.option(
    "--scenario",
    required=True,
    help=f"A built-in scenario ({', '.join(_builtin_scenarios())}) or a YAML/JSON scenario file.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Archive root to write (default: the service's archive path).",
)
@click.option("--workers", type=int, default=os.cpu_count() or 1, show_default=True)
@click.option("--limit", type=int, default=None, help="Only the first N science windows.")
@click.option(
    "--ingest/--no-ingest",
    default=None,
    help="Index the result in the service database (default: when --out is the service archive).",
)
def simulate(
    scenario: str, out: Path | None, workers: int, limit: int | None, ingest: bool | None
) -> None:
    """Simulate an archive in the real INTEGRAL layout (ISGRI, JEM-X or both, as the scenario
    says), with the truth written beside it."""
    from tqdm import tqdm

    from processing.simulator import ScenarioError, load_scenario, simulate_archive

    try:
        model = load_scenario(scenario)
    except ScenarioError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario") from exc
    settings = load_settings()
    root = (out or settings.resolved_archive_path).resolve()
    with tqdm(total=None, unit="ScW", desc=f"simulating {model.name}") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = simulate_archive(model, root, workers=workers, limit=limit, progress=progress)
    click.echo(f"{len(result.scw_ids)} science windows in {root}; truth: {result.truth_file}")
    if ingest is None:
        ingest = root == settings.resolved_archive_path
    if ingest:
        _print_report(_index(root).ingest())


@archive.command("ingest")
@click.argument(
    "directory", type=click.Path(file_okay=False, exists=True, path_type=Path), required=False
)
def ingest_cmd(directory: Path | None) -> None:
    """Index an archive tree (default: the service's archive path). Idempotent."""
    from tqdm import tqdm

    index = _index(directory.resolve() if directory else None)
    with tqdm(total=None, unit="file", desc="ingesting") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = index.ingest(progress=progress)
    _print_report(report)
    if report.skipped:
        raise SystemExit(1 if not (report.added or report.updated or report.unchanged) else 0)


@archive.command("list")
@click.option("--ra", type=float, default=None, help="Cone centre RA (deg).")
@click.option("--dec", type=float, default=None, help="Cone centre Dec (deg).")
@click.option("--radius", type=float, default=None, help="Cone radius (deg).")
@click.option("--t1", type=float, default=None, help="Start (IJD).")
@click.option("--t2", type=float, default=None, help="Stop (IJD).")
def list_cmd(
    ra: float | None, dec: float | None, radius: float | None, t1: float | None, t2: float | None
) -> None:
    """List indexed science windows, optionally by cone and time range."""
    if (ra is None) != (dec is None) or (radius is not None and ra is None):
        raise click.UsageError("a cone needs --ra, --dec and --radius together")
    if ra is not None and radius is None:
        raise click.UsageError("a cone needs --radius")
    rows = _index().query(ra=ra, dec=dec, radius_deg=radius, t1=t1, t2=t2)
    click.echo(
        f"{'scw_id':18} {'rev':>5} {'ra_scx':>9} {'dec_scx':>9} {'tstart':>12} {'ontime':>7}"
    )
    for s in rows:
        click.echo(
            f"{s.scw_id:18} {s.revolution:5d} {s.ra_x:9.4f} {s.dec_x:9.4f} "
            f"{s.tstart:12.5f} {s.ontime:7.0f}"
        )
    click.echo(f"{len(rows)} science windows")
