"""UWS service speed against PostgreSQL and gunicorn: ``python -m benchmarks.bench_uws``.

Measures, with the demo job kinds and separate runner processes:

* create -> COMPLETED round trip of an instant job (POST PHASE=RUN, then WAIT), p50;
* job creations per second with 4 and 8 concurrent clients (POST, no redirect follow);
* job-document GET latency, p50;
* WAIT latency: time from the server's endTime to the blocked WAIT's return, p50.

Targets (issue 6): round trip p50 <= 50 ms; >= 450 creations/s with 4-8 clients;
GET p50 <= 5 ms; WAIT p50 <= 50 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import threading
import time
from urllib.parse import urlencode, urlsplit

import requests
from lxml import etree

from benchmarks.bench_uws_support import (
    deployment,
    postgres_database,
    summary_ms,
    write_result,
)

NS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0"}
FINAL = {"COMPLETED", "ERROR", "ABORTED"}


def _phase(body: bytes) -> tuple[str, etree._Element]:
    root = etree.fromstring(body)
    return str(root.findtext("uws:phase", namespaces=NS)), root


def _create(session: requests.Session, base: str, **params: str) -> str:
    response = session.post(f"{base}/async", data=params, allow_redirects=False)
    if response.status_code != 303:
        raise RuntimeError(f"create failed: {response.status_code} {response.text[:200]}")
    return str(response.headers["Location"])


def _until(session: requests.Session, url: str, phases: set[str]) -> etree._Element:
    while True:
        phase, root = _phase(session.get(url, params={"WAIT": "10"}).content)
        if phase in phases:
            return root


def round_trips(base: str, n: int) -> list[float]:
    session = requests.Session()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        url = _create(session, base, KIND="echo", PHASE="RUN")
        root = _until(session, url, FINAL)
        times.append(time.perf_counter() - start)
        assert root.findtext("uws:phase", namespaces=NS) == "COMPLETED"
    return times


class _RawClient:
    """A keep-alive HTTP/1.1 client on http.client: far less client CPU than requests,
    which matters when client and server share two cores."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port)

    def post_form(self, path: str, form: dict[str, str]) -> int:
        body = urlencode(form)
        self.conn.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        response = self.conn.getresponse()
        response.read()
        return response.status

    def get(self, path: str) -> tuple[int, bytes]:
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        return response.status, response.read()


def creation_rate(base: str, clients: int, seconds: float) -> dict[str, float]:
    counts = [0] * clients
    errors = [0] * clients
    stop = time.perf_counter() + seconds

    def client(i: int) -> None:
        raw = _RawClient(base)
        while time.perf_counter() < stop:
            if raw.post_form("/async", {"KIND": "echo", "N": str(i)}) == 303:
                counts[i] += 1
            else:
                errors[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "created": sum(counts),
        "errors": sum(errors),
        "per_second": round(sum(counts) / elapsed, 1),
    }


def get_latency(base: str, n: int) -> list[float]:
    session = requests.Session()
    url = _create(session, base, KIND="echo", PHASE="RUN", TARGET="Crab")
    _until(session, url, FINAL)
    raw = _RawClient(base)
    path = urlsplit(url).path
    times = []
    for _ in range(n):
        start = time.perf_counter()
        status, _ = raw.get(path)
        times.append(time.perf_counter() - start)
        assert status == 200
    return times


def wait_latency(base: str, n: int) -> list[float]:
    session = requests.Session()
    latencies = []
    for _ in range(n):
        url = _create(session, base, KIND="sleep", SECONDS="0.3", STEPS="1", PHASE="RUN")
        _until(session, url, {"EXECUTING", *FINAL})
        phase, root = _phase(session.get(url, params={"WAIT": "10"}).content)
        returned = dt.datetime.now(dt.UTC)
        if phase != "COMPLETED":
            raise RuntimeError(f"WAIT returned in {phase}")
        ended = dt.datetime.fromisoformat(str(root.findtext("uws:endTime", namespaces=NS)))
        latencies.append((returned - ended).total_seconds())
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=200)
    parser.add_argument("--gets", type=int, default=1000)
    parser.add_argument("--waits", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=5.0, help="per creation-rate run")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with (
        postgres_database() as url,
        deployment(url, web_workers=args.web_workers, threads=args.threads) as svc,
    ):
        round_trips(svc.base, 10)  # warm up
        result = {
            "setup": {
                "database": "postgresql",
                "web": f"gunicorn gthread, {args.web_workers} workers x {args.threads} threads",
                "runners": "1 vo-service worker, 2 slots",
            },
            "round_trip": summary_ms(round_trips(svc.base, args.round_trips)),
            "creation_rate": [creation_rate(svc.base, c, args.seconds) for c in (4, 8)],
            "job_get": summary_ms(get_latency(svc.base, args.gets)),
            "wait_after_phase_change": summary_ms(wait_latency(svc.base, args.waits)),
        }
    path = write_result("bench_uws", result)
    print(f"round trip p50 {result['round_trip']['p50_ms']} ms (target <= 50)")
    for rate in result["creation_rate"]:  # type: ignore[attr-defined]
        print(
            f"creations/s with {rate['clients']} clients: {rate['per_second']} "
            f"({rate['errors']} errors; target >= 450)"
        )
    print(f"job GET p50 {result['job_get']['p50_ms']} ms (target <= 5)")
    print(
        f"WAIT after phase change p50 {result['wait_after_phase_change']['p50_ms']} ms "
        "(target <= 50)"
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
