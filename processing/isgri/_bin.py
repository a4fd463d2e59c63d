"""Reading a science window's events and binning them once into a fine energy cube."""

from __future__ import annotations

from typing import Any

import numpy as np

from processing.archive import ArchiveIndex, ScienceWindow, read_events
from processing.isgri._channels import DEFAULT_CHANNEL_EDGES
from processing.pipeline import (
    AnalysisUnit,
    ExternalFile,
    FileInput,
    List,
    Quantity,
    UnitContext,
    declare,
)

__all__ = ["BinScienceWindow", "bin_events", "default_channel_edges", "events_file"]

_DETECTOR_SHAPE = (130, 134)  # DETY x DETZ of the event-file layout (checked against events)


def events_file(index: ArchiveIndex, scw: ScienceWindow) -> ExternalFile:
    """The pipeline input naming a science window's event file by archive path and checksum."""
    return ExternalFile(
        index.events_path(scw),
        f"sha256:{scw.checksum}",
        label=scw.path,
        attributes={"scw_id": scw.scw_id},
    )


def bin_events(
    time: np.ndarray,
    energy: np.ndarray,
    dety: np.ndarray,
    detz: np.ndarray,
    good: np.ndarray,
    channel_edges: np.ndarray,
) -> np.ndarray:
    """Counts cube (channel, DETY, DETZ) of the good events, with one ``bincount``."""
    ny, nz = _DETECTOR_SHAPE
    n_chan = channel_edges.size - 1
    e = energy[good]
    chan = np.searchsorted(channel_edges, e, side="right") - 1
    ok = (chan >= 0) & (chan < n_chan)
    flat = (chan[ok].astype(np.int64) * ny + dety[good][ok]) * nz + detz[good][ok]
    counts = np.bincount(flat, minlength=n_chan * ny * nz)
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
    inputs = declare(events=FileInput(doc="the ScW's isgri_events.fits.gz"))
    codec = "numpy"

    def run(self, ctx: UnitContext, events: ExternalFile) -> dict[str, Any]:  # type: ignore[override]
        edges = np.asarray(self.config["channel_edges"], dtype=float)
        if np.any(np.diff(edges) <= 0):
            raise ValueError("channel edges must increase")
        ev = read_events(events.path)
        ctx.check()
        if ev.dety.size and (
            ev.dety.max() >= _DETECTOR_SHAPE[0] or ev.detz.max() >= _DETECTOR_SHAPE[1]
        ):
            raise ValueError(f"{events.label}: DETY/DETZ outside the {_DETECTOR_SHAPE} grid")
        good = ev.good()
        counts = bin_events(ev.time, ev.energy, ev.dety, ev.detz, good, edges)
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


def default_channel_edges() -> list[float]:
    """The default fine grid as a plain list (the unit parameter)."""
    return [float(x) for x in DEFAULT_CHANNEL_EDGES]
