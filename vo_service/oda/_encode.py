"""FITS HDUs as the ``NumpyDataProduct`` JSON that oda_api decodes (PROTOCOL.md §1.6).

The client knows two encodings of an HDU's data: a text of the values with the dtype beside
it, which it evaluates (``eval``) and turns back into an array, and a base64 pickle, which it
unpickles. Both run what the server sent inside the client (pitfall P3): the legacy client
must trust its server whichever is used, so the choice is made for speed and robustness:

* small tables (spectra, ARFs, light curves: up to :data:`MAX_VALUE_CELLS` values) go as
  values when they are all finite; the client cannot evaluate ``NaN`` or ``Infinity``
  (pitfall P2), so a table with non-finite values goes as a pickle;
* images and large tables (a response matrix: 100 000 values) go as a pickle of a plain numpy
  array, as the ODA dispatcher sends every product: the client takes 0.7 s to evaluate one
  487 x 487 image given as values (0.25 s for a matrix), milliseconds to unpickle it.

The client also rewrites every ``null`` in the response text to ``None`` before decoding it
(pitfall P1), which corrupts any base64 text that happens to contain those four letters. A
pickle whose base64 contains ``null`` is therefore re-encoded: prefixed with a no-op
(``N0``: push None, pop it), which shifts the base64 alignment, or written with another pickle
protocol, until no ``null`` remains. Every other text has ``null`` spelt ``Null``.

Users who do not want to run server data in their session take the files instead: every
envelope names each product's DataLink ``{links}`` and file URLs (``products.datalink``).
"""

from __future__ import annotations

import base64
import json
import math
import pickle
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from astropy.io import fits

__all__ = [
    "EncodingError",
    "clean_text",
    "encode_hdu",
    "encode_product",
    "header_dict",
]

#: Header cards that describe the layout of the data; the client rebuilds them from the array.
_COMMENTARY = {"COMMENT", "HISTORY", ""}
#: Largest table sent as values: the client evaluates about 0.4 million values a second.
MAX_VALUE_CELLS = 20_000
#: No-op pickle prefix: NONE then POP.
_NOOP = b"N0"


class EncodingError(RuntimeError):
    """An array could not be written in a form the client decodes."""


def clean_text(text: str) -> str:
    """``text`` with ``null`` spelt ``Null``: the client would turn it into ``None`` (P1)."""
    return text.replace("null", "Null")


def _card_value(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return clean_text(value)
    return None  # astropy's Undefined and anything else the client cannot put back


def header_dict(header: fits.Header, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The header as the plain ``{keyword: value}`` dict the client turns back into a header.

    Commentary cards are left out (a dict keeps one value per keyword) and so are values
    that JSON or FITS cannot carry back.
    """
    cards: dict[str, Any] = {}
    for key, value in header.items():
        if key in _COMMENTARY:
            continue
        converted = _card_value(value)
        if converted is not None:
            cards[key] = converted
    for key, value in (extra or {}).items():
        cards.setdefault(key, value)
    return cards


def _pickled(array: np.ndarray) -> str:
    """Base64 pickle of ``array`` without ``null`` in its text (P1)."""
    for protocol in (pickle.DEFAULT_PROTOCOL, 4, 3, 2):
        payload = pickle.dumps(array, protocol=protocol)
        for shift in range(3):  # three base64 alignments: 0, 2 and 4 bytes of prefix
            text = base64.b64encode(_NOOP * shift + payload).decode("ascii")
            if "null" not in text:
                return text
    raise EncodingError("no pickle of the array avoids the text 'null'")


def _plain(data: Any) -> np.ndarray:
    """A plain numpy array (structured for tables) of an HDU's data."""
    array = np.asarray(data)
    if array.dtype.names:
        # FITS_rec columns may be scaled or boolean-coded: read each through the record.
        columns = {name: np.asarray(data[name]) for name in array.dtype.names}
        table = np.empty(len(array), dtype=[(n, c.dtype, c.shape[1:]) for n, c in columns.items()])
        for name, column in columns.items():
            table[name] = column
        return table
    return np.array(array)


def _cells(table: np.ndarray) -> int:
    """Number of values in a structured array (vector columns count each element)."""
    per_row = sum(int(np.prod(table.dtype[name].shape or (1,))) for name in table.dtype.names or ())
    return len(table) * per_row


def _finite(array: np.ndarray) -> bool:
    if array.dtype.names:
        return all(_finite(np.asarray(array[name])) for name in array.dtype.names)
    if array.dtype.kind in "fc":
        return bool(np.isfinite(array).all())
    return array.dtype.kind != "O"


def _json_values(array: np.ndarray) -> str:
    if array.dtype.names:
        rows = [[_cell(array[name][i]) for name in array.dtype.names] for i in range(len(array))]
        return json.dumps(rows)
    return json.dumps(array.tolist())


def _cell(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes | np.bytes_):
        return clean_text(value.decode("ascii", "replace"))
    if isinstance(value, str):
        return clean_text(value)
    return value.item() if isinstance(value, np.generic) else value


def _hdu_type(hdu: Any) -> str:
    if isinstance(hdu, fits.PrimaryHDU):
        return "primary"
    if isinstance(hdu, fits.ImageHDU):
        return "image"
    if isinstance(hdu, fits.BinTableHDU):
        return "bintable"
    if isinstance(hdu, fits.TableHDU):
        return "table"
    raise EncodingError(f"unsupported HDU type {type(hdu).__name__}")


def encode_hdu(
    hdu: Any, name: str | None = None, extra_cards: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One ``NumpyDataUnit``: a finite table as values, anything else as a ``null``-free
    pickle."""
    data = None if hdu.data is None else _plain(hdu.data)
    values = binarys = dt = None
    if data is not None:
        if data.dtype.names and _cells(data) <= MAX_VALUE_CELLS and _finite(data):
            values = _json_values(data)
        else:
            binarys = _pickled(data)
        dt = str(data.dtype.descr) if data.dtype.names else str(data.dtype)
    return {
        "name": clean_text(name or hdu.name or "PRIMARY"),
        "hdu_type": _hdu_type(hdu),
        "header": header_dict(hdu.header, extra_cards),
        "data": values,
        "binarys": binarys,
        "dt": dt,
        "meta_data": {},
        "units_dict": None,
    }


def encode_product(
    name: str, meta_data: Mapping[str, Any], units: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    """One ``NumpyDataProduct`` of already encoded units (``meta_data`` as JSON text, as the
    dispatcher sends it)."""
    meta = {k: clean_text(v) if isinstance(v, str) else v for k, v in meta_data.items()}
    return {"name": name, "meta_data": json.dumps(meta), "data_unit_list": list(units)}
