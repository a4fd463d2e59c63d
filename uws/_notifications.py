"""Notifications when a job ends: a signed webhook POST and an e-mail, retried with back-off.

A job asks for them at creation (``NOTIFY=email``, ``NOTIFY=webhook:<url>``, repeatable;
``NOTIFY=none`` for none) or inherits its owner's defaults (from their token). Each target is
a row of ``uws_notification`` written in the job's own transaction. A
:class:`NotificationDispatcher` (a thread of the runner) delivers the rows of jobs in a final
phase: a failure is retried after ``backoff * 2**(attempt - 1)`` seconds up to
``max_attempts``, then recorded as failed. Notifications live apart from the job: nothing they
do changes its phase, results or error.

Webhook bodies are a JSON summary of the job, signed with the operators' shared secret:
``X-UWS-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import smtplib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from typing import cast as type_cast

import requests
from sqlalchemy import Connection, Engine, Table, insert, select, update

from uws._errors import ParameterError
from uws._models import JobRecord
from uws._schema import JobRow, NotificationRow
from uws._storage import JobStore, utcnow
from uws._text import check_text
from uws._transitions import FINAL_PHASES

__all__ = [
    "NotificationDispatcher",
    "NotifyPolicy",
    "NotifySettings",
    "SmtpSettings",
    "job_summary",
    "sign",
]

log = logging.getLogger(__name__)

NOTE = type_cast(Table, NotificationRow.__table__)
JOB = type_cast(Table, JobRow.__table__)
_WEBHOOK = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
#: Longest webhook URL accepted.
MAX_URL = 2000
#: Most notification targets one job asks for.
MAX_TARGETS = 5


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail goes out."""

    host: str
    port: int = 25
    sender: str = "uws@localhost"
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    subject_prefix: str = ""


@dataclass(frozen=True)
class NotifySettings:
    """How notifications are delivered.

    Attributes
    ----------
    webhook_secret
        Key of the webhook signature; ``None``: webhooks are refused at creation.
    smtp
        The mail server; ``None``: e-mail is refused at creation.
    max_attempts
        Deliveries tried before a notification is recorded as failed.
    backoff
        Seconds before the first retry (doubled for each next one).
    timeout
        Seconds one delivery may take.
    poll_interval
        How often the dispatcher looks for notifications due.
    """

    webhook_secret: bytes | None = None
    smtp: SmtpSettings | None = None
    max_attempts: int = 5
    backoff: float = 30.0
    timeout: float = 10.0
    poll_interval: float = 2.0


@dataclass(frozen=True)
class NotifyPolicy:
    """What a new job may ask for, and its owner's defaults.

    Parameters
    ----------
    settings
        Which channels are configured.
    defaults_of
        The owner's default targets and e-mail address (e.g. from their token).
    """

    settings: NotifySettings
    defaults_of: Callable[[str | None], tuple[Sequence[str], str | None]]

    def targets(self, owner: str | None, given: Sequence[str]) -> tuple[list[str], str | None]:
        """The job's targets (``email``, ``webhook:<url>``) and the address e-mail goes to.

        Raises
        ------
        ParameterError
            Naming ``NOTIFY`` for a target that is malformed, not configured, or e-mail to a
            user whose address is unknown.
        """
        defaults, email = self.defaults_of(owner)
        if given:
            wanted = [check_text("NOTIFY", v).strip() for v in given]
            if [v.lower() for v in wanted] == ["none"]:
                return [], email
        else:
            wanted = list(defaults)
        if len(wanted) > MAX_TARGETS:
            raise ParameterError("NOTIFY", f"at most {MAX_TARGETS} targets")
        targets: list[str] = []
        for value in wanted:
            if value.lower() == "email":
                if self.settings.smtp is None:
                    raise ParameterError("NOTIFY", "e-mail notifications are not configured here")
                if email is None:
                    raise ParameterError(
                        "NOTIFY", "no e-mail address is known for you (your token carries none)"
                    )
                targets.append("email")
            elif value.lower().startswith("webhook:"):
                url = value[len("webhook:") :]
                if self.settings.webhook_secret is None:
                    raise ParameterError("NOTIFY", "webhook notifications are not configured here")
                if len(url) > MAX_URL or not _WEBHOOK.match(url):
                    raise ParameterError("NOTIFY", "a webhook is webhook:<http(s) URL>")
                targets.append(f"webhook:{url}")
            else:
                raise ParameterError(
                    "NOTIFY", f"{value[:60]!r} is not email, webhook:<url> or none"
                )
        return list(dict.fromkeys(targets)), email

    @staticmethod
    def record(conn: Connection, job_id: str, targets: Sequence[str], email: str | None) -> None:
        """Write the job's notifications (in the transaction that stores the job)."""
        now = utcnow()
        for target in targets:
            conn.execute(
                insert(NOTE).values(
                    job_id=job_id,
                    target=target,
                    email=email if target == "email" else None,
                    state="pending",
                    attempts=0,
                    next_at=now,
                )
            )


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``X-UWS-Signature`` value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds").replace("+00:00", "Z")


def job_summary(job: JobRecord, job_url: str) -> dict[str, Any]:
    """The JSON summary a webhook receives (and an e-mail tells)."""
    return {
        "event": "job.finished",
        "job_id": job.id,
        "job_url": job_url,
        "phase": job.phase.value,
        "owner": job.owner,
        "run_id": job.run_id,
        "kind": job.kind,
        "creation_time": _iso(job.creation_time),
        "start_time": _iso(job.start_time),
        "end_time": _iso(job.end_time),
        "results": [
            {"id": r.id, "href": r.href or f"{job_url}/results/{r.id}", "mime_type": r.mime_type}
            for r in job.results
        ],
        "error": None if job.error is None else job.error.message,
    }


class NotificationDispatcher:
    """Delivers the notifications of ended jobs (one thread; several may share a database).

    Parameters
    ----------
    store
        The job store.
    settings
        Channels, retries and intervals.
    job_url
        The public URL of a job (its endpoint depends on its kind).
    """

    def __init__(
        self, store: JobStore, settings: NotifySettings, job_url: Callable[[JobRecord], str]
    ) -> None:
        self.store = store
        self.engine: Engine = store.engine
        self.settings = settings
        self.job_url = job_url
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the delivery thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="uws-notify", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (deliveries not done stay due for the next start)."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.poll_interval):
            try:
                self.deliver_due()
            except Exception:  # the thread must outlive any one failure (a database outage)
                log.exception("notification delivery pass failed")

    def deliver_due(self) -> int:
        """Deliver every notification due now; the number delivered."""
        now = utcnow()
        with self.engine.connect() as conn:
            due = conn.execute(
                select(NOTE.c.id, NOTE.c.job_id, NOTE.c.target, NOTE.c.email, NOTE.c.attempts)
                .join(JOB, JOB.c.id == NOTE.c.job_id)
                .where(
                    NOTE.c.state == "pending",
                    NOTE.c.next_at <= now,
                    JOB.c.phase.in_([p.value for p in FINAL_PHASES]),
                )
                .order_by(NOTE.c.next_at)
                .limit(50)
            ).all()
        delivered = 0
        for row in due:
            if not self._claim(row.id, now):
                continue  # another dispatcher took it
            job = self.store.get(row.job_id)
            if job is None:
                continue  # deleted meanwhile (its notifications went with it)
            attempt = row.attempts + 1
            try:
                self._send(job, row.target, row.email, row.id)
            except Exception as exc:
                self._failed(row.id, attempt, exc)
            else:
                self._finish(row.id, attempt, "sent", None)
                delivered += 1
        return delivered

    def _claim(self, note_id: int, now: dt.datetime) -> bool:
        lease = now + dt.timedelta(seconds=max(60.0, 4 * self.settings.timeout))
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(NOTE)
                    .where(NOTE.c.id == note_id, NOTE.c.state == "pending", NOTE.c.next_at <= now)
                    .values(next_at=lease)
                ).rowcount
            )

    def _finish(self, note_id: int, attempts: int, state: str, error: str | None) -> None:
        values: dict[str, Any] = {"state": state, "attempts": attempts, "last_error": error}
        if state == "sent":
            values["sent_at"] = utcnow()
        with self.engine.begin() as conn:
            conn.execute(update(NOTE).where(NOTE.c.id == note_id).values(**values))

    def _failed(self, note_id: int, attempt: int, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:500]
        if attempt >= self.settings.max_attempts:
            log.warning(
                "notification %d failed for good after %d attempts: %s", note_id, attempt, error
            )
            self._finish(note_id, attempt, "failed", error)
            return
        delay = self.settings.backoff * 2 ** (attempt - 1)
        log.info(
            "notification %d failed (attempt %d), retry in %.1f s: %s",
            note_id,
            attempt,
            delay,
            error,
        )
        with self.engine.begin() as conn:
            conn.execute(
                update(NOTE)
                .where(NOTE.c.id == note_id)
                .values(
                    attempts=attempt,
                    last_error=error,
                    next_at=utcnow() + dt.timedelta(seconds=delay),
                )
            )

    def _send(self, job: JobRecord, target: str, email: str | None, note_id: int) -> None:
        url = self.job_url(job)
        summary = job_summary(job, url)
        if target.startswith("webhook:"):
            self._webhook(target[len("webhook:") :], summary, note_id)
        elif target == "email":
            if email is None:
                raise ValueError("no address")
            self._email(email, summary)
        else:
            raise ValueError(f"unknown target {target!r}")

    def _webhook(self, url: str, summary: dict[str, Any], note_id: int) -> None:
        secret = self.settings.webhook_secret
        if secret is None:
            raise ValueError("webhooks are not configured")
        body = json.dumps(summary, sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "uws-notify/1",
            "X-UWS-Event": "job.finished",
            "X-UWS-Delivery": str(note_id),
            "X-UWS-Signature": sign(secret, body, int(time.time())),
        }
        response = requests.post(
            url, data=body, headers=headers, timeout=self.settings.timeout, allow_redirects=False
        )
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"HTTP {response.status_code}")

    def _email(self, address: str, summary: dict[str, Any]) -> None:
        smtp = self.settings.smtp
        if smtp is None:
            raise ValueError("e-mail is not configured")
        message = EmailMessage()
        message["From"] = smtp.sender
        message["To"] = address
        message["Subject"] = (
            f"{smtp.subject_prefix}job {summary['job_id']} {summary['phase']}".strip()
        )
        lines = [
            f"Your job {summary['job_id']} ended in phase {summary['phase']}.",
            "",
            f"Job: {summary['job_url']}",
        ]
        if summary["error"]:
            lines += ["", f"Error: {summary['error']}"]
        if summary["results"]:
            lines += ["", "Results:"]
            lines += [f"  {r['id']}: {r['href']}" for r in summary["results"]]
        message.set_content("\n".join(lines) + "\n")
        with smtplib.SMTP(smtp.host, smtp.port, timeout=self.settings.timeout) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(message)
