"""Small helpers shared by the UWS tests."""

from __future__ import annotations

from urllib.parse import urlsplit

from lxml import etree

from tests.uws._xsd import UWS_NS, VOTABLE_NS

NS = {"uws": UWS_NS, "v": VOTABLE_NS, "xlink": "http://www.w3.org/1999/xlink"}


def path_of(location: str) -> str:
    """The path of a redirect target (the test client wants paths)."""
    return urlsplit(location).path


def create(client, data=None, *, user: str | None = None, **params) -> str:
    """POST a job, check the 303, return its id."""
    headers = {"X-Remote-User": user} if user else {}
    from werkzeug.datastructures import MultiDict

    body = MultiDict(data) if isinstance(data, list) else (data if data is not None else params)
    response = client.post("/async", data=body, headers=headers)
    assert response.status_code == 303, response.get_data(as_text=True)
    return path_of(response.headers["Location"]).rsplit("/", 1)[-1]


def job_doc(client, job_id: str, *, user: str | None = None, **query) -> etree._Element:
    headers = {"X-Remote-User": user} if user else {}
    response = client.get(f"/async/{job_id}", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return etree.fromstring(response.get_data())


def text(root: etree._Element, name: str) -> str | None:
    node = root.find(f"uws:{name}", NS)
    return None if node is None else node.text


def phase(client, job_id: str, **kw) -> str:
    return str(text(job_doc(client, job_id, **kw), "phase"))


def error_message(body: bytes) -> str:
    """The QUERY_STATUS=ERROR message of a DALI error document."""
    root = etree.fromstring(body)
    info = root.find("v:RESOURCE/v:INFO[@name='QUERY_STATUS']", NS)
    assert info is not None and info.get("value") == "ERROR"
    return str(info.text)


def wait_final(client, job_id: str, timeout: float = 20.0, **kw) -> str:
    """Follow the job with WAIT until it reaches a final phase."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = text(job_doc(client, job_id, WAIT="2", **kw), "phase")
        if current in {"COMPLETED", "ERROR", "ABORTED", "ARCHIVED"}:
            return str(current)
    raise AssertionError(f"job {job_id} not final after {timeout} s")
