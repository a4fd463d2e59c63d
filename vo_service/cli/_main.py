"""The root ``vo-service`` command group and shared helpers.

The command line imports only click when it starts: ``--help`` must answer at once, so every
command imports the science stack, the database and the web application inside its body, when
it runs (``tests/vo_service/test_cli_imports.py`` keeps it so).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import click

from vo_service._version import __version__

if TYPE_CHECKING:
    from vo_service.settings import Settings

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
    from vo_service.settings import Settings, SettingsError

    try:
        return Settings.load(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
