"""Text that ends in an XML document or a database column: what is allowed, and repairs.

XML 1.0 allows only tab, newline and carriage return below U+0020, no surrogates and
neither U+FFFE nor U+FFFF (its ``Char`` production); PostgreSQL refuses NUL in text. A
client's value that breaks either is refused at the edge (:func:`check_text`, a 400 naming
the parameter); a document built from text that was stored before the check existed is
repaired instead of failing (:func:`xml_safe`).
"""

from __future__ import annotations

import re

from uws._errors import ParameterError

__all__ = ["MAX_NAME_LENGTH", "check_text", "xml_safe"]

#: Longest parameter name, RUNID or owner (their database columns are ``VARCHAR(255)``).
MAX_NAME_LENGTH = 255

_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 forbids replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def check_text(name: str, value: str, *, max_length: int | None = None) -> str:
    """Return ``value`` if it can be stored and written into XML as it is.

    Raises
    ------
    ParameterError
        Naming ``name`` (made printable) when ``value`` holds a control character, NUL, a
        surrogate or U+FFFE/U+FFFF, or is longer than ``max_length``.
    """
    bad = _NOT_XML.search(value)
    if bad is not None:
        code = f"U+{ord(bad.group()):04X}"
        raise ParameterError(
            printable(name), f"contains {code} at position {bad.start()}, not allowed in XML"
        )
    if max_length is not None and len(value) > max_length:
        raise ParameterError(printable(name), f"longer than {max_length} characters")
    return value


def printable(name: str, limit: int = 64) -> str:
    """A client-given name fit to appear in an error message (escaped, shortened)."""
    shown = name if _NOT_XML.search(name) is None else ascii(name)[1:-1]
    return shown if len(shown) <= limit else shown[:limit] + "…"
