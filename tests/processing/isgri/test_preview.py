"""Preview PNG layout: rendered, then measured (nothing overlaps, grid, colour bar, words)."""

from __future__ import annotations

import re
from itertools import combinations

import numpy as np
import pytest
from astropy.wcs import WCS
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from processing.codedmask._decode import Decoder
from processing.codedmask._imaging import scw_wcs
from processing.codedmask._mosaic import mosaic_wcs
from processing.codedmask._preview import axis_names, sky_preview_figure
from processing.instrument import Attitude, Instrument
from processing.instruments import get_instrument
from processing.isgri._products_image import _preview_title, _significance_limits

#: The camera named in the titles (``DETNAM`` of the ISGRI adapter).
ISGRI_DETECTOR = get_instrument("isgri").fits.detector

# A UCD word such as pos.eq.ra, phot.count or em.energy (what WCSAxes falls back to).
UCD = re.compile(r"\b(pos|phot|em|stat|meta|time|src|instr|obs|arith|spect)\.[a-z]", re.I)

FIELDS = {
    # (projection, ra, dec, radius): the README's Crab field, CAR, near the pole, a small cut
    "crab-tan": ("TAN", 83.63, 22.01, 12.0),
    "crab-car": ("CAR", 83.63, 22.01, 12.0),
    "polar": ("TAN", 10.0, 80.0, 15.0),
    "south-small": ("TAN", 150.0, -60.0, 1.0),
    "ra-wrap": ("TAN", 359.5, 0.0, 6.0),
}


def _figure(projection: str, ra: float, dec: float, radius: float) -> tuple[Figure, str]:
    wcs, shape = mosaic_wcs(ra, dec, radius, 0.0823, projection)
    rng = np.random.default_rng(3)
    sig = rng.normal(size=shape)
    sig[shape[0] // 2, shape[1] // 2] = 250.0
    # The longest title the product writes: a simulated multi-day mosaic.
    title = _preview_title(ISGRI_DETECTOR, [20.0, 40.0], 125, 2250.0, 2262.4, True)
    # Sources at the centre and just inside every corner: their names must stay inside.
    corners = wcs.pixel_to_world_values(
        np.array([1, shape[1] - 2, 1, shape[1] - 2]), np.array([1, 1, shape[0] - 2, shape[0] - 2])
    )
    sources = [("Crab", ra, dec)] + [
        (f"IGR J{k:05d}+0000 corner", float(a), float(d))
        for k, (a, d) in enumerate(zip(*corners, strict=True))
    ]
    fig = sky_preview_figure(
        sig,
        wcs,
        title=title,
        colour_label="Detection significance (σ)",
        limits=_significance_limits(sig),
        sources=sources,
    )
    return fig, title


def _layout(fig: Figure, title: str) -> dict[str, list[Bbox]]:
    """Window extents, after a real draw, of every piece of text and of the colour bar."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    sky, bar = fig.axes
    (suptitle,) = [t for t in fig.findobj(Text) if t.get_text() == title]
    lon, lat = sky.coords  # type: ignore[attr-defined]
    labels = [c._axislabels.get_window_extent(renderer) for c in (lon, lat)]
    # WCSAxes draws every tick label of a coordinate through one Text artist and keeps the
    # extent of each drawn label (then of the axis labels) only in the axes' private
    # ``_bboxes``; there is no public accessor.
    drawn = list(sky._bboxes)  # type: ignore[attr-defined]
    ticks = [b for b in drawn if not any(np.allclose(b.bounds, a.bounds) for a in labels)]
    assert len(ticks) == len(drawn) - 2, "both axis labels drawn"
    return {
        "title": [suptitle.get_window_extent(renderer)],
        "lon label": [labels[0]],
        "lat label": [labels[1]],
        "tick labels": ticks,
        "image": [sky.get_window_extent(renderer)],
        "colour bar": [bar.get_tightbbox(renderer)],
    }


def _within(inner: Bbox, outer: Bbox, slack: float = 0.5) -> bool:
    return (
        inner.x0 >= outer.x0 - slack
        and inner.y0 >= outer.y0 - slack
        and inner.x1 <= outer.x1 + slack
        and inner.y1 <= outer.y1 + slack
    )


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_preview_layout_has_no_overlaps(field: str) -> None:
    fig, title = _figure(*FIELDS[field])
    boxes = _layout(fig, title)
    assert len(boxes["tick labels"]) >= 4, "both coordinates have tick labels"
    page = fig.bbox
    for name, group in boxes.items():
        for box in group:
            assert box.width > 0 and box.height > 0, name
            assert _within(box, page), f"{name} is cut off by the figure edge: {box} vs {page}"
    pieces = [(name, box) for name, group in boxes.items() for box in group]
    for (a, box_a), (b, box_b) in combinations(pieces, 2):
        if {a, b} == {"image", "tick labels"}:
            continue  # WCSAxes tick labels touch the frame (by design)
        assert not box_a.overlaps(box_b), f"{a} {box_a} overlaps {b} {box_b}"
    # Source names stay on the image.
    sky = fig.axes[0]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    names = [t for t in sky.texts if t.get_text().startswith(("Crab", "IGR"))]
    assert len(names) == 5
    for text in names:
        box = text.get_window_extent(renderer)
        assert _within(box, boxes["image"][0]), text.get_text()
    # The title clears the image and everything drawn above it.
    top_of_rest = max(b.y1 for n, g in boxes.items() if n != "title" for b in g)
    assert boxes["title"][0].y0 >= top_of_rest


@pytest.mark.parametrize("field", ["crab-tan", "polar"])
def test_preview_has_grid_colour_bar_and_worded_axes(field: str) -> None:
    fig, _ = _figure(*FIELDS[field])
    fig.canvas.draw()
    sky, bar = fig.axes
    (image,) = sky.get_images()
    assert image.colorbar is not None and image.colorbar.ax is bar
    assert image.colorbar.ax.get_ylabel() == "Detection significance (σ)"
    assert image.colorbar.extend == "both"  # the scale is clipped: the ends say so
    labels = []
    for coord in sky.coords:  # type: ignore[attr-defined]
        assert coord._grid_lines_kwargs["visible"], "grid switched on"
        assert coord._grid_lines, "grid lines drawn"  # filled by the draw
        labels.append(coord.get_axislabel())
    assert labels == ["Right ascension (ICRS)", "Declination (ICRS)"]
    texts = [t.get_text() for t in fig.findobj(Text)] + labels + [bar.get_ylabel()]
    assert not [t for t in texts if UCD.search(t)], texts


def test_axis_names_come_from_the_wcs_in_words() -> None:
    galactic = WCS(naxis=2)
    galactic.wcs.ctype = ["GLON-CAR", "GLAT-CAR"]
    assert axis_names(galactic) == ("Galactic longitude", "Galactic latitude")
    fk5 = WCS(naxis=2)
    fk5.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    fk5.wcs.radesys = "FK5"
    assert axis_names(fk5) == ("Right ascension (FK5)", "Declination (FK5)")
    linear = WCS(naxis=2)
    linear.wcs.ctype = ["DETY", "DETZ"]
    with pytest.raises(ValueError, match="not a celestial"):
        axis_names(linear)


def test_a_rotated_science_window_grid_is_labelled_too(instrument: Instrument) -> None:
    """A single-ScW WCS (roll 30°, a CD matrix): words on the axes, nothing overlaps."""
    decoder = Decoder(instrument)
    wcs = scw_wcs(Attitude.from_roll(83.63, 22.01, 30.0), decoder)
    title = _preview_title(ISGRI_DETECTOR, [20.0, 40.0], 1, 2250.0, 2250.03, False)
    fig = sky_preview_figure(
        np.zeros(decoder.shape), wcs, title=title, colour_label="Detection significance (σ)"
    )
    boxes = _layout(fig, title)
    texts = [b for k in ("title", "lon label", "lat label", "colour bar") for b in boxes[k]]
    for a, b in combinations(texts, 2):
        assert not a.overlaps(b)
    assert title == "INTEGRAL/ISGRI significance, 20\u201340 keV\n1 science window, 2006-02-28"
