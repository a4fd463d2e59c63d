"""The ADQL translation alone: what it refuses, and the grammar gaps it works around."""

from __future__ import annotations

import pytest
import queryparser.adql.adqltranslator as translator

from vo_service._tap_adql import AdqlError, translate

ALLOWED = {"isgri.detections", "ivoa.obscore"}


@pytest.mark.parametrize("postgres", [True, False])
def test_exponent_literals_with_integer_mantissas_parse(postgres: bool) -> None:
    sql = translate(
        "SELECT 'a 6e-11' AS s FROM ivoa.obscore WHERE em_min < 6e-11 AND em_max > 1E+3",
        postgres=postgres,
        allowed=ALLOWED,
    ).sql
    assert "6.0e-11" in sql and "1.0E+3" in sql and "'a 6e-11'" in sql


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT * FROM uws_job", "does not exist"),
        ("SELECT * FROM isgri.detections AS d JOIN product AS p ON 1=1", "does not exist"),
        ("SELECT pg_sleep(10) FROM isgri.detections", "unknown function"),
        ("SELECT * FROM isgri.detections WHERE", "syntax error"),
    ],
)
def test_refused_queries_say_why(query: str, reason: str) -> None:
    with pytest.raises(AdqlError, match=reason):
        translate(query, postgres=True, allowed=ALLOWED)


def test_geometry_arguments_never_reach_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    # queryparser folds geometry arguments with eval(); the service replaces that step.
    def boom(_text: str) -> object:
        raise AssertionError("eval was called")

    monkeypatch.setattr(translator, "eval", boom, raising=False)
    for postgres in (True, False):
        sql = translate(
            "SELECT * FROM isgri.detections WHERE 1 = CONTAINS(POINT('ICRS', ra + 1, dec), "
            "CIRCLE('ICRS', 1 + 2, 3, 2 / 60.0))",
            postgres=postgres,
            allowed=ALLOWED,
        ).sql
        # Expressions stay SQL text for the database (not one back-quoted name on SQLite).
        assert "RADIANS(1+2)" in sql and "RADIANS(2/60.0)" in sql and "RADIANS(ra+1)" in sql


def test_minus_signs_joined_into_a_comment_are_refused() -> None:
    with pytest.raises(AdqlError, match="parentheses"):
        translate(
            "SELECT * FROM isgri.detections WHERE 1 = CONTAINS(POINT('ICRS', ra - -1, dec), "
            "CIRCLE('ICRS', 1, 2, 3))",
            postgres=True,
            allowed=ALLOWED,
        )
