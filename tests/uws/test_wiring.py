"""The service wiring: migrations match the tables, /async mounted from settings, CLI."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect

from tests.uws._xsd import validate
from uws import Base
from vo_service.app import create_app
from vo_service.cli import main
from vo_service.db import make_engine, upgrade_database
from vo_service.settings import Settings


def test_migration_matches_the_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade_database(engine)
    upgrade_database(engine)  # idempotent
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, kind, _parent: (
                    kind != "table" or name.startswith("uws_")
                )
            },
        )
        diff = compare_metadata(context, Base.metadata)
        tables = set(inspect(conn).get_table_names())
    assert diff == []
    assert {"uws_job", "uws_parameter", "uws_result", "uws_error", "alembic_version_uws"} <= tables
    engine.dispose()


def test_async_mounted_with_demo_kinds(tmp_path: Path, database_url: str) -> None:
    app = create_app(
        Settings.load(data_dir=tmp_path, database_url=database_url, uws_demo_kinds=True)
    )
    client = app.test_client()
    listing = client.get("/async")
    assert listing.status_code == 200
    validate(listing.get_data())
    created = client.post("/async", data={"KIND": "echo"}, headers={"X-Remote-User": "dana"})
    assert created.status_code == 303
    assert created.headers["Location"].startswith("http://127.0.0.1:8080/async/")
    # Without KIND the job is a product job: its parameters are checked at once.
    product = client.post("/async", data={"x": "1"})
    assert product.status_code == 400
    assert b"x: unknown parameter" in product.get_data()
    unknown_kind = client.post("/async", data={"KIND": "nope"})
    assert unknown_kind.status_code == 400
    assert b"unknown kind" in unknown_kind.get_data()


def test_async_offers_the_product_kind(tmp_path: Path) -> None:
    app = create_app(Settings.load(data_dir=tmp_path))
    client = app.test_client()
    assert client.get("/async").status_code == 200
    echo = client.post("/async", data={"KIND": "echo"})  # demo kinds are off by default
    assert echo.status_code == 400


def test_worker_command_is_registered() -> None:
    result = CliRunner().invoke(main, ["worker", "--help"])
    assert result.exit_code == 0 and "Run queued UWS jobs" in result.output


def test_serve_embeds_the_runner(tmp_path: Path) -> None:
    """`vo-service serve` runs jobs with no separate worker (runner in the gunicorn worker)."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import requests
    from lxml import etree

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "VO_SERVICE_DATA_DIR": str(tmp_path),
        "VO_SERVICE_UWS_DEMO_KINDS": "true",
        "VO_SERVICE_EXECUTOR": "inline",
        "VO_SERVICE_PORT": str(port),
        "VO_SERVICE_PUBLIC_BASE_URL": base,
    }
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "vo-service"), "serve", "--threads", "4", "--no-demo"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/async", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        created = requests.post(
            f"{base}/async", data={"KIND": "echo", "PHASE": "RUN"}, allow_redirects=False
        )
        url = created.headers["Location"]
        phase = ""
        for _ in range(30):
            document = requests.get(url, params={"WAIT": "5"}, timeout=10).content
            validate(document)
            phase = str(etree.fromstring(document).findtext("{*}phase"))
            if phase == "COMPLETED":
                break
        assert phase == "COMPLETED"
    finally:
        proc.terminate()
        proc.wait(20)
