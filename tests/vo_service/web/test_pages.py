"""The web front end's pages without a browser: the form generated from the parameter model,
the server's messages at the field, escaping, identity, and a product page's content."""

from __future__ import annotations

import base64
import io
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from astropy.io import fits
from flask import Flask
from flask.testing import FlaskClient
from lxml import html
from werkzeug.security import generate_password_hash

from processing.simulator import SimulationResult
from tests.vo_service.conftest import service_with_runner
from vo_service._context import ServiceContext
from vo_service._request import PARAMETERS
from vo_service.app import create_app
from vo_service.settings import Settings


@pytest.fixture(scope="module")
def archive_root(tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult) -> Path:
    root = tmp_path_factory.mktemp("web_pages")
    shutil.copytree(tiny_archive.root, root / "archive")
    return root


def _app(root: Path, name: str, **overrides: object) -> Flask:
    settings = Settings.load(
        data_dir=root / name,
        archive_path=root / "archive",
        executor="inline",
        network_resolvers=False,
        **overrides,
    )
    context = ServiceContext.build(settings)
    context.archive.ingest()
    return create_app(settings, context)


@pytest.fixture(scope="module")
def client(archive_root: Path) -> FlaskClient:
    """The application with owners from a trusted header (the default), no runner."""
    return _app(archive_root, "header").test_client()


def _page(data: bytes) -> html.HtmlElement:
    return html.fromstring(data)


def test_the_form_is_the_parameter_model_and_every_field_is_labelled(
    client: FlaskClient,
) -> None:
    page = _page(client.get("/").data)
    form = page.get_element_by_id("request-form")
    names = {e.get("name") for e in form.iter("input", "select", "textarea")} - {None}
    assert names == {p.name for p in PARAMETERS}
    for element in page.iter("input", "select", "textarea"):
        if element.get("type") == "hidden":
            continue
        labels = page.xpath(f"//label[@for='{element.get('id')}']")
        assert labels and labels[0].text_content().strip(), element.get("name")
    radius = page.get_element_by_id("f-radius")
    assert (radius.get("min"), radius.get("max"), radius.get("value")) == ("0.1", "30.0", "15")
    assert "0.1 up to 30 deg" in page.get_element_by_id("h-radius").text_content()
    options = [o.get("value") for o in page.get_element_by_id("f-product_type").iter("option")]
    assert options == list(next(p for p in PARAMETERS if p.name == "product_type").choices)
    # / still says what the service is
    assert b"4 science windows" in client.get("/").data
    assert b"ivo://codedmask.example.org/isgri" in client.get("/").data


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"src_name": "Crab", "radius": "99"}, "radius", "99 is above the maximum 30 deg"),
        ({"src_name": "Crab", "E1_keV": "50", "E2_keV": "40"}, "E2_keV", "must be above E1_keV"),
        ({"src_name": "Nowhere"}, "src_name", "unknown source name 'Nowhere'"),
        ({"RA": "10"}, "DEC", "RA and DEC must be given together"),
        ({"src_name": "Crab", "T1": "2004-13-01"}, "T1", "not a time in format isot"),
    ],
)
def test_a_mistake_is_the_form_again_with_the_servers_message_at_the_field(
    client: FlaskClient, values: dict[str, str], field: str, message: str
) -> None:
    before = client.get("/async").data.count(b"jobref")
    answer = client.post("/web/jobs", data={"product_type": "image", **values, "action": "run"})
    assert answer.status_code == 400 and answer.mimetype == "text/html"
    page = _page(answer.data)
    box = page.xpath(f"//div[@data-field='{field}']")[0]
    assert "invalid" in box.get("class")
    assert message in page.get_element_by_id(f"e-{field}").text_content()
    for name, value in values.items():  # what the user typed is kept
        assert page.get_element_by_id(f"f-{name}").get("value") == value
    assert client.get("/async").data.count(b"jobref") == before  # no job was created
    # The script's inline check says the same through JSON.
    checked = client.post("/web/check", data={"product_type": "image", **values}).get_json()
    assert checked["ok"] is False and checked["field"] == field and message in checked["message"]


def test_user_values_are_escaped(client: FlaskClient) -> None:
    hostile = "<script>alert(1)</script>"
    answer = client.post("/web/jobs", data={"src_name": hostile, "action": "run"})
    assert answer.status_code == 400
    assert b"<script>alert" not in answer.data
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in answer.data


def test_check_previews_the_selection(client: FlaskClient) -> None:
    answer = client.post("/web/jobs", data={"src_name": "Crab", "radius": "10", "action": "check"})
    assert answer.status_code == 200
    page = _page(answer.data)
    assert page.get_element_by_id("preview-count").text == "4"
    assert len(page.xpath("//svg//circle[@class='scw']")) == 4
    assert abs(float(page.get_element_by_id("preview-ra").text) - 83.633) < 0.01
    capped = _page(
        client.post(
            "/web/jobs",
            data={"src_name": "Crab", "radius": "10", "max_pointings": "3", "action": "check"},
        ).data
    )
    assert capped.get_element_by_id("preview-count").text == "3"
    assert capped.get_element_by_id("preview-matching").text == "4"


def test_each_user_sees_only_their_own_jobs(client: FlaskClient) -> None:
    alice, bob = {"X-Remote-User": "alice"}, {"X-Remote-User": "bob"}
    created = client.post(
        "/web/jobs", data={"src_name": "Crab", "radius": "10", "action": "run"}, headers=alice
    )
    assert created.status_code == 303
    job_id = created.headers["Location"].rsplit("/", 1)[-1]
    assert job_id.encode() in client.get("/web/jobs", headers=alice).data
    assert job_id.encode() not in client.get("/web/jobs", headers=bob).data
    assert job_id.encode() not in client.get("/web/jobs").data  # anonymous
    assert client.get(f"/web/jobs/{job_id}", headers=bob).status_code == 404
    assert client.post(f"/web/jobs/{job_id}/abort", headers=bob).status_code == 404
    # The same job through UWS, for its owner only.
    assert client.get(f"/async/{job_id}", headers=alice).status_code == 200
    assert client.get(f"/async/{job_id}", headers=bob).status_code == 404
    # Its owner aborts, clones and deletes it.
    state = client.get(f"/web/jobs/{job_id}/state", headers=alice).get_json()
    assert state["phase"] == "QUEUED" and state["active"] is True
    assert client.post(f"/web/jobs/{job_id}/abort", headers=alice).status_code == 303
    assert client.get(f"/web/jobs/{job_id}/state", headers=alice).get_json()["phase"] == "ABORTED"
    clone = _page(client.get(f"/web/jobs/{job_id}/clone", headers=alice).data)
    assert clone.get_element_by_id("f-radius").get("value") == "10"
    assert client.post(f"/web/jobs/{job_id}/delete", headers=alice).status_code == 303
    assert client.get(f"/web/jobs/{job_id}", headers=alice).status_code == 404


def test_forms_of_other_sites_cannot_act_on_jobs(client: FlaskClient) -> None:
    """A cross-site POST (CSRF: the browser sends the user's credentials with it) is refused
    and changes nothing; the pages' own posts and clients without ``Origin`` work."""
    alice = {"X-Remote-User": "alice"}
    created = client.post(
        "/web/jobs", data={"src_name": "Crab", "radius": "10", "action": "run"}, headers=alice
    )
    assert created.status_code == 303
    job_id = created.headers["Location"].rsplit("/", 1)[-1]
    for hostile in (
        {"Origin": "https://elsewhere.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        for action in ("abort", "delete"):
            refused = client.post(f"/web/jobs/{job_id}/{action}", headers={**alice, **hostile})
            assert refused.status_code == 403, (action, hostile)
            assert b"another site" in refused.data
        refused = client.post(
            "/web/jobs", data={"product_type": "image"}, headers={**alice, **hostile}
        )
        assert refused.status_code == 403
    assert client.get(f"/web/jobs/{job_id}", headers=alice).status_code == 200
    own = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert client.post(f"/web/jobs/{job_id}/delete", headers={**alice, **own}).status_code == 303
    assert client.get(f"/web/jobs/{job_id}", headers=alice).status_code == 404


def test_http_basic_asks_for_credentials(archive_root: Path) -> None:
    users = archive_root / "users"
    users.write_text(f"carol:{generate_password_hash('pw', method='pbkdf2:sha256:1000')}\n")
    client = _app(
        archive_root, "basic", uws_identity="basic", uws_users_file=users, allow_anonymous=False
    ).test_client()
    refused = client.get("/web/jobs")
    assert refused.status_code == 401 and refused.mimetype == "text/html"
    assert refused.headers["WWW-Authenticate"].startswith("Basic")
    token = base64.b64encode(b"carol:pw").decode()
    assert client.get("/web/jobs", headers={"Authorization": f"Basic {token}"}).status_code == 200


@pytest.fixture(scope="module")
def product_client(
    tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult
) -> Iterator[tuple[FlaskClient, str]]:
    """The application with a runner, and the hash of a finished image product."""
    root = tmp_path_factory.mktemp("web_product")
    with service_with_runner(root, tiny_archive) as (client, _):
        created = client.post(
            "/web/jobs", data={"src_name": "Crab", "radius": "10", "action": "run"}
        )
        state_url = created.headers["Location"] + "/state"
        for _ in range(600):
            state = client.get(state_url).get_json()
            if not state["active"]:
                break
            time.sleep(0.1)
        assert state["phase"] == "COMPLETED", state
        yield client, state["products"][0].rsplit("/", 1)[-1]


def test_product_page_without_javascript(product_client: tuple[FlaskClient, str]) -> None:
    client, product_hash = product_client
    answer = client.get(f"/web/products/{product_hash}")
    assert answer.status_code == 200
    page = _page(answer.data)
    files = [a.text for a in page.xpath("//section[@id='files-section']//td/a")]
    assert files[:2] == ["image.fits", "catalog.vot"]
    sizes = page.xpath("//section[@id='files-section']//tbody/tr/td[3]")
    assert all(re.fullmatch(r"[\d.]+ (B|kB|MB)", s.text) for s in sizes)
    semantics = {td.text for td in page.xpath("//section[@id='links-section']//tbody/tr/td[1]")}
    assert {"#this", "#progenitor", "#auxiliary", "#documentation", "#cutout"} <= semantics
    steps = page.xpath("//ol[@class='provenance']/li")
    assert steps and "isgri." in steps[0].text_content()
    text = page.text_content()
    assert "/tmp" not in text and "cm:path" not in text  # no service path in the page
    assert "AsyncTAPJob" in page.get_element_by_id("snippet-pyvo").text_content()
    oda = page.get_element_by_id("snippet-oda").text_content()
    assert "product='isgri_image'" in oda and "/oda'" in oda
    for element in page.iter("input", "select", "textarea"):  # the SODA form's fields
        assert page.xpath(f"//label[@for='{element.get('id')}']"), element.get("name")
    rows = page.xpath("//table[@id='sources']/tbody/tr")
    assert rows and rows[0].xpath("td/a")[0].text == "Crab"
    # The sky view's FITS: the significance map alone, with its WCS.
    sky = client.get(f"/web/products/{product_hash}/sky.fits")
    with fits.open(io.BytesIO(sky.data)) as hdus:
        assert len(hdus) == 1 and hdus[0].header["CTYPE1"].startswith("RA")
    # A product ID (as DataLink gives it) opens the page; SODA gets keV as metres.
    product_id = page.get_element_by_id("product-id").text
    moved = client.get("/web/products", query_string={"ID": product_id})
    assert moved.status_code == 303 and moved.headers["Location"].endswith(product_hash)
    soda = client.get(f"/web/products/{product_hash}/soda", query_string={"e1": "30", "e2": "60"})
    assert soda.status_code == 303 and "BAND=" in soda.headers["Location"]
    cut = client.get(
        f"/web/products/{product_hash}/soda",
        query_string={"ra": "83.63", "dec": "22.01", "radius": "2"},
        follow_redirects=True,
    )
    assert cut.status_code == 200 and cut.mimetype == "application/fits"
    with fits.open(io.BytesIO(cut.data)) as hdus:
        assert any(h.data is not None and h.data.shape[0] < 245 for h in hdus)
    assert client.get(f"/web/products/{product_hash}/soda").status_code == 400
    assert client.get(f"/web/products/{'0' * 64}").status_code == 404


def test_an_image_of_listed_science_windows_is_centred_on_its_map(
    product_client: tuple[FlaskClient, str],
) -> None:
    client, product_hash = product_client
    scws = client.get(f"/products/{product_hash}").get_json()["metadata"]["scw_ids"]
    created = client.post("/web/jobs", data={"scw_list": ",".join(scws), "action": "run"})
    assert created.status_code == 303, created.data[:500]
    state_url = created.headers["Location"] + "/state"
    for _ in range(600):
        state = client.get(state_url).get_json()
        if not state["active"]:
            break
        time.sleep(0.1)
    assert state["phase"] == "COMPLETED", state
    page = _page(client.get(state["products"][0]).data)
    sky = page.get_element_by_id("aladin")
    # the mean pointing of the dithered science windows, a few degrees from the Crab
    assert abs(float(sky.get("data-ra")) - 83.6) < 6 and abs(float(sky.get("data-dec")) - 22) < 6
    assert page.get_element_by_id("s-ra").get("value") == sky.get("data-ra")
