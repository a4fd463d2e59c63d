"""No damaged product is served, a resubmitted request repairs it, a full disk leaves nothing
half-written (issue 17, defects 4 and 10)."""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from lxml import etree

from processing.products import ProductDescriptor, ProductFile
from processing.simulator import SimulationResult
from tests.vo_service.conftest import service_with_runner
from vo_service import _store
from vo_service._context import ServiceContext
from vo_service._store import StoreFull

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK = "{http://www.w3.org/1999/xlink}"
REQUEST = {"src_name": "Crab", "radius": "20", "E1_keV": "30", "E2_keV": "50"}


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, tiny_archive: SimulationResult
) -> Iterator[tuple[FlaskClient, ServiceContext]]:
    with service_with_runner(tmp_path_factory.mktemp("integrity"), tiny_archive) as service:
        yield service


def _run(client: FlaskClient) -> tuple[etree._Element, dict[str, str]]:
    created = client.post("/async", data={**REQUEST, "PHASE": "RUN"})
    assert created.status_code == 303, created.get_data(as_text=True)
    url = created.headers["Location"].split("127.0.0.1:8080")[-1]
    deadline = time.monotonic() + 600
    while True:
        doc = etree.fromstring(client.get(url, query_string={"WAIT": "10"}).get_data())
        if doc.findtext(f"{UWS}phase") in {"COMPLETED", "ERROR", "ABORTED"}:
            break
        assert time.monotonic() < deadline
    assert doc.findtext(f"{UWS}phase") == "COMPLETED", etree.tostring(doc)
    hrefs = {
        r.get("id"): r.get(f"{XLINK}href").split("127.0.0.1:8080")[-1]
        for r in doc.iter(f"{UWS}result")
        if "/products/" in r.get(f"{XLINK}href")
    }
    return doc, hrefs


def _path(context: ServiceContext, href: str) -> Path:
    _, _, product_hash, name = href.split("/")
    return context.store.folder(product_hash) / name


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.unlink()  # a new inode: the cache entry it was hard-linked to stays intact
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "deleted", "cache and store"])
def test_damaged_products_are_not_served_and_a_resubmission_repairs_them(
    service: tuple[FlaskClient, ServiceContext], damage: str
) -> None:
    client, context = service
    _, hrefs = _run(client)
    href = hrefs["image.fits"]
    good = client.get(href).data
    path = _path(context, href)
    if damage == "flipped byte":
        _flip(path)
    elif damage == "truncated":
        os.truncate(path, path.stat().st_size // 2)
    elif damage == "deleted":
        path.unlink()
    else:  # the same inode as the cache entry: both damaged at once
        data = bytearray(path.read_bytes())
        data[100] ^= 0x01
        with path.open("r+b") as handle:
            handle.seek(100)
            handle.write(bytes(data[100:101]))
    refused = client.get(href)
    assert refused.status_code == 503 and refused.is_json
    assert "integrity" in refused.get_json()["message"]
    assert str(context.settings.data_dir) not in refused.get_data(as_text=True)

    # The same request again is not answered from the damaged store: it runs, and repairs.
    doc, again = _run(client)
    assert "answered at creation" not in etree.tostring(doc).decode()
    assert again["image.fits"] == href
    served = client.get(href)
    assert served.status_code == 200 and served.data == good
    # Intact now: the next identical request is answered at creation again.
    doc, _ = _run(client)
    assert "answered at creation" in etree.tostring(doc).decode()


def _descriptor(tmp_path: Path) -> ProductDescriptor:
    source = tmp_path / "source"
    source.mkdir(exist_ok=True)
    files = []
    for name in ("a.fits", "b.vot"):
        (source / name).write_bytes(os.urandom(4096))
        files.append(ProductFile(source / name, "application/octet-stream", "#this", name))
    return ProductDescriptor(provenance_hash="ab" * 32, product_type="image", files=tuple(files))


def test_a_full_disk_leaves_no_partial_product(
    service: tuple[FlaskClient, ServiceContext],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, context = service
    store = context.store
    product = _descriptor(tmp_path)
    calls = {"n": 0}
    real_copy = shutil.copyfile

    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "cross-device link")

    def copy_then_full(src: str, dst: str) -> object:
        calls["n"] += 1
        if calls["n"] == 2:  # the second file finds the disk full, half written
            Path(dst).write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_copy(src, dst)

    monkeypatch.setattr(_store.os, "link", no_link)
    monkeypatch.setattr(_store.shutil, "copyfile", copy_then_full)
    with pytest.raises(StoreFull) as full:
        store.put(product)
    assert "full" in str(full.value.strerror) and str(tmp_path) not in str(full.value.strerror)
    assert store.get(product.provenance_hash) is None
    assert not store.folder(product.provenance_hash).exists()
    assert list((store.root / "tmp").iterdir()) == []
    monkeypatch.undo()
    stored = store.put(product)  # space again: stored whole
    assert [f.name for f in stored.files] == ["a.fits", "b.vot"]
    assert all(f.sha256 for f in stored.files) and store.damaged(stored) == []


def test_a_store_sweeps_what_a_killed_writer_left(
    service: tuple[FlaskClient, ServiceContext],
) -> None:
    _, context = service
    tmp = context.store.root / "tmp"
    stale, fresh = tmp / "stale-writer", tmp / "live-writer"
    for folder in (stale, fresh):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "half.fits").write_bytes(b"half")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    _store.ProductStore(context.store.engine, context.store.root)
    assert not stale.exists()
    assert fresh.exists()  # a writer may still be copying into it
    shutil.rmtree(fresh)
