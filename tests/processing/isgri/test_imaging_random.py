"""Imaging on random skies, the quick subset of the acceptance (default run, ~40 s).

A fresh seed each run (printed; ``ISGRI_SEED`` replays it): a few single-ScW fields pointed
anywhere, with sources over the whole coded field, a confusion pair 10-15' apart and a
10-20 Crab source 8-13° off axis, imaged by the real units. The bounds are loose enough for
a handful of fields (the statistics are in ``test_imaging_acceptance.py``) and tight enough
that each of the faults it guards against (positions from a reprojected grid, fluxes off
axis, a source replaced by its ghost, a bright source's residuals) fails it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from . import randomsky as rs
from .campaigns import FieldResult, noise_bound, run_fields

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SEED = rs.draw_seed()
#: In every failure message: the fields are drawn once per module, so only this replays them.
_REPLAY = f"replay with ISGRI_SEED={SEED}"


@pytest.fixture(scope="module")
def fields(ic_archive: Path) -> list[FieldResult]:
    print(f"random imaging seed {SEED} (ISGRI_SEED={SEED} replays it)")
    seeds = [int(s) for s in np.random.default_rng([SEED, 3]).integers(0, 2**31, 6)]
    return run_fields(
        ic_archive,
        seeds,
        n_sources=8,
        duration_s=(1500.0, 3000.0),
        pairs=1,
        pair_separation_arcmin=(10.0, 15.0),
        bright=(10.0, 20.0),
    )


def _injections(fields: list[FieldResult]) -> list[rs.Injected]:
    return [i for f in fields for scw in f.injected for i in scw]


def test_clear_sources_are_found_where_they_are(fields: list[FieldResult]) -> None:
    clear = [i for i in _injections(fields) if i.expected_snr >= 12.0]
    assert len(clear) >= 20, _REPLAY
    missed = [
        (i.name, round(i.expected_snr, 1), round(i.coded, 2)) for i in clear if i.found is None
    ]
    assert not missed, (_REPLAY, missed)
    far = [
        (i.name, round(i.offset_arcmin, 2), round(i.found["r90_arcmin"], 2))  # type: ignore[index,arg-type]
        for i in clear
        if i.offset_arcmin > 3.0 * i.found["r90_arcmin"]  # type: ignore[index]
    ]
    assert not far, (_REPLAY, far)


def test_fluxes_over_the_field_of_view(fields: list[FieldResult]) -> None:
    """Sources ≥ 20σ: pulls centred and not wide. The 6 fields hold 6 of 10-20 Crab and, drawn,
    ~7-15 more (13 in one CI draw, under the 15 this asked for): at least 10, and the mean
    judged against its own standard error (a flux fault of a few per cent moves the pulls of
    such sources by several σ)."""
    bright = [i for i in _injections(fields) if i.expected_snr >= 20.0]
    pulls = np.array([(i.found["flux"] - i.true_rate) / i.found["flux_error"] for i in bright])  # type: ignore[index]
    assert len(pulls) >= 10, _REPLAY
    se_mean = pulls.std(ddof=1) / np.sqrt(pulls.size)
    assert abs(pulls.mean()) < 0.3 + 2.5 * se_mean, (_REPLAY, pulls.mean(), se_mean)
    assert pulls.std() < 1.6, (_REPLAY, pulls.std())
    for i in bright:  # the 10-20 Crab sources: within 2 %
        if i.kind == "bright":
            ratio = i.found["flux"] / i.true_rate  # type: ignore[index]
            assert abs(ratio - 1.0) < 0.02, (_REPLAY, i.name, round(i.coded, 2), ratio)


def test_few_false_detections_and_no_ghost_of_a_bright_source(fields: list[FieldResult]) -> None:
    false = [
        (f.seed, e["name"], round(e["significance"], 1)) for f in fields for s in f.false for e in s
    ]
    # The acceptance measures the rate (≤ 0.05 per busy ScW at 5σ, and a source ≥ 7σ taken at
    # its ghost about once in 300, a false detection too): ~0.1 per field like these. More
    # than 3 in 6 fields is then a 1-in-300 event (3 were: seed 335662650, a 7σ source at
    # its ghost and a 5.0σ noise peak); the bound was 2 (~2 % of runs).
    assert len(false) <= 3, (_REPLAY, false)
    # Ghost pixels of the sources ≥ 50σ: noise (a bound noise alone breaks once in 1000 runs).
    residuals = [r for f in fields for r in f.ghost_residuals]
    assert residuals, _REPLAY
    assert max(abs(r) for r in residuals) < noise_bound(len(residuals)), _REPLAY


def test_confused_pair_is_resolved(fields: list[FieldResult]) -> None:
    pairs = [i for i in _injections(fields) if i.kind == "pair"]
    assert len(pairs) >= 8, _REPLAY
    assert all(i.found is not None for i in pairs), (
        _REPLAY,
        [i.name for i in pairs if i.found is None],
    )
    ratio = np.array([i.found["flux"] / i.true_rate for i in pairs])  # type: ignore[index]
    errors = np.array([i.found["flux_error"] / i.true_rate for i in pairs])  # type: ignore[index]
    assert abs(ratio.mean() - 1.0) < 0.08, (_REPLAY, ratio)
    # Each member within 10 % unless its own error allows more (as many σ as the largest of
    # that many noise values reaches once in 1000 runs): members of 8-9σ have errors of ~12 %,
    # and a fixed 35 % is ~3σ, which noise breaks in a few per cent of runs.
    allowed = np.maximum(0.10, noise_bound(len(pairs)) * errors)
    assert np.all(np.abs(ratio - 1.0) < allowed), (_REPLAY, ratio, allowed)
