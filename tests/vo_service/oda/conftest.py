"""The real oda_api client against ``vo-service serve`` (the shared ``live_service``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from oda_api.api import DispatcherAPI

#: Crab position and a request every test shares (the tiny archive: 4 ScWs on the Crab).
CRAB = {"RA": 83.63308, "DEC": 22.0145, "radius": 20.0}


@pytest.fixture(autouse=True)
def _no_token_discovery(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """No ODA token from the tester's environment or home folder."""
    monkeypatch.delenv("ODA_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    logging.getLogger("oda_api").setLevel(logging.WARNING)
    yield


@pytest.fixture
def dispatcher(live_service: str) -> Callable[..., DispatcherAPI]:
    """A factory of clients pointed at the service's ODA front, as users point them."""

    def make(**kwargs: Any) -> DispatcherAPI:
        return DispatcherAPI(url=f"{live_service}/oda", instrument="isgri", **kwargs)

    return make
