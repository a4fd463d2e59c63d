"""The root ``vo-service`` command group and shared helpers."""

from __future__ import annotations

import logging

import click

from vo_service._version import __version__
from vo_service.settings import Settings, SettingsError

__all__ = ["load_settings", "main"]


@click.group()
@click.version_option(__version__, prog_name="vo-service")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Coded-mask hard-X-ray archive service (IVOA UWS, DataLink, SODA, VOSI, OAI-PMH)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def load_settings(**overrides: object) -> Settings:
    """Load the settings or exit with the setting named."""
    try:
        return Settings.load(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
