"""Bounded fuzzing of every endpoint of the real application (issue 17).

The URL map of :func:`vo_service.app.create_app` (over the tiny simulated archive) is walked;
each endpoint gets its own parameters, its path variables and two headers, each in turn
replaced by hostile values (control characters, NUL, malformed UTF-8, huge strings, NaN and
infinities, extreme dates and integers, deeply nested JSON, XML metacharacters, path
traversal, encoded slashes), sent with the endpoint's methods and now and then an odd one.
The schedule is deterministic (round robin over the pairs, no randomness), so a failure
replays, and bounded: :data:`REQUESTS` requests per database backend.

Invariants of every answer:

* never a 5xx;
* an error is the protocol's own document: a DALI VOTable with ``QUERY_STATUS=ERROR`` (UWS,
  DataLink, SODA async, everything unrouted), an OAI-PMH document (``/oai``), SODA's text/plain
  (``/soda/sync`` and the DataLink snippet), or JSON where the protocol is JSON (the ODA
  facade, product downloads, ``/health``); never an HTML page;
* every XML document validates against the official XSD (UWS 1.1, VOTable, OAI-PMH, VOSI);
* no body holds a filesystem path of the service, a traceback, a database URL, the host name.

The figures (requests, statuses, failures) are printed and asserted; run with ``-s`` to read
them.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from sqlalchemy.engine import make_url
from werkzeug.routing import Rule
from werkzeug.security import generate_password_hash

from processing.products import ProductDescriptor, ProductFile
from processing.simulator import SimulationResult
from tests.registry.xsd import assert_valid
from tests.uws._xsd import UWS_NS, VOTABLE_NS, validate
from uws import UWSService
from vo_service._context import ServiceContext
from vo_service._request import PARAMETERS
from vo_service.app import create_app
from vo_service.settings import Settings

#: Requests per backend (the acceptance asks for at least 3,000), and of the HTTP Basic run.
REQUESTS = 6000
BASIC_REQUESTS = 1500
#: A file to append one line per answer to, when set (reading what the fuzzing saw).
_DUMP = os.environ.get("VO_SERVICE_FUZZ_DUMP")

#: Hostile values, each already percent-encoded (so malformed UTF-8 can be sent too).
_RAW: dict[str, str] = {
    "nul": "%00",
    "nul-inside": "ab%00cd",
    "control": "x%01y",
    "escape": "%1B%5B31m",
    "del": "%7F",
    "crlf": "a%0D%0ASet-Cookie:%20x=1",
    "bad-utf8": "%FF%FE",
    "surrogate-utf8": "%ED%A0%80",
    "overlong-utf8": "%C0%AF",
    "noncharacter": quote("\ufffe"),
    "bidi": quote("\u202eevil"),
    "emoji": quote("\U0001f4a5"),
}
_PLAIN: dict[str, str] = {
    "empty": "",
    "space": " ",
    "huge": "A" * 60_000,
    "huge-digits": "9" * 5_000,
    "nan": "NaN",
    "inf": "inf",
    "-inf": "-Infinity",
    "1e400": "1e400",
    "-0": "-0",
    "negative": "-1",
    "int64": str(2**63),
    "uint64": str(2**64),
    "bigneg": str(-(2**63) - 1),
    "date-before-1": "0001-01-01T00:00:00+01:00",
    "date-after-9999": "9999-12-31T23:59:59-01:00",
    "year-0": "0000-01-01",
    "year-10000": "10000-01-01T00:00:00Z",
    "bad-date": "2024-02-30T25:61:61Z",
    "mjd-huge": "1e308",
    "deep-json": "[" * 5_000 + "]" * 5_000,
    "deep-object": '{"a":' * 3_000 + "1" + "}" * 3_000,
    "json-catalog": json.dumps([{"name": "<&>", "ra": "NaN", "dec": 1e400}]),
    "xml": "<a x='1'>&amp;&lt;]]></a>",
    "xml-entity": '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    "quotes": "'\";--",
    "traversal": "../../../../etc/passwd",
    "encoded-traversal": "..%2F..%2F..%2Fetc%2Fpasswd",
    "absolute": "/etc/passwd",
    "windows": "C:\\Windows\\win.ini",
    "slash": "a/b",
    "ivoid-odd": "ivo://codedmask.example.org/isgri?../../x",
    "format": "%s%n%x{0}",
    "tab": "\t",
    "comma-list": ",,,;;;",
}
HOSTILE: list[tuple[str, str]] = [
    *(_RAW.items()),
    *((label, quote(value, safe="")) for label, value in _PLAIN.items()),
]

#: Methods no endpoint takes, tried now and then.
ODD_METHODS = ("PUT", "PATCH", "TRACE", "PROPFIND", "DELETE")

_CONTROL = ["PHASE", "RUNID", "EXECUTIONDURATION", "DESTRUCTION"]
_JOB_LIST = ["PHASE", "AFTER", "LAST", "RUNID"]
_SODA = ["ID", "POS", "CIRCLE", "POLYGON", "BAND", "TIME", "RESPONSEFORMAT"]
_OAI = ["verb", "metadataPrefix", "identifier", "from", "until", "set", "resumptionToken"]
_ODA = [
    "instrument",
    "product_type",
    "query_status",
    "query_type",
    "job_id",
    "session_id",
    "token",
    "scw_list",
    "RA",
    "DEC",
    "T1",
    "T2",
    "selected_catalog",
    "async_dispatcher",
]
_REQUEST = [p.name for p in PARAMETERS]


def _is_web_page(rule: str) -> bool:
    """Whether ``rule`` is a page of the web front end (``/`` and ``/web/...``)."""
    return rule == "/" or rule.startswith("/web/")


def _parameters(rule: str, method: str) -> list[str]:
    """The parameter names an endpoint reads (plus one it does not know)."""
    if rule in ("/web/jobs", "/web/check") and method == "POST":
        return [*_REQUEST, "action", "unknown_name"]
    if rule.startswith("/web/products/") and rule.endswith("/soda"):
        return ["ra", "dec", "radius", "e1", "e2", "t1", "t2"]
    if rule in ("/async", "/sync", "/soda/async"):
        names = _JOB_LIST if method == "GET" and rule != "/sync" else _CONTROL
        request = _SODA if rule.startswith("/soda") else _REQUEST
        return [*names, *request, "KIND", "unknown_name"]
    if rule.endswith("/<job_id>"):
        return ["WAIT", "PHASE", "ACTION"]
    if "/<job_id>/" in rule:
        return ["PHASE", "EXECUTIONDURATION", "DESTRUCTION", "ID", "radius", "E1_keV"]
    if rule.endswith("/params"):
        return ["product_type", "RESPONSEFORMAT"]
    if rule.startswith("/datalink"):
        return ["ID", "RESPONSEFORMAT", "MAXREC"]
    if rule.startswith("/soda"):
        return _SODA
    if rule == "/oai":
        return _OAI
    if rule.startswith("/oda"):
        return _ODA
    return ["x", "ID"]


#: Valid parameters each endpoint gets besides the hostile one, so that the hostile value is
#: what the deepest layer sees.
def _base(rule: str, method: str, product_id: str) -> dict[str, str]:
    if rule in ("/web/jobs", "/web/check") and method == "POST":
        return {"product_type": "image", "src_name": "Crab", "radius": "10", "action": "check"}
    if rule in ("/async", "/sync") and (method == "POST" or rule == "/sync"):
        return {"product_type": "image", "src_name": "Crab", "radius": "10"}
    if rule in ("/async", "/soda/async") and method == "GET":
        return {"LAST": "3"}
    if rule == "/soda/async":
        return {"ID": product_id, "CIRCLE": "83.6 22.0 1"}
    if rule.startswith("/datalink"):
        return {"ID": product_id}
    if rule == "/soda/sync":
        return {"ID": product_id, "CIRCLE": "83.6 22.0 1"}
    if rule == "/oai":
        return {"verb": "ListRecords", "metadataPrefix": "ivo_vor"}
    if rule == "/oda/run_analysis":
        return {"instrument": "isgri", "product_type": "isgri_image", "query_status": "new"}
    return {}


@dataclass(frozen=True)
class Target:
    """One endpoint and method of the URL map."""

    rule: str
    method: str
    variables: tuple[str, ...]
    blueprint: str


@dataclass(frozen=True)
class Probe:
    """One request: a target with one slot (parameter, path variable or header) made hostile."""

    target: Target
    slot: str
    label: str
    value: str  # percent-encoded
    method: str
    body: str = "form"  # how a POST sends its parameters: form, json or multipart
    credentials: bool = True  # whether the client's own credentials go with it (HTTP Basic)


@dataclass
class Tally:
    """What the fuzzing found."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    not_protocol: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    documents_validated: int = 0
    slowest: tuple[float, str] = (0.0, "")

    def summary(self) -> str:
        return (
            f"{self.requests} requests, statuses {dict(sorted(self.statuses.items()))}, "
            f"{self.documents_validated} distinct XML documents validated; "
            f"{len(self.server_errors)} 5xx, {len(self.not_protocol)} non-protocol errors, "
            f"{len(self.invalid)} schema-invalid, {len(self.leaks)} leaks; "
            f"slowest answer {self.slowest[0]:.2f} s ({self.slowest[1]})"
        )


def targets(app: Flask) -> list[Target]:
    """Every (rule, method) of the app's URL map, static files and the landing page aside."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append(Target(rule.rule, method, tuple(rule.arguments), _blueprint(rule)))
    return found


def _blueprint(rule: Rule) -> str:
    return rule.endpoint.rpartition(".")[0]


def schedule(found: list[Target], total: int) -> list[Probe]:
    """``total`` probes: round robin over every (target, slot), each round shifting the
    hostile value, so every slot meets many values and every value every slot."""
    slots = [
        (target, slot)
        for target in found
        for slot in (
            *_parameters(target.rule, target.method),
            *(f"<{v}>" for v in target.variables),
            "header:X-Remote-User",
            "header:Authorization",
        )
    ]
    probes = []
    for number in itertools.count():
        target, slot = slots[number % len(slots)]
        label, value = HOSTILE[(number // len(slots) + number * 7) % len(HOSTILE)]
        odd = number % 11 == 5
        method = ODD_METHODS[number % len(ODD_METHODS)] if odd else target.method
        body = {0: "json", 6: "multipart"}.get(number % 13, "form")
        probes.append(Probe(target, slot, label, value, method, body, number % 3 != 0))
        if len(probes) == total:
            return probes
    raise AssertionError("unreachable")


@dataclass
class Fuzzer:
    """Sends probes through a Flask test client and checks every answer."""

    client: FlaskClient
    job_ids: dict[str, str]
    product_id: str
    secrets: tuple[str, ...]
    #: ``Authorization`` of the client's own account, when the service uses HTTP Basic.
    authorization: str | None = None
    tally: Tally = field(default_factory=Tally)
    _valid: set[bytes] = field(default_factory=set)

    def job_for(self, probe: Probe) -> str:
        """The job a probe talks to: the shared one, or a fresh one for a probe that may
        delete it or start it (so that later probes still find a PENDING job)."""
        prefix = "/soda" if probe.target.rule.startswith("/soda") else "/async"
        if probe.method == "GET":
            return self.job_ids[prefix]
        data = (
            {"ID": self.product_id, "CIRCLE": "83.6 22.0 1"}
            if prefix == "/soda"
            else {"product_type": "image", "src_name": "Crab"}
        )
        created = self.client.post(
            f"{prefix}/async" if prefix == "/soda" else prefix,
            data=data,
            headers=self.own_headers(probe),
        )
        assert created.status_code == 303, created.data
        return str(created.headers["Location"]).rsplit("/", 1)[-1]

    def own_headers(self, probe: Probe) -> dict[str, str]:
        if self.authorization is None or not probe.credentials:
            return {}
        return {"Authorization": self.authorization}

    def path_of(self, probe: Probe) -> str:
        path = probe.target.rule
        for variable in probe.target.variables:
            if probe.slot == f"<{variable}>":
                value = probe.value
            elif variable == "job_id":
                value = self.job_for(probe)
            elif variable == "result_id":
                value = "links"
            elif variable == "product_hash":
                value = self.product_id.rpartition("?")[2]
            elif variable == "name":
                value = "image.fits"
            elif variable == "scw_id":
                value = "006600230010"
            else:
                value = "0" * 16
            path = path.replace(f"<{variable}>", value).replace(f"<path:{variable}>", value)
        return path

    def send(self, probe: Probe) -> None:
        started = time.monotonic()
        target = probe.target
        base = _base(target.rule, target.method, self.product_id)
        query = {name: quote(value, safe="") for name, value in base.items()}
        headers = self.own_headers(probe)
        if probe.slot.startswith("header:"):
            name = probe.slot.partition(":")[2]
            # A header cannot carry every byte; send what HTTP allows, decoded.
            headers[name] = _header_value(probe.value)
        elif not probe.slot.startswith("<"):
            query[probe.slot] = probe.value
        encoded = "&".join(f"{quote(k, safe='')}={v}" for k, v in query.items())
        path = self.path_of(probe)
        if probe.method == "POST" and probe.body != "form":
            fields = {name: unquote(value, errors="replace") for name, value in query.items()}
            if probe.body == "json":  # no endpoint reads JSON: it must be ignored, not fail
                response = self.client.post(path, json=fields, headers=headers)
            else:
                response = self.client.post(
                    path, data=fields, content_type="multipart/form-data", headers=headers
                )
        elif probe.method == "POST":
            response = self.client.open(
                path,
                method="POST",
                data=encoded.encode("ascii"),
                content_type="application/x-www-form-urlencoded",
                headers=headers,
            )
        else:
            response = self.client.open(
                f"{path}?{encoded}" if encoded else path, method=probe.method, headers=headers
            )
        self.check(probe, response.status_code, response.mimetype or "", response.get_data())
        self.tally.slowest = max(self.tally.slowest, (time.monotonic() - started, probe.label))
        response.close()

    def check(self, probe: Probe, status: int, mimetype: str, body: bytes) -> None:
        tally = self.tally
        where = f"{probe.method} {probe.target.rule} {probe.slot}={probe.label} -> {status}"
        if _DUMP:
            with open(_DUMP, "a") as sink:
                sink.write(f"{time.monotonic():.3f} {where} {body[:150]!r}\n")
        tally.requests += 1
        tally.statuses[status] += 1
        if status >= 500:
            tally.server_errors.append(f"{where}: {body[:300]!r}")
        for secret in self.secrets:
            if secret.encode() in body:
                tally.leaks.append(f"{where}: holds {secret!r}")
        if 300 <= status < 400:  # a redirect's body is Werkzeug's note for humans
            return
        if "html" in mimetype:
            # The web front end (vo_service.web) answers people in HTML, its errors too; DALI
            # examples (/tap/examples) are an XHTML document by their standard.
            if probe.target.rule == "/tap/examples" and status == 200:
                etree.fromstring(body)
            elif not _is_web_page(probe.target.rule):
                tally.not_protocol.append(f"{where}: HTML")
            return
        if "xml" in mimetype:
            problem = self.validate(body, error=status >= 400)
            if problem:
                tally.invalid.append(f"{where}: {problem}")
            return
        if status >= 400 and not self.own_plain_error(probe, mimetype, body):
            tally.not_protocol.append(f"{where}: {mimetype} {body[:120]!r}")

    def own_plain_error(self, probe: Probe, mimetype: str, body: bytes) -> bool:
        rule = probe.target.rule
        if mimetype == "text/plain":  # SODA 1.0 §5, and the DataLink snippet
            return rule in ("/soda/sync", "/datalink/links/snippet") and b": " in body
        if mimetype == "application/json":  # the JSON protocols
            return rule.startswith(("/oda", "/products", "/archive", "/health"))
        return False

    def validate(self, body: bytes, *, error: bool) -> str | None:
        digest = hashlib.sha256(body).digest()
        if digest in self._valid:
            return None
        try:
            root = etree.fromstring(body)
            namespace = etree.QName(root).namespace
            if namespace in (UWS_NS, VOTABLE_NS):
                validate(body)
            else:
                assert_valid(root)
        except (etree.XMLSyntaxError, AssertionError) as exc:
            return str(exc)[:400]
        if error and namespace == VOTABLE_NS:
            status = root.find(
                f"{{{VOTABLE_NS}}}RESOURCE/{{{VOTABLE_NS}}}INFO[@name='QUERY_STATUS']"
            )
            if status is None or status.get("value") != "ERROR":
                return "an error VOTable without QUERY_STATUS=ERROR"
        self._valid.add(digest)
        self.tally.documents_validated += 1
        return None


def _header_value(encoded: str) -> str:
    text = unquote(encoded, errors="replace")
    # Werkzeug's client refuses newlines in headers (as HTTP does); keep the rest.
    return (
        "".join(c for c in text if c not in "\r\n")[:8000]
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


@pytest.fixture(scope="module")
def service_root(tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(tiny_archive.root, root / "archive")
    return root


def _database_secrets(database_url: str) -> tuple[str, ...]:
    """What of the database URL must never reach a client: its host and port, its name."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return (str(url.database),)
    return (f"{url.host}:{url.port or 5432}", str(url.database))


def _image_product(folder: Path) -> ProductDescriptor:
    """A small sky image around the Crab, as the store keeps products (SODA can cut it)."""
    folder.mkdir(parents=True, exist_ok=True)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---CAR", "DEC--CAR"]
    wcs.wcs.crval = [83.63, 22.01]
    wcs.wcs.crpix = [10.5, 10.5]
    wcs.wcs.cdelt = [-0.25, 0.25]
    path = folder / "image.fits"
    data = np.arange(400, dtype=np.float32).reshape(20, 20)
    fits.PrimaryHDU(data, header=wcs.to_header()).writeto(path, overwrite=True)
    return ProductDescriptor(
        provenance_hash="f0" * 32,
        product_type="image",
        files=(ProductFile(path, "application/fits", "#this", "sky image"),),
        metadata={
            "ra": 83.63,
            "dec": 22.01,
            "radius_deg": 2.5,
            "e_min_kev": 20.0,
            "e_max_kev": 40.0,
            "t_min_mjd": 53065.0,
            "t_max_mjd": 53065.1,
            "scw_ids": ["006600230010"],
        },
    )


def _app(root: Path, database_url: str, **overrides: object) -> tuple[Flask, ServiceContext]:
    settings = Settings.load(
        data_dir=root / "var",
        archive_path=root / "archive",
        database_url=database_url,
        executor="inline",
        network_resolvers=False,
        **{"uws_identity": "header", **overrides},
    )
    context = ServiceContext.build(settings)
    context.archive.ingest()
    return create_app(settings, context), context


#: The account of the HTTP Basic run, and what must never come back in any answer.
_USER, _PASSWORD = "alice", "s3cret-Pa55word"


@pytest.fixture
def make_fuzzer(
    service_root: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Fuzzer]]:
    """Builds the app (settings ``overrides``), a product, a job of each endpoint, a fuzzer."""
    # No runner: /sync must not wait for jobs nobody runs (its own tests wait for real).
    # WAIT returns at once: the jobs stay PENDING and WAIT's own tests time it.
    monkeypatch.setattr(
        UWSService, "wait_final", lambda self, owner, job_id, timeout: self.get(owner, job_id)
    )
    wait = UWSService.wait
    monkeypatch.setattr(
        UWSService,
        "wait",
        lambda self, owner, job_id, timeout, phase=None, **kw: wait(
            self, owner, job_id, 0.0, phase, **kw
        ),
    )
    contexts: list[ServiceContext] = []

    def make(authorization: str | None = None, **overrides: object) -> Fuzzer:
        app, context = _app(service_root, database_url, **overrides)
        contexts.append(context)
        stored = context.store.put(_image_product(service_root / "made"))
        product_id = f"{context.settings.ivoid}?{stored.hash}"
        client = app.test_client()
        own = {"Authorization": authorization} if authorization else {}
        job = client.post("/async", data={"product_type": "image", "src_name": "Crab"}, headers=own)
        soda = client.post(
            "/soda/async", data={"ID": product_id, "CIRCLE": "83.6 22.0 1"}, headers=own
        )
        assert job.status_code == 303, job.data
        assert soda.status_code == 303, soda.data
        job_ids = {
            "/async": job.headers["Location"].rsplit("/", 1)[-1],
            "/soda": soda.headers["Location"].rsplit("/", 1)[-1],
        }
        secrets = (
            str(service_root),
            str(Path(__file__).resolve().parents[2]),
            "Traceback",
            "sqlite:/",
            "postgresql+",
            "postgresql:/",
            "psycopg.",
            _PASSWORD,
            *_database_secrets(database_url),
            socket.gethostname() if len(socket.gethostname()) > 6 else str(service_root),
        )
        return Fuzzer(client, job_ids, product_id, secrets, authorization)

    yield make
    for context in contexts:
        context.engine.dispose()


def _run(fuzzer: Fuzzer, total: int) -> Tally:
    found = targets(fuzzer.client.application)
    rules = {t.rule for t in found}
    for expected in ("/async", "/async/<job_id>/phase", "/sync", "/datalink/links", "/oai"):
        assert expected in rules  # the walk reaches the protocols
    for probe in schedule(found, total):
        fuzzer.send(probe)
    tally = fuzzer.tally
    print("\nfuzz:", tally.summary())
    assert tally.requests >= total
    assert tally.server_errors == [], "\n".join(tally.server_errors[:20])
    assert tally.not_protocol == [], "\n".join(tally.not_protocol[:20])
    assert tally.invalid == [], "\n".join(tally.invalid[:20])
    assert tally.leaks == [], "\n".join(tally.leaks[:20])
    return tally


def test_fuzz_every_endpoint(make_fuzzer: Callable[..., Fuzzer]) -> None:
    """The service as deployed by default (owners from a trusted header)."""
    _run(make_fuzzer(), REQUESTS)


def test_fuzz_with_http_basic(make_fuzzer: Callable[..., Fuzzer], service_root: Path) -> None:
    """HTTP Basic: two requests in three carry the account's credentials, the rest none, and
    the Authorization header is one of the hostile slots; the password never comes back."""
    users = service_root / "users"
    users.write_text(f"{_USER}:{generate_password_hash(_PASSWORD, method='pbkdf2:sha256:1000')}\n")
    token = base64.b64encode(f"{_USER}:{_PASSWORD}".encode()).decode()
    fuzzer = make_fuzzer(f"Basic {token}", uws_identity="basic", uws_users_file=users)
    tally = _run(fuzzer, BASIC_REQUESTS)
    assert tally.statuses[401] > 0  # hostile Authorization headers were refused, not ignored
