"""Users of the service: ``vo-service tokens issue|list|revoke`` and the tokens it issues on
every front (/async, /soda/async, /tap/async, the web pages' session cookie), and per-client
anonymous job lists shared by the pages and /async."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree, html
from pyvo.io.uws import parse_job

from processing.simulator import SimulationResult
from tests.uws._helpers import error_message
from tests.uws._xsd import validate
from vo_service._context import ServiceContext
from vo_service._jobs import UWS_EXTENSION
from vo_service.app import create_app
from vo_service.cli import main
from vo_service.settings import Settings

UWS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0"}


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "VO_SERVICE_DATA_DIR": str(tmp_path / "var"),
        "VO_SERVICE_DATABASE_URL": database_url,
        "VO_SERVICE_UWS_DEMO_KINDS": "true",
    }


def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


_APPS: list[Flask] = []


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    """Each application's job-store listener and engine closed before its database goes."""
    yield
    while _APPS:
        app = _APPS.pop()
        app.extensions[UWS_EXTENSION].close()
        app.extensions["vo_service"].engine.dispose()


def _app(env: dict[str, str], **overrides: object) -> Flask:
    settings = Settings.load(
        data_dir=Path(env["VO_SERVICE_DATA_DIR"]),
        database_url=env["VO_SERVICE_DATABASE_URL"],
        uws_demo_kinds=True,
        network_resolvers=False,
        **overrides,
    )
    app = create_app(settings)
    _APPS.append(app)
    return app


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _issue(env: dict[str, str], *args: str) -> tuple[str, str]:
    code, out, err = _cli(env, "tokens", "issue", *args)
    assert code == 0, err
    token = out.strip()
    return token, jwt.decode(token, options={"verify_signature": False})["jti"]


def test_cli_issues_tokens_the_service_accepts_and_revokes_at_once(env: dict[str, str]) -> None:
    token, jti = _issue(env, "alice", "--role", "astronomer", "--email", "alice@example.org")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["roles"] == ["astronomer"]
    assert claims["email"] == "alice@example.org" and claims["aud"] == "http://127.0.0.1:8080"
    key = (Path(env["VO_SERVICE_DATA_DIR"]) / "token.key").stat()
    assert key.st_mode & 0o077 == 0  # the generated key is the service user's alone
    client = _app(env).test_client()
    created = client.post("/async", data={"KIND": "echo", "MESSAGE": "hi"}, headers=_bearer(token))
    assert created.status_code == 303, created.get_data(as_text=True)
    job_url = created.headers["Location"].replace("http://127.0.0.1:8080", "")
    document = client.get(job_url, headers=_bearer(token))
    validate(document.data)
    assert parse_job(io.BytesIO(document.data)).ownerid == "alice"
    assert client.get(job_url, headers={"X-Remote-User": "bob"}).status_code == 404
    # The other job lists take the same token.
    for path in ("/async", "/soda/async", "/tap/async"):
        assert client.get(path, headers=_bearer(token)).status_code == 200, path
    code, out, _ = _cli(env, "tokens", "list", "--json")
    assert code == 0
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert (row["id"], row["user"], row["state"], row["roles"]) == (
        jti,
        "alice",
        "active",
        ["astronomer"],
    )
    # Revoked by the operator while the service runs: refused on the very next request.
    code, out, _ = _cli(env, "tokens", "revoke", jti)
    assert code == 0 and "1 token revoked" in out
    for path in ("/async", "/soda/async", "/tap/async", job_url):
        refused = client.get(path, headers=_bearer(token))
        assert refused.status_code == 401, path
        validate(refused.data)
        assert "revoked" in error_message(refused.data)
    code, out, _ = _cli(env, "tokens", "list", "--user", "alice")
    assert code == 0 and " revoked " in out


def test_cli_revokes_every_token_of_a_user(env: dict[str, str]) -> None:
    first, _ = _issue(env, "alice")
    second, _ = _issue(env, "alice", "--days", "2")
    bobs, _ = _issue(env, "bob")
    code, out, _ = _cli(env, "tokens", "revoke", "--user", "alice")
    assert code == 0 and "2 tokens revoked" in out
    client = _app(env).test_client()
    assert client.get("/async", headers=_bearer(first)).status_code == 401
    assert client.get("/async", headers=_bearer(second)).status_code == 401
    assert client.get("/async", headers=_bearer(bobs)).status_code == 200
    code, _, err = _cli(env, "tokens", "revoke", "--user", "alice")
    assert code != 0 and "no active token" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alice", "--email", "not-an-address"], "not an e-mail address"),
        (["alice", "--role", "bad role"], "letters, digits"),
        (["alice", "--notify", "sms:123"], "webhook:"),
        (["alice", "--days", "0"], "0"),
        (["ali\tce"], "printable"),
    ],
)
def test_cli_refuses_bad_claims(env: dict[str, str], args: list[str], message: str) -> None:
    code, _, err = _cli(env, "tokens", "issue", *args)
    assert code == 2 and message in err
    code, out, _ = _cli(env, "tokens", "list")
    assert code == 0 and out == ""


def test_revoke_needs_exactly_one_target(env: dict[str, str]) -> None:
    code, _, err = _cli(env, "tokens", "revoke")
    assert code == 2 and "TOKEN_ID or --user" in err


def test_tokens_of_another_audience_or_off(env: dict[str, str]) -> None:
    token, _ = _issue(env, "alice")
    elsewhere = _app(env, token_audience="https://mirror.example.org").test_client()
    refused = elsewhere.get("/async", headers=_bearer(token))
    assert refused.status_code == 401 and "audience" in error_message(refused.data)
    # With tokens off, a bearer header is not a credential the trusted-header policy knows:
    # the request is anonymous, as any request without the proxy's header.
    off = _app(env, tokens=False).test_client()
    listing = off.get("/async", headers=_bearer(token))
    assert listing.status_code == 200


def test_a_configured_secret_replaces_the_key_file(env: dict[str, str]) -> None:
    env = {**env, "VO_SERVICE_TOKEN_SECRET": "s" * 40}
    token, _ = _issue(env, "alice")
    assert not (Path(env["VO_SERVICE_DATA_DIR"]) / "token.key").exists()
    assert jwt.decode(token, "s" * 40, algorithms=["HS256"], audience="http://127.0.0.1:8080")
    client = _app(env, token_secret="s" * 40).test_client()
    assert client.get("/async", headers=_bearer(token)).status_code == 200
    keyed = _app(env).test_client()  # another key (the file's): the signature fails
    assert keyed.get("/async", headers=_bearer(token)).status_code == 401


def test_each_anonymous_client_lists_its_own_jobs(env: dict[str, str]) -> None:
    app = _app(env)
    first, second = app.test_client(), app.test_client()
    ids = []
    for client in (first, second):
        created = client.post("/async", data={"KIND": "echo", "MESSAGE": "anon"})
        ids.append(created.headers["Location"].rsplit("/", 1)[-1])
    for client, mine, theirs in ((first, ids[0], ids[1]), (second, ids[1], ids[0])):
        listing = client.get("/async")
        validate(listing.data)
        listed = etree.fromstring(listing.data).xpath("//uws:jobref/@id", namespaces=UWS)
        assert listed == [mine] and theirs not in listed
    shared = _app(env, anonymous_client_lists=False).test_client()
    listed = etree.fromstring(shared.get("/async").data).xpath("//uws:jobref/@id", namespaces=UWS)
    assert set(ids) <= set(listed)


# The web pages ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def web_root(tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult) -> Path:
    root = tmp_path_factory.mktemp("web_users")
    shutil.copytree(tiny_archive.root, root / "archive")
    return root


@pytest.fixture(scope="module")
def web_app(web_root: Path) -> Flask:
    settings = Settings.load(
        data_dir=web_root / "var",
        archive_path=web_root / "archive",
        executor="inline",
        network_resolvers=False,
    )
    context = ServiceContext.build(settings)
    context.archive.ingest()
    return create_app(settings, context)


def _web_token(web_root: Path, user: str) -> tuple[str, str]:
    return _issue({"VO_SERVICE_DATA_DIR": str(web_root / "var")}, user)


def _submit(client: FlaskClient) -> str:
    created = client.post("/web/jobs", data={"src_name": "Crab", "radius": "10", "action": "run"})
    assert created.status_code == 303, created.get_data(as_text=True)
    return created.headers["Location"].rsplit("/", 1)[-1]


def test_web_sign_in_with_a_token_is_a_session_cookie(web_app: Flask, web_root: Path) -> None:
    token, jti = _web_token(web_root, "alice")
    browser = web_app.test_client()
    signed_in = browser.post("/web/account", data={"token": token})
    assert signed_in.status_code == 303
    cookie = signed_in.headers["Set-Cookie"]
    assert cookie.startswith("uws_token=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires" not in cookie and "Max-Age" not in cookie  # a session cookie
    page = html.fromstring(browser.get("/web/account").data)
    assert "Signed in as alice" in page.get_element_by_id("account-user").text_content()
    job_id = _submit(browser)
    assert job_id.encode() in browser.get("/web/jobs").data
    # The same job is alice's on /async, with the token as a bearer header.
    api = web_app.test_client()
    assert job_id.encode() in api.get("/async", headers=_bearer(token)).data
    assert job_id.encode() not in api.get("/async").data
    # Revoked: the session ends at once; the account page says why and signs out.
    _cli({"VO_SERVICE_DATA_DIR": str(web_root / "var")}, "tokens", "revoke", jti)
    assert browser.get("/web/jobs").status_code == 401
    account = html.fromstring(browser.get("/web/account").data)
    assert "revoked" in account.get_element_by_id("account-problem").text_content()
    browser.post("/web/account/sign-out")
    assert browser.get_cookie("uws_token") is None
    assert browser.get("/web/jobs").status_code == 200


@pytest.mark.parametrize(
    ("token", "message"),
    [("", "paste the token"), ("<script>alert(1)</script>", "not valid")],
)
def test_web_sign_in_refuses_bad_tokens(web_app: Flask, token: str, message: str) -> None:
    browser = web_app.test_client()
    refused = browser.post("/web/account", data={"token": token})
    assert refused.status_code == 400
    assert b"<script>" not in refused.data
    page = html.fromstring(refused.data)
    assert message in page.get_element_by_id("account-problem").text_content()
    assert browser.get_cookie("uws_token") is None


def test_web_anonymous_lists_are_per_browser(web_app: Flask) -> None:
    first, second = web_app.test_client(), web_app.test_client()
    mine, theirs = _submit(first), _submit(second)
    first_page, second_page = first.get("/web/jobs").data, second.get("/web/jobs").data
    assert mine.encode() in first_page and theirs.encode() not in first_page
    assert theirs.encode() in second_page and mine.encode() not in second_page
    # The pages and /async share the browser's list.
    assert mine.encode() in first.get("/async").data
    assert theirs.encode() not in first.get("/async").data


# Quotas ------------------------------------------------------------------------------------------
QUOTAS = {
    "default": {"max_active_jobs": 1, "max_pending_jobs": 2},
    "large": {"max_active_jobs": 3},
}


def test_quota_classes_from_settings_tokens_and_users(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VO_SERVICE_QUOTA_CLASSES", json.dumps(QUOTAS))
    monkeypatch.setenv("VO_SERVICE_QUOTA_USERS", json.dumps({"carol": "large"}))
    monkeypatch.setenv("VO_SERVICE_QUOTA_ROLES", json.dumps({"survey": "large"}))
    large, _ = _issue(env, "dave", "--quota-class", "large")
    by_role, _ = _issue(env, "erin", "--role", "astronomer", "--role", "survey")
    client = _app(env).test_client()  # the settings from the environment, as served
    run = {"KIND": "echo", "MESSAGE": "m", "PHASE": "RUN"}
    alice = {"X-Remote-User": "alice"}
    assert client.post("/async", data=run, headers=alice).status_code == 303
    refused = client.post("/async", data=run, headers=alice)
    assert refused.status_code == 429
    validate(refused.data)
    assert "quota class 'default' allows 1 at once" in error_message(refused.data)
    for headers in ({"X-Remote-User": "carol"}, _bearer(large), _bearer(by_role)):  # 'large': 3
        for _ in range(3):
            assert client.post("/async", data=run, headers=headers).status_code == 303
        assert client.post("/async", data=run, headers=headers).status_code == 429
    code, out, _ = _cli(env, "users", "usage", "--json")
    assert code == 0
    rows = {row["user"]: row for row in map(json.loads, out.splitlines())}
    assert set(rows) == {"alice", "carol", "dave", "erin"}
    assert rows["erin"]["quota_class"] == "large"
    assert (rows["alice"]["quota_class"], rows["alice"]["active"]) == ("default", 1)
    assert rows["alice"]["limits"]["max_active_jobs"] == 1
    assert (rows["dave"]["quota_class"], rows["dave"]["active"]) == ("large", 3)
    assert rows["carol"]["jobs_today"] == 3
    code, out, _ = _cli(env, "users", "usage", "--user", "carol")
    assert code == 0 and "class=large" in out and "active=3/3" in out


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ({"default": {"max_jobs": 1}}, "unknown limit 'max_jobs'"),
        ({"large": {"max_active_jobs": 1}}, "'default' class"),
        ({"default": {"max_active_jobs": -1}}, "must not be negative"),
    ],
)
def test_bad_quota_settings_are_named(classes: dict[str, object], message: str) -> None:
    from vo_service.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        Settings.load(quota_classes=classes)


def test_science_windows_per_request(web_root: Path, tiny_archive: SimulationResult) -> None:
    settings = Settings.load(
        data_dir=web_root / "var-quota",
        archive_path=web_root / "archive",
        executor="inline",
        network_resolvers=False,
        quota_classes={"default": {"max_science_windows": 2}},
    )
    context = ServiceContext.build(settings)
    context.archive.ingest()
    client = create_app(settings, context).test_client()
    crab = {"product_type": "image", "src_name": "Crab", "radius": "10"}
    refused = client.post("/async", data=crab)
    assert refused.status_code == 403
    validate(refused.data)
    message = error_message(refused.data)
    assert "needs 4 science windows" in message and "allows 2 per request" in message
    # The same on /sync and from the web form; a smaller request passes.
    assert client.get("/sync", query_string=crab).status_code == 403
    page = client.post("/web/jobs", data={**crab, "action": "run"})
    assert page.status_code == 403 and b"allows 2 per request" in page.data
    small = {**crab, "max_pointings": "2"}
    assert client.post("/async", data=small).status_code == 303


# Sharing and cloning on the pages ------------------------------------------------------------
def test_web_shared_job_is_read_only_and_clones_record_their_parent(web_app: Flask) -> None:
    client = web_app.test_client()
    alice, bob = {"X-Remote-User": "alice"}, {"X-Remote-User": "bob"}
    created = client.post(
        "/web/jobs", data={"src_name": "Crab", "radius": "10", "action": "run"}, headers=alice
    )
    job_id = created.headers["Location"].rsplit("/", 1)[-1]
    assert client.get(f"/web/jobs/{job_id}", headers=bob).status_code == 404
    shared = client.post(f"/async/{job_id}/sharing", data={"ADD": "user:bob"}, headers=alice)
    assert shared.status_code == 303
    page = html.fromstring(client.get(f"/web/jobs/{job_id}", headers=bob).data)
    assert "Shared with you by alice" in page.get_element_by_id("job-shared").text_content()
    assert page.get_element_by_id(f"delete-{job_id}", None) is None
    assert client.post(f"/web/jobs/{job_id}/delete", headers=bob).status_code == 403
    assert client.post(f"/web/jobs/{job_id}/abort", headers=bob).status_code == 403
    # Bob's clone button: the form with alice's parameters; submitted, a job of bob's that
    # names its parent.
    clone_href = page.get_element_by_id(f"clone-{job_id}").get("href")
    form = html.fromstring(client.get(clone_href, headers=bob).data)
    assert form.xpath("//input[@name='clone_of']/@value") == [job_id]
    fields = {
        i.get("name"): i.get("value") or ""
        for i in form.xpath("//form[@id='request-form']//input")
        if i.get("name") and i.get("type") not in {"radio", "checkbox", "submit"}
    }
    fields.update({"radius": "8", "product_type": "image", "action": "run"})
    submitted = client.post("/web/jobs", data=fields, headers=bob)
    assert submitted.status_code == 303, submitted.get_data(as_text=True)
    clone_id = submitted.headers["Location"].rsplit("/", 1)[-1]
    clone_page = html.fromstring(client.get(f"/web/jobs/{clone_id}", headers=bob).data)
    assert job_id in clone_page.get_element_by_id("job-parent").text_content()
    document = etree.fromstring(client.get(f"/async/{clone_id}", headers=bob).data)
    parent = document.find(".//{urn:x-uws:jobinfo:v1}parent")
    assert parent is not None and parent.get("id") == job_id
    assert text_of(document, "ownerId") == "bob"
    # A form naming a job the user cannot read is refused, nothing created.
    fields["clone_of"] = job_id
    carol = {"X-Remote-User": "carol"}
    assert client.post("/web/jobs", data=fields, headers=carol).status_code == 404
    assert b"/web/jobs/" not in client.get("/web/jobs", headers=carol).data.split(b"<main")[1]


def text_of(document: etree._Element, name: str) -> str | None:
    return document.findtext(f"{{{UWS['uws']}}}{name}")


def test_web_comments_are_escaped(web_app: Flask) -> None:
    client = web_app.test_client()
    alice = {"X-Remote-User": "alice"}
    created = client.post(
        "/web/jobs", data={"src_name": "Crab", "radius": "10", "action": "run"}, headers=alice
    )
    job_id = created.headers["Location"].rsplit("/", 1)[-1]
    nasty = "<img src=x onerror=alert(1)> & <b>bold</b>"
    posted = client.post(f"/web/jobs/{job_id}/comments", data={"text": nasty}, headers=alice)
    assert posted.status_code == 303
    body = client.get(f"/web/jobs/{job_id}", headers=alice).data
    assert b"<img src=x" not in body and b"&lt;img src=x onerror=alert(1)&gt;" in body
    page = html.fromstring(body)
    texts = [p.text_content() for p in page.find_class("comment-text")]
    assert texts == [nasty]
    refused = client.post(f"/web/jobs/{job_id}/comments", data={"text": " "}, headers=alice)
    assert refused.status_code == 400
    assert (
        "empty" in html.fromstring(refused.data).get_element_by_id("comment-error").text_content()
    )
    # The same comment in the job document, escaped there too.
    document = etree.fromstring(client.get(f"/async/{job_id}", headers=alice).data)
    (node,) = document.findall(".//{urn:x-uws:jobinfo:v1}comment")
    assert node.text == nasty and node.get("author") == "alice"
    # Somebody else can neither read nor comment.
    bob = {"X-Remote-User": "bob"}
    assert (
        client.post(f"/web/jobs/{job_id}/comments", data={"text": "x"}, headers=bob).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"token_secret": "short"}, "VO_SERVICE_TOKEN_SECRET: at least 32"),
        ({"notify_webhook_secret": "short"}, "VO_SERVICE_NOTIFY_WEBHOOK_SECRET: at least 16"),
    ],
)
def test_short_secrets_are_refused_at_start(
    env: dict[str, str], override: dict[str, str], message: str
) -> None:
    from vo_service.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        _app(env, **override)


def test_product_page_shows_the_comments_its_reader_may_read(
    tmp_path: Path, tiny_archive: SimulationResult
) -> None:
    import datetime as dt
    import time

    from tests.vo_service.conftest import in_process_service
    from vo_service._users import build_tokens

    with in_process_service(tmp_path, tiny_archive) as service:
        tokens = build_tokens(service.context.settings, service.context.engine)
        assert tokens is not None
        alice, bob, carol = (
            {"Authorization": f"Bearer {tokens.issue(n, lifetime=dt.timedelta(hours=1))[0]}"}
            for n in ("alice", "bob", "carol")
        )
        client = service.app.test_client()
        created = client.post(
            "/web/jobs",
            data={"product_type": "spectrum", "src_name": "Crab", "radius": "10", "action": "run"},
            headers=alice,
        )
        job_id = created.headers["Location"].rsplit("/", 1)[-1]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            state = client.get(f"/web/jobs/{job_id}/state", headers=alice).get_json()
            if not state["active"]:
                break
            time.sleep(0.2)
        assert state["phase"] == "COMPLETED", state
        product_page = state["products"][0]  # /web/products/<hash>
        note = "Crab <b>flux</b> & index look right"
        client.post(f"/web/jobs/{job_id}/comments", data={"text": note}, headers=alice)
        client.post(f"/async/{job_id}/sharing", data={"ADD": "user:bob"}, headers=alice)
        for headers, shown in ((alice, True), (bob, True), (carol, False), ({}, False)):
            body = client.get(product_page, headers=headers).data
            page = html.fromstring(body)
            texts = [p.text_content() for p in page.find_class("comment-text")]
            assert texts == ([note] if shown else []), headers
            assert b"<b>flux</b>" not in body
