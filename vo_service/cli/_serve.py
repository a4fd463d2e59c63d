"""``vo-service serve``: the web application behind uvicorn's event loop (requests run in a
thread pool), with the job runner embedded and the embedded defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from vo_service.cli._main import load_settings, main

if TYPE_CHECKING:
    from processing.pipeline import DaskExecutor
    from uws import JobStore, Runner

__all__ = ["serve"]


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default from settings).")
@click.option("--port", type=int, default=None, help="Port to listen on (default from settings).")
@click.option(
    "--threads",
    type=int,
    default=32,
    show_default=True,
    help="Threads running requests (idle and slow connections take none).",
)
@click.option(
    "--runner/--no-runner",
    default=True,
    show_default=True,
    help="Embed the UWS runner (turn off when `vo-service worker` runs separately).",
)
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="Simulate and index the demo archive when the archive is empty.",
)
def serve(host: str | None, port: int | None, threads: int, runner: bool, demo: bool) -> None:
    """Run the web service with the embedded defaults.

    On first run (an empty archive) it simulates the demo archive and indexes it.
    """
    from vo_service._context import ServiceContext
    from vo_service._demo import ensure_demo_archive
    from vo_service._engine import start_engine
    from vo_service._jobs import UWS_EXTENSION, build_runner, job_kinds
    from vo_service.app import create_app
    from vo_service.cli._asgi import serve_wsgi

    settings = load_settings(host=host, port=port)
    context = ServiceContext.build(settings)
    if demo:
        ensure_demo_archive(context)
    app = create_app(settings, context)
    click.echo(f"serving {settings.ivoid} on http://{settings.host}:{settings.port}/")
    embedded: list[Runner] = []
    engines: list[DaskExecutor] = []

    def start_runner() -> None:
        store: JobStore = app.extensions[UWS_EXTENSION]
        if runner and job_kinds(settings).names():
            run_settings, engine = start_engine(settings)
            if engine is not None:
                engines.append(engine)
            embedded.append(build_runner(run_settings, store))
            embedded[0].start()

    def stop_runner() -> None:
        for started in embedded:
            started.stop()
        for engine in engines:
            engine.close()

    serve_wsgi(
        app,
        host=settings.host,
        port=settings.port,
        threads=threads,
        on_start=start_runner,
        on_stop=stop_runner,
    )
