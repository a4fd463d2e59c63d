"""The distributed deployment as separate processes on one machine (issue 18 item 2).

PostgreSQL, a ``dask scheduler`` with two ``dask worker`` processes, two ``vo-service worker``
runners and ``vo-service serve --no-runner`` share one data root. A 20-ScW image and a
spectrum go through ``/async``; one Dask worker and the runner of one job are killed with
SIGKILL while the jobs run; both jobs complete, and every result file is byte for byte what
the embedded default (``vo-service serve``: SQLite, its own local Dask cluster) gives. The Dask
workers run with no service setting, in folders of their own, and with every database
connection refused (``_no_database.py``): they need nothing but the shared data root.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pyvo.io.uws import parse_job
from sqlalchemy import create_engine, text

from processing.simulator import SimulationResult, simulate_archive
from tests._archives import crab_field_scenario
from tests.uws._xsd import validate
from vo_service._topology import LocalTopology, service_environment
from vo_service.testing import serving

pytestmark = pytest.mark.postgres

N_SCW = 20
REPO = Path(__file__).resolve().parents[2]
CRAB = {"RA": "83.633", "DEC": "22.014", "radius": "20", "max_pointings": str(N_SCW)}
REQUESTS = {
    "image": {"product_type": "image", "E1_keV": "20", "E2_keV": "40", **CRAB},
    "spectrum": {"product_type": "spectrum", "src_name": "Crab", **CRAB},
}
#: Bound of one job (expected well under a minute here; ~10x for a loaded 2-core CI machine).
JOB_TIMEOUT = 600.0
FINAL = {"COMPLETED", "ERROR", "ABORTED"}


@pytest.fixture(scope="module")
def crab_field(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    """Twenty 300 s science windows around the Crab (read-only: copy before use)."""
    return simulate_archive(crab_field_scenario(N_SCW), tmp_path_factory.mktemp("crab_field"))


def _cli(data_dir: Path, database_url: str, *args: str) -> None:
    subprocess.run(
        [str(Path(sys.executable).parent / "vo-service"), *args],
        env=service_environment(data_dir, database_url),
        check=True,
        capture_output=True,
        timeout=300,
    )


class Service:
    """Jobs of one deployment, reached at ``base``; result URLs name ``public``."""

    def __init__(self, base: str, public: str | None = None) -> None:
        self.base = base
        self.public = public or base

    def local(self, url: str) -> str:
        return self.base + url.removeprefix(self.public)

    def submit(self, params: dict[str, str]) -> str:
        created = requests.post(
            f"{self.base}/async", data={**params, "PHASE": "RUN"}, allow_redirects=False, timeout=60
        )
        assert created.status_code == 303, created.text
        return created.headers["Location"].rsplit("/", 1)[1]

    def document(self, job_id: str, wait: int | None = None) -> bytes:
        query = f"?WAIT={wait}" if wait else ""
        response = requests.get(f"{self.base}/async/{job_id}{query}", timeout=120)
        response.raise_for_status()
        return response.content

    def wait_final(self, job_id: str, timeout: float = JOB_TIMEOUT) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.document(job_id, wait=30)
            if str(parse_job(io.BytesIO(content)).phase) in FINAL:
                return content
        raise AssertionError(f"job {job_id} not finished after {timeout:.0f} s")

    def results(self, content: bytes) -> dict[str, bytes]:
        """Every result of a COMPLETED job document, fetched."""
        job = parse_job(io.BytesIO(content))
        assert str(job.phase) == "COMPLETED", content.decode()
        found = {}
        for result in job.results:
            response = requests.get(self.local(str(result.href)), timeout=120)
            response.raise_for_status()
            found[str(result.id_)] = response.content
        return found


def _executing(database_url: str) -> dict[str, tuple[str, float, int]]:
    """Running jobs: id -> (runner id, nodes done, attempts)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, runner_id, progress_done, attempts FROM uws_job "
                    "WHERE phase = 'EXECUTING'"
                )
            ).all()
    finally:
        engine.dispose()
    return {r.id: (r.runner_id, r.progress_done or 0.0, r.attempts) for r in rows}


def _attempts(database_url: str, job_id: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT attempts FROM uws_job WHERE id = :id"), {"id": job_id}
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _digests(results: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(content).hexdigest() for name, content in results.items()}


@pytest.fixture
def topology(
    tmp_path: Path, crab_field: SimulationResult, postgres_url: str
) -> Iterator[tuple[LocalTopology, Path]]:
    data = tmp_path / "shared" / "data"
    shutil.copytree(crab_field.root, data / "archive")
    attempts = tmp_path / "database-attempts.txt"
    try:
        yield from _started(data, postgres_url, attempts)
    finally:
        # The session's database is shared with other tests: leave it empty, as found.
        engine = create_engine(postgres_url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()


def _started(data: Path, postgres_url: str, attempts: Path) -> Iterator[tuple[LocalTopology, Path]]:
    _cli(data, postgres_url, "db", "upgrade")
    _cli(data, postgres_url, "archive", "ingest")
    with LocalTopology(
        data,
        postgres_url,
        dask_workers=2,
        runners=2,
        # One job per runner, and a job whose runner dies runs again.
        settings={"VO_SERVICE_RUNNER_SLOTS": "1", "VO_SERVICE_RUNNER_MAX_ATTEMPTS": "3"},
        worker_args=["--preload", str(Path(__file__).with_name("_no_database.py"))],
        worker_env={"VO_TEST_DATABASE_ATTEMPTS": str(attempts), "PYTHONPATH": str(REPO)},
    ) as started:
        yield started, attempts


def test_distributed_topology_survives_kills_and_matches_the_embedded_default(
    topology: tuple[LocalTopology, Path],
    postgres_url: str,
    crab_field: SimulationResult,
    tmp_path: Path,
) -> None:
    topo, database_attempts = topology
    service = Service(topo.base_url)
    jobs = {name: service.submit(params) for name, params in REQUESTS.items()}

    # Both jobs running on their own runner, the image with some nodes done: kill -9 one Dask
    # worker (nanny and worker process) and the runner of the image job.
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        running = _executing(postgres_url)
        image = running.get(jobs["image"])
        if image is not None and image[1] >= 1 and jobs["spectrum"] in running:
            break
        assert time.monotonic() < deadline, f"jobs did not start: {running}"
        time.sleep(0.2)
    image_runner_pid = int(image[0].split(":")[1])
    victim = next(p for p in topo.processes if p.pid == image_runner_pid)
    assert victim.name.startswith("runner-")
    topo.named("dask-worker-0").kill()
    victim.kill()

    documents = {name: service.wait_final(job_id) for name, job_id in jobs.items()}
    for name, content in documents.items():
        validate(content)  # UWS 1.1 XSD
        assert str(parse_job(io.BytesIO(content)).phase) == "COMPLETED", (name, content.decode())
    distributed = {name: service.results(content) for name, content in documents.items()}
    # The image job ran again on the surviving runner; the spectrum's runner never stopped.
    assert _attempts(postgres_url, jobs["image"]) == 2
    assert _attempts(postgres_url, jobs["spectrum"]) == 1
    assert topo.named("dask-worker-1").alive()
    # The Dask workers computed without ever opening a database.
    assert not database_attempts.exists(), database_attempts.read_text()
    assert len(distributed["image"]) >= 3 and len(distributed["spectrum"]) >= 3
    # No result names the data root: equal products are equal bytes wherever it is mounted.
    root = str(topo.data_dir.parent.parent).encode()
    assert not [f"{n}/{r}" for n, f in distributed.items() for r, b in f.items() if root in b]
    topo.close()

    # The embedded default over a copy of the same archive, with the same public URL.
    embedded_data = tmp_path / "embedded" / "var"
    shutil.copytree(crab_field.root, embedded_data / "archive")
    with serving(
        embedded_data,
        env={
            "VO_SERVICE_EXECUTOR": "local",
            "VO_SERVICE_DASK_WORKERS": "2",
            "VO_SERVICE_PUBLIC_BASE_URL": topo.base_url,
        },
    ) as base:
        embedded_service = Service(base, public=topo.base_url)
        for name, params in REQUESTS.items():
            content = embedded_service.wait_final(embedded_service.submit(params))
            assert _digests(embedded_service.results(content)) == _digests(distributed[name])
