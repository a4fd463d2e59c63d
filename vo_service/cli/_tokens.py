"""``vo-service tokens``: issue, list and revoke the service's bearer tokens (operators)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING

import click

from vo_service.cli._main import load_settings, main

if TYPE_CHECKING:
    from uws import TokenService

__all__ = ["tokens"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NAME = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")


def _service() -> TokenService:
    from vo_service._users import build_tokens
    from vo_service.db import make_engine, upgrade_database

    settings = load_settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    upgrade_database(engine)
    service = build_tokens(settings, engine)
    if service is None:
        raise click.ClickException("tokens are turned off (VO_SERVICE_TOKENS=false)")
    return service


def _names(kind: str, values: tuple[str, ...]) -> list[str]:
    for value in values:
        if not _NAME.match(value):
            reason = f"{value!r}: letters, digits and _ . : @ - only"
            raise click.BadParameter(reason, param_hint=kind)
    return list(values)


def _notify(values: tuple[str, ...]) -> list[str]:
    for value in values:
        if value != "email" and not re.match(r"^webhook:https?://\S+$", value):
            raise click.BadParameter(
                f"{value!r}: 'email' or 'webhook:<http(s) URL>'", param_hint="--notify"
            )
    return list(values)


@main.group()
def tokens() -> None:
    """Bearer tokens: issue them to users, list them, revoke them (effective at once)."""


@tokens.command()
@click.argument("user")
@click.option("--role", "roles", multiple=True, help="A role of the user (repeatable).")
@click.option("--quota-class", help="The user's quota class (default: the default class).")
@click.option("--email", help="The user's e-mail address (for job notifications).")
@click.option(
    "--notify",
    multiple=True,
    help="Default notification when a job ends: 'email' or 'webhook:<url>' (repeatable).",
)
@click.option("--days", type=click.IntRange(min=1), help="Lifetime (default: the setting).")
@click.option("--note", help="A note for the operators (shown by 'list').")
def issue(
    user: str,
    roles: tuple[str, ...],
    quota_class: str | None,
    email: str | None,
    notify: tuple[str, ...],
    days: int | None,
    note: str | None,
) -> None:
    """Issue a token for USER: the token alone on standard output, its id on standard error."""
    if email is not None and not _EMAIL.match(email):
        raise click.BadParameter(f"{email!r} is not an e-mail address", param_hint="--email")
    if quota_class is not None:
        _names("--quota-class", (quota_class,))
    settings = load_settings()
    service = _service()
    lifetime = dt.timedelta(days=days or settings.token_lifetime_days)
    try:
        token, claims = service.issue(
            user,
            lifetime=lifetime,
            roles=_names("--role", roles),
            quota_class=quota_class,
            email=email,
            notify=_notify(notify),
            note=note,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="USER") from exc
    click.echo(token)
    click.echo(
        f"token {claims.token_id} for {claims.subject}, valid until "
        f"{claims.expires.isoformat().replace('+00:00', 'Z')}",
        err=True,
    )


@tokens.command(name="list")
@click.option("--user", help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def list_tokens(user: str | None, as_json: bool) -> None:
    """Issued tokens, newest first, with their state (active, expired, revoked)."""
    now = dt.datetime.now(dt.UTC)
    for record in _service().records(user):
        claims = record.claims
        row = {
            "id": claims.token_id,
            "user": claims.subject,
            "state": record.state(now),
            "issued": record.issued.isoformat().replace("+00:00", "Z"),
            "expires": claims.expires.isoformat().replace("+00:00", "Z"),
            "roles": list(claims.roles),
            "quota_class": claims.quota_class,
            "email": claims.email,
            "note": record.note,
        }
        if as_json:
            click.echo(json.dumps(row))
        else:
            roles = ",".join(claims.roles) or "-"
            click.echo(
                f"{row['id']}  {row['state']:<7}  {row['expires']}  {claims.subject}"
                f"  roles={roles}  quota={claims.quota_class or 'default'}"
            )


@tokens.command()
@click.argument("token_id", required=False)
@click.option("--user", help="Revoke every token of this user instead.")
def revoke(token_id: str | None, user: str | None) -> None:
    """Revoke TOKEN_ID (see 'list'), or every token of --user; refused from the next request on."""
    if (token_id is None) == (user is None):
        raise click.UsageError("give a TOKEN_ID or --user, not both")
    count = _service().revoke(token_id, subject=user)
    if count == 0:
        raise click.ClickException("no active token matches")
    click.echo(f"{count} token{'s' if count != 1 else ''} revoked")
