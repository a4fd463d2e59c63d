"""Toy CPU-bound units for ``benchmarks.bench_pipeline`` (importable by Dask workers)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from processing.pipeline import (
    AnalysisUnit,
    ExternalFile,
    FileInput,
    Int,
    NodeInput,
    UnitContext,
    declare,
)


def decode(
    events: np.ndarray, size: int, repeats: int, check: Callable[[], None] = lambda: None
) -> np.ndarray:
    """The decode unit's computation: bin, then ``repeats`` FFT correlations."""
    counts, _, _ = np.histogram2d(events[:, 0], events[:, 1], bins=size, range=[[0, 1], [0, 1]])
    mask = np.fft.rfft2(np.random.default_rng(0).integers(0, 2, (size, size)).astype(float))
    image = counts
    for _ in range(repeats):
        check()
        image = np.fft.irfft2(np.fft.rfft2(image) * np.conj(mask), s=image.shape)
        image /= np.abs(image).max() or 1.0
    return image.astype(np.float32)


def decode_file(path: Path, repeats: int, size: int = 384) -> float:
    """Read and decode one file outside the pipeline (for the machine's speed-up ceiling)."""
    return float(decode(np.load(path), size, repeats).sum())


class ReadScw(AnalysisUnit):
    """Read a ScW's toy event list (a ``.npy`` file)."""

    name = "bench.read_scw"
    version = "1"
    inputs = declare(events=FileInput())
    uses_calibration = False

    def run(self, ctx: UnitContext, events: ExternalFile) -> Any:
        return {"events": np.load(events.path)}


class DecodeScw(AnalysisUnit):
    """CPU-bound stand-in for decoding: repeated 2-D FFT correlations of a shadowgram."""

    name = "bench.decode_scw"
    version = "1"
    params = declare(size=Int(min=8, default=384), repeats=Int(min=1, default=40))
    inputs = declare(events=NodeInput())

    def run(self, ctx: UnitContext, events: dict[str, Any]) -> Any:
        image = decode(events["events"], self.config["size"], self.config["repeats"], ctx.check)
        return {"image": image}


class MosaicImages(AnalysisUnit):
    """Average the per-ScW images."""

    name = "bench.mosaic"
    version = "1"
    inputs = declare(images=NodeInput(many=True))

    def run(self, ctx: UnitContext, images: list[dict[str, Any]]) -> Any:
        total = np.zeros_like(np.asarray(images[0]["image"]), dtype=np.float64)
        for item in images:
            total += item["image"]
        return {"mosaic": (total / len(images)).astype(np.float32)}
