"""Small simulated archives for tests (scenarios and builders)."""

from __future__ import annotations

from processing.simulator import (
    BackgroundModel,
    PointingPlan,
    Scenario,
    SourceModel,
)


def tiny_scenario(seed: int = 7, n_scw: int = 4) -> Scenario:
    """Four short science windows around the Crab with the default background."""
    return Scenario(
        name="tiny",
        seed=seed,
        pointings=[
            PointingPlan(
                target="Crab", start="2004-03-01T00:00:00", n_scw=n_scw, scw_duration_s=300
            ),
        ],
    )


def source_only_scenario(ra_offset_deg: float, duration_s: float = 400.0) -> Scenario:
    """One bright source at a chosen offset from the pointing, no background, no reference sky."""
    return Scenario(
        name="srconly",
        seed=11,
        catalog_sources=False,
        sources=[SourceModel(name="Test", ra=120.0, dec=0.0, flux_mcrab=1000.0)],
        pointings=[
            PointingPlan(
                ra=120.0 + ra_offset_deg,
                dec=0.0,
                start=58000.0,
                n_scw=1,
                pattern="staring",
                scw_duration_s=duration_s,
                roll_deg=0.0,
            )
        ],
        background=BackgroundModel(rate_20_40=0.0, line_rates=[0.0, 0.0], noisy_pixels=0),
    )


def crab_field_scenario(n_scw: int = 20, seed: int = 18) -> Scenario:
    """``n_scw`` short (300 s) science windows dithering around the Crab: a mosaic of a known
    field at a cost that scales with ``n_scw`` (the distributed topology test and benchmark)."""
    return Scenario(
        name="crabfield",
        seed=seed,
        pointings=[
            PointingPlan(
                target="Crab", start="2004-03-01T00:00:00", n_scw=n_scw, scw_duration_s=300
            ),
        ],
    )
