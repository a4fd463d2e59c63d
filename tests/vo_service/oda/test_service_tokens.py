"""The service's own bearer tokens given to oda_api as ``token=``: the subject owns the job (as
with ``Authorization: Bearer`` on /async); expired, forged, revoked and foreign-audience tokens
are the client's ``Unauthorized`` with the reason."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import jwt
import pytest
import requests
from oda_api.api import DispatcherAPI, Unauthorized

from processing.simulator import SimulationResult
from tests.vo_service.conftest import InProcessService, in_process_service
from tests.vo_service.oda.conftest import CRAB
from uws import TokenService
from vo_service._users import build_tokens, token_key


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult
) -> Iterator[InProcessService]:
    root = tmp_path_factory.mktemp("oda_service_tokens")
    with in_process_service(root, tiny_archive, serve=True) as service:
        yield service


@pytest.fixture(scope="module")
def tokens(served: InProcessService) -> TokenService:
    service = build_tokens(served.context.settings, served.context.engine)
    assert service is not None
    return service


def _resign(token: str, key: bytes, **changes: object) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode({**claims, **changes}, key, algorithm="HS256")


def test_the_token_subject_owns_the_job(served: InProcessService, tokens: TokenService) -> None:
    token, _ = tokens.issue("alice@example.org", lifetime=dt.timedelta(hours=1))
    disp = DispatcherAPI(url=f"{served.base_url}/oda", instrument="isgri", wait=False)
    disp.get_product(instrument="isgri", product="isgri_image", token=token, silent=True, **CRAB)
    job = disp.response_json["job_monitor"]["uws_job"]
    bearer = {"Authorization": f"Bearer {token}"}
    mine = requests.get(job, headers=bearer, timeout=30)
    assert mine.ok and "<uws:ownerId>alice@example.org</uws:ownerId>" in mine.text
    assert requests.get(job, timeout=30).status_code == 404  # not an anonymous job


@pytest.mark.parametrize("case", ["expired", "forged", "revoked", "audience"])
def test_bad_tokens_are_unauthorized(
    served: InProcessService, tokens: TokenService, case: str
) -> None:
    token, claims = tokens.issue("bob@example.org", lifetime=dt.timedelta(hours=1))
    key = token_key(served.context.settings)
    reason = {
        "expired": "expired",
        "forged": "not valid",
        "revoked": "revoked",
        "audience": "another service",
    }[case]
    if case == "expired":
        token = _resign(token, key, exp=int(time.time()) - 60)
    elif case == "forged":
        token = _resign(token, b"x" * 64)
    elif case == "revoked":
        assert tokens.revoke(claims.token_id) == 1
    else:
        token = _resign(token, key, aud="https://another.example.org")
    disp = DispatcherAPI(url=f"{served.base_url}/oda", instrument="isgri", wait=False)
    with pytest.raises(Unauthorized, match=reason):
        disp.get_product(
            instrument="isgri", product="isgri_image", token=token, silent=True, **CRAB
        )
