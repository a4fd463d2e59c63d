"""HDUs encoded as oda_api decodes them, with the pitfalls P1 (``null`` in base64) and P2
(non-finite values on the pickle-free path) worked around; decoded by the real client."""

from __future__ import annotations

import ast
import base64
import json
import pickle
from typing import Any

import numpy as np
from astropy.io import fits
from oda_api.data_products import NumpyDataProduct, NumpyDataUnit

from vo_service.oda._encode import encode_hdu, encode_product
from vo_service.oda._envelope import envelope


def _through_client(obj: object) -> Any:
    """What the client does to every response before decoding it (api.py _decode_res_json)."""
    return ast.literal_eval(str(json.loads(json.dumps(obj))).replace("null", "None"))


def _array_with_null_in_its_pickle() -> np.ndarray:
    """An image whose pickle's base64 spells ``null`` (bytes 9e e9 65 at a 3-byte boundary)."""
    pattern = base64.b64decode("null") * 50
    for pad in range(3):
        array = np.frombuffer(bytes(pad) + pattern, dtype=np.uint8).reshape(1, -1)
        if "null" in base64.b64encode(pickle.dumps(array)).decode():
            return array
    raise AssertionError("no sample with 'null' in its base64 pickle")


def test_p1_a_pickle_whose_base64_holds_null_still_decodes() -> None:
    array = _array_with_null_in_its_pickle()
    unit = encode_hdu(fits.ImageHDU(array, name="SIGNIFICANCE"))
    assert unit["binarys"] is not None and "null" not in unit["binarys"]
    decoded = NumpyDataUnit.decode(_through_client(unit))
    assert np.array_equal(decoded.data, array)


def test_p2_tables_with_nan_go_as_pickle_finite_tables_as_values() -> None:
    columns = [
        fits.Column("TIME", "D", array=[1.0, 2.0]),
        fits.Column("RATE", "E", array=[3.0, np.nan]),
        fits.Column("MATRIX", "3E", array=np.arange(6, dtype=np.float32).reshape(2, 3)),
    ]
    with_nan = encode_hdu(fits.BinTableHDU.from_columns(columns, name="RATE"))
    assert with_nan["data"] is None and with_nan["binarys"] is not None
    decoded = NumpyDataUnit.decode(_through_client(with_nan))
    assert np.isnan(decoded.data["RATE"][1]) and decoded.data["MATRIX"][1][2] == 5.0

    columns[1] = fits.Column("RATE", "E", array=[3.0, 4.0])
    finite = encode_hdu(fits.BinTableHDU.from_columns(columns, name="RATE"))
    assert finite["binarys"] is None and finite["data"] is not None
    decoded = NumpyDataUnit.decode(_through_client(finite))
    assert list(decoded.data["RATE"]) == [3.0, 4.0]
    assert list(decoded.data["MATRIX"][1]) == [3.0, 4.0, 5.0]
    # The client writes it back as a FITS table with the same columns.
    hdu = decoded.to_fits_hdu()
    assert hdu.columns.names == ["TIME", "RATE", "MATRIX"]


def test_text_with_null_is_spelt_so_the_client_keeps_it() -> None:
    header = fits.Header({"OBJECT": "nullpoint", "COMMENT": "ignored"})
    unit = encode_hdu(fits.PrimaryHDU(header=header))
    product = encode_product("p", {"src_name": "nullpoint"}, [unit])
    body = envelope("done", job_id="j", session_id="s", products={"x": [product]}, comment="null")
    seen = _through_client(body)
    decoded = NumpyDataProduct.decode(seen["products"]["x"][0])
    assert decoded.meta_data["src_name"] == "Nullpoint"
    assert decoded.data_unit[0].header["OBJECT"] == "Nullpoint"
    assert "COMMENT" not in decoded.data_unit[0].header
