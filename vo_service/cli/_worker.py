"""``vo-service worker``: the UWS runner alone (production runs it as its own process)."""

from __future__ import annotations

import click

from vo_service.cli._main import load_settings, main

__all__ = ["worker"]


@main.command()
@click.option("--slots", type=int, default=None, help="Jobs run at once (default from settings).")
def worker(slots: int | None) -> None:
    """Run queued UWS jobs until interrupted (SIGTERM/SIGINT stop it cleanly)."""
    from uws import JobStore
    from vo_service._context import ServiceContext
    from vo_service._engine import start_engine
    from vo_service._jobs import build_runner, job_kinds

    settings = load_settings(runner_slots=slots)
    context = ServiceContext.build(settings)
    kinds = job_kinds(settings)
    if not kinds.names():
        raise click.ClickException("no job kinds are registered; nothing to run")
    run_settings, engine = start_engine(settings)
    runner = build_runner(run_settings, JobStore(context.engine))
    click.echo(f"runner {runner.runner_id}: kinds {', '.join(kinds.names())}")
    try:
        runner.run_forever()
    finally:
        if engine is not None:
            engine.close()
