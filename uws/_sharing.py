"""Sharing: an owner makes a job readable by named users, a group, or anyone with its link.

Grants are rows of ``uws_share``: ``user:<name>``, ``group:<name>`` (a group is a role of the
reader's bearer token) or ``link:<key>`` (a random key, given as ``SHARE=<key>`` with any read
of the job). A grant gives read access only (the job document, its parameters, results,
error and links); every change stays the owner's. Shared jobs are not listed in the readers'
job lists: a grant never makes a job visible to anybody but its grantees.
"""

from __future__ import annotations

import re
import secrets
from typing import cast as type_cast

from sqlalchemy import Engine, Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from uws._errors import ParameterError
from uws._schema import ShareRow
from uws._text import MAX_NAME_LENGTH, check_text

__all__ = ["MAX_GRANTS", "ShareStore", "parse_grant"]

SHARE = type_cast(Table, ShareRow.__table__)
#: Most grants one job holds.
MAX_GRANTS = 100
_GROUP = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")


def parse_grant(name: str, value: str) -> str:
    """``user:<name>``, ``group:<name>`` or ``link`` (a new key) as a stored grant.

    Raises
    ------
    ParameterError
        Naming ``name``, for anything else.
    """
    text = check_text(name, value.strip())
    scope, sep, who = text.partition(":")
    scope = scope.lower()
    if scope == "link" and not sep:
        return f"link:{secrets.token_urlsafe(18)}"
    if scope == "user" and sep and who and who == who.strip():
        check_text(name, who, max_length=MAX_NAME_LENGTH)
        if not who.isprintable():
            raise ParameterError(name, "a user name must be printable")
        return f"user:{who}"
    if scope == "group" and sep and _GROUP.match(who):
        return f"group:{who}"
    raise ParameterError(
        name, f"{value[:80]!r} is not user:<name>, group:<name> (letters, digits, _.:@-) or link"
    )


class ShareStore:
    """The ``uws_share`` rows (SQL only; the rules are :class:`~uws.UWSService`'s)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def grants(self, job_id: str) -> list[str]:
        """The job's grants, sorted."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SHARE.c.grantee).where(SHARE.c.job_id == job_id).order_by(SHARE.c.grantee)
            ).scalars()
            return list(rows)

    def admits(self, job_id: str, grantees: list[str]) -> bool:
        """Whether one of ``grantees`` is granted the job."""
        if not grantees:
            return False
        with self.engine.connect() as conn:
            found = conn.execute(
                select(SHARE.c.grantee)
                .where(SHARE.c.job_id == job_id, SHARE.c.grantee.in_(grantees))
                .limit(1)
            ).first()
        return found is not None

    def grant(self, job_id: str, grantee: str) -> None:
        """Add a grant (idempotent).

        Raises
        ------
        ParameterError
            When the job already holds :data:`MAX_GRANTS` grants.
        """
        try:
            with self.engine.begin() as conn:
                count = conn.execute(
                    select(func.count()).where(SHARE.c.job_id == job_id)
                ).scalar_one()
                if count >= MAX_GRANTS:
                    raise ParameterError(
                        "ADD", f"a job is shared with at most {MAX_GRANTS} grantees"
                    )
                exists = conn.execute(
                    select(SHARE.c.grantee).where(
                        SHARE.c.job_id == job_id, SHARE.c.grantee == grantee
                    )
                ).first()
                if exists is None:
                    conn.execute(insert(SHARE).values(job_id=job_id, grantee=grantee))
        except IntegrityError:  # granted meanwhile by a concurrent request: done
            return

    def revoke(self, job_id: str, grantee: str) -> bool:
        """Remove a grant; False when there was none."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    delete(SHARE).where(SHARE.c.job_id == job_id, SHARE.c.grantee == grantee)
                ).rowcount
            )
