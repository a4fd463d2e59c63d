"""Toy analysis units mirroring the shape of the real pipeline (read → per-ScW steps → stack).

They live in an importable module so that Dask worker processes can unpickle them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from processing.pipeline import (
    AnalysisUnit,
    Bool,
    Codec,
    ExternalFile,
    FileInput,
    Float,
    Int,
    NodeInput,
    Quantity,
    Str,
    UnitContext,
    declare,
    register_codec,
)


class ReadEvents(AnalysisUnit):
    """Read a ``.npy`` 'event file' (stands for reading a ScW's events)."""

    name = "toy.read_events"
    version = "1"
    inputs = declare(events=FileInput(doc="event file"))
    uses_calibration = False

    def run(self, ctx: UnitContext, events: ExternalFile) -> Any:
        ctx.check()
        return {"events": np.load(events.path), "scw_id": events.attributes.get("scw_id", "")}


class BinEvents(AnalysisUnit):
    """Histogram events in an energy band (stands for binning a shadowgram)."""

    name = "toy.bin_events"
    version = "1"
    params = declare(
        e_min=Quantity("keV", min=0),
        e_max=Quantity("keV", min=0),
        bins=Int(min=1, default=16),
    )
    inputs = declare(events=NodeInput())

    def run(self, ctx: UnitContext, events: dict[str, Any]) -> Any:
        values = np.asarray(events["events"])
        hist, _ = np.histogram(
            values, bins=self.config["bins"], range=(self.config["e_min"], self.config["e_max"])
        )
        return {"counts": hist.astype(np.float32), "scw_id": events["scw_id"]}


class Decode(AnalysisUnit):
    """Scale and smooth counts (stands for decoding a sky image)."""

    name = "toy.decode"
    version = "1"
    params = declare(gain=Float(default=1.0))
    inputs = declare(shadowgram=NodeInput())

    def run(self, ctx: UnitContext, shadowgram: dict[str, Any]) -> Any:
        counts = np.asarray(shadowgram["counts"], dtype=np.float64)
        image = np.convolve(counts, [0.25, 0.5, 0.25], mode="same") * self.config["gain"]
        return {"image": image, "scw_id": shadowgram["scw_id"]}


class Mosaic(AnalysisUnit):
    """Sum per-ScW images (stands for a mosaic): a reduction over many inputs."""

    name = "toy.mosaic"
    version = "1"
    params = declare(weight=Float(default=1.0))
    inputs = declare(images=NodeInput(many=True))

    def run(self, ctx: UnitContext, images: list[dict[str, Any]]) -> Any:
        total = np.zeros_like(np.asarray(images[0]["image"]))
        for image in images:
            ctx.check()
            total = total + np.asarray(image["image"])
        return {"mosaic": total * self.config["weight"], "n_scw": len(images)}


class Summary(AnalysisUnit):
    """A JSON product."""

    name = "toy.summary"
    version = "1"
    codec = "json"
    inputs = declare(mosaic=NodeInput())

    def run(self, ctx: UnitContext, mosaic: dict[str, Any]) -> Any:
        return {"total": float(np.sum(mosaic["mosaic"])), "n_scw": mosaic["n_scw"]}


class Sleepy(AnalysisUnit):
    """Sleeps; touches ``<marker_dir>/<tag>.started`` when it starts.

    ``cooperative`` units call ``ctx.check()`` every 20 ms; the others ignore cancellation.
    """

    name = "toy.sleepy"
    version = "1"
    params = declare(
        seconds=Float(min=0),
        tag=Str(),
        marker_dir=Str(),
        cooperative=Bool(default=True),
    )
    inputs = declare(events=FileInput())
    uses_calibration = False

    def run(self, ctx: UnitContext, events: ExternalFile) -> Any:
        marker = Path(self.config["marker_dir"])
        (marker / f"{self.config['tag']}.started").write_text(str(os.getpid()))
        deadline = time.monotonic() + self.config["seconds"]
        while time.monotonic() < deadline:
            if self.config["cooperative"]:
                ctx.check()
            time.sleep(0.02)
        (marker / f"{self.config['tag']}.finished").write_text(str(os.getpid()))
        return np.arange(4.0)


class Failing(AnalysisUnit):
    """Always raises."""

    name = "toy.failing"
    version = "1"
    inputs = declare(data=NodeInput())

    def run(self, ctx: UnitContext, data: Any) -> Any:
        raise ArithmeticError("toy failure")


class SlowCodec(Codec):
    """Writes half its payload, then hangs: lets a test kill a writer mid-entry."""

    name = "toy_slow"

    def encode(self, value: Any, folder: Path) -> None:
        with (folder / "payload.bin").open("wb") as handle:
            handle.write(b"x" * 100_000)
            handle.flush()
        (Path(value) / "writing").write_text(str(os.getpid()))
        time.sleep(60)

    def decode(self, folder: Path, files: Sequence[str]) -> Any:
        return (folder / "payload.bin").read_bytes()


register_codec(SlowCodec())
