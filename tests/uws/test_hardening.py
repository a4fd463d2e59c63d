"""Hostile-client regressions of the UWS endpoint (issue 17, defects 1, 5, 6, 8, 11, 17).

Every answer here is checked by the validating client (UWS or VOTable XSD); the point of each
test is that a value a client chose gives a 400 naming the parameter, never a 500, and that a
database that went away gives a 503 the client can act on.
"""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import create_engine
from werkzeug.security import generate_password_hash

from tests.uws._helpers import create, error_message, job_doc, path_of, text
from tests.uws.conftest import UWSEnv, ValidatingClient
from uws import BasicAuthIdentity, CredentialCache, create_uws_blueprint
from uws._models import JobRecord
from uws._transitions import ExecutionPhase

CONTROL_VALUES = ["x\x01y", "nul\x00here", "esc\x1b[31m", "\ufffe"]


@pytest.mark.parametrize("value", CONTROL_VALUES)
def test_control_character_in_runid_is_refused(client: ValidatingClient, value: str) -> None:
    response = client.post("/async", data={"RUNID": value, "x": "1"})
    assert response.status_code == 400
    assert error_message(response.data).startswith("UsageError: RUNID: contains U+")
    # Nothing was stored: the owner's job list still renders.
    assert client.get("/async").status_code == 200


@pytest.mark.parametrize("value", CONTROL_VALUES)
def test_control_character_in_a_job_parameter_is_refused(
    client: ValidatingClient, value: str
) -> None:
    for path in ("/async", "/sync"):
        response = client.post(path, data={"KIND": "echo", "message": value})
        assert response.status_code == 400, path
        assert "message: contains U+" in error_message(response.data)
    named = client.post("/async", data={f"bad{value}name": "1"})
    assert named.status_code == 400
    job_id = create(client, x="1")
    update = client.post(f"/async/{job_id}/parameters", data={"x": value})
    assert update.status_code == 400
    assert text(job_doc(client, job_id), "phase") == "PENDING"


def test_runid_longer_than_its_column_is_refused(client: ValidatingClient) -> None:
    assert client.post("/async", data={"RUNID": "r" * 256}).status_code == 400
    job_id = create(client, RUNID="r" * 255)
    assert text(job_doc(client, job_id), "runId") == "r" * 255


def test_a_stored_control_character_does_not_break_the_job_list(
    env: UWSEnv, client: ValidatingClient
) -> None:
    """A row stored before the check existed renders, with the character replaced."""
    now = dt.datetime.now(dt.UTC)
    env.store.add(
        JobRecord(
            id="legacy0000",
            kind="echo",
            owner=None,
            run_id="x\x01y",
            phase=ExecutionPhase.PENDING,
            creation_time=now,
            start_time=None,
            end_time=None,
            destruction=now + dt.timedelta(days=1),
            execution_duration=60,
            quote=None,
            spec={},
            parameters=[("message", "a\x02b")],
        )
    )
    listing = client.get("/async")
    assert listing.status_code == 200 and b"x\xef\xbf\xbdy" in listing.data
    assert text(job_doc(client, "legacy0000"), "runId") == "x\ufffdy"
    assert client.get("/async/legacy0000/parameters").status_code == 200


@pytest.mark.parametrize("job_id", ["a%00b", "%01", "x" * 40, "a%2Fb"])
def test_impossible_job_ids_are_404(client: ValidatingClient, job_id: str) -> None:
    for suffix in ("", "/phase", "/parameters"):
        response = client.get(f"/async/{job_id}{suffix}")
        assert response.status_code == 404, (job_id, suffix, response.data)
    assert client.get(f"/async/{job_id}", query_string={"WAIT": "1"}).status_code == 404
    assert client.delete(f"/async/{job_id}").status_code == 404


@pytest.mark.parametrize(
    "instant", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "10000-01-01"]
)
def test_out_of_range_instants_are_400(client: ValidatingClient, instant: str) -> None:
    listing = client.get("/async", query_string={"AFTER": instant})
    assert listing.status_code == 400
    assert error_message(listing.data).startswith("UsageError: AFTER:")
    created = client.post("/async", data={"DESTRUCTION": instant, "x": "1"})
    assert created.status_code == 400
    job_id = create(client, x="1")
    assert (
        client.post(f"/async/{job_id}/destruction", data={"DESTRUCTION": instant}).status_code
        == 400
    )


def test_year_one_and_9999_in_utc_are_accepted(client: ValidatingClient) -> None:
    assert client.get("/async", query_string={"AFTER": "0001-01-01T00:00:00Z"}).status_code == 200
    job_id = create(client, DESTRUCTION="9999-12-31T23:59:59Z", x="1")  # capped, not refused
    assert text(job_doc(client, job_id), "destruction")


@pytest.mark.parametrize("last", [str(2**63), str(2**64), "9" * 40])
def test_huge_last_means_every_job(client: ValidatingClient, last: str) -> None:
    create(client, x="1")
    response = client.get("/async", query_string={"LAST": last})
    assert response.status_code == 200
    assert b"jobref" in response.data


def test_nan_wait_is_400(client: ValidatingClient) -> None:
    job_id = create(client, x="1")
    response = client.get(f"/async/{job_id}", query_string={"WAIT": "nan"})
    assert response.status_code == 400


@pytest.mark.parametrize("user", ["eve\x01", "e" * 256])
def test_an_unusable_trusted_header_is_401(client: ValidatingClient, user: str) -> None:
    response = client.get("/async", headers={"X-Remote-User": user})
    assert response.status_code == 401
    assert "X-Remote-User" in error_message(response.data)


# Database unavailable (defect 5) ---
def _unreachable_url(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        return "sqlite:////proc/no-such-folder/jobs.sqlite"  # cannot be created
    return "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2"


def test_database_down_is_503_with_retry_after(env: UWSEnv, database_url: str) -> None:
    client = env.client()
    job_id = create(client, x="1")  # starts the LISTEN thread on PostgreSQL while it is up
    env.store.engine = create_engine(_unreachable_url(database_url))
    try:
        for method, path in [
            ("GET", "/async"),
            ("POST", "/async"),
            ("GET", f"/async/{job_id}"),
            ("GET", f"/async/{job_id}/phase"),
            ("POST", "/sync"),
        ]:
            response = client.open(path, method=method, data={"x": "1"})
            assert response.status_code == 503, (method, path, response.data)
            assert response.headers["Retry-After"].isdigit()
            message = error_message(response.data)
            assert message.startswith("ServiceUnavailable:")
            assert "127.0.0.1" not in message and "/proc" not in message
    finally:
        env.store.engine.dispose()


# HTTP Basic (defects 6 and 17) ---
class _CountingHash:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import uws._identity as identity_module

        self.calls = 0
        real = identity_module.check_password_hash

        def counting(stored: str, password: str) -> bool:
            self.calls += 1
            return real(stored, password)

        monkeypatch.setattr(identity_module, "check_password_hash", counting)


def _basic_client(env: UWSEnv, identity: BasicAuthIdentity) -> ValidatingClient:
    app = Flask("basic")
    app.test_client_class = ValidatingClient
    app.register_blueprint(create_uws_blueprint(env.service, identity))
    return app.test_client()  # type: ignore[return-value]


@pytest.fixture
def carol() -> BasicAuthIdentity:
    # A cheap hash method keeps the test fast; the behaviour is the method's, whatever it is.
    return BasicAuthIdentity({"carol": generate_password_hash("secret", method="pbkdf2:sha256:1")})


@pytest.mark.parametrize(
    "header", ["Basic !!!", "Bearer abc", "Basic", "Digest username=x", "Basic Y2Fyb2w="]
)
def test_malformed_authorization_is_401_not_anonymous(
    env: UWSEnv, carol: BasicAuthIdentity, header: str
) -> None:
    client = _basic_client(env, carol)
    assert client.get("/async").status_code == 200  # no header at all: anonymous is on
    response = client.get("/async", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_unknown_user_pays_a_hash_like_a_wrong_password(
    env: UWSEnv, carol: BasicAuthIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = _CountingHash(monkeypatch)
    client = _basic_client(env, carol)
    unknown = client.get("/async", auth=("mallory", "secret"))
    wrong = client.get("/async", auth=("carol", "guess"))
    assert unknown.status_code == wrong.status_code == 401
    assert error_message(unknown.data) == error_message(wrong.data)
    assert counter.calls == 2  # one full check each: the answer time does not tell names apart


def test_verified_credentials_are_cached_and_failures_are_not(
    env: UWSEnv, carol: BasicAuthIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = _CountingHash(monkeypatch)
    client = _basic_client(env, carol)
    for _ in range(5):
        assert client.get("/async", auth=("carol", "secret")).status_code == 200
    assert counter.calls == 1
    for _ in range(3):
        assert client.get("/async", auth=("carol", "secret!")).status_code == 401
    assert counter.calls == 4
    job = client.post("/async", data={"x": "1"}, auth=("carol", "secret"))
    owner = client.get(path_of(job.headers["Location"]) + "/owner", auth=("carol", "secret"))
    assert owner.get_data(as_text=True) == "carol"


def test_credential_cache_expires_and_is_bounded() -> None:
    now = [0.0]
    cache = CredentialCache(size=2, ttl=60.0, clock=lambda: now[0])
    cache.put("a", "1")
    assert cache.get("a", "1") == "a"
    assert cache.get("a", "2") is None and cache.get("b", "1") is None
    now[0] = 60.0
    assert cache.get("a", "1") is None  # expired
    for name in ("a", "b", "c"):
        cache.put(name, "pw")
    assert cache.get("a", "pw") is None  # the least recently used went first
    assert cache.get("b", "pw") == "b" and cache.get("c", "pw") == "c"
