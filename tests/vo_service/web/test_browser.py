"""The web front end in a real browser: headless Chromium driven by Selenium against
``vo-service serve`` over the tiny archive (issue 16's acceptance).

Each test checks that no request left the machine, and writes screenshots at 1280 and 400 px.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import requests
from astropy.table import Table

from tests.vo_service.web.conftest import foreign, requested_urls

pytest.importorskip("selenium")
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 60.0, what: str = "") -> T:
    """Poll ``check`` until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (NoSuchElementException, StaleElementReferenceException):
            value = None  # the page is being replaced (a reload, a redirect)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.1)


def shoot(driver: Any, folder: Path, name: str) -> None:
    """Screenshots at 1280 and 400 px wide (the page's top, 1600 px tall)."""
    for width in (1280, 400):
        driver.set_window_size(width, 1600)
        time.sleep(0.3)  # let the layout (and Aladin's canvas) follow
        driver.save_screenshot(str(folder / f"{name}-{width}.png"))
        assert (folder / f"{name}-{width}.png").stat().st_size > 1000
    driver.set_window_size(1280, 900)


def fill(driver: Any, name: str, value: str) -> None:
    box = driver.find_element(By.ID, f"f-{name}")
    box.clear()
    box.send_keys(value)


def visible_error(driver: Any, name: str) -> str:
    box = driver.find_element(By.ID, f"e-{name}")
    return "" if box.get_attribute("hidden") is not None else box.text


def image_variety(png: bytes) -> tuple[float, int]:
    """Pixel standard deviation and number of distinct colours of a PNG."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    flat = pixels.reshape(-1, 3)
    return float(pixels.std()), len(np.unique(flat[:: max(1, len(flat) // 20000)], axis=0))


def submit_job(base: str, cookies: dict[str, str] | None = None, **params: str) -> str:
    """Create a running job through /async (as pyvo would) and return its id; with a browser's
    ``cookies``, the job joins that browser's anonymous job list."""
    created = requests.post(
        f"{base}/async",
        data={**params, "PHASE": "RUN"},
        allow_redirects=False,
        timeout=30,
        cookies=cookies,
    )
    assert created.status_code == 303, created.text
    return str(created.headers["Location"]).rsplit("/", 1)[-1]


def finished_product(base: str, job_id: str) -> str:
    """Wait for a product job and return its first product's hash."""
    for _ in range(60):
        phase = requests.get(f"{base}/async/{job_id}/phase", timeout=30).text
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            break
        requests.get(f"{base}/async/{job_id}?WAIT=5", timeout=30)
    assert phase == "COMPLETED"
    state = requests.get(f"{base}/web/jobs/{job_id}/state", timeout=30).json()
    return str(state["products"][0]).rsplit("/", 1)[-1]


def test_image_from_the_form_to_the_sky_view(
    browser: Any, web_service: str, screenshots: Path
) -> None:
    """Fill the form for a Crab image, see the preview, submit, follow the job, land on the
    product page: Aladin Lite shows our significance map with the catalog on top."""
    driver = browser
    requested_urls(driver)
    driver.get(f"{web_service}/")
    Select(driver.find_element(By.ID, "f-product_type")).select_by_value("image")
    fill(driver, "src_name", "Crab")
    fill(driver, "radius", "10")
    count = wait_for(lambda: driver.find_elements(By.ID, "preview-count"), what="the sky preview")[
        0
    ]
    assert int(count.text) == 4  # the tiny archive's four science windows
    assert "local catalog" in driver.find_element(By.ID, "preview-summary").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg.skyplot circle.scw")) == 4
    shoot(driver, screenshots, "form")
    driver.find_element(By.ID, "submit-button").click()
    seen = []
    deadline = time.monotonic() + 120
    while "/web/products/" not in driver.current_url and time.monotonic() < deadline:
        if "/web/jobs/" in driver.current_url:
            for phase in driver.find_elements(By.CSS_SELECTOR, "#job [data-role=phase]"):
                try:
                    seen.append(phase.text)
                except WebDriverException:  # the page re-rendered the job between find and read
                    continue
        time.sleep(0.1)
    assert "/web/products/" in driver.current_url, driver.page_source[:2000]
    assert seen, "the job page was never shown"
    sky = driver.find_element(By.ID, "aladin")
    wait_for(lambda: sky.get_attribute("data-state") in ("ready", "error"), what="the sky")
    assert sky.get_attribute("data-state") == "ready", driver.find_element(By.ID, "sky-status").text
    wait_for(lambda: sky.get_attribute("data-image") == "loaded", what="the FITS image")
    # The catalog layer holds every source of the product's catalog.
    catalog_url = web_service + sky.get_attribute("data-catalog")
    expected = len(Table.read(io.BytesIO(requests.get(catalog_url, timeout=30).content)))
    assert expected >= 1
    assert int(sky.get_attribute("data-catalog-count")) == expected
    assert len(driver.find_elements(By.CSS_SELECTOR, "#sources tbody tr")) == expected
    time.sleep(1.0)  # the image's first frames
    spread, colours = image_variety(sky.screenshot_as_png)
    assert spread > 10 and colours > 50, (spread, colours)  # the canvas is not blank
    # The table's source links move the sky view there.
    driver.find_element(By.CSS_SELECTOR, "#sources a.goto").click()
    assert driver.find_elements(By.CSS_SELECTOR, "#sources tr.selected")
    shoot(driver, screenshots, "product-image")
    assert "pyvo" in driver.find_element(By.ID, "reproduce-section").text
    assert "DispatcherAPI" in driver.find_element(By.ID, "snippet-oda").text
    assert not foreign(requested_urls(driver))


def test_bad_value_shows_the_servers_message_at_the_field(
    browser: Any, web_service: str, screenshots: Path
) -> None:
    driver = browser
    requested_urls(driver)
    driver.get(f"{web_service}/")
    fill(driver, "src_name", "Crab")
    fill(driver, "radius", "99")
    # Inline, from the server's validator, before submitting.
    message = wait_for(lambda: visible_error(driver, "radius"), what="the inline message")
    assert "above the maximum 30 deg" in message
    driver.find_element(By.ID, "submit-button").click()
    # Submitted anyway: the server answers with the form and its message at the field.
    wait_for(lambda: driver.current_url.endswith("/web/jobs"), what="the answer")
    field = driver.find_element(By.CSS_SELECTOR, ".field[data-field=radius]")
    assert "invalid" in field.get_attribute("class")
    assert "above the maximum 30 deg" in visible_error(driver, "radius")
    assert driver.find_element(By.ID, "f-radius").get_attribute("value") == "99"
    shoot(driver, screenshots, "form-error")
    assert not foreign(requested_urls(driver))


def test_abort_and_clone(browser: Any, web_service: str, screenshots: Path) -> None:
    driver = browser
    requested_urls(driver)
    # Anonymous job lists are per client: the jobs made here join the browser's (its cookie).
    driver.get(f"{web_service}/web/jobs")
    cookies = {"uws_client": driver.get_cookie("uws_client")["value"]}
    sleeper = submit_job(web_service, cookies, KIND="sleep", SECONDS="120", STEPS="120")
    driver.get(f"{web_service}/web/jobs")
    phase = f"tr[data-job='{sleeper}'] [data-role=phase]"
    wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, phase).text == "running",
        what="the job to run",
    )
    assert not driver.find_elements(By.ID, f"clone-{sleeper}")  # not a product request
    shoot(driver, screenshots, "jobs")
    driver.find_element(By.ID, f"abort-{sleeper}").click()
    wait_for(lambda: driver.current_url.endswith(f"/web/jobs/{sleeper}"), what="the job page")
    wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, "#job [data-role=phase]").text == "aborted",
        what="the abort",
    )
    assert requests.get(f"{web_service}/async/{sleeper}/phase", timeout=30).text == "ABORTED"
    # Clone an image job with another band.
    image = submit_job(web_service, product_type="image", src_name="Crab", radius="10")
    finished_product(web_service, image)
    driver.get(f"{web_service}/web/jobs/{image}")
    driver.find_element(By.ID, f"clone-{image}").click()
    wait_for(lambda: driver.find_elements(By.ID, "form-note"), what="the cloned form")
    assert driver.find_element(By.ID, "f-src_name").get_attribute("value") == "Crab"
    assert driver.find_element(By.ID, "f-radius").get_attribute("value") == "10"
    fill(driver, "E2_keV", "60")
    driver.find_element(By.ID, "submit-button").click()
    wait_for(lambda: "/web/products/" in driver.current_url, 120, "the clone's product")
    request = dict(
        zip(
            [e.text for e in driver.find_elements(By.CSS_SELECTOR, "dl.request dt")],
            [e.text for e in driver.find_elements(By.CSS_SELECTOR, "dl.request dd")],
            strict=True,
        )
    )
    assert float(request["e2_kev"]) == 60.0 and request["src_name"] == "Crab"
    # The clone is the browser's job and names its parent.
    listing = requests.get(f"{web_service}/async", cookies=cookies, timeout=30).text
    clones = [
        j
        for j in re.findall(r'jobref id="([0-9a-f]+)"', listing)
        if f'parent id="{image}"' in requests.get(f"{web_service}/async/{j}", timeout=30).text
    ]
    assert len(clones) == 1
    # Delete the aborted job: it leaves the list.
    driver.get(f"{web_service}/web/jobs/{sleeper}")
    driver.find_element(By.ID, f"delete-{sleeper}").click()
    wait_for(lambda: driver.current_url.endswith("/web/jobs"), what="the job list")
    assert not driver.find_elements(By.CSS_SELECTOR, f"tr[data-job='{sleeper}']")
    assert not foreign(requested_urls(driver))


@pytest.mark.parametrize("product_type", ["spectral_fit", "light_curve"])
def test_spectrum_and_light_curve_plots(
    browser: Any, web_service: str, screenshots: Path, product_type: str
) -> None:
    """Spectra with the quick fit's model and residuals, light curves with errors and
    Bayesian blocks, drawn by Plotly from the product's own files."""
    driver = browser
    requested_urls(driver)
    job = submit_job(
        web_service, product_type=product_type, src_name="Crab", radius="10", time_bin="100"
    )
    product = finished_product(web_service, job)
    files = requests.get(f"{web_service}/products/{product}", timeout=30).json()["files"]
    suffix = "_spectrum.vot" if product_type == "spectral_fit" else "_lc.vot"
    expected = len([f for f in files if f["name"].endswith(suffix)])
    assert expected >= 1
    driver.get(f"{web_service}/web/products/{product}")
    plots = driver.find_element(By.ID, "plots")
    wait_for(lambda: plots.get_attribute("data-rendered"), what="the plots")
    assert plots.get_attribute("data-rendered") == str(expected)
    assert len(driver.find_elements(By.CSS_SELECTOR, "#plots .plot .main-svg")) >= expected
    names = [
        t.get_attribute("data-unformatted")
        for t in driver.find_elements(By.CSS_SELECTOR, "#plots .legendtext")
    ]
    titles = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#plots .gtitle")]
    assert titles[0].startswith("Crab"), titles  # the requested source first
    if product_type == "spectral_fit":
        assert "model" in names and "residuals (σ)" in names
        assert "χ²" in titles[0]
    else:
        assert "Bayesian blocks" in names
        assert titles[0] == "Crab 20-40 keV", titles
    driver.execute_script("document.getElementById('plots').scrollIntoView()")
    shoot(driver, screenshots, f"product-{product_type}")
    assert not foreign(requested_urls(driver))
