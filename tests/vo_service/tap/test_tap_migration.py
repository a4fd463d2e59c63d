"""Revision s004: stored STC-S regions become indexed pgsphere geometries, and back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text

from tests.conftest import POSTGRES_ADMIN_URL, _postgres_available
from vo_service.db import MIGRATION_PACKAGES, make_engine, upgrade_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own (the session's PostgreSQL database serves the live service)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite'}")
        yield engine
        engine.dispose()
        return
    if not _postgres_available():
        pytest.skip("PostgreSQL not reachable")
    name = f"vo_s004_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("vo_service") / "migrations"))
    config.attributes["connection_engine"] = engine
    config.attributes["version_table"] = MIGRATION_PACKAGES["vo_service"]
    return config


def _region_type(engine: Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            columns = connection.execute(text("PRAGMA table_info(tap_product_obscore)"))
            return next(str(c[2]).lower() for c in columns if c[1] == "s_region")
        return str(
            connection.execute(
                text(
                    "SELECT udt_name FROM information_schema.columns WHERE table_name = "
                    "'tap_product_obscore' AND column_name = 's_region'"
                )
            ).scalar_one()
        )


def test_s004_makes_stored_regions_indexed_geometries_and_undoes_it(engine: Engine) -> None:
    postgres = engine.dialect.name == "postgresql"
    upgrade_database(engine)
    config = _config(engine)
    command.downgrade(config, "s003")
    assert _region_type(engine) == "text"
    with engine.begin() as connection:  # a product published under s003: STC-S text
        connection.execute(
            text(
                "INSERT INTO tap_product_obscore (obs_publisher_did, dataproduct_type, s_ra, "
                "s_dec, s_fov, s_region) VALUES ('ivo://x?1', 'image', 359.5, -20.25, 30.0, "
                "'CIRCLE ICRS 359.5 -20.25 15.0')"
            )
        )
    command.upgrade(config, "head")
    assert _region_type(engine) == ("scircle" if postgres else "text")
    obscore = "ivoa.obscore" if postgres else '"ivoa.obscore"'
    with engine.connect() as connection:
        if postgres:
            indexes = set(
                connection.execute(
                    text("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%region'")
                ).scalars()
            )
            assert indexes == {"ix_product_obscore_region", "ix_archive_scw_region"}
            inside = "spoint(radians(0.2), radians(-20.0)) && s_region"  # across RA = 0
            outside = "spoint(radians(20.0), radians(-20.0)) && s_region"
            for condition, expected in ((inside, 1), (outside, 0)):
                count = connection.execute(
                    text(f"SELECT count(*) FROM {obscore} WHERE {condition}")
                ).scalar_one()
                assert count == expected, condition
        else:
            region = connection.execute(text(f"SELECT s_region FROM {obscore}")).scalar_one()
            assert region == "CIRCLE ICRS 359.5 -20.25 15.0"
    command.downgrade(config, "s003")
    assert _region_type(engine) == "text"
    with engine.connect() as connection:
        region = connection.execute(text(f"SELECT s_region FROM {obscore}")).scalar_one()
    words = region.split()
    assert words[:2] == ["CIRCLE", "ICRS"]
    assert [round(float(w), 9) for w in words[2:]] == [359.5, -20.25, 15.0]
    command.upgrade(config, "head")
