"""Comments on a job: plain text by its owner and the readers it is shared with.

A comment is sanitised at the edge: XML-forbidden characters are refused (400 naming
``TEXT``), line ends are normalised, other control characters than newline and tab are
refused, the text is trimmed and at most :data:`MAX_COMMENT` characters. It is never
interpreted: the job document carries it as element text and the pages escape it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import cast as type_cast

from sqlalchemy import Engine, Table, func, insert, select

from uws._errors import ParameterError
from uws._schema import CommentRow, ResultRow
from uws._storage import utcnow
from uws._text import check_text

__all__ = ["MAX_COMMENT", "MAX_COMMENTS", "Comment", "CommentStore", "clean_comment"]

COMMENT = type_cast(Table, CommentRow.__table__)
RESULT = type_cast(Table, ResultRow.__table__)
#: Longest comment (characters) and most comments on one job.
MAX_COMMENT = 4000
MAX_COMMENTS = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Comment:
    """One comment: who wrote it (``None``: anonymous), when, and its text."""

    author: str | None
    time: dt.datetime
    text: str


def clean_comment(name: str, value: str) -> str:
    """The comment as stored: checked, line ends normalised, trimmed.

    Raises
    ------
    ParameterError
        Naming ``name``: empty, too long, or holding control characters.
    """
    text = check_text(name, value).replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ParameterError(name, "the comment is empty")
    bad = _CONTROL.search(text)
    if bad is not None:
        raise ParameterError(name, f"contains the control character U+{ord(bad.group()):04X}")
    if len(text) > MAX_COMMENT:
        raise ParameterError(name, f"longer than {MAX_COMMENT} characters ({len(text)})")
    return text


class CommentStore:
    """The ``uws_comment`` rows (SQL only)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def comments(self, job_id: str) -> list[Comment]:
        """The job's comments, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(COMMENT.c.author, COMMENT.c.created, COMMENT.c.text)
                .where(COMMENT.c.job_id == job_id)
                .order_by(COMMENT.c.created, COMMENT.c.id)
            ).all()
        return [Comment(r.author, r.created, r.text) for r in rows]

    def commented_jobs_with_result(self, href_fragment: str, limit: int = 50) -> list[str]:
        """Ids of commented jobs with a result whose link contains ``href_fragment`` (a
        product's URL path), newest comment first."""
        escaped = href_fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(COMMENT.c.job_id, func.max(COMMENT.c.created).label("last"))
                .where(
                    COMMENT.c.job_id.in_(
                        select(RESULT.c.job_id).where(
                            RESULT.c.href.like(f"%{escaped}%", escape="\\")
                        )
                    )
                )
                .group_by(COMMENT.c.job_id)
                .order_by(func.max(COMMENT.c.created).desc())
                .limit(limit)
            ).all()
        return [r.job_id for r in rows]

    def add(self, job_id: str, author: str | None, text: str) -> Comment:
        """Store a comment.

        Raises
        ------
        ParameterError
            When the job holds :data:`MAX_COMMENTS` comments already.
        """
        now = utcnow()
        with self.engine.begin() as conn:
            count = conn.execute(
                select(func.count()).where(COMMENT.c.job_id == job_id)
            ).scalar_one()
            if count >= MAX_COMMENTS:
                raise ParameterError("TEXT", f"a job holds at most {MAX_COMMENTS} comments")
            conn.execute(
                insert(COMMENT).values(job_id=job_id, author=author, created=now, text=text)
            )
        return Comment(author, now, text)
