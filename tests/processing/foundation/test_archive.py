"""The archive index: ingest (idempotent, robust), cone/time/list queries, on both databases."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from click.testing import CliRunner

from processing.archive import ArchiveIndex, ScwId, UnknownScienceWindow, read_header
from processing.simulator import SimulationResult
from vo_service.cli import main
from vo_service.db import make_engine, upgrade_database


@pytest.fixture
def index(database_url: str, tiny_archive: SimulationResult, tmp_path: Path) -> ArchiveIndex:
    root = tmp_path / "archive"
    shutil.copytree(tiny_archive.root, root)
    engine = make_engine(database_url)
    upgrade_database(engine)
    return ArchiveIndex(engine, root)


def test_ingest_is_idempotent(index: ArchiveIndex) -> None:
    first = index.ingest()
    assert len(first.added) == 4 and not first.skipped
    second = index.ingest()
    assert second.added == [] and second.updated == [] and len(second.unchanged) == 4
    assert index.count() == 4


def test_ingest_skips_corrupt_and_foreign_files_and_keeps_the_rest(index: ArchiveIndex) -> None:
    index.ingest()
    before = {s.scw_id: s.checksum for s in index.all()}
    # A truncated copy under a new ScW id, a foreign FITS file, and a header that disagrees
    # with its folder.
    scw_dirs = sorted((index.root / "scw").glob("*/*.001"))
    good = scw_dirs[0] / "isgri_events.fits.gz"
    rev = scw_dirs[0].parent
    truncated = rev / f"{rev.name}09990010.001"
    truncated.mkdir()
    (truncated / "isgri_events.fits.gz").write_bytes(good.read_bytes()[:5000])
    foreign = rev / f"{rev.name}09980010.001"
    foreign.mkdir()
    buf = fits.HDUList([fits.PrimaryHDU(np.zeros((4, 4)))])
    with gzip.open(foreign / "isgri_events.fits.gz", "wb") as fh:
        buf.writeto(fh)
    mismatch = rev / f"{rev.name}09970010.001"
    mismatch.mkdir()
    shutil.copy(good, mismatch / "isgri_events.fits.gz")
    # An existing entry that became corrupt on disk stays indexed as it was.
    (scw_dirs[1] / "isgri_events.fits.gz").write_bytes(b"not gzip at all")
    # Damage past the header, which a header read alone does not see: a file cut at 90 %,
    # and one byte flipped in the compressed events (the gzip CRC catches it).
    data = good.read_bytes()
    cut = rev / f"{rev.name}09960010.001"
    cut.mkdir()
    (cut / "isgri_events.fits.gz").write_bytes(data[: len(data) * 9 // 10])
    flipped = rev / f"{rev.name}09950010.001"
    flipped.mkdir()
    damaged = bytearray(data)
    damaged[len(data) * 3 // 4] ^= 0x55
    (flipped / "isgri_events.fits.gz").write_bytes(bytes(damaged))

    report = index.ingest()
    skipped = {Path(name).parent.name for name, _ in report.skipped}
    assert skipped == {
        truncated.name,
        foreign.name,
        mismatch.name,
        scw_dirs[1].name,
        cut.name,
        flipped.name,
    }
    reasons = dict((Path(n).parent.name, r) for n, r in report.skipped)
    assert "primary HDU holds data" in reasons[foreign.name]
    assert "do not match" in reasons[mismatch.name]
    assert "truncated" in reasons[cut.name]
    assert "corrupt" in reasons[flipped.name] or "truncated" in reasons[flipped.name]
    # Files are named by their place in the archive, never by an absolute path.
    for name, reason in report.skipped:
        assert name.startswith("scw/") and str(index.root) not in reason, (name, reason)
    assert {s.scw_id: s.checksum for s in index.all()} == before


def test_cone_and_time_queries_match_brute_force(index: ArchiveIndex) -> None:
    index.ingest()
    scws = index.all()
    pointings = SkyCoord([s.ra_x for s in scws], [s.dec_x for s in scws], unit="deg")
    crab = SkyCoord(83.63308, 22.01450, unit="deg")
    for radius in (0.5, 2.0, 3.1, 30.0):
        got = {s.scw_id for s in index.query(ra=83.63308, dec=22.01450, radius_deg=radius)}
        want = {
            s.scw_id
            for s, sep in zip(scws, crab.separation(pointings).deg, strict=True)
            if sep <= radius
        }
        assert got == want
    assert index.query(ra=263.0, dec=-30.0, radius_deg=10.0) == []
    t_mid = 0.5 * (scws[1].tstart + scws[1].tstop)
    assert [s.scw_id for s in index.query(t1=t_mid, t2=t_mid + 1e-6)] == [scws[1].scw_id]
    later = index.query(t1=scws[2].tstart + 1e-6)
    assert [s.scw_id for s in later] == [s.scw_id for s in scws[2:]]
    both = index.query(ra=83.63308, dec=22.01450, radius_deg=30.0, t1=scws[3].tstart)
    assert [s.scw_id for s in both] == [scws[3].scw_id]
    span = index.time_span()
    assert span == (scws[0].tstart, scws[-1].tstop)


def test_explicit_lists(index: ArchiveIndex) -> None:
    index.ingest()
    ids = [s.scw_id for s in index.all()]
    got = index.get([ids[2][:12], ids[0]])
    assert [s.scw_id for s in got] == [ids[0], ids[2]]
    with pytest.raises(UnknownScienceWindow) as info:
        index.get([ids[0], "999900010010"])
    assert info.value.missing == ["999900010010.001"]
    with pytest.raises(ValueError, match="not a science-window id"):
        index.get(["crab"])
    assert str(ScwId.parse("155400230010")) == "155400230010.001"


def test_header_reader_reads_only_the_start(tiny_archive: SimulationResult) -> None:
    path = next((tiny_archive.root / "scw").glob("*/*/isgri_events.fits.gz"))
    header = read_header(path)
    assert header["EXTNAME"] == "ISGR-EVTS-ALL"
    assert header["NAXIS2"] > 0


def test_cli_ingest_and_list(
    tiny_archive: SimulationResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VO_SERVICE_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    result = runner.invoke(main, ["archive", "ingest", str(tiny_archive.root)])
    assert result.exit_code == 0, result.output
    assert "4 added" in result.output
    again = runner.invoke(main, ["archive", "ingest", str(tiny_archive.root)])
    assert "4 unchanged" in again.output
    listing = runner.invoke(
        main, ["archive", "list", "--ra", "83.63", "--dec", "22.01", "--radius", "20"]
    )
    assert listing.exit_code == 0, listing.output
    assert "4 science windows" in listing.output
    bad = runner.invoke(main, ["archive", "list", "--ra", "83.63"])
    assert bad.exit_code != 0 and "cone needs" in bad.output


def test_cli_simulate_names_a_bad_scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VO_SERVICE_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(
        main, ["archive", "simulate", "--scenario", "nope", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--scenario" in result.output and "built-in" in result.output


def test_selection_bounds_match_brute_force_over_the_sky(database_url: str) -> None:
    """The declination band and the longest-window bound of ``query`` (issue 18) lose nothing:
    random cones (poles and whole-sky included) and time ranges over windows of very different
    lengths select exactly what a brute-force separation and overlap test selects."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from processing.archive._tables import ScienceWindowRow
    from processing.instrument import radec_to_unit

    rng = np.random.default_rng(18)
    n = 3000
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    dec[:4] = [90.0, -90.0, 89.99, -89.99]
    tstart = np.sort(rng.uniform(1000.0, 8000.0, n))
    duration = np.where(rng.random(n) < 0.01, rng.uniform(1.0, 3.0, n), rng.uniform(0.01, 0.1, n))
    rows = []
    for i in range(n):
        cx, cy, cz = radec_to_unit(float(ra[i]), float(dec[i]))
        rows.append(
            dict(
                scw_id=f"{i // 100:04d}{i % 100:04d}0010.001",
                revolution=i // 100,
                ra_x=float(ra[i]),
                dec_x=float(dec[i]),
                ra_z=0.0,
                dec_z=0.0,
                cx=float(cx),
                cy=float(cy),
                cz=float(cz),
                tstart=float(tstart[i]),
                tstop=float(tstart[i] + duration[i]),
                ontime=1.0,
                deadc=1.0,
                n_events=0,
                path="p",
                checksum="0",
                file_size=0,
                simulated=1,
                ingested_at=datetime.now(UTC),
            )
        )
    engine = make_engine(database_url)
    upgrade_database(engine)
    with engine.begin() as connection:
        connection.execute(insert(ScienceWindowRow), rows)
    index = ArchiveIndex(engine, Path("/nonexistent"))
    points = SkyCoord(ra, dec, unit="deg")
    long_windows = np.flatnonzero(duration > 1.0)
    for k in range(60):
        c_ra, c_dec = float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-1, 1))))
        if k < 6:
            c_dec = [90.0, -90.0, 85.0, -85.0, 0.0, 45.0][k]
        radius = float([0.5, 5.0, 15.0, 40.0, 90.0, 179.0, 180.0][k % 7])
        t1 = float(rng.uniform(1000.0, 8000.0)) if k % 3 else None
        if k % 3 == 1:  # inside a long window, which started long before t1
            j = long_windows[k % len(long_windows)]
            t1 = float(tstart[j] + 0.95 * duration[j])
        t2 = t1 + float(rng.uniform(0.01, 400.0)) if t1 is not None and k % 2 else None
        inside = SkyCoord(c_ra, c_dec, unit="deg").separation(points).deg <= radius
        if t1 is not None:
            inside &= tstart + duration > t1
        if t2 is not None:
            inside &= tstart < t2
        got = index.query(ra=c_ra, dec=c_dec, radius_deg=radius, t1=t1, t2=t2)
        want = {rows[i]["scw_id"] for i in np.flatnonzero(inside)}
        # Boundary cases within rounding of the separation are not the test's business.
        near = np.abs(SkyCoord(c_ra, c_dec, unit="deg").separation(points).deg - radius) < 1e-7
        ambiguous = {rows[i]["scw_id"] for i in np.flatnonzero(near)}
        assert {s.scw_id for s in got} ^ want <= ambiguous, (c_ra, c_dec, radius, t1, t2)
    engine.dispose()
