"""Notifications when a job ends: a signed webhook to a local HTTP receiver, retried with
back-off; e-mail to a local SMTP server (aiosmtpd) with the job's links; NOTIFY checked at
creation; a failure to notify never changes the job."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from tests.uws._helpers import create, error_message, job_doc, text, wait_final
from tests.uws.conftest import UWSEnv
from uws import (
    NotificationDispatcher,
    NotifyPolicy,
    NotifySettings,
    Runner,
    RunnerConfig,
    SmtpSettings,
)
from uws._schema import NotificationRow
from uws.testing import test_kinds

SECRET = b"webhook-secret-shared-with-receivers"
ALICE = {"X-Remote-User": "alice"}


@dataclass
class Receiver:
    """A local webhook receiver that fails its first ``failures`` deliveries with 500."""

    failures: int = 0
    calls: list[tuple[float, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.calls.append((time.monotonic(), dict(self.headers), body))
            status = 500 if len(state.calls) <= state.failures else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hook?x=1"
    yield state
    server.shutdown()
    thread.join(5)


@dataclass
class Mailbox:
    messages: list[Any] = field(default_factory=list)
    port: int = 0


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
            return "250 OK"

    with socket.socket() as probe:  # a free port (the controller checks it by connecting)
        probe.bind(("127.0.0.1", 0))
        box.port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def _settings(mailbox: Mailbox | None = None, **kw: Any) -> NotifySettings:
    smtp = None
    if mailbox is not None:
        smtp = SmtpSettings("127.0.0.1", mailbox.port, "archive@example.org", subject_prefix="[t] ")
    return NotifySettings(
        webhook_secret=SECRET,
        smtp=smtp,
        max_attempts=kw.pop("max_attempts", 4),
        backoff=kw.pop("backoff", 0.3),
        timeout=5.0,
        poll_interval=0.05,
    )


def _defaults(owner: str | None) -> tuple[list[str], str | None]:
    """alice's token asks for e-mail by default; bob has no address."""
    return (["email"], "alice@example.org") if owner == "alice" else ([], None)


def _job_url(job: Any) -> str:
    return f"https://archive.example.org/async/{job.id}"


@pytest.fixture
def notifying(env: UWSEnv) -> Iterator[tuple[UWSEnv, list[NotifySettings]]]:
    """The env with notifications on (settings set by each test) and a runner delivering."""
    chosen: list[NotifySettings] = []
    runners: list[Runner] = []

    def start(settings: NotifySettings) -> Runner:
        chosen.append(settings)
        env.service.notify = NotifyPolicy(settings, _defaults)
        dispatcher = NotificationDispatcher(env.store, settings, _job_url)
        runner = Runner(
            env.store,
            test_kinds(),
            RunnerConfig(work_root=env.work_root, slots=1, poll_interval=0.05),
            notifications=dispatcher,
        )
        runner.start()
        runners.append(runner)
        return runner

    env.start = start  # type: ignore[attr-defined]
    yield env, chosen
    for runner in runners:
        runner.stop()


def _rows(env: UWSEnv, job_id: str) -> list[Any]:
    with env.store.engine.connect() as conn:
        table = NotificationRow.__table__
        return list(conn.execute(select(table).where(table.c.job_id == job_id)).all())


def _wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _verify(headers: dict[str, str], body: bytes) -> None:
    parts = dict(p.split("=", 1) for p in headers["X-UWS-Signature"].split(","))
    expected = hmac.new(SECRET, f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert abs(int(parts["t"]) - time.time()) < 120


def test_webhook_signed_and_retried_with_backoff(notifying, receiver: Receiver) -> None:
    env, _ = notifying
    receiver.failures = 2
    env.start(_settings())
    client = env.client()
    job_id = create(
        client, user="bob", MESSAGE="hello", PHASE="RUN", NOTIFY=f"webhook:{receiver.url}"
    )
    assert wait_final(client, job_id, user="bob") == "COMPLETED"
    _wait_for(lambda: _rows(env, job_id)[0].state == "sent")
    assert len(receiver.calls) == 3
    times = [t for t, _, _ in receiver.calls]
    assert times[1] - times[0] >= 0.3 * 0.9 and times[2] - times[1] >= 0.6 * 0.9  # doubling
    for _, headers, body in receiver.calls:
        _verify(headers, body)
        assert headers["X-UWS-Event"] == "job.finished"
    summary = json.loads(receiver.calls[-1][2])
    assert summary["job_id"] == job_id and summary["phase"] == "COMPLETED"
    assert summary["owner"] == "bob"
    assert summary["job_url"] == f"https://archive.example.org/async/{job_id}"
    assert {r["id"] for r in summary["results"]} >= {"parameters"}
    (row,) = _rows(env, job_id)
    assert (row.attempts, row.last_error) == (3, None)
    # The forged signature would not verify.
    with pytest.raises(AssertionError):
        _verify(receiver.calls[0][1], receiver.calls[0][2] + b" ")


def test_a_failing_receiver_never_changes_the_job(notifying, receiver: Receiver) -> None:
    env, _ = notifying
    receiver.failures = 100
    env.start(_settings(max_attempts=3, backoff=0.1))
    client = env.client()
    dead = "http://127.0.0.1:9/nothing-listens-here"
    job_id = create(
        client,
        data=[
            ("MESSAGE", "m"),
            ("PHASE", "RUN"),
            ("NOTIFY", f"webhook:{receiver.url}"),
            ("NOTIFY", f"webhook:{dead}"),
        ],
        user="bob",
    )
    assert wait_final(client, job_id, user="bob") == "COMPLETED"
    _wait_for(lambda: all(r.state == "failed" for r in _rows(env, job_id)))
    rows = _rows(env, job_id)
    assert [r.attempts for r in rows] == [3, 3]
    assert all(r.last_error for r in rows)
    assert len(receiver.calls) == 3
    doc = job_doc(client, job_id, user="bob")
    assert text(doc, "phase") == "COMPLETED" and doc.find("{*}errorSummary") is None


def test_email_with_the_links(notifying, mailbox: Mailbox) -> None:
    env, _ = notifying
    env.start(_settings(mailbox))
    client = env.client()
    # alice's default (her token's) is e-mail: no NOTIFY needed.
    job_id = create(client, user="alice", MESSAGE="mail me", PHASE="RUN")
    assert wait_final(client, job_id, user="alice") == "COMPLETED"
    _wait_for(lambda: len(mailbox.messages) == 1)
    recipients, message = mailbox.messages[0]
    assert recipients == ["alice@example.org"]
    assert message["Subject"] == f"[t] job {job_id} COMPLETED"
    assert message["From"] == "archive@example.org"
    body = message.get_payload(decode=True).decode()
    assert f"https://archive.example.org/async/{job_id}" in body
    assert f"https://archive.example.org/async/{job_id}/results/parameters" in body
    assert "https://example.org/reference" in body  # the echo kind's external result
    _wait_for(lambda: _rows(env, job_id)[0].state == "sent")
    # NOTIFY=none opts out of the default.
    quiet = create(client, user="alice", MESSAGE="m", PHASE="RUN", NOTIFY="none")
    assert wait_final(client, quiet, user="alice") == "COMPLETED"
    assert _rows(env, quiet) == []


def test_an_unreachable_mail_server_is_retried_then_failed(notifying) -> None:
    env, _ = notifying
    closed = Mailbox(port=9)
    env.start(_settings(closed, max_attempts=2, backoff=0.1))
    client = env.client()
    job_id = create(client, user="alice", MESSAGE="m", PHASE="RUN")
    assert wait_final(client, job_id, user="alice") == "COMPLETED"
    _wait_for(lambda: _rows(env, job_id)[0].state == "failed")
    assert _rows(env, job_id)[0].attempts == 2


@pytest.mark.parametrize(
    ("notify", "message"),
    [
        ("sms:+41", "is not email, webhook:<url> or none"),
        ("webhook:ftp://example.org/x", "webhook:<http(s) URL>"),
        ("webhook:http://", "webhook:<http(s) URL>"),
        ("email", "no e-mail address is known for you"),
    ],
)
def test_bad_notify_is_400_and_nothing_stored(notifying, notify: str, message: str) -> None:
    env, _ = notifying
    env.service.notify = NotifyPolicy(_settings(Mailbox(port=9)), _defaults)
    client = env.client()
    response = client.post(
        "/async", data={"MESSAGE": "m", "NOTIFY": notify}, headers={"X-Remote-User": "bob"}
    )
    assert response.status_code == 400
    assert "NOTIFY" in error_message(response.data) and message in error_message(response.data)
    assert b"<uws:jobref" not in client.get("/async", headers={"X-Remote-User": "bob"}).data


def test_notify_is_not_a_job_parameter_and_channels_must_be_configured(notifying) -> None:
    env, _ = notifying
    client = env.client()
    refused = client.post("/async", data={"MESSAGE": "m", "NOTIFY": "email"}, headers=ALICE)
    assert refused.status_code == 400 and "no notifications" in error_message(refused.data)
    env.service.notify = NotifyPolicy(NotifySettings(), _defaults)  # nothing configured
    for target, why in (("email", "e-mail"), ("webhook:http://x.org/", "webhook")):
        response = client.post("/async", data={"MESSAGE": "m", "NOTIFY": target}, headers=ALICE)
        assert response.status_code == 400
        assert f"{why} notifications are not configured" in error_message(response.data)
    env.service.notify = NotifyPolicy(_settings(), lambda owner: ([], None))
    job_id = create(client, user="bob", MESSAGE="m", NOTIFY="webhook:https://x.org/h")
    names = [p.get("id") for p in job_doc(client, job_id, user="bob").iter("{*}parameter")]
    assert names == ["MESSAGE"]
    assert [r.target for r in _rows(env, job_id)] == ["webhook:https://x.org/h"]
