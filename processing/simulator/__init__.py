"""The archive simulator: a physical forward model writing archives in the real ISGRI layout."""

from processing.simulator._forward import ScwTruth, simulate_scw
from processing.simulator._run import (
    SimulationResult,
    event_header,
    simulate_archive,
    truth_path,
)
from processing.simulator._scenario import (
    BackgroundModel,
    PointingPlan,
    Scenario,
    ScenarioError,
    SourceModel,
    builtin_scenarios,
    load_scenario,
)
from processing.simulator._schedule import (
    PlannedScw,
    SkySource,
    plan,
    resolve_sources,
    revolution_of,
)
from processing.simulator._sky import (
    CRAB_ENERGY_FLUX_20_40,
    Flare,
    LightCurve,
    ReferenceSource,
    Spectrum,
    reference_sources,
)

__all__ = [
    "CRAB_ENERGY_FLUX_20_40",
    "BackgroundModel",
    "Flare",
    "LightCurve",
    "PlannedScw",
    "PointingPlan",
    "ReferenceSource",
    "Scenario",
    "ScenarioError",
    "ScwTruth",
    "SimulationResult",
    "SkySource",
    "SourceModel",
    "Spectrum",
    "builtin_scenarios",
    "event_header",
    "load_scenario",
    "plan",
    "reference_sources",
    "resolve_sources",
    "revolution_of",
    "simulate_archive",
    "simulate_scw",
    "truth_path",
]
