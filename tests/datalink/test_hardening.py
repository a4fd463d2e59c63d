"""DataLink and SODA against a hostile client (issue 17, defect 7): an ID no product can have
is an error row or a SODA error, never a 500, and every document stays valid."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.datalink.test_links import LINKS, links_table
from tests.uws._xsd import validate

IDS = ["x\x01y", "ivo://vo.example.org/svc?\x00abc", "\x1b[2J", "\ufffe"]


@pytest.mark.parametrize("product_id", IDS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_links_of_an_id_with_control_characters_is_a_not_found_row(
    app: Flask, method: str, product_id: str
) -> None:
    client = app.test_client()
    if method == "GET":
        response = client.get(LINKS, query_string={"ID": product_id})
    else:
        response = client.post(LINKS, data={"ID": product_id})
    assert response.status_code == 200
    validate(response.data)
    _, rows = links_table(response.data)
    assert len(rows) == 1
    assert str(rows[0]["error_message"]).startswith("NotFoundFault:")
    assert rows[0]["ID"] == ascii(product_id)[1:-1]


@pytest.mark.parametrize("product_id", IDS)
def test_snippet_of_such_an_id_is_404(app: Flask, product_id: str) -> None:
    response = app.test_client().get(f"{LINKS}/snippet", query_string={"ID": product_id})
    assert response.status_code == 404
    assert response.get_data(as_text=True).startswith("NotFoundFault:")


@pytest.mark.parametrize("product_id", IDS)
def test_soda_sync_refuses_such_an_id(app: Flask, product_id: str) -> None:
    response = app.test_client().get(
        "/soda/sync", query_string={"ID": product_id, "CIRCLE": "83.6 22.0 1"}
    )
    assert response.status_code == 400
    assert response.get_data(as_text=True).startswith("UsageError: ID:")


def test_dali_error_document_of_a_control_character_message_is_valid(app: Flask) -> None:
    response = app.test_client().get(LINKS, query_string={"MAXREC": "1\x01"})
    assert response.status_code == 400
    validate(response.data)
