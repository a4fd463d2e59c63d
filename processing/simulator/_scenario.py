"""Scenario files: the sky, the pointings and the seed of a simulated archive (YAML or JSON)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from astropy.time import Time
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from processing.instrument import calibration_facts, calibration_names
from processing.simulator._sky import LightCurve, Spectrum

__all__ = [
    "BackgroundModel",
    "PointingPlan",
    "Scenario",
    "ScenarioError",
    "SourceModel",
    "builtin_scenarios",
    "load_scenario",
]


#: The cameras a scenario simulates unless it says otherwise.
DEFAULT_INSTRUMENTS = ("isgri",)


class ScenarioError(ValueError):
    """A scenario cannot be read or is invalid; the message says where."""


def _to_mjd(value: float | str) -> float:
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(Time(str(value), scale="utc").tt.mjd)
    except ValueError as exc:
        raise ValueError(f"not a date (ISO) or an MJD: {value!r}") from exc


class SourceModel(BaseModel):
    """A source in the simulated sky.

    A source named like one of the reference list may omit its position, flux and index (taken
    from the list); anything given overrides the list.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    ra: float | None = Field(None, ge=0, lt=360)
    dec: float | None = Field(None, ge=-90, le=90)
    flux_mcrab: float | None = Field(None, ge=0)
    spectrum: Spectrum | None = None
    lightcurve: LightCurve = Field(default_factory=LightCurve)


class PointingPlan(BaseModel):
    """A block of consecutive science windows around a target.

    ``pattern``: ``5x5`` (square dither, ``step_deg`` apart), ``hex`` (centre and 6 points at
    ``step_deg``), ``staring`` (always on target) or ``random`` (uniform within ``radius_deg``).
    """

    model_config = ConfigDict(extra="forbid")

    target: str | None = None
    ra: float | None = Field(None, ge=0, lt=360)
    dec: float | None = Field(None, ge=-90, le=90)
    start: float | str
    n_scw: int = Field(ge=1, le=5000)
    pattern: Literal["5x5", "hex", "staring", "random"] = "5x5"
    step_deg: float = Field(2.17, ge=0, le=10)
    radius_deg: float = Field(10.0, ge=0, le=30)
    scw_duration_s: float = Field(2000.0, ge=100, le=20000)
    slew_s: float = Field(120.0, ge=0)
    roll_deg: float | None = Field(None, ge=-360, le=360)

    @field_validator("start")
    @classmethod
    def _valid_start(cls, value: float | str) -> float | str:
        _to_mjd(value)
        return value

    @model_validator(mode="after")
    def _has_target(self) -> PointingPlan:
        if self.target is None and (self.ra is None or self.dec is None):
            raise ValueError("a pointing block needs a target name or ra and dec")
        return self

    @property
    def start_mjd(self) -> float:
        """Start of the block (MJD, TT)."""
        return _to_mjd(self.start)


class BackgroundModel(BaseModel):
    """Instrumental background: continuum, fluorescence lines, variations and noisy pixels.

    The defaults are ISGRI's (W lines); another camera's default background comes with its
    calibration facts (``background.simulation``), and a scenario may override it.
    """

    model_config = ConfigDict(extra="forbid")

    rate_20_40: float = Field(
        300.0, ge=0, description="counts/s in band_keV (20-40 keV by default), whole detector"
    )
    band_keV: tuple[float, float] = Field(
        (20.0, 40.0), description="energy band (keV) in which rate_20_40 is given"
    )
    continuum_index: float = 1.5
    lines_keV: list[float] = Field(default_factory=lambda: [59.32, 67.24])
    line_rates: list[float] = Field(default_factory=lambda: [30.0, 10.0])
    scw_jitter: float = Field(0.05, ge=0, le=0.5, description="ScW-to-ScW level scatter")
    module_jitter: float = Field(0.02, ge=0, le=0.5, description="per-module level scatter")
    noisy_pixels: int = Field(2, ge=0, le=100)
    noisy_pixel_events: int = Field(400, ge=0)
    telemetry_gap_probability: float = Field(0.2, ge=0, le=1)

    @field_validator("band_keV")
    @classmethod
    def _ordered_band(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] < value[1]:
            raise ValueError(f"band_keV must be increasing positive energies, got {value}")
        return value


class Scenario(BaseModel):
    """Everything that defines a simulated archive; same scenario and seed give identical files."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = Field(ge=0)
    catalog_sources: bool = Field(True, description="add reference-list sources in the field")
    sources: list[SourceModel] = Field(default_factory=list)
    pointings: list[PointingPlan] = Field(min_length=1)
    background: BackgroundModel = Field(default_factory=BackgroundModel)
    max_offaxis_deg: float = Field(15.5, gt=0, le=20)
    instruments: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INSTRUMENTS),
        min_length=1,
        description="cameras whose events the archive holds for every science window",
    )
    backgrounds: dict[str, BackgroundModel] = Field(
        default_factory=dict,
        description="background of a camera other than ISGRI (default: its calibration facts)",
    )

    @field_validator("instruments")
    @classmethod
    def _known_instruments(cls, value: list[str]) -> list[str]:
        known = calibration_names()
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"unknown instrument(s) {unknown}; known: {', '.join(known)}")
        if len(set(value)) != len(value):
            raise ValueError(f"an instrument is listed twice: {value}")
        return value

    @model_validator(mode="after")
    def _backgrounds_of_simulated(self) -> Scenario:
        stray = sorted(set(self.backgrounds) - set(self.instruments))
        if stray:
            raise ValueError(f"backgrounds given for instruments not simulated: {stray}")
        return self

    def background_of(self, instrument: str) -> BackgroundModel:
        """The background simulated for ``instrument``: ISGRI's is ``background``; another
        camera's is ``backgrounds[instrument]`` or the default of its calibration facts."""
        if instrument in self.backgrounds:
            return self.backgrounds[instrument]
        if instrument == DEFAULT_INSTRUMENTS[0]:
            return self.background
        simulation = calibration_facts(instrument)["background"].get("simulation", {})
        return BackgroundModel.model_validate(simulation)

    def record(self) -> dict[str, object]:
        """The scenario as JSON-ready data for the truth file. The multi-camera fields appear only
        when they differ from their defaults, so an ISGRI archive's truth is as it always was."""
        data: dict[str, object] = json.loads(self.model_dump_json())
        if self.instruments == list(DEFAULT_INSTRUMENTS):
            data.pop("instruments")
        if not self.backgrounds:
            data.pop("backgrounds")
        background = data["background"]
        if isinstance(background, dict) and tuple(self.background.band_keV) == (20.0, 40.0):
            background.pop("band_keV")
        return data


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package."""
    folder = resources.files("processing.simulator") / "scenarios"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a built-in scenario by name, or a scenario file (YAML or JSON).

    Raises
    ------
    ScenarioError
        Naming the file and the invalid field.
    """
    text: str
    label = str(name_or_path)
    if str(name_or_path) in builtin_scenarios():
        folder = resources.files("processing.simulator") / "scenarios"
        text = (folder / f"{name_or_path}.yaml").read_text()
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ScenarioError(
                f"no scenario {label!r}: not a file, and the built-in ones are "
                + ", ".join(builtin_scenarios())
            )
        text = path.read_text()
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{label}: not valid YAML/JSON: {exc}") from exc
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{label}: invalid scenario: {exc}") from exc
