"""The application factory builds a working app against both databases."""

from __future__ import annotations

from pathlib import Path

from vo_service.app import create_app
from vo_service.settings import Settings


def test_landing_and_health(tmp_path: Path, database_url: str) -> None:
    app = create_app(Settings.load(data_dir=tmp_path, database_url=database_url))
    client = app.test_client()
    landing = client.get("/")
    assert landing.status_code == 200
    assert b"ivo://codedmask.example.org/isgri" in landing.data
    assert client.get("/health").get_json()["status"] == "ok"
