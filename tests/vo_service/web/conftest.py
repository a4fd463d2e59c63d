"""The web front end's fixtures: a real ``vo-service serve`` over the tiny archive and headless
Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium.

The browser resolves no host but this machine (``--host-resolver-rules``), and every request it
makes is read back from its performance log, so a page that fetched anything from elsewhere
fails its test. Screenshots go to ``VO_SERVICE_WEB_SCREENSHOTS`` or a temporary folder, named at
the end of the run.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from processing.simulator import SimulationResult
from vo_service.testing import serving

_LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="session")
def web_service(
    tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult
) -> Iterator[str]:
    """Base URL of ``vo-service serve`` over a copy of the tiny archive, anonymous users, with
    the ``sleep`` demo kind (a job that runs long enough to be aborted)."""
    root = tmp_path_factory.mktemp("web_service")
    shutil.copytree(tiny_archive.root, root / "var" / "archive")
    env = {"VO_SERVICE_UWS_DEMO_KINDS": "true", "VO_SERVICE_RUNNER_SLOTS": "2"}
    with serving(root / "var", "--threads", "8", env=env) as base:
        yield base


#: Where this run's screenshots went (named in the terminal summary).
_SHOTS: list[Path] = []


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the browser tests write their screenshots to (reported at the end)."""
    given = os.environ.get("VO_SERVICE_WEB_SCREENSHOTS")
    folder = Path(given) if given else tmp_path_factory.mktemp("web_screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    _SHOTS.append(folder)
    return folder


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in _SHOTS:
        count = len(list(folder.glob("*.png")))
        if count:
            terminalreporter.write_line(f"web front end: {count} screenshots in {folder}")


def _binaries() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return None if browser is None or driver is None else (browser, driver)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (1280 × 900) that reaches only this machine."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    found = _binaries()
    if found is None:
        reason = (
            "Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: scripts/_bootstrap.sh test installs them in CI")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        # WebGL2 in software, for Aladin Lite.
        "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(driver: Any) -> list[str]:
    """Every URL the browser asked for since the last call (its performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def foreign(urls: list[str]) -> list[str]:
    """The URLs that would leave this machine (data: and blob: URLs stay in the page)."""
    return [
        u
        for u in urls
        if urlsplit(u).scheme in ("http", "https", "ws", "wss")
        and urlsplit(u).hostname not in _LOCAL_HOSTS
    ]
