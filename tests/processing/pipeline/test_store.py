"""The filesystem store: codecs, atomic publication, integrity checks, concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from processing.pipeline import CacheError, CacheStore, CorruptEntryError, hash_canonical

H = hash_canonical({"test": "entry"})


def write(store: CacheStore, value, codec: str, key: str = H):
    return store.write(key, value, codec=codec, unit="test.unit", unit_version="1")


def test_numpy_codec_memory_maps_arrays(tmp_path: Path):
    store = CacheStore(tmp_path)
    cube = np.random.default_rng(1).normal(size=(16, 130, 134)).astype(np.float32)
    info = write(store, {"cube": cube, "exposure": np.float64(2000.0), "scw": "0665"}, "numpy")
    assert info.size_bytes >= cube.nbytes
    loaded = store.load(H)
    assert isinstance(loaded["cube"].base, np.memmap) or isinstance(loaded["cube"], np.memmap)
    assert not loaded["cube"].flags.writeable
    np.testing.assert_array_equal(loaded["cube"], cube)
    assert loaded["exposure"] == 2000.0 and loaded["scw"] == "0665"
    other = hash_canonical({"test": "array"})
    write(store, np.arange(5), "numpy", other)
    np.testing.assert_array_equal(store.load(other), np.arange(5))


@pytest.mark.parametrize(
    ("codec", "value"),
    [
        ("npz", {"a": np.arange(10), "b": np.eye(3)}),
        ("json", {"sources": [{"name": "Crab", "flux": 1.0}]}),
        ("bytes", b"\x00\x01binary"),
    ],
)
def test_simple_codecs_round_trip(tmp_path: Path, codec, value):
    store = CacheStore(tmp_path)
    write(store, value, codec)
    loaded = store.load(H)
    if codec == "npz":
        assert set(loaded) == set(value)
        for key in value:
            np.testing.assert_array_equal(loaded[key], value[key])
    else:
        assert loaded == value


def test_fits_table_and_files_codecs(tmp_path: Path):
    store = CacheStore(tmp_path / "cache")
    image = fits.HDUList([fits.PrimaryHDU(np.ones((4, 5), dtype=np.float32))])
    image[0].header["BUNIT"] = "count"
    write(store, image, "fits")
    with store.load(H) as hdul:
        assert hdul[0].header["BUNIT"] == "count" and hdul[0].data.shape == (4, 5)
    table = Table({"flux": [1.0, 2.0] * u.ct / u.s, "name": ["a", "b"]})
    key_table = hash_canonical({"t": 1})
    write(store, table, "table", key_table)
    loaded = store.load(key_table)
    assert loaded["flux"].unit == u.ct / u.s and list(loaded["name"]) == ["a", "b"]
    product = tmp_path / "image.fits"
    product.write_bytes(b"SIMPLE")
    key_files = hash_canonical({"t": 2})
    write(store, {"image.fits": product}, "files", key_files)
    paths = store.load(key_files)
    assert paths["image.fits"].read_bytes() == b"SIMPLE"
    assert paths["image.fits"].parent == store.path(key_files)


def test_codecs_refuse_what_they_cannot_store_without_leaving_anything(tmp_path: Path):
    store = CacheStore(tmp_path)
    with pytest.raises(CacheError, match="pickle"):
        write(store, {"objs": np.array([object()])}, "numpy")
    with pytest.raises(CacheError):
        write(store, {1, 2}, "numpy")
    with pytest.raises(CacheError):
        write(store, {"../escape": np.arange(2)}, "numpy")
    assert not store.contains(H)
    assert list(store.tmp.iterdir()) == []


def test_corrupt_entry_is_detected_and_removed(tmp_path: Path):
    store = CacheStore(tmp_path)
    write(store, {"a": np.arange(1000.0)}, "numpy")
    path = store.path(H) / "a.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, other content
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptEntryError, match="checksum"):
        store.load(H)
    assert not store.contains(H)
    write(store, {"a": np.arange(1000.0)}, "numpy")
    with (store.path(H) / "a.npy").open("r+b") as handle:
        handle.truncate(10)
    with pytest.raises(CorruptEntryError, match="bytes"):
        store.verify(H, "size")


def test_no_half_written_entry_is_visible(tmp_path: Path):
    """A writer that dies between payload and publication leaves only a tmp folder."""
    store = CacheStore(tmp_path)

    class Exploding:
        pass

    with pytest.raises(CacheError):
        write(store, {"ok": np.arange(3), "bad": Exploding()}, "numpy")
    assert not store.contains(H)
    leftover = store.tmp / f"{H}.crashed"
    leftover.mkdir()
    (leftover / "a.npy").write_bytes(b"partial")
    old = time.time() - 7200
    os.utime(leftover, (old, old))
    assert not store.contains(H)
    assert store.sweep(older_than=3600) == 1
    assert list(store.tmp.iterdir()) == []


def _write_same(root: str, seed: int, barrier) -> str:
    store = CacheStore(Path(root))
    value = {"a": np.arange(200_000, dtype=np.float64)}
    barrier.wait()
    info = store.write(H, value, codec="numpy", unit="test.unit", unit_version=str(seed))
    return info.unit_version


def test_same_hash_written_concurrently_by_processes(tmp_path: Path):
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(4)
        with context.Pool(4) as pool:
            versions = pool.starmap(_write_same, [(str(tmp_path), i, barrier) for i in range(4)])
    store = CacheStore(tmp_path)
    winner = store.verify(H, "checksum")
    assert set(versions) == {winner.unit_version}  # every writer reports the published entry
    np.testing.assert_array_equal(store.load(H)["a"], np.arange(200_000, dtype=np.float64))
    assert [p for p in store.tmp.iterdir()] == []


def _slow_writer(root: str, marker: str) -> None:
    import tests.processing.pipeline.toy_units  # noqa: F401  (registers the slow codec)

    CacheStore(Path(root)).write(H, marker, codec="toy_slow", unit="test.unit", unit_version="1")


def test_writer_killed_mid_entry_leaves_no_entry(tmp_path: Path):
    context = multiprocessing.get_context("spawn")
    writer = context.Process(target=_slow_writer, args=(str(tmp_path / "cache"), str(tmp_path)))
    writer.start()
    deadline = time.monotonic() + 30
    while not (tmp_path / "writing").exists():
        assert time.monotonic() < deadline and writer.is_alive()
        time.sleep(0.02)
    os.kill(writer.pid, signal.SIGKILL)
    writer.join(10)
    store = CacheStore(tmp_path / "cache")
    assert not store.contains(H)
    assert list(store) == []
    leftovers = list(store.tmp.iterdir())
    assert len(leftovers) == 1 and (leftovers[0] / "payload.bin").exists()
    assert store.sweep(older_than=0) == 1
    store.write(H, b"complete", codec="bytes", unit="test.unit", unit_version="1")
    assert store.load(H) == b"complete"


def test_a_file_checked_once_is_hashed_again_only_when_it_changes(tmp_path: Path, monkeypatch):
    """A file whose content matched is not hashed again while its stat is the same; any write
    (even of the same size) changes its ctime and makes the next load hash it again. Files
    written moments before their check are not remembered (a second write in the same clock
    tick could keep their times)."""
    import os

    from processing.pipeline import _store

    store = CacheStore(tmp_path)
    write(store, {"a": np.arange(1000.0)}, "numpy")
    hashed: list[Path] = []
    real = _store._sha256_file

    def counting(path: Path) -> str:
        if path.name == "a.npy":
            hashed.append(path)
        return real(path)

    monkeypatch.setattr(_store, "_sha256_file", counting)
    store.load(H)
    store.load(H)
    assert len(hashed) == 2  # just written: checked each time
    path = store.path(H) / "a.npy"
    monkeypatch.setattr(_store, "RACY_S", -60.0)  # as if written long ago
    store.load(H)
    store.load(H)
    store.load(H)
    assert len(hashed) == 3
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    before = os.stat(path)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # hide the write from mtime
    with pytest.raises(CorruptEntryError, match="checksum"):
        store.load(H)
    assert len(hashed) == 4
