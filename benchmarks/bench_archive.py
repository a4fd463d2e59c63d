"""Archive benchmarks: simulate one ~2e6-event science window; read and bin one into 4 bands.

Run: ``python -m benchmarks.bench_archive``. Writes ``benchmarks/results/bench_archive.json``.
Targets (issue 2): simulate ≤ 2 s; read + bin into 4 bands ≤ 0.5 s (2 cores).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from benchmarks._harness import timed, write_result
from processing.archive import default_event_layout, read_events, scw_dir, write_events
from processing.instrument import load_instrument, write_calibration
from processing.isgri import DEFAULT_CHANNEL_EDGES, bin_events
from processing.simulator import PointingPlan, Scenario, event_header, plan, simulate_scw

BANDS = np.array([20.0, 40.0, 60.0, 100.0, 200.0])


def main() -> None:
    scenario = Scenario(
        name="bench",
        seed=5,
        pointings=[
            PointingPlan(
                target="Crab", start=53500.0, n_scw=1, pattern="staring", scw_duration_s=1500
            )
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_calibration(root)
        instrument = load_instrument(root)
        sources, scws = plan(scenario)
        planned = scws[0]
        path = root / scw_dir(planned.scw) / default_event_layout().file
        state: dict[str, object] = {}

        def simulate_only() -> None:
            state["events"] = simulate_scw(
                instrument, sources, planned, scenario.background, scenario.seed
            )[0]

        def simulate_and_write() -> None:
            events, truth = simulate_scw(
                instrument, sources, planned, scenario.background, scenario.seed
            )
            events.header = event_header(planned, truth, scenario)
            write_events(path, events)

        sim = timed(simulate_only, 3)
        sim_write = timed(simulate_and_write, 3)
        n_events = int(read_events(path).time.size)

        def read_only() -> None:
            read_events(path)

        def read_and_bin_4() -> None:
            ev = read_events(path)
            bin_events(ev.time, ev.energy, ev.dety, ev.detz, ev.good(), BANDS)

        def read_and_bin_fine() -> None:
            ev = read_events(path)
            bin_events(ev.time, ev.energy, ev.dety, ev.detz, ev.good(), DEFAULT_CHANNEL_EDGES)

        read = timed(read_only, 5)
        bin4 = timed(read_and_bin_4, 5)
        fine = timed(read_and_bin_fine, 5)
        size_mb = path.stat().st_size / 1e6
    result = {
        "n_events": n_events,
        "file_size_mb": size_mb,
        "simulate_in_memory": sim,
        "simulate_and_write_gz": sim_write,
        "read": read,
        "read_and_bin_4_bands": bin4,
        "read_and_bin_127_channels": fine,
        "targets_s": {"simulate": 2.0, "read_and_bin_4_bands": 0.5},
    }
    out = write_result("bench_archive", result)
    print(f"events per ScW: {n_events:,} ({size_mb:.1f} MB gzipped)")
    print(f"simulate (in memory)        best {sim['best_s']:.2f} s  median {sim['median_s']:.2f} s")
    print(
        f"simulate + write .fits.gz   best {sim_write['best_s']:.2f} s  "
        f"median {sim_write['median_s']:.2f} s  (target 2 s)"
    )
    print(f"read                        best {read['best_s']:.3f} s")
    print(
        f"read + bin 4 bands          best {bin4['best_s']:.3f} s  "
        f"median {bin4['median_s']:.3f} s  (target 0.5 s)"
    )
    print(
        f"read + bin 127 channels     best {fine['best_s']:.3f} s  median {fine['median_s']:.3f} s"
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
