"""ADQL 2.1 to SQL, by queryparser-python3 (a maintained ANTLR grammar of ADQL).

PostgreSQL gets queryparser's pgsphere translation as is (``spoint``, ``scircle``, ``@``,
``&&``, ``<->``), which the GiST indexes of :mod:`vo_service._tap_db` serve.

SQLite gets queryparser's other translation, whose geometry is plain function calls
(``srcontainsl(spoint(...), scircle(...))``, ``soverlaps``, ``sdist``): SQLite runs them as
user functions registered on the connection (:mod:`vo_service._tap_sphere`). Infix
operators such as pgsphere's could not be given to SQLite, so one parser serves both back
ends with the same semantics and no hand-written grammar.

Before translating, the parse tree is checked: only published tables (and this request's
``TAP_UPLOAD`` tables) may be named, and no user-defined function may be called.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import queryparser.adql.adqltranslator as _translator
from antlr4.tree.Tree import ParseTree
from queryparser.adql import ADQLQueryTranslator
from queryparser.adql.ADQLParser import ADQLParser
from queryparser.exceptions import QueryError, QuerySyntaxError

__all__ = ["AdqlError", "Translation", "translate"]


def _no_eval(_expression: str) -> object:
    raise NameError("eval is disabled")


def _geometry_values(ctx: Any, cidx: int, _output_sql: str | None = None) -> list[Any]:
    """The arguments of a geometry constructor: numbers, or SQL text as the user wrote it.

    Replaces queryparser's own, which folds arithmetic with ``eval()`` (user text must never
    reach eval) and, for its MySQL-style output, back-quotes any other argument as one name
    (so ``2/60.0`` or ``m.ra + 1`` became unusable names on SQLite).
    """
    values: list[Any] = []
    for item in ctx.children[cidx].getText().split(","):
        try:
            values.append(float(item))
        except ValueError:
            values.append(item)
    return values


_translator.eval = _no_eval  # belt and braces: nothing of ours calls it
_translator._convert_values = _geometry_values
_translator.ADQLGeometryTranslationVisitor._convert_values = lambda self, ctx, cidx: (
    _geometry_values(ctx, cidx)
)

#: Schemas of the tables a query may name.
SCHEMAS = ("ivoa", "isgri", "tap_schema", "tap_upload")
_QUALIFIED = re.compile(r"`(" + "|".join(SCHEMAS) + r")`\s*\.\s*`(\w+)`", re.IGNORECASE)
#: ADQL functions the grammar parses as user-defined ones; both back ends provide them.
_FUNCTIONS = frozenset({"coord1", "coord2"})
_UPLOAD_PG = re.compile(r"\btap_upload\s*\.\s*(\w+)", re.IGNORECASE)


#: ADQL's approximate numeric literal ``6E-11``: queryparser's grammar reads only ``6.0E-11``.
_EXPONENT = re.compile(r"(?<![\w.])(\d+)([eE][+-]?\d+)\b")
#: String literals and delimited identifiers, which are left alone.
_QUOTED = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")


def _outside_quotes(text: str, pattern: re.Pattern[str], replace: Any) -> str:
    """``pattern.sub(replace, ...)`` applied outside string literals and quoted names."""
    parts = _QUOTED.split(text)
    for i in range(0, len(parts), 2):  # the even parts are outside quotes
        parts[i] = pattern.sub(replace, parts[i])
    return "".join(parts)


def _exponents(adql: str) -> str:
    """Give every integer mantissa with an exponent a decimal point (``6e-11`` -> ``6.0e-11``)."""
    return _outside_quotes(adql, _EXPONENT, r"\1.0\2")


#: Decimal literals (with a point), outside identifiers: the numbers a query's shape leaves out.
_DECIMAL = re.compile(r"(?<![\w.])(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w.])")
_SLOT_NAME = "adqlnum"
_COMMENT = re.compile(r"--|/\*")
#: A string where a geometry wants an angle: ADQL 2.1 makes the frame optional, so the
#: translator reads CIRCLE('ICRS', 10, 20) as a circle about ('ICRS', 10) of radius 20.
_TEXT_ANGLE = re.compile(r"\bRADIANS\(\s*'", re.IGNORECASE)
#: A placeholder in the translation (queryparser back-quotes unknown names for SQLite, a
#: negated one with its sign inside).
_SLOT = re.compile(r"`?(-?)" + _SLOT_NAME + r"(\d+)x`?")


_NUM = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
#: Constant latitudes in the translation: a point's, and a polygon's vertices.
_LATITUDES = (
    re.compile(r"spoint\(\s*RADIANS\(" + _NUM + r"\)\s*,\s*RADIANS\(" + _NUM + r"\)\s*\)", re.I),
    re.compile(r"\(" + _NUM + r"d\s*," + _NUM + r"d\s*\)"),
)


class AdqlError(ValueError):
    """The query cannot be run; the message is for the user."""


@dataclass(frozen=True)
class Translation:
    """A translated query and the published tables it reads (lower-case qualified names)."""

    sql: str
    tables: frozenset[str]


def _nodes(tree: ParseTree) -> Iterator[ParseTree]:
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(getattr(node, "children", None) or ())


def _plain(name: str) -> str:
    return ".".join(part.strip('"') for part in name.split(".")).lower()


def _check(tree: ParseTree, allowed: Collection[str]) -> frozenset[str]:
    """The tables the query names; refuses unknown tables and user-defined functions."""
    ctes = {
        _plain(n.getText()) for n in _nodes(tree) if isinstance(n, ADQLParser.Query_nameContext)
    }
    tables = set()
    for node in _nodes(tree):
        if isinstance(node, ADQLParser.User_defined_functionContext):
            name = node.getChild(0).getText()
            if name.lower() in _FUNCTIONS:
                continue
            raise AdqlError(f"unknown function {name!r}: this service defines no extra functions")
        if isinstance(node, ADQLParser.Table_nameContext):
            name = _plain(node.getText())
            if name in ctes:
                continue
            if name not in allowed:
                raise AdqlError(f"table {node.getText()!r} does not exist (see /tap/tables)")
            tables.add(name)
    return frozenset(tables)


def _translate(adql: str, postgres: bool, allowed: frozenset[str]) -> Translation:
    try:
        translator = ADQLQueryTranslator(adql)
        tables = _check(translator.tree, allowed)
        # to_postgresql() and to_mysql() parse the text again; the tree is already there.
        translator.parse = lambda: None
        sql = translator.to_postgresql() if postgres else translator.to_mysql()
    except AdqlError:
        raise
    except QuerySyntaxError as exc:
        line, column, near = exc.syntax_errors[0]
        raise AdqlError(f"syntax error at line {line}, column {column + 1} near {near!r}") from exc
    except QueryError as exc:
        raise AdqlError(str(exc)) from exc
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        # The translator fails this way on constructs it does not handle.
        raise AdqlError("this query uses a construct the ADQL translator cannot handle") from exc
    sql = sql.strip().rstrip(";")
    if _COMMENT.search(_QUOTED.sub("''", sql)):
        # Argument text is joined without spaces ("ra - -1" -> "ra--1"), which SQL would read
        # as a comment: refuse rather than run a query cut short.
        raise AdqlError(
            "two minus signs in a row inside a geometry function: put the second in "
            "parentheses, as in ra - (-1)"
        )
    if _TEXT_ANGLE.search(sql):
        raise AdqlError(
            "a geometry has too few arguments: POINT takes a frame (optional) and two "
            "coordinates, CIRCLE a frame, a centre and a radius, POLYGON three vertices or more"
        )
    if postgres:
        sql = _outside_quotes(sql, _UPLOAD_PG, lambda m: f"tap_upload_{m.group(1).lower()}")
    else:
        sql = _QUALIFIED.sub(lambda m: f'"{m.group(1).lower()}.{m.group(2).lower()}"', sql)
    return Translation(sql, tables)


@functools.lru_cache(maxsize=512)
def _translate_shape(shape: str, postgres: bool, allowed: frozenset[str]) -> Translation:
    return _translate(shape, postgres, allowed)


def _shape(adql: str) -> tuple[str, list[str]] | None:
    """The query with its decimal literals replaced by placeholders, and the literals."""
    if _SLOT_NAME in adql.lower():
        return None
    values: list[str] = []

    def slot(match: re.Match[str]) -> str:
        values.append(match.group(0))
        return f"{_SLOT_NAME}{len(values) - 1}x"

    parts = _QUOTED.split(adql)
    for i in range(0, len(parts), 2):
        parts[i] = _DECIMAL.sub(slot, parts[i])
    return "".join(parts), values


def _checked(translation: Translation) -> Translation:
    """Refuse constant latitudes beyond the poles (pgsphere would wrap them over the pole)."""
    for pattern in _LATITUDES:
        for match in pattern.finditer(translation.sql):
            if abs(float(match.group(2))) > 90.0:
                raise AdqlError(
                    f"latitude {match.group(2)} is beyond the pole: a declination lies "
                    "between -90 and 90 deg"
                )
    return translation


def translate(adql: str, *, postgres: bool, allowed: Collection[str]) -> Translation:
    """Translate ``adql`` for PostgreSQL (pgsphere) or SQLite (user functions).

    Parsing costs tens of milliseconds in the ANTLR Python runtime, so translations are
    cached by the query's shape: its text with decimal literals (positions, radii, bounds)
    as placeholders, which the translator carries through as names. Queries that differ
    only in those numbers (a client's repeated cones) are parsed once. A shape the
    translator cannot carry placeholders through is translated as it is.

    Parameters
    ----------
    allowed
        Lower-case qualified names of the tables the query may read.

    Raises
    ------
    AdqlError
        For a syntax error, an unknown table or function, or a construct the translator
        does not support.
    """
    adql = _exponents(adql)
    allowed = frozenset(allowed)
    shaped = _shape(adql)
    if shaped is not None and shaped[1]:
        shape, values = shaped
        try:
            cached = _translate_shape(shape, postgres, allowed)
        except AdqlError:
            pass  # reported from the query itself, below
        else:
            sql = _SLOT.sub(lambda m: m.group(1) + values[int(m.group(2))], cached.sql)
            return _checked(Translation(sql, cached.tables))
    return _checked(_translate(adql, postgres, allowed))
