"""Reading a science window's events and binning them once into a fine energy cube."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from processing.archive import ArchiveIndex, ScienceWindow
from processing.codedmask._camera import read_camera_events
from processing.instruments import (
    InstrumentSpec,
    adapter_for_detector,
    adapter_for_events_file,
    default_instrument,
)
from processing.pipeline import (
    AnalysisUnit,
    ExternalFile,
    FileInput,
    List,
    Quantity,
    UnitContext,
    declare,
    file_checksum,
)

__all__ = [
    "BinScienceWindow",
    "bin_events",
    "camera_events_file",
    "camera_of_events",
    "detector_of",
    "events_file",
    "has_camera_events",
]


def events_file(index: ArchiveIndex, scw: ScienceWindow) -> ExternalFile:
    """The pipeline input naming a science window's event file by archive path and checksum."""
    return ExternalFile(
        index.events_path(scw),
        f"sha256:{scw.checksum}",
        label=scw.path,
        attributes={"scw_id": scw.scw_id},
    )


def _camera_events_path(index: ArchiveIndex, scw: ScienceWindow, camera: InstrumentSpec) -> Path:
    """Where ``camera``'s event file of a science window lies: beside the indexed one."""
    return index.events_path(scw).parent / camera.layout.events_file


def has_camera_events(index: ArchiveIndex, scw: ScienceWindow, camera: InstrumentSpec) -> bool:
    """Whether ``camera`` recorded events in this science window (its event file exists)."""
    return _camera_events_path(index, scw, camera).is_file()


@lru_cache(maxsize=4096)
def _checksum(path: str, mtime_ns: int, size: int) -> str:
    """A file's checksum, read once per version of the file (its time stamp and size)."""
    return file_checksum(Path(path))


def camera_events_file(
    index: ArchiveIndex, scw: ScienceWindow, camera: InstrumentSpec
) -> ExternalFile:
    """The pipeline input naming ``camera``'s event file of a science window.

    The index holds the science windows of the default camera's files, with their checksums;
    another camera's file in the same folder is named by its own SHA-256 (read once per
    process and file version). For the indexed camera this is :func:`events_file`.
    """
    path = _camera_events_path(index, scw, camera)
    if path == index.events_path(scw):
        return events_file(index, scw)
    stat = path.stat()
    return ExternalFile(
        path,
        _checksum(str(path), stat.st_mtime_ns, stat.st_size),
        label=str(Path(scw.path).parent / camera.layout.events_file),
        attributes={"scw_id": scw.scw_id},
    )


#: A channel grid is looked up through a table when its edges lie on a regular grid of at most
#: this many cells (the default grid: 985 cells of 1 keV); otherwise by binary search.
_MAX_LOOKUP_CELLS = 1 << 20


@lru_cache(maxsize=8)
def _lookup(
    edges: tuple[float, ...],
) -> tuple[float, float, NDArray[np.intp], NDArray[np.float64]] | None:
    """Table of the channel holding each cell of the regular grid the edges lie on.

    Returns (origin, cells per keV, padded channel per cell, padded edges), or None when the
    edges do not all lie on a grid of their smallest spacing. Padded: index 0 is below the
    first edge (−inf) and the last is above the last edge (+inf), so every energy has a slot.
    """
    grid = np.asarray(edges)
    step = float(np.min(np.diff(grid)))
    cells = (grid - grid[0]) / step
    n_cells = round(float(cells[-1]))
    if n_cells > _MAX_LOOKUP_CELLS or not np.allclose(cells, np.round(cells), rtol=0, atol=1e-6):
        return None
    centres = grid[0] + (np.arange(n_cells) + 0.5) * step
    inside = np.searchsorted(grid, centres, side="right")  # padded index = channel + 1
    table = np.concatenate([[0], inside, [grid.size]]).astype(np.intp)
    padded = np.concatenate([[-np.inf], grid, [np.inf]])
    return float(grid[0]), 1.0 / step, table, padded


def channel_index(channel_edges: NDArray[np.float64], energy: NDArray[Any]) -> NDArray[np.intp]:
    """Channel of each energy: ``i`` where ``edges[i] <= e < edges[i + 1]``, −1 below the grid
    and ``n_channels`` at or above its top (NaN counts as outside).

    The result of ``np.searchsorted(edges, e, side="right") - 1`` for every finite energy, in
    about a quarter of the time on a regular grid: the cell of a uniform grid through the
    edges gives the channel, then one comparison with each neighbouring edge settles values
    that rounding put in the next cell.
    """
    lookup = _lookup(tuple(float(x) for x in channel_edges))
    if lookup is None:
        return np.asarray(np.searchsorted(channel_edges, energy, side="right") - 1, dtype=np.intp)
    origin, per_kev, table, padded = lookup
    e = np.asarray(energy, dtype=np.float64)
    cell = np.fmin(np.fmax((e - origin) * per_kev, -1.0), float(table.size - 2))
    slot = table[(np.floor(cell) + 1).astype(np.intp)]
    slot -= e < padded[slot]
    slot += e >= padded[slot + 1]
    np.minimum(slot, table[-1], out=slot)  # +inf: above the grid, as any energy past its top
    slot -= 1
    return slot


def detector_of(header: dict[str, Any]) -> InstrumentSpec:
    """The adapter of the camera an event file's header names (``DETNAM``).

    A file without ``DETNAM`` is taken as the default instrument's, as the archive index does.
    """
    detnam = header.get("DETNAM")
    return default_instrument() if detnam is None else adapter_for_detector(str(detnam))


def camera_of_events(path: str | Path, header: dict[str, Any]) -> InstrumentSpec:
    """The adapter of an event file: the instrument whose event files bear its name, else the
    one its header's ``DETNAM`` names (see :func:`detector_of`)."""
    by_name = adapter_for_events_file(Path(path).name)
    return detector_of(header) if by_name is None else by_name


def bin_events(
    time: np.ndarray,
    energy: np.ndarray,
    dety: np.ndarray,
    detz: np.ndarray,
    good: np.ndarray,
    channel_edges: np.ndarray,
    detector_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Counts cube (channel, DETY, DETZ) of the good events, with one ``bincount``.

    ``detector_shape`` is the (DETY, DETZ) size of the camera's detector image, the default
    instrument's when not given.
    """
    ny, nz = default_instrument().detector_shape if detector_shape is None else detector_shape
    n_chan = channel_edges.size - 1
    chan = channel_index(channel_edges, energy)
    ok = good & (chan >= 0) & (chan < n_chan)
    flat = (chan * ny + dety) * nz + detz
    counts = np.bincount(flat[ok], minlength=n_chan * ny * nz)
    dtype = np.uint16 if counts.max(initial=0) < 65535 else np.uint32
    return counts.astype(dtype).reshape(n_chan, ny, nz)


class BinScienceWindow(AnalysisUnit):
    """Bin the good events (inside GTIs, SELECT_FLAG = 0) of one ScW into a fine energy cube.

    Output: ``counts`` (channel × DETY × DETZ), ``channel_edges`` (keV), and the science
    window's timing and attitude (``ontime_s``, ``deadc``, ``livetime_s``, ``tstart``,
    ``tstop`` in IJD, ``ra_x``, ``dec_x``, ``ra_z``, ``dec_z``, ``revolution``).
    """

    name = "isgri.bin_scw"
    version = "1"
    uses_calibration = False
    params = declare(
        channel_edges=List(
            Quantity("keV", digits=9), min_length=2, doc="fine channel edges (increasing)"
        ),
    )
    inputs = declare(events=FileInput(doc="the ScW's event file"))
    codec = "numpy"

    def run(self, ctx: UnitContext, events: ExternalFile) -> dict[str, Any]:  # type: ignore[override]
        edges = np.asarray(self.config["channel_edges"], dtype=float)
        if np.any(np.diff(edges) <= 0):
            raise ValueError("channel edges must increase")
        camera, ev = read_camera_events(events.path)
        ctx.check()
        shape = camera.detector_shape
        if ev.dety.size and (ev.dety.max() >= shape[0] or ev.detz.max() >= shape[1]):
            raise ValueError(f"{events.label}: DETY/DETZ outside the {shape} grid")
        good = ev.good()
        counts = bin_events(ev.time, ev.energy, ev.dety, ev.detz, good, edges, shape)
        h = ev.header
        ontime = ev.ontime_s
        deadc = float(h.get("DEADC", 1.0))
        return {
            "counts": counts,
            "channel_edges": edges,
            "ontime_s": ontime,
            "deadc": deadc,
            "livetime_s": ontime * deadc,
            "tstart": float(h["TSTART"]),
            "tstop": float(h["TSTOP"]),
            "ra_x": float(h["RA_SCX"]),
            "dec_x": float(h["DEC_SCX"]),
            "ra_z": float(h["RA_SCZ"]),
            "dec_z": float(h["DEC_SCZ"]),
            "revolution": int(h["REVOL"]),
            "n_events": len(ev),
            "n_good": int(good.sum()),
        }
