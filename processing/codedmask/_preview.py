"""PNG previews of sky images: a coordinate grid, axes named in words, a labelled colour bar.

The figure is laid out by matplotlib's constrained layout, with the title as the figure's
suptitle: the layout reserves room for the title above whatever WCSAxes draws (tick labels
included), so nothing overlaps whatever the field. Tick and axis labels are pinned to the
bottom (longitude) and left (latitude) sides; the top and right sides get ticks only. The
figure is drawn on the Agg canvas without pyplot (no global state, safe in worker threads).

Examples
--------
>>> from processing.codedmask._mosaic import mosaic_wcs
>>> wcs, shape = mosaic_wcs(83.63, 22.01, 5.0, 0.2, "TAN")
>>> fig = sky_preview_figure(
...     np.zeros(shape), wcs, title="Crab field", colour_label="Significance (σ)"
... )
>>> fig.axes[0].coords[0].get_axislabel()
'Right ascension (ICRS)'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.visualization.wcsaxes import WCSAxes
from astropy.wcs import WCS
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray

__all__ = ["axis_names", "sky_preview_figure", "write_sky_preview"]

#: Figure size (inches) and resolution: ~60 kB PNGs, ~0.3 s to draw.
FIGSIZE = (6.4, 5.6)
DPI = 100

# Names of the celestial axes by the first four letters of CTYPE.
_AXIS_NAMES = {
    "RA--": "Right ascension",
    "DEC-": "Declination",
    "GLON": "Galactic longitude",
    "GLAT": "Galactic latitude",
    "ELON": "Ecliptic longitude",
    "ELAT": "Ecliptic latitude",
}


def axis_names(wcs: WCS) -> tuple[str, str]:
    """Words for the two celestial axes of ``wcs``, with the reference frame of equatorial ones.

    Raises
    ------
    ValueError
        When an axis is not celestial (a preview of a non-sky image would mislabel it).
    """
    names = []
    for ctype in list(wcs.wcs.ctype)[:2]:
        name = _AXIS_NAMES.get(ctype[:4].upper())
        if name is None:
            raise ValueError(f"preview: axis type {ctype!r} is not a celestial coordinate")
        if ctype[:2].upper() in ("RA", "DE"):
            name += f" ({(wcs.wcs.radesys or 'ICRS').strip()})"
        names.append(name)
    return names[0], names[1]


def sky_preview_figure(
    image: NDArray[np.floating],
    wcs: WCS,
    *,
    title: str,
    colour_label: str,
    limits: tuple[float, float] | None = None,
    cmap: str = "magma",
    sources: Sequence[tuple[str, float, float]] = (),
) -> Figure:
    """The preview figure of a sky image (not saved; see :func:`write_sky_preview`).

    ``limits`` clip the colour scale (values outside get the colour bar's end colours);
    ``sources`` (name, ra, dec in the WCS frame, degrees) are circled and named, clipped
    to the image.
    """
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection=wcs)
    assert isinstance(ax, WCSAxes)
    vmin, vmax = limits if limits is not None else (None, None)
    shown = ax.imshow(image, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax)
    lon, lat = ax.coords[0], ax.coords[1]
    lon_name, lat_name = axis_names(wcs)
    for coord, side, name in ((lon, "b", lon_name), (lat, "l", lat_name)):
        coord.set_ticks_position("bltr")
        coord.set_ticklabel_position(side)
        coord.set_axislabel_position(side)
        coord.set_axislabel(name)
        coord.set_ticklabel(exclude_overlapping=True)
    ax.coords.grid(color="white", alpha=0.4, linestyle=":", linewidth=0.6)
    ny, nx = np.shape(image)
    if sources:
        ra = np.array([s[1] for s in sources], dtype=float)
        dec = np.array([s[2] for s in sources], dtype=float)
        x, y = wcs.world_to_pixel_values(ra, dec)
        inside = (x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)
        ax.scatter(x[inside], y[inside], s=120, facecolors="none", edgecolors="cyan", lw=0.8)
        names = [s[0] for s, shown in zip(sources, inside, strict=True) if shown]
        for name, xi, yi in zip(names, x[inside], y[inside], strict=True):
            # Names go to the side of the marker that faces the image centre: inside it.
            right, up = bool(xi < 0.6 * nx), bool(yi < 0.85 * ny)
            label = ax.annotate(
                name,
                (xi, yi),
                xytext=(6 if right else -6, 6 if up else -6),
                textcoords="offset points",
                ha="left" if right else "right",
                va="bottom" if up else "top",
                color="cyan",
                fontsize=7,
            )
            label.set_in_layout(False)  # the layout is for the frame, not for the names
    ax.set_xlim(-0.5, nx - 0.5)  # the markers must not widen the view
    ax.set_ylim(-0.5, ny - 0.5)
    extend = "neither" if limits is None else "both"
    bar = fig.colorbar(shown, ax=ax, shrink=0.9, pad=0.02, extend=extend)
    bar.set_label(colour_label)
    fig.suptitle(title, fontsize=11)
    return fig


def write_sky_preview(
    path: Path,
    image: NDArray[np.floating],
    wcs: WCS,
    *,
    title: str,
    colour_label: str,
    limits: tuple[float, float] | None = None,
    sources: Sequence[tuple[str, float, float]] = (),
) -> None:
    """Draw :func:`sky_preview_figure` into the PNG ``path`` (no time stamp in the file)."""
    fig = sky_preview_figure(
        image, wcs, title=title, colour_label=colour_label, limits=limits, sources=sources
    )
    # zlib's fastest level: a noise-like sky map compresses hardly better at the default (6),
    # which took ~0.1 s of the preview's ~0.3 s.
    fig.savefig(path, format="png", pil_kwargs={"compress_level": 1})
