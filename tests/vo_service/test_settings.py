"""Settings: defaults, environment, file, and errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from vo_service.settings import Settings, SettingsError


def test_defaults_resolve_under_data_dir(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'service.sqlite'}"
    assert settings.resolved_archive_path == (tmp_path / "archive").resolve()
    assert settings.ivoid == "ivo://codedmask.example.org/isgri"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text("port: 9000\nauthority: file.example\n")
    monkeypatch.setenv("VO_SERVICE_SETTINGS_FILE", str(settings_file))
    monkeypatch.setenv("VO_SERVICE_AUTHORITY", "env.example")
    settings = Settings.load()
    assert settings.port == 9000
    assert settings.authority == "env.example"


@pytest.mark.parametrize(
    ("name", "value"),
    [("port", 0), ("executor", "threads"), ("public_base_url", "ftp://x"), ("max_pointings", 0)],
)
def test_invalid_values_name_the_setting(name: str, value: object) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.load(**{name: value})


def test_dask_executor_needs_a_scheduler() -> None:
    with pytest.raises(SettingsError, match="DASK_SCHEDULER"):
        Settings.load(executor="dask")
