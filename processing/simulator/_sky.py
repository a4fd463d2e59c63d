"""Sky models: the reference source list, spectra normalised in mCrab, and light curves."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "CRAB_ENERGY_FLUX_20_40",
    "Flare",
    "LightCurve",
    "ReferenceSource",
    "Spectrum",
    "reference_sources",
]

FloatArray = NDArray[np.float64]

#: Energy flux of the Crab (10 E^-2.1 ph cm^-2 s^-1 keV^-1) in 20-40 keV, keV cm^-2 s^-1;
#: 1 mCrab is a thousandth of it (7.9e-12 erg cm^-2 s^-1).
CRAB_ENERGY_FLUX_20_40 = float(10.0 / -0.1 * (40.0**-0.1 - 20.0**-0.1))


@dataclass(frozen=True)
class ReferenceSource:
    """One row of the hard-X-ray reference list (typical levels, good to 30-50 %)."""

    name: str
    ra: float
    dec: float
    source_class: str
    flux_20_40_mcrab: float
    flux_40_100_mcrab: float
    photon_index: float
    variability: str
    notes: str


def reference_sources() -> list[ReferenceSource]:
    """The sources of ``data/sky_sources.csv`` (real positions and typical fluxes)."""
    text = (resources.files("processing.simulator") / "data" / "sky_sources.csv").read_text()
    rows = csv.DictReader(text.splitlines())
    return [
        ReferenceSource(
            name=r["name"],
            ra=float(r["ra_deg"]),
            dec=float(r["dec_deg"]),
            source_class=r["class"],
            flux_20_40_mcrab=float(r["f20_40_mCrab"]),
            flux_40_100_mcrab=float(r["f40_100_mCrab"]),
            photon_index=float(r["gamma_2band"]),
            variability=r["var_model"],
            notes=r["notes"],
        )
        for r in rows
    ]


class Spectrum(BaseModel):
    """Photon spectrum shape; the normalisation comes from the source's flux in mCrab (20-40 keV).

    ``powerlaw``: E^-index. ``highecut``: E^-index × exp((Ec - E)/Ef) above Ec (XSPEC's highecut).
    """

    model_config = ConfigDict(extra="forbid")

    model: Literal["powerlaw", "highecut"] = "powerlaw"
    index: float = Field(2.0, ge=-1.0, le=8.0)
    cutoff_keV: float = Field(100.0, gt=0)
    fold_keV: float = Field(100.0, gt=0)

    def shape(self, energy: FloatArray) -> FloatArray:
        """Un-normalised photon spectrum (ph cm^-2 s^-1 keV^-1) at ``energy`` keV."""
        e = np.asarray(energy, dtype=float)
        value = e ** (-self.index)
        if self.model == "highecut":
            value = value * np.where(
                e > self.cutoff_keV, np.exp((self.cutoff_keV - e) / self.fold_keV), 1.0
            )
        return value

    def normalisation(self, flux_mcrab: float) -> float:
        """Factor turning :meth:`shape` into the photon spectrum of a ``flux_mcrab`` source."""
        grid = np.geomspace(20.0, 40.0, 513)
        energy_flux = np.trapezoid(grid * self.shape(grid), grid)
        return flux_mcrab * 1e-3 * CRAB_ENERGY_FLUX_20_40 / float(energy_flux)


class Flare(BaseModel):
    """A flare added to the base flux: exponential rise to ``peak_mcrab`` then exponential decay."""

    model_config = ConfigDict(extra="forbid")

    peak_mjd: float
    peak_mcrab: float = Field(gt=0)
    rise_s: float = Field(gt=0)
    decay_s: float = Field(gt=0)

    def __call__(self, mjd: FloatArray) -> FloatArray:
        dt = (np.asarray(mjd) - self.peak_mjd) * 86400.0
        scale = np.where(dt < 0, self.rise_s, self.decay_s)
        return self.peak_mcrab * np.exp(-np.abs(dt) / scale)


class LightCurve(BaseModel):
    """Flux history in mCrab (20-40 keV).

    ``constant``: the source's flux. ``table``: linear interpolation of (mjd, mcrab) points,
    constant beyond the ends. Either base may carry ``flares`` and a ``periodic`` modulation
    (1 + amplitude × sin(2π (t - epoch) / period)).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["constant", "table"] = "constant"
    mjd: list[float] = Field(default_factory=list)
    mcrab: list[float] = Field(default_factory=list)
    flares: list[Flare] = Field(default_factory=list)
    period_d: float | None = Field(None, gt=0)
    amplitude: float = Field(0.0, ge=0, le=1)
    epoch_mjd: float = 0.0

    @model_validator(mode="after")
    def _table_complete(self) -> LightCurve:
        if self.type == "table":
            if len(self.mjd) < 1 or len(self.mjd) != len(self.mcrab):
                raise ValueError("a table light curve needs equally long, non-empty mjd and mcrab")
            if any(b <= a for a, b in zip(self.mjd, self.mjd[1:], strict=False)):
                raise ValueError("table light-curve times must increase")
            if any(v < 0 for v in self.mcrab):
                raise ValueError("table light-curve fluxes must be >= 0")
        return self

    def flux(self, mjd: FloatArray, base_mcrab: float) -> FloatArray:
        """Flux in mCrab at times ``mjd``."""
        t = np.asarray(mjd, dtype=float)
        if self.type == "table":
            value = np.interp(t, self.mjd, self.mcrab)
        else:
            value = np.full(t.shape, float(base_mcrab))
        for flare in self.flares:
            value = value + flare(t)
        if self.period_d:
            phase = 2 * np.pi * (t - self.epoch_mjd) / self.period_d
            value = value * (1.0 + self.amplitude * np.sin(phase))
        return np.maximum(value, 0.0)
