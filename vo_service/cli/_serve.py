"""``vo-service serve``: the web application under gunicorn, with the embedded defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from vo_service.cli._main import load_settings, main

if TYPE_CHECKING:
    from processing.pipeline import DaskExecutor
    from uws import JobStore, Runner

__all__ = ["serve"]


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default from settings).")
@click.option("--port", type=int, default=None, help="Port to listen on (default from settings).")
@click.option("--threads", type=int, default=8, show_default=True, help="Request threads.")
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
    from vo_service.cli._gunicorn import LIMIT_REQUEST_LINE, DaliErrorWorker, GunicornServer

    settings = load_settings(host=host, port=port)
    context = ServiceContext.build(settings)
    if demo:
        ensure_demo_archive(context)
    app = create_app(settings, context)
    click.echo(f"serving {settings.ivoid} on http://{settings.host}:{settings.port}/")
    embedded: list[Runner] = []
    engines: list[DaskExecutor] = []

    def post_worker_init(_worker: Any) -> None:
        # Runs in the forked worker: threads and pooled connections of the master
        # do not carry over, so the runner starts here, on fresh connections.
        store: JobStore = app.extensions[UWS_EXTENSION]
        store.engine.dispose(close=False)
        if runner and job_kinds(settings).names():
            run_settings, engine = start_engine(settings)
            if engine is not None:
                engines.append(engine)
            embedded.append(build_runner(run_settings, store))
            embedded[0].start()

    def worker_exit(_server: Any, _worker: Any) -> None:
        for started in embedded:
            started.stop()
        for engine in engines:
            engine.close()

    GunicornServer(
        app,
        {
            "post_worker_init": post_worker_init,
            "worker_exit": worker_exit,
            "bind": f"{settings.host}:{settings.port}",
            "workers": 1,
            "threads": threads,
            "worker_class": DaliErrorWorker,  # gthread, with DALI answers to 414 and 431
            "limit_request_line": LIMIT_REQUEST_LINE,
            "timeout": 120,
            "accesslog": "-",
        },
    ).run()
