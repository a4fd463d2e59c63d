"""'Send to TOPCAT / Aladin' from a product page, through a real SAMP hub.

pyvo's ``SAMPHubServer`` (astropy's, moved there) runs with its Web Profile on (port 21012,
consent given by a dialog that accepts); a standard-profile client subscribed to ``table.load.votable`` and
``image.load.fits`` stands for TOPCAT and Aladin, and must receive the product's URLs when the
page's buttons are pressed in headless Chromium.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.vo_service.web.conftest import foreign, requested_urls
from tests.vo_service.web.test_browser import finished_product, shoot, submit_job, wait_for

pytest.importorskip("selenium")
from astropy.samp import SAMPHubServer, SAMPIntegratedClient, WebProfileDialog
from selenium.webdriver.common.by import By

_WEB_PROFILE_PORT = 21012


class _Consent(WebProfileDialog):
    """The hub's consent 'dialog': says yes to every web application, from a thread."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            self.handle_queue()

    def show_dialog(self, samp_name: str, details: Any, client: Any, origin: Any) -> None:
        self.asked.append(str(samp_name))
        self.consent()


@pytest.fixture
def samp_hub(tmp_path: Path) -> Iterator[tuple[SAMPHubServer, SAMPIntegratedClient, list]]:
    """A hub with the Web Profile, and a receiving client that records notifications."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", _WEB_PROFILE_PORT)) == 0:
            pytest.skip("port 21012 (SAMP Web Profile) is taken by another hub")
    dialog = _Consent()
    hub = SAMPHubServer(
        web_profile=True, web_profile_dialog=dialog, lockfile=str(tmp_path / "samp.lock")
    )
    hub.start(wait=False)
    dialog.start()
    received: list[tuple[str, dict[str, Any]]] = []
    client = SAMPIntegratedClient(name="receiver")
    client.connect(hub=hub)

    def record(private_key: str, sender_id: str, mtype: str, params: Any, extra: Any) -> None:
        received.append((mtype, dict(params)))

    for mtype in ("table.load.votable", "image.load.fits"):
        client.bind_receive_notification(mtype, record)
    try:
        yield hub, client, received
    finally:
        client.disconnect()
        dialog.stop()
        hub.stop()


def test_send_to_topcat_and_aladin(
    browser: Any, web_service: str, screenshots: Path, samp_hub: tuple[Any, Any, list]
) -> None:
    _, _, received = samp_hub
    driver = browser
    requested_urls(driver)
    product = finished_product(
        web_service, submit_job(web_service, product_type="image", src_name="Crab", radius="10")
    )
    files = requests.get(f"{web_service}/products/{product}", timeout=30).json()["files"]
    urls = {f["name"]: f["url"] for f in files}
    driver.get(f"{web_service}/web/products/{product}")
    buttons = driver.find_elements(By.CSS_SELECTOR, "#samp button.samp-send")
    labels = [b.text for b in buttons]
    assert "Send image to Aladin" in labels and "Send catalog.vot to TOPCAT" in labels
    for button in buttons:
        if button.text in ("Send image to Aladin", "Send catalog.vot to TOPCAT"):
            before = len(received)
            button.click()
            wait_for(lambda before=before: len(received) > before, 30, "the hub's message")
            time.sleep(0.2)
    status = driver.find_element(By.ID, "samp-status").text
    assert status.startswith("Sent ") and "1 tool" in status, status
    assert ("image.load.fits", {"url": urls["image.fits"], "name": "image.fits"}) in received
    assert (
        "table.load.votable",
        {"url": urls["catalog.vot"], "name": "catalog.vot"},
    ) in received
    driver.execute_script("document.getElementById('samp').scrollIntoView()")
    shoot(driver, screenshots, "product-samp")
    # The hub is on this machine: nothing else was asked.
    assert not foreign(requested_urls(driver))
