"""``vo-service users``: what each user holds and consumed today, against their quota."""

from __future__ import annotations

import datetime as dt
import json

import click

from vo_service.cli._main import load_settings, main

__all__ = ["users"]


@main.group()
def users() -> None:
    """The service's users as the job database knows them."""


def _limit(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@users.command()
@click.option("--user", help="Only this user ('anonymous' for anonymous requests).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def usage(user: str | None, as_json: bool) -> None:
    """Jobs held (PENDING, queued or running) and consumed since midnight UTC, per user, with
    the limits of their quota class; users with jobs today or held jobs, busiest first."""
    from sqlalchemy import func, or_, select

    from uws import QuotaClass, owner_usage
    from uws._schema import JobRow
    from vo_service._users import build_quotas
    from vo_service.db import make_engine, upgrade_database

    settings = load_settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    upgrade_database(engine)
    quotas = build_quotas(settings, engine)
    now = dt.datetime.now(dt.UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    job = JobRow.__table__.c
    with engine.connect() as conn:
        if user is not None:
            owners: list[str | None] = [None if user == "anonymous" else user]
        else:
            rows = conn.execute(
                select(job.owner, func.count())
                .where(
                    or_(
                        job.creation_time >= midnight,
                        job.phase.in_(["PENDING", "QUEUED", "EXECUTING"]),
                        job.end_time >= midnight,
                    )
                )
                .group_by(job.owner)
                .order_by(func.count().desc())
            ).all()
            owners = [r[0] for r in rows]
        for owner in owners:
            used = owner_usage(conn, owner, now)
            quota = quotas.class_for(owner) if quotas is not None else QuotaClass("none")
            row = {
                "user": owner if owner is not None else "anonymous",
                "quota_class": quota.name,
                "pending": used.pending,
                "active": used.active,
                "jobs_today": used.jobs_today,
                "execution_seconds_today": round(used.execution_seconds_today, 1),
                "result_bytes_today": int(used.result_bytes_today),
                "limits": {
                    "max_pending_jobs": quota.max_pending,
                    "max_active_jobs": quota.max_active,
                    "max_jobs_per_day": quota.max_jobs_per_day,
                    "max_execution_seconds_per_day": quota.max_execution_seconds_per_day,
                    "max_result_bytes_per_day": quota.max_result_bytes_per_day,
                    **{f"max_{k}": v for k, v in quota.per_request.items()},
                },
            }
            if as_json:
                click.echo(json.dumps(row))
                continue
            click.echo(
                f"{row['user']}  class={quota.name}"
                f"  pending={used.pending}/{_limit(quota.max_pending)}"
                f"  active={used.active}/{_limit(quota.max_active)}"
                f"  jobs today={used.jobs_today}/{_limit(quota.max_jobs_per_day)}"
                f"  exec s today={used.execution_seconds_today:.0f}"
                f"/{_limit(quota.max_execution_seconds_per_day)}"
                f"  result bytes today={int(used.result_bytes_today)}"
                f"/{_limit(quota.max_result_bytes_per_day)}"
            )
    engine.dispose()
