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
    missing_kind = client.post("/async", data={"x": "1"})
    assert missing_kind.status_code == 400
    assert b"KIND: missing" in missing_kind.get_data()


def test_async_absent_without_kinds(tmp_path: Path) -> None:
    app = create_app(Settings.load(data_dir=tmp_path))
    assert app.test_client().get("/async").status_code == 404


def test_worker_command_needs_kinds(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VO_SERVICE_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code != 0 and "no job kinds" in result.output
