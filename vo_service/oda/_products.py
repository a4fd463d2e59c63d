"""Our stored products in the layout oda_api users index into (PROTOCOL.md §1.6-1.7).

* image: one ``mosaic_image`` product (meta ``product: mosaic``) whose units follow the OSA
  mosaic: ``[0]`` PRIMARY, ``[1]`` a ``GROUPING`` table indexing the images (with
  ``TSTART``/``TSTOP`` and the time keywords), ``[2]`` INTENSITY, ``[3]`` VARIANCE, ``[4]``
  SIGNIFICANCE (what ``OdaImage`` plots by default), ``[5]`` EXPOSURE; then the catalog as
  ``products.catalog`` in the dispatcher's dictionary form, so that it is
  ``dispatcher_catalog_1`` and round-trips through ``get_api_dictionary()``;
* spectra: a spectrum, ARF and RMF product per source (``isgri_spectrum``, ``isgri_arf``,
  ``isgri_rmf`` in ``name`` and ``meta_data.product``); the RMF's matrix is written as a
  fixed-length vector column (the client cannot rebuild variable-length arrays);
* light curves: one ``isgri_lc`` product per source, its table ``ISGR-SRC.-LCR`` with TIME
  (IJD, bin centre), TIMEDEL, RATE, ERROR and FRACEXP at ``[1]``; a ``jemx_lc`` has a
  ``GROUPING`` table at ``[1]`` and its ``JMX1-SRC.-LCR`` at ``[2]``, where oda_api's
  ``OdaLightCurve`` looks for a JEM-X curve.

Nothing here computes science: files are read from the product store and re-laid out.
"""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table

from vo_service._store import StoredProduct
from vo_service.oda._encode import clean_text, encode_hdu, encode_product

__all__ = ["ENCODERS", "catalog_dictionary", "encode_products"]

#: Columns of the ISGRI catalog in the dispatcher's dictionary (ApiCatalog).
CATALOG_COLUMNS = (
    ("meta_ID", "<i8"),
    ("src_names", "<U{n}"),
    ("significance", "<f8"),
    ("ra", "<f8"),
    ("dec", "<f8"),
    ("NEW_SOURCE", "<i8"),
    ("ISGRI_FLAG", "<i8"),
    ("FLAG", "<i8"),
    ("ERR_RAD", "<f8"),
)
#: NEW_SOURCE of a catalogued source (the FITS null of a 16-bit integer, as OSA writes it).
_NOT_NEW = -32768
_IMAGES = ("INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE")
_INSTRUMENT_CARDS = ("TELESCOP", "INSTRUME", "DETNAM")


def _instrument_cards(header: fits.Header) -> dict[str, Any]:
    return {k: header[k] for k in _INSTRUMENT_CARDS if k in header}


def _grouping(hdul: fits.HDUList) -> fits.BinTableHDU:
    """The index table OSA puts before a mosaic's images."""
    images = [h for h in hdul[1:] if h.name in _IMAGES]
    ph = hdul[0].header
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("MEMBER_NAME", "16A", array=[h.name for h in images]),
            fits.Column("IMATYPE", "16A", array=[h.header.get("IMATYPE", h.name) for h in images]),
            fits.Column("E_MIN", "E", unit="keV", array=[h.header.get("E_MIN") for h in images]),
            fits.Column("E_MAX", "E", unit="keV", array=[h.header.get("E_MAX") for h in images]),
            fits.Column("TSTART", "D", unit="d", array=[ph.get("TSTART")] * len(images)),
            fits.Column("TSTOP", "D", unit="d", array=[ph.get("TSTOP")] * len(images)),
        ],
        name="GROUPING",
    )
    for key, value in ph.items():
        if key.startswith(("TIME", "MJD", "DATE", "TSTART", "TSTOP", "TELESCOP", "INSTRUME")):
            table.header[key] = value
    table.header["DETNAM"] = ph.get("DETNAM", "ISGRI")
    return table


def catalog_dictionary(path: Path) -> dict[str, Any]:
    """The image's source catalog as the dispatcher's ``products.catalog`` dictionary.

    Sources the reference catalog does not know are named ``NEW_<our name>`` (users drop
    ``NEW`` rows before re-using a catalog), with ``NEW_SOURCE`` 1 and ``ISGRI_FLAG`` 1;
    catalogued ones have ``NEW_SOURCE`` -32768 and ``ISGRI_FLAG`` 2. ``ERR_RAD`` is the 90 %
    error radius in degrees.
    """
    with fits.open(path, memmap=False) as hdul:
        rows = hdul[1].data
        names = [str(n).strip() for n in rows["name"]]
        known = [bool(k) for k in rows["in_catalog"]]
        names = [n if k else f"NEW_{n}" for n, k in zip(names, known, strict=True)]
        columns: list[list[Any]] = [
            list(range(len(names))),
            [clean_text(n) for n in names],
            [float(s) for s in rows["significance"]],
            [float(r) for r in rows["ra"]],
            [float(d) for d in rows["dec"]],
            [_NOT_NEW if k else 1 for k in known],
            [2 if k else 1 for k in known],
            [0] * len(names),
            [float(r) / 60.0 for r in rows["r90"]],
        ]
    width = max((len(n) for n in names), default=1)
    return {
        "cat_frame": "fk5",
        "cat_coord_units": "deg",
        "cat_lon_name": "ra",
        "cat_lat_name": "dec",
        "cat_column_names": [name for name, _ in CATALOG_COLUMNS],
        "cat_column_list": [
            c if k == 1 else [v if np.isfinite(v) else None for v in c]
            for k, c in enumerate(columns)
        ],
        "cat_column_descr": [[name, dt.format(n=width)] for name, dt in CATALOG_COLUMNS],
    }


def _image(product: StoredProduct, folder: Path, instrument: str) -> dict[str, Any]:
    with fits.open(folder / "image.fits", memmap=False) as hdul:
        cards = _instrument_cards(hdul[0].header)
        units = [encode_hdu(hdul[0]), encode_hdu(_grouping(hdul))]
        by_name = {h.name: h for h in hdul[1:]}
        units += [encode_hdu(by_name[n], extra_cards=cards) for n in _IMAGES if n in by_name]
    mosaic = encode_product(
        "mosaic_image", {"product": "mosaic", "instrument": instrument, "src_name": ""}, units
    )
    products: dict[str, Any] = {"numpy_data_product_list": [mosaic]}
    if any(f.name == "catalog.fits" for f in product.files):
        products["catalog"] = catalog_dictionary(folder / "catalog.fits")
    return products


def _stems(product: StoredProduct, suffix: str) -> list[str]:
    """File stems of the product's ``suffix`` files, in the product's order (named source
    first)."""
    return [f.name[: -len(suffix)] for f in product.files if f.name.endswith(suffix)]


def _dense_rmf(hdul: fits.HDUList) -> list[Any]:
    """PRIMARY, EBOUNDS, MATRIX (as OSA orders them), the matrix as fixed-length rows."""
    matrix, ebounds = hdul["MATRIX"], hdul["EBOUNDS"]
    n_chan = int(matrix.header["DETCHANS"])
    rows = matrix.data
    dense = np.zeros((len(rows), n_chan), dtype=np.float32)
    for i, (first, values) in enumerate(zip(rows["F_CHAN"], rows["MATRIX"], strict=True)):
        values = np.asarray(values, dtype=np.float32)
        dense[i, int(first) - 1 : int(first) - 1 + values.size] = values
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=rows["ENERG_LO"]),
            fits.Column("ENERG_HI", "E", unit="keV", array=rows["ENERG_HI"]),
            fits.Column("N_GRP", "I", array=np.ones(len(rows), dtype=np.int16)),
            fits.Column("F_CHAN", "J", array=np.ones(len(rows), dtype=np.int32)),
            fits.Column("N_CHAN", "J", array=np.full(len(rows), n_chan, dtype=np.int32)),
            fits.Column("MATRIX", f"{n_chan}E", array=dense),
        ],
        name="SPECRESP MATRIX",
    )
    layout = ("TTYPE", "TFORM", "TUNIT", "TDIM", "NAXIS", "PCOUNT", "GCOUNT", "THEAP")
    for key, value in matrix.header.items():
        if key in hdu.header or key in ("COMMENT", "HISTORY", "") or key.startswith(layout):
            continue
        hdu.header[key] = value
    hdu.header["EXTNAME"] = "SPECRESP MATRIX"
    return [hdul[0], ebounds, hdu]


def _spectra(product: StoredProduct, folder: Path, instrument: str) -> dict[str, Any]:
    out = []
    for stem in _stems(product, ".pha"):
        with fits.open(folder / f"{stem}.pha", memmap=False) as pha:
            source = str(pha[1].header.get("OBJECT", stem))
            cards = {"ANCRFILE": "NONE", "RESPFILE": "NONE"}
            spectrum = encode_hdu(pha[1])
            spectrum["header"].update(cards)
            units = [encode_hdu(pha[0]), spectrum]
        name = f"{instrument}_spectrum"
        out.append(encode_product(name, {"src_name": source, "product": name}, units))
        with fits.open(folder / f"{stem}.arf", memmap=False) as arf:
            units = [encode_hdu(h) for h in arf]
        name = f"{instrument}_arf"
        out.append(encode_product(name, {"src_name": source, "product": name}, units))
        with fits.open(folder / f"{stem}.rmf", memmap=False) as rmf:
            units = [encode_hdu(h) for h in _dense_rmf(rmf)]
        name = f"{instrument}_rmf"
        out.append(encode_product(name, {"src_name": source, "product": name}, units))
    return {"numpy_data_product_list": out}


def _spectral_fit(product: StoredProduct, folder: Path, instrument: str) -> dict[str, Any]:
    """The spectra, then the fit results as an ECSV table (``spectral_fit``)."""
    products = _spectra(product, folder, instrument)
    if (folder / "fits.vot").is_file():
        buffer = StringIO()
        Table.read(folder / "fits.vot", format="votable").write(buffer, format="ascii.ecsv")
        text = buffer.getvalue()
        products["astropy_table_product_ascii_list"] = [
            {"name": "spectral_fit", "meta_data": "{}", "ascii": clean_text(text)}
        ]
    return products


def _lc_grouping(rate: fits.BinTableHDU, extname: str) -> fits.BinTableHDU:
    """The index table OSA puts before a JEM-X light curve (oda_api reads a JEM-X curve at
    ``data_unit[2]``, an IBIS one at ``[1]``, by the ``INSTRUME`` of ``data_unit[1]``)."""
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("MEMBER_NAME", "16A", array=[extname]),
            fits.Column("E_MIN", "E", unit="keV", array=[rate.header.get("E_MIN")]),
            fits.Column("E_MAX", "E", unit="keV", array=[rate.header.get("E_MAX")]),
        ],
        name="GROUPING",
    )
    kept = ("TIME", "MJD", "DATE", "TSTART", "TSTOP", "TELESCOP", "INSTRUME", "DETNAM", "OBJECT")
    for key, value in rate.header.items():
        if key.startswith(kept):
            table.header[key] = value
    return table


def _light_curves(product: StoredProduct, folder: Path, instrument: str) -> dict[str, Any]:
    out = []
    for stem in _stems(product, ".lc"):
        with fits.open(folder / f"{stem}.lc", memmap=False) as lc:
            rate = lc[1]
            source = str(rate.header.get("OBJECT", stem))
            units = [encode_hdu(lc[0])]
            if rate.header.get("INSTRUME", "IBIS") == "IBIS":
                extname = "ISGR-SRC.-LCR"
            else:  # JEM-X: JMX1-SRC.-LCR after its index table, as OSA lays it out
                extname = f"{rate.header.get('DETNAM', rate.header['INSTRUME'])}-SRC.-LCR"
                units.append(encode_hdu(_lc_grouping(rate, extname)))
            units.append(encode_hdu(rate, name=extname))
            units[-1]["header"]["EXTNAME"] = extname
            units += [encode_hdu(h) for h in lc[2:]]
            time_bin = float(rate.header.get("TIMEDEL", 0.0)) * 86400.0
        meta = {
            "src_name": source,
            "time_bin": time_bin,
            "time": "TIME",
            "rate": "RATE",
            "rate_err": "ERROR",
        }
        out.append(encode_product(f"{instrument}_lc", meta, units))
    return {"numpy_data_product_list": out}


#: (product, its folder, the ODA instrument name) -> its ODA entries.
Encoder = Callable[[StoredProduct, Path, str], dict[str, Any]]

#: Our product type -> its ODA encoding.
ENCODERS: dict[str, Encoder] = {
    "image": _image,
    "spectrum": _spectra,
    "spectral_fit": _spectral_fit,
    "light_curve": _light_curves,
    "transient_search": _light_curves,
}


def encode_products(
    products: list[tuple[StoredProduct, Path]], instrument: str = "isgri"
) -> dict[str, Any]:
    """The ``products`` entries of a finished request (the primary product's layout), named
    as ODA names ``instrument``'s (``isgri_spectrum``, ``jemx_spectrum``...)."""
    merged: dict[str, Any] = {}
    for product, folder in products:
        encoder = ENCODERS.get(product.product_type)
        if encoder is None:
            continue
        for key, value in encoder(product, folder, instrument).items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            else:
                merged.setdefault(key, value)
    return merged
