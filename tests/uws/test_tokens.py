"""Bearer tokens in the generic UWS service: valid, expired, forged, revoked, wrong audience,
over the Flask test client (every XML body validated), real HTTP with pyvo, and HTTP Basic
beside them; and per-client anonymous job lists."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest
import requests
from flask import Flask
from pyvo.dal.tap import AsyncTAPJob
from pyvo.io.uws import parse_job
from werkzeug.security import generate_password_hash

from tests.uws._helpers import create, error_message, job_doc, text
from tests.uws._xsd import validate
from tests.uws.conftest import UWSEnv, ValidatingClient
from uws import (
    AnonymousClients,
    BasicAuthIdentity,
    BearerTokenIdentity,
    IdentityPolicy,
    TokenRejected,
    TokenService,
    TrustedHeaderIdentity,
    create_uws_blueprint,
)

KEY = b"k" * 48
ISSUER = "ivo://example.org/uws-test"
AUDIENCE = "https://uws.example.org"
DAY = dt.timedelta(days=1)


def _tokens(env: UWSEnv, key: bytes = KEY, audience: str = AUDIENCE) -> TokenService:
    return TokenService(env.store.engine, key, issuer=ISSUER, audience=audience)


def _app(env: UWSEnv, identity: IdentityPolicy, clients: AnonymousClients | None = None) -> Flask:
    app = Flask("uws-token-test")
    app.test_client_class = ValidatingClient
    app.register_blueprint(
        create_uws_blueprint(env.service, identity, sync_timeout=10, clients=clients)
    )
    return app


@pytest.fixture
def tokens(env: UWSEnv) -> TokenService:
    return _tokens(env)


@pytest.fixture
def bearer_app(env: UWSEnv, tokens: TokenService) -> Flask:
    return _app(env, BearerTokenIdentity(tokens, TrustedHeaderIdentity(), realm="test"))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _resign(token: str, key: bytes = KEY, **changes: object) -> str:
    """The token's claims with ``changes``, signed with ``key`` (a forger's or ours)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode({**claims, **changes}, key, algorithm="HS256")


# The token service alone -----------------------------------------------------------------------
def test_issue_and_verify_carry_the_claims(tokens: TokenService) -> None:
    token, issued = tokens.issue(
        "alice",
        lifetime=DAY,
        roles=["astronomer", "isgri-team"],
        quota_class="large",
        email="alice@example.org",
        notify=["email"],
    )
    claims = tokens.verify(token)
    assert claims == issued
    assert claims.roles == ("astronomer", "isgri-team") and claims.quota_class == "large"
    assert claims.email == "alice@example.org" and claims.notify == ("email",)
    assert dt.timedelta(hours=23) < claims.expires - dt.datetime.now(dt.UTC) <= DAY
    (record,) = tokens.records("alice")
    assert record.state(dt.datetime.now(dt.UTC)) == "active" and record.claims == issued


def _expired(tokens: TokenService, token: str) -> str:
    return _resign(token, exp=int(time.time()) - 60)


def _forged(tokens: TokenService, token: str) -> str:
    return _resign(token, key=b"f" * 48)


def _other_audience(tokens: TokenService, token: str) -> str:
    return _resign(token, aud="https://another.example.org")


def _other_issuer(tokens: TokenService, token: str) -> str:
    return _resign(token, iss="ivo://another.example.org/svc")


def _unsigned(tokens: TokenService, token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]


def _other_subject(tokens: TokenService, token: str) -> str:
    return _resign(token, sub="mallory")  # our key (a leaked key): the record says otherwise


def _unrecorded(tokens: TokenService, token: str) -> str:
    return _resign(token, jti="0" * 32)


def _revoked(tokens: TokenService, token: str) -> str:
    assert tokens.revoke(jwt.decode(token, options={"verify_signature": False})["jti"]) == 1
    return token


def _no_expiry(tokens: TokenService, token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    del claims["exp"]
    return jwt.encode(claims, KEY, algorithm="HS256")


BAD_TOKENS: list[tuple[Callable[[TokenService, str], str], str]] = [
    (_expired, "expired"),
    (_forged, "not valid"),
    (_other_audience, "for another service"),
    (_other_issuer, "issued by another service"),
    (_unsigned, "not valid"),
    (_other_subject, "not valid"),
    (_unrecorded, "not valid"),
    (_revoked, "revoked"),
    (_no_expiry, "'exp'"),
]
BAD_IDS = [make.__name__.strip("_") for make, _ in BAD_TOKENS]


@pytest.mark.parametrize(("make", "reason"), BAD_TOKENS, ids=BAD_IDS)
def test_bad_tokens_are_rejected(
    tokens: TokenService, make: Callable[[TokenService, str], str], reason: str
) -> None:
    token, _ = tokens.issue("alice", lifetime=DAY)
    with pytest.raises(TokenRejected, match=reason):
        tokens.verify(make(tokens, token))


def test_a_token_for_another_audience_with_the_same_key_is_refused(env: UWSEnv) -> None:
    elsewhere = _tokens(env, audience="https://another.example.org")
    token, _ = elsewhere.issue("alice", lifetime=DAY)
    with pytest.raises(TokenRejected, match="audience"):
        _tokens(env).verify(token)


def test_revoking_a_user_revokes_all_their_tokens_only(tokens: TokenService) -> None:
    first, _ = tokens.issue("alice", lifetime=DAY)
    second, _ = tokens.issue("alice", lifetime=DAY)
    bobs, _ = tokens.issue("bob", lifetime=DAY)
    assert tokens.revoke(subject="alice") == 2
    assert tokens.revoke(subject="alice") == 0  # nothing left to revoke
    for token in (first, second):
        with pytest.raises(TokenRejected, match="revoked"):
            tokens.verify(token)
    assert tokens.verify(bobs).subject == "bob"
    states = {r.claims.subject: r.state(dt.datetime.now(dt.UTC)) for r in tokens.records()}
    assert states == {"alice": "revoked", "bob": "active"}


@pytest.mark.parametrize("subject", ["", " alice", "a\x00b", "x" * 300])
def test_unusable_subjects_are_not_issued(tokens: TokenService, subject: str) -> None:
    with pytest.raises(ValueError):
        tokens.issue(subject, lifetime=DAY)
    assert tokens.records() == []


def test_a_short_key_is_refused(env: UWSEnv) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        _tokens(env, key=b"short")


# Over HTTP: every endpoint of the job list ---------------------------------------------------
def test_a_valid_token_owns_its_jobs(bearer_app: Flask, tokens: TokenService) -> None:
    client = bearer_app.test_client()
    token, _ = tokens.issue("alice", lifetime=DAY)
    created = client.post("/async", data={"MESSAGE": "hi"}, headers=_bearer(token))
    assert created.status_code == 303
    job_id = created.headers["Location"].rsplit("/", 1)[-1]
    doc = client.get(f"/async/{job_id}", headers=_bearer(token))
    assert doc.status_code == 200
    assert parse_job(io.BytesIO(doc.data)).ownerid == "alice"
    listing = client.get("/async", headers=_bearer(token))
    assert job_id.encode() in listing.data
    # The same user through the proxy's header sees it; anybody else does not.
    assert client.get(f"/async/{job_id}", headers={"X-Remote-User": "alice"}).status_code == 200
    assert client.get(f"/async/{job_id}", headers={"X-Remote-User": "bob"}).status_code == 404
    assert client.get(f"/async/{job_id}").status_code == 404
    assert job_id.encode() not in client.get("/async").data


@pytest.mark.parametrize(("make", "reason"), BAD_TOKENS, ids=BAD_IDS)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/async"), ("POST", "/async"), ("GET", "/async/JOB"), ("POST", "/async/JOB/phase")],
)
def test_bad_tokens_are_401_on_every_endpoint(
    bearer_app: Flask,
    tokens: TokenService,
    make: Callable[[TokenService, str], str],
    reason: str,
    method: str,
    path: str,
) -> None:
    client = bearer_app.test_client()
    good, _ = tokens.issue("alice", lifetime=DAY)
    job_id = create(client, user="alice", MESSAGE="mine")
    bad = make(tokens, good)
    response = client.open(
        path.replace("JOB", job_id),
        method=method,
        data={"PHASE": "RUN"},
        headers={**_bearer(bad), "X-Remote-User": "alice"},  # the token decides, not the header
    )
    assert response.status_code == 401
    assert reason in error_message(response.data)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="test"') and 'error="invalid_token"' in challenge
    assert text(job_doc(client, job_id, user="alice"), "phase") == "PENDING"  # nothing changed


def test_revocation_is_effective_at_once(bearer_app: Flask, tokens: TokenService) -> None:
    client = bearer_app.test_client()
    token, claims = tokens.issue("alice", lifetime=DAY)
    assert client.get("/async", headers=_bearer(token)).status_code == 200
    tokens.revoke(claims.token_id)
    response = client.get("/async", headers=_bearer(token))
    assert response.status_code == 401 and "revoked" in error_message(response.data)


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "bearer  "])
def test_an_empty_bearer_token_is_refused_not_anonymous(bearer_app: Flask, header: str) -> None:
    response = bearer_app.test_client().get("/async", headers={"Authorization": header})
    assert response.status_code == 401


def test_the_session_cookie_is_a_token_too(bearer_app: Flask, tokens: TokenService) -> None:
    client = bearer_app.test_client()
    token, claims = tokens.issue("alice", lifetime=DAY)
    client.set_cookie("uws_token", token)
    job_id = create(client, MESSAGE="from the browser")
    assert text(job_doc(client, job_id), "ownerId") == "alice"
    tokens.revoke(claims.token_id)
    assert client.get(f"/async/{job_id}").status_code == 401


def test_bearer_beside_http_basic(env: UWSEnv, tokens: TokenService) -> None:
    users = {"carol": generate_password_hash("secret", method="pbkdf2:sha256:1")}
    identity = BearerTokenIdentity(tokens, BasicAuthIdentity(users))
    client = _app(env, identity).test_client()
    token, _ = tokens.issue("dave", lifetime=DAY)
    basic = client.post("/async", data={"MESSAGE": "b"}, auth=("carol", "secret"))
    bearer = client.post("/async", data={"MESSAGE": "t"}, headers=_bearer(token))
    assert basic.status_code == bearer.status_code == 303
    assert client.get("/async", auth=("carol", "wrong")).status_code == 401
    forged = _forged(tokens, token)
    refused = client.get("/async", headers=_bearer(forged))
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")


# Real HTTP: pyvo and curl-like requests ------------------------------------------------------
@pytest.fixture
def bearer_url(bearer_app: Flask) -> Iterator[str]:
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, bearer_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def test_pyvo_with_a_bearer_token(bearer_url: str, tokens: TokenService, runner) -> None:
    token, claims = tokens.issue("alice", lifetime=DAY)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    job = AsyncTAPJob.create(bearer_url, "SELECT 1", session=session)
    assert job.job.ownerid == "alice"
    job.run()
    job.wait(timeout=20)
    assert job.phase == "COMPLETED"
    # Without the token the job is not there; with a revoked one pyvo's request fails.
    assert requests.get(job.url, timeout=10).status_code == 404
    tokens.revoke(claims.token_id)
    refused = session.get(job.url, timeout=10)
    assert refused.status_code == 401
    validate(refused.content)


@pytest.mark.parametrize(("make", "reason"), BAD_TOKENS[:5], ids=BAD_IDS[:5])
def test_pyvo_with_a_bad_token_fails(
    bearer_url: str,
    tokens: TokenService,
    make: Callable[[TokenService, str], str],
    reason: str,
) -> None:
    from pyvo.dal import DALServiceError

    token, _ = tokens.issue("alice", lifetime=DAY)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {make(tokens, token)}"
    with pytest.raises(DALServiceError):
        AsyncTAPJob.create(bearer_url, "SELECT 1", session=session)


# Per-client anonymous job lists ----------------------------------------------------------------
def test_each_anonymous_client_has_its_own_list(env: UWSEnv) -> None:
    app = _app(env, TrustedHeaderIdentity(), AnonymousClients())
    first, second = app.test_client(), app.test_client()
    mine = create(first, MESSAGE="first's")
    theirs = create(second, MESSAGE="second's")
    assert first.get_cookie("uws_client") is not None
    assert first.get_cookie("uws_client").value != second.get_cookie("uws_client").value
    first_list, second_list = first.get("/async").data, second.get("/async").data
    assert mine.encode() in first_list and theirs.encode() not in first_list
    assert theirs.encode() in second_list and mine.encode() not in second_list
    # A client without the cookie (a fresh one) lists nothing; a job's URL stays readable by
    # whoever holds it, as every anonymous job's is.
    assert b"<uws:jobref" not in app.test_client().get("/async").data
    assert app.test_client().get(f"/async/{mine}").status_code == 200
    # Jobs with an owner stay out of every anonymous list.
    owned = create(first, user="alice", MESSAGE="alice's")
    assert owned.encode() not in first.get("/async").data


@pytest.mark.parametrize("value", ["", "x", "0" * 31, "G" * 32, "../" * 11, "0" * 33])
def test_a_malformed_client_cookie_gets_a_new_list(env: UWSEnv, value: str) -> None:
    app = _app(env, TrustedHeaderIdentity(), AnonymousClients())
    client = app.test_client()
    client.set_cookie("uws_client", value)
    response = client.post("/async", data={"MESSAGE": "m"})
    assert response.status_code == 303
    cookie = client.get_cookie("uws_client")
    assert cookie is not None and cookie.value != value and len(cookie.value) == 32
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert "SameSite=Lax" in response.headers["Set-Cookie"]


def test_a_shared_anonymous_list_without_clients(env: UWSEnv, tmp_path: Path) -> None:
    app = _app(env, TrustedHeaderIdentity())
    first, second = app.test_client(), app.test_client()
    job_id = create(first, MESSAGE="shared")
    assert job_id.encode() in second.get("/async").data
    assert second.get_cookie("uws_client") is None
