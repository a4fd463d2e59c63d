"""ODA tokens on a service configured with a token secret: the token's subject owns the job,
which its owner (and only they) finds in /async; a bad token is the client's Unauthorized."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from oda_api.api import DispatcherAPI, Unauthorized

from processing.simulator import SimulationResult
from tests.vo_service.oda.conftest import CRAB
from vo_service.testing import serving

SECRET = "a-shared-secret-of-32-bytes-or-more"


@pytest.fixture(scope="module")
def token_service(
    tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult
) -> Iterator[str]:
    root = tmp_path_factory.mktemp("oda_tokens")
    shutil.copytree(tiny_archive.root, root / "var" / "archive")
    with serving(root / "var", env={"VO_SERVICE_ODA_TOKEN_SECRET": SECRET}) as base:
        yield base


def _token(secret: str, **claims: object) -> str:
    return jwt.encode({"exp": int(time.time()) + 600, **claims}, secret, algorithm="HS256")


def test_token_subject_owns_the_job(token_service: str, tmp_path: Path) -> None:
    disp = DispatcherAPI(url=f"{token_service}/oda", instrument="isgri", wait=False)
    token = _token(SECRET, sub="alice@example.org")
    disp.get_product(instrument="isgri", product="isgri_image", token=token, silent=True, **CRAB)
    job = disp.response_json["job_monitor"]["uws_job"]
    assert requests.get(job, headers={"X-Remote-User": "alice@example.org"}, timeout=30).ok
    assert requests.get(job, timeout=30).status_code == 404  # not an anonymous job
    # Another user's poll of that job_id is refused, not answered.
    other = DispatcherAPI(url=f"{token_service}/oda", instrument="isgri", wait=False)
    other.job_id = disp.job_id
    payload = {**disp.parameters_dict_payload, "token": _token(SECRET, sub="bob")}
    refused = requests.get(f"{token_service}/oda/run_analysis", params=payload, timeout=30)
    assert refused.status_code == 403
    assert "job_id" in refused.json()["exit_status"]["message"]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (_token("another-secret-that-is-long-enough!"), "not valid"),
        (jwt.encode({"sub": "a", "exp": 1}, SECRET, algorithm="HS256"), "expired"),
    ],
)
def test_bad_token_is_unauthorized(token_service: str, token: str, reason: str) -> None:
    disp = DispatcherAPI(url=f"{token_service}/oda", instrument="isgri")
    with pytest.raises(Unauthorized, match=reason):
        disp.get_product(
            instrument="isgri", product="isgri_image", token=token, silent=True, **CRAB
        )
