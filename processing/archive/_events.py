"""Reading and writing event files; each camera's extension and column names come with its
:class:`EventLayout` (the default camera's when none is given).

Event files are gzip-compressed FITS. Compression and decompression go through python-isal's
igzip, which is several times faster than zlib and produces ordinary gzip streams.
Written files are bit-identical for identical content (fixed gzip header time, no dates in FITS).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from isal import igzip as _gzip_impl  # a faster gzip codec writing ordinary gzip streams
from numpy.typing import NDArray

from processing.archive._layout import EventLayout, default_event_layout

__all__ = [
    "EventFileError",
    "EventList",
    "read_events",
    "read_header",
    "write_events",
]

REQUIRED_KEYWORDS = ("REVOL", "SWID", "TSTART", "TSTOP", "RA_SCX", "DEC_SCX", "RA_SCZ", "DEC_SCZ")
_FORMATS = (">f8", ">f4", ">i2", ">i2", ">i2")


def _event_dtype(layout: EventLayout) -> np.dtype[Any]:
    return np.dtype(list(zip(layout.column_names, _FORMATS, strict=True)))


class EventFileError(ValueError):
    """An event file is unreadable, corrupt, or not an event file of the expected camera."""


@dataclass
class EventList:
    """The events and good-time intervals of one science window."""

    time: NDArray[np.float64]
    energy: NDArray[np.float32]
    dety: NDArray[np.int16]
    detz: NDArray[np.int16]
    select_flag: NDArray[np.int16]
    gti_start: NDArray[np.float64]
    gti_stop: NDArray[np.float64]
    header: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.time.size)

    def good(self) -> NDArray[np.bool_]:
        """Mask of good events: SELECT_FLAG = 0 and inside a GTI."""
        ok = self.select_flag == 0
        idx = np.searchsorted(self.gti_start, self.time, side="right") - 1
        inside = (idx >= 0) & (self.time < self.gti_stop[np.clip(idx, 0, None)])
        return ok & inside

    @property
    def ontime_s(self) -> float:
        """Summed GTI length in seconds."""
        return float(np.sum(self.gti_stop - self.gti_start) * 86400.0)


def _header_cards(header: dict[str, Any]) -> fits.Header:
    out = fits.Header()
    for key, value in header.items():
        out[key] = value
    return out


def write_events(
    path: Path, events: EventList, compresslevel: int = 1, layout: EventLayout | None = None
) -> None:
    """Write an event file atomically (temporary file, then rename)."""
    layout = layout or default_event_layout()
    table = np.empty(len(events), dtype=_event_dtype(layout))
    table["TIME"] = events.time
    table[layout.energy_column] = events.energy
    table[layout.y_column] = events.dety
    table[layout.z_column] = events.detz
    table[layout.flag_column] = events.select_flag
    common = _header_cards(events.header)
    primary = fits.PrimaryHDU(header=common.copy())
    evts = fits.BinTableHDU(table, header=common.copy(), name=layout.extname)
    evts.columns["TIME"].unit = "d"
    evts.columns[layout.energy_column].unit = "keV"
    gti = fits.BinTableHDU.from_columns(
        [
            fits.Column("START", "D", unit="d", array=events.gti_start),
            fits.Column("STOP", "D", unit="d", array=events.gti_stop),
        ],
        name=layout.gti_extname,
        header=common.copy(),
    )
    buffer = io.BytesIO()
    fits.HDUList([primary, evts, gti]).writeto(buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with (
        open(tmp, "wb") as raw,
        _gzip_impl.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=compresslevel, mtime=0
        ) as gz,
    ):
        gz.write(buffer.getbuffer())
    tmp.replace(path)


def _open_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as raw:
            data = raw.read()
        if data[:2] == b"\x1f\x8b":
            return bytes(_gzip_impl.decompress(data))
        return data
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise EventFileError(f"{path}: cannot read or decompress: {exc}") from exc


def _header_block(data: bytes, offset: int, path: Path) -> tuple[fits.Header, int]:
    """Parse the FITS header starting at ``offset``; return it and the offset after it."""
    pos = offset
    while True:
        block = data[pos : pos + 2880]
        if len(block) < 2880:
            raise EventFileError(f"{path}: truncated FITS header")
        pos += 2880
        if any(block[i : i + 8] == b"END     " for i in range(0, 2880, 80)):
            break
    try:
        return fits.Header.fromstring(data[offset:pos].decode("ascii")), pos
    except (UnicodeDecodeError, ValueError) as exc:
        raise EventFileError(f"{path}: malformed FITS header: {exc}") from exc


def _check_events_header(path: Path, header: fits.Header, layout: EventLayout) -> None:
    if header.get("EXTNAME") != layout.extname:
        raise EventFileError(
            f"{path}: second HDU is {header.get('EXTNAME')!r}, not {layout.extname}"
        )
    missing = [k for k in REQUIRED_KEYWORDS if k not in header]
    if missing:
        raise EventFileError(f"{path}: missing header keywords {', '.join(missing)}")


def read_header(path: Path, layout: EventLayout | None = None) -> dict[str, Any]:
    """The event extension's header, decompressing only the start of the file."""
    layout = layout or default_event_layout()
    try:
        opener: Any = _gzip_impl.open if str(path).endswith(".gz") else open
        with opener(path, "rb") as fh:
            head = fh.read(2880 * 12)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise EventFileError(f"{path}: cannot read or decompress: {exc}") from exc
    primary, pos = _header_block(head, 0, path)
    if primary.get("NAXIS", 0) != 0:
        raise EventFileError(f"{path}: primary HDU holds data; not an event file")
    header, _ = _header_block(head, pos, path)
    _check_events_header(path, header, layout)
    return dict(header)


def verify_event_file(path: Path, header: dict[str, Any]) -> str:
    """Read a whole event file once: its SHA-256, after checking that it decompresses to the
    end (the gzip CRC and length of every member) and is long enough for its event table.

    Raises
    ------
    EventFileError
        When the stream is truncated or corrupt, or shorter than its header promises.
    """
    digest = hashlib.sha256()
    size = 0
    compressed = str(path).endswith(".gz")
    inflater = zlib.decompressobj(wbits=31)
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                digest.update(chunk)
                if not compressed:
                    size += len(chunk)
                    continue
                while chunk:
                    size += len(inflater.decompress(chunk))
                    chunk = b""
                    if inflater.eof and inflater.unused_data:  # another gzip member follows
                        chunk = inflater.unused_data
                        inflater = zlib.decompressobj(wbits=31)
    except zlib.error as exc:
        raise EventFileError(f"{path}: corrupt compressed data ({exc})") from exc
    except OSError as exc:
        raise EventFileError(f"{path}: cannot be read ({exc.strerror})") from exc
    if compressed:
        size += len(inflater.flush())
        if not inflater.eof:
            raise EventFileError(f"{path}: truncated (the compressed stream ends early)")
    table = int(header.get("NAXIS1", 0)) * int(header.get("NAXIS2", 0))
    if size % 2880 or size < table + 2 * 2880:
        raise EventFileError(
            f"{path}: truncated ({size} bytes of FITS, the event table alone needs {table})"
        )
    return digest.hexdigest()


def read_events(path: Path, layout: EventLayout | None = None) -> EventList:
    """Read the events and GTIs of a science window.

    Raises
    ------
    EventFileError
        When the file is missing, corrupt or lacks the extensions of ``layout``.
    """
    layout = layout or default_event_layout()
    dtype = _event_dtype(layout)
    data = _open_bytes(path)
    _, pos = _header_block(data, 0, path)
    header, pos = _header_block(data, pos, path)
    _check_events_header(path, header, layout)
    n_rows = int(header.get("NAXIS2", -1))
    if int(header.get("NAXIS1", -1)) != dtype.itemsize or n_rows < 0:
        raise EventFileError(f"{path}: unexpected event table layout")
    names = [str(header.get(f"TTYPE{i + 1}", "")).strip() for i in range(int(header["TFIELDS"]))]
    if tuple(names) != dtype.names:
        raise EventFileError(f"{path}: unexpected event columns {names}")
    size = n_rows * dtype.itemsize
    if pos + size > len(data):
        raise EventFileError(f"{path}: truncated event table")
    raw = np.frombuffer(data, dtype=dtype, count=n_rows, offset=pos)
    gti_pos = pos + (size + 2879) // 2880 * 2880
    gti_header, gti_pos = _header_block(data, gti_pos, path)
    if gti_header.get("EXTNAME") != layout.gti_extname:
        raise EventFileError(f"{path}: third HDU is not {layout.gti_extname}")
    n_gti = int(gti_header["NAXIS2"])
    gti = np.frombuffer(
        data, dtype=np.dtype([("START", ">f8"), ("STOP", ">f8")]), count=n_gti, offset=gti_pos
    )
    gti_start = gti["START"].astype(np.float64)
    gti_stop = gti["STOP"].astype(np.float64)
    return EventList(
        time=raw["TIME"].astype(np.float64),
        energy=raw[layout.energy_column].astype(np.float32),
        dety=raw[layout.y_column].astype(np.int16),
        detz=raw[layout.z_column].astype(np.int16),
        select_flag=raw[layout.flag_column].astype(np.int16),
        gti_start=gti_start,
        gti_stop=gti_stop,
        header=dict(header),
    )
