"""How long building the service's VOResource record takes as the archive grows.

The cost is the MOC of the pointings (mocpy ``from_cones``) plus serialisation; it decides how
long :class:`registry.Publication` may cache records. Run: ``python -m benchmarks.registry_record``.
"""

from __future__ import annotations

import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from lxml import etree

from registry import (
    CapabilityRegistry,
    Contact,
    PointingCoverage,
    Publication,
    ResourceIdentity,
    ResourceMetadata,
    StaticCoverage,
)
from vo_service._tables import SERVICE_TABLES

RESULTS = Path(__file__).parent / "results"
SIZES = (100, 1_000, 10_000, 100_000)
REPEATS = 3


def _pointings(n: int, rng: np.random.Generator) -> PointingCoverage:
    """INTEGRAL-like pointings: clustered on the Galactic plane and a few deep fields."""
    lon = rng.normal(0.0, 40.0, n) % 360
    lat = np.clip(rng.normal(0.0, 10.0, n), -89, 89)
    # Galactic to ICRS is irrelevant to the cost; use the angles directly.
    return PointingCoverage.of(lon, lat, 15.0, 52640.0, 60500.0, 15.0, 1000.0)


def main() -> None:
    rng = np.random.default_rng(42)
    metadata = ResourceMetadata(
        title="benchmark",
        description="benchmark",
        subjects=("X-ray astronomy",),
        publisher="benchmark",
        contact=Contact("benchmark"),
    )
    rows = []
    for n in SIZES:
        coverage = StaticCoverage(_pointings(n, rng))
        timings, cached, size = [], [], 0
        for _ in range(REPEATS):
            publication = Publication(
                ResourceIdentity("bench.example.org", "svc", "http://localhost"),
                metadata,
                CapabilityRegistry(),
                SERVICE_TABLES,
                coverage,
                cache_seconds=0,
            )
            start = time.perf_counter()
            record = publication.service_record()
            timings.append(time.perf_counter() - start)
            size = len(etree.tostring(record))
            # A rebuild after the cache expired, with an unchanged archive: no new MOC.
            publication.invalidate()
            start = time.perf_counter()
            publication.service_record()
            cached.append(time.perf_counter() - start)
        rows.append(
            {
                "pointings": n,
                "cold_best_s": min(timings),
                "unchanged_archive_best_s": min(cached),
                "record_bytes": size,
            }
        )
        print(
            f"{n:>7} pointings: cold {min(timings) * 1e3:8.1f} ms, unchanged archive "
            f"{min(cached) * 1e3:6.1f} ms, record {size / 1024:5.1f} KiB"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "registry_record.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "registry_record",
                "when": datetime.now(UTC).isoformat(),
                "machine": platform.platform(),
                "python": platform.python_version(),
                "radius_deg": 15.0,
                "moc_order": 6,
                "repeats": REPEATS,
                "results": rows,
            },
            indent=1,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
