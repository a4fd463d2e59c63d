"""What a product page shows: files, DataLink links, provenance, reproduce snippets, the sky
view's inputs and SAMP messages. Plot data come from :mod:`vo_service.web._plots`."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datalink import DataLinkURLs, LinkBuilder, ProductNotFoundError
from vo_service._store import StoredProduct
from vo_service.oda import ODA_PRODUCTS
from vo_service.web._front import WebFront

__all__ = ["FileRow", "ProductPage", "ProvenanceStep", "SampMessage", "product_page", "size_text"]

log = logging.getLogger(__name__)
#: Longest parameter value shown in the provenance list.
_MAX_VALUE = 96
_ODA_NAMES = {ours: theirs for theirs, ours in ODA_PRODUCTS.items()}


def size_text(size: int) -> str:
    """``12.3 kB``-style sizes (powers of 1000, as file managers show them)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


@dataclass(frozen=True)
class FileRow:
    name: str
    url: str
    content_type: str
    size: str
    description: str


@dataclass(frozen=True)
class LinkView:
    semantics: str
    description: str
    url: str | None
    content_type: str
    service: str | None


@dataclass(frozen=True)
class ProvenanceStep:
    """One analysis step (a PROV activity) in words."""

    label: str
    version: str
    parameters: tuple[tuple[str, str], ...]
    used: tuple[str, ...]


@dataclass(frozen=True)
class SampMessage:
    """A SAMP notification the page can broadcast."""

    label: str
    mtype: str
    url: str
    name: str


@dataclass
class ProductPage:
    hash: str
    product_id: str
    product_type: str
    created: str
    files: list[FileRow]
    links: list[LinkView]
    links_url: str
    provenance: list[ProvenanceStep]
    pyvo_snippet: str
    oda_snippet: str
    request: dict[str, Any]
    samp: list[SampMessage]
    sky: dict[str, Any] | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    soda: dict[str, bool] = field(default_factory=dict)
    preview: str | None = None


def _provenance(path: Path) -> list[ProvenanceStep]:
    """The activities of a PROV-JSON document, in document order; paths are never shown."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("provenance of %s unreadable: %s", path.parent.name, exc)
        return []
    entities = document.get("entity", {})
    used: dict[str, list[str]] = {}
    for relation in document.get("used", {}).values():
        entity = entities.get(relation.get("prov:entity"), {})
        label = str(entity.get("prov:label", "input"))
        role = relation.get("prov:role")
        used.setdefault(relation.get("prov:activity", ""), []).append(
            f"{role}: {label}" if role else label
        )
    steps = []
    for key, activity in document.get("activity", {}).items():
        parameters = []
        for name, value in activity.items():
            if not name.startswith("par:"):
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            if len(text) > _MAX_VALUE:
                text = text[: _MAX_VALUE - 1] + "…"
            parameters.append((name[4:], text))
        steps.append(
            ProvenanceStep(
                label=str(activity.get("cm:unit", activity.get("prov:label", key))),
                version=str(activity.get("cm:unit_version", "")),
                parameters=tuple(parameters),
                used=tuple(used.get(key, [])),
            )
        )
    return steps


def oda_snippet(base: str, product_type: str, request: dict[str, Any]) -> str:
    """An oda_api script that asks the ``/oda`` front for the same product ('' if it has no
    ODA name)."""
    oda_name = _ODA_NAMES.get(product_type)
    if oda_name is None or not request:
        return ""
    args: list[tuple[str, Any]] = [("instrument", "isgri"), ("product", oda_name)]
    if request.get("scw_list"):
        args.append(("scw_list", ",".join(request["scw_list"])))
    elif request.get("ra") is not None:
        args += [("RA", request["ra"]), ("DEC", request["dec"])]
    elif request.get("src_name"):
        args.append(("src_name", request["src_name"]))
    args.append(("radius", request.get("radius_deg")))
    if request.get("t1_ijd") is not None and request.get("t2_ijd") is not None:
        args += [("T1", request["t1_ijd"]), ("T2", request["t2_ijd"]), ("T_format", "ijd")]
    if product_type in ("image", "light_curve"):
        args += [("E1_keV", request.get("e1_kev")), ("E2_keV", request.get("e2_kev"))]
    if product_type == "image":
        args.append(("detection_threshold", request.get("detection_threshold")))
    if product_type == "light_curve":
        args.append(("time_bin", request.get("time_bin_s")))
    lines = [
        "from oda_api.api import DispatcherAPI",
        "",
        f"disp = DispatcherAPI(url={base + '/oda'!r})",
        "data = disp.get_product(",
        *(f"    {name}={value!r}," for name, value in args if value is not None),
        ")",
        "print(data.as_list())",
    ]
    return "\n".join(lines) + "\n"


def _links(front: WebFront, urls: DataLinkURLs, product_id: str) -> tuple[list[LinkView], str]:
    builder = LinkBuilder(front.source, urls)
    try:
        description = front.source.describe(product_id)
    except ProductNotFoundError:
        return [], ""
    rows, _ = builder.product_rows(product_id, description)
    views = [
        LinkView(
            semantics=row.semantics,
            description=row.description or "",
            url=row.access_url,
            content_type=row.content_type or "",
            service=row.service_def,
        )
        for row in rows
    ]
    return views, description.documentation or ""


def _sources(path: Path) -> list[dict[str, Any]]:
    from astropy.table import Table

    try:
        table = Table.read(path, format="votable")
    except (OSError, ValueError) as exc:
        log.warning("catalog %s unreadable: %s", path.parent.name, exc)
        return []
    rows = []
    for row in table:
        rows.append(
            {
                "name": str(row["name"]),
                "ra": float(row["ra"]),
                "dec": float(row["dec"]),
                "significance": float(row["significance"]),
                "rate": float(row["rate"]),
                "rate_err": float(row["rate_err"]),
                "new": not bool(row["in_catalog"]) if "in_catalog" in table.colnames else False,
            }
        )
    return rows


def _map_centre(path: Path) -> tuple[float, float]:
    """The sky position of the centre pixel of an image product's map."""
    from astropy.io import fits
    from astropy.wcs import WCS

    header = fits.getheader(path, 1)
    centre = WCS(header).pixel_to_world_values(
        (header["NAXIS1"] - 1) / 2, (header["NAXIS2"] - 1) / 2
    )
    return float(centre[0]), float(centre[1])


def product_page(
    front: WebFront, stored: StoredProduct, urls: DataLinkURLs, base: str
) -> ProductPage:
    """Everything the product page shows of ``stored``."""
    settings = front.context.settings
    product_id = f"{settings.ivoid}?{stored.hash}"
    folder = front.context.store.folder(stored.hash)
    names = {f.name for f in stored.files}
    file_url = f"{base}/products/{stored.hash}"
    files = [
        FileRow(f.name, f"{file_url}/{f.name}", f.content_type, size_text(f.size), f.description)
        for f in stored.files
    ]
    links, pyvo = _links(front, urls, product_id)
    request = dict(stored.metadata.get("request") or {})
    samp: list[SampMessage] = []
    for f in stored.files:
        url = f"{file_url}/{f.name}"
        if f.name == "image.fits":
            samp.append(SampMessage("Send image to Aladin", "image.load.fits", url, f.name))
        elif f.name.endswith(".vot") and f.semantics != "#provenance":
            samp.append(SampMessage(f"Send {f.name} to TOPCAT", "table.load.votable", url, f.name))
    page = ProductPage(
        hash=stored.hash,
        product_id=product_id,
        product_type=stored.product_type,
        created=stored.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        files=files,
        links=links,
        links_url=urls.links_of(product_id),
        provenance=_provenance(folder / "provenance.json") if "provenance.json" in names else [],
        pyvo_snippet=pyvo,
        oda_snippet=oda_snippet(base, stored.product_type, request),
        request=request,
        samp=samp,
        preview=next(
            (f"{file_url}/{f.name}" for f in stored.files if f.semantics == "#preview"), None
        ),
    )
    if stored.product_type == "image" and "image.fits" in names:
        meta = stored.metadata
        ra, dec = meta.get("ra"), meta.get("dec")
        if ra is None or dec is None:  # a science-window list: the map's own centre
            ra, dec = _map_centre(folder / "image.fits")
        page.sky = {
            "fits": f"/web/products/{stored.hash}/sky.fits",
            "catalog": f"/products/{stored.hash}/catalog.vot" if "catalog.vot" in names else "",
            "ra": ra,
            "dec": dec,
            "fov": 2.0 * float(meta.get("radius_deg") or 10.0),
        }
        if "catalog.vot" in names:
            page.sources = _sources(folder / "catalog.vot")
    page.soda = {
        "cut": stored.product_type == "image",
        "band": stored.product_type in ("image", "light_curve"),
        "time": stored.product_type in ("image", "light_curve", "spectrum"),
    }
    return page
