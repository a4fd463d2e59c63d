"""Comments on a job: by its owner and its readers, plain text, escaped in the job document
(valid UWS 1.1, the text intact), refused when empty, too long or unprintable."""

from __future__ import annotations

import pytest

from tests.uws._helpers import create, error_message, job_doc
from tests.uws.conftest import ValidatingClient

ALICE, BOB, CAROL = ({"X-Remote-User": n} for n in ("alice", "bob", "carol"))
JINFO = "urn:x-uws:jobinfo:v1"
NASTY = "<script>alert('x')</script> & ]]> \"quoted\"\nsecond line é 🚀"


def _comments(client: ValidatingClient, job_id: str, headers: dict[str, str]) -> list[tuple]:
    doc = job_doc(client, job_id, user=headers.get("X-Remote-User"))
    return [
        (c.get("author"), c.text)
        for c in doc.findall(f"{{http://www.ivoa.net/xml/UWS/v1.0}}jobInfo/{{{JINFO}}}comment")
    ]


def test_owner_and_readers_comment_others_cannot(client: ValidatingClient) -> None:
    job_id = create(client, user="alice", MESSAGE="m")
    assert (
        client.post(f"/async/{job_id}/comments", data={"TEXT": NASTY}, headers=ALICE).status_code
        == 303
    )
    # Not shared yet: bob gets a 404, as for any job of somebody else.
    assert (
        client.post(f"/async/{job_id}/comments", data={"TEXT": "hi"}, headers=BOB).status_code
        == 404
    )
    client.post(f"/async/{job_id}/sharing", data={"ADD": "user:bob"}, headers=ALICE)
    assert (
        client.post(
            f"/async/{job_id}/comments", data={"TEXT": " looks good \r\n"}, headers=BOB
        ).status_code
        == 303
    )
    expected = [("alice", NASTY), ("bob", "looks good")]
    assert _comments(client, job_id, ALICE) == expected
    assert _comments(client, job_id, BOB) == expected
    raw = client.get(f"/async/{job_id}", headers=ALICE).data
    assert b"<script>" not in raw and b"&lt;script&gt;" in raw
    assert (
        client.post(f"/async/{job_id}/comments", data={"TEXT": "x"}, headers=CAROL).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("a\x00b", "U+0000"),
        ("bell\x07", "U+0007"),
        ("x" * 4001, "longer than 4000"),
    ],
)
def test_bad_comments_are_400_naming_text(
    client: ValidatingClient, text: str, message: str
) -> None:
    job_id = create(client, user="alice", MESSAGE="m")
    response = client.post(f"/async/{job_id}/comments", data={"TEXT": text}, headers=ALICE)
    assert response.status_code == 400
    assert "TEXT" in error_message(response.data) and message in error_message(response.data)
    assert _comments(client, job_id, ALICE) == []


def test_missing_text(client: ValidatingClient) -> None:
    job_id = create(client, user="alice", MESSAGE="m")
    response = client.post(f"/async/{job_id}/comments", headers=ALICE)
    assert response.status_code == 400 and "TEXT" in error_message(response.data)
