"""The significance map of an image product as a one-image FITS file, for the sky view.

Aladin Lite displays the first image of a FITS file; the product's ``image.fits`` holds four
(intensity, variance, significance, exposure), so the sky view gets the significance map alone,
with its WCS, cut from the product's own file.
"""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path

from astropy.io import fits

__all__ = ["significance_fits"]

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=16)
def _cut(path: str, mtime_ns: int) -> bytes | None:
    with fits.open(path, memmap=False) as hdus:
        names = [h.name for h in hdus]
        if "SIGNIFICANCE" not in names:
            return None
        hdu = hdus["SIGNIFICANCE"]
        header = hdu.header.copy()
        out = io.BytesIO()
        fits.PrimaryHDU(hdu.data, header=header).writeto(out)
        return out.getvalue()


def significance_fits(path: Path) -> bytes | None:
    """The FITS bytes of the significance map (``None`` when the file has none)."""
    try:
        return _cut(str(path), path.stat().st_mtime_ns)
    except (OSError, ValueError) as exc:
        log.warning("sky image %s unreadable: %s", path.parent.name, exc)
        return None
