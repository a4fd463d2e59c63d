"""The instrument adapter: what the analysis needs of one camera besides its IC files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from processing.instruments._band import EnergyBand, band_channels

__all__ = ["ArchiveLayout", "FitsIdentity", "InstrumentSpec"]


@dataclass(frozen=True)
class FitsIdentity:
    """The keywords that name the camera in every FITS file written for it."""

    telescope: str
    instrument: str
    detector: str

    def cards(self) -> tuple[tuple[str, str, str], ...]:
        """``TELESCOP``, ``INSTRUME`` and ``DETNAM`` as (keyword, value, comment) cards."""
        return (
            ("TELESCOP", self.telescope, "mission"),
            ("INSTRUME", self.instrument, "instrument"),
            ("DETNAM", self.detector, "detector"),
        )


@dataclass(frozen=True)
class ArchiveLayout:
    """Where the camera's files lie in an archive (paths relative to its root)."""

    #: Event file of one science window, in its ``scw/RRRR/<scw_id>/`` folder.
    events_file: str
    #: Folder of the calibration (IC) files.
    ic_folder: str
    #: (kind, file stem) of each IC file; the newest ``<stem>_NNNN.fits`` is read.
    ic_files: tuple[tuple[str, str], ...]
    #: The reference catalog of known sources.
    reference_catalog: str

    @property
    def ic_folder_path(self) -> Path:
        """:attr:`ic_folder` as a path."""
        return Path(self.ic_folder)

    @property
    def reference_catalog_path(self) -> Path:
        """:attr:`reference_catalog` as a path."""
        return Path(self.reference_catalog)

    def holds_calibration_file(self, label: str) -> bool:
        """Whether an archive-relative IC file path is one of this camera's."""
        path = Path(label)
        stems = {stem for _, stem in self.ic_files}
        return path.parent == self.ic_folder_path and any(
            path.name.startswith(f"{stem}_") for stem in stems
        )


@dataclass(frozen=True)
class InstrumentSpec:
    """The adapter of one camera: what the service and the coded-mask core need to know of it
    besides what its IC files say (mask, detector, background and response, read by
    :func:`processing.instrument.load_instrument`)."""

    #: The name clients use (``instrument=isgri``), lower case.
    name: str
    #: A human title (``INTEGRAL IBIS/ISGRI``).
    title: str
    #: The fine channel grid every science window is binned into, edges in keV, increasing.
    channel_edges: tuple[float, ...]
    #: The keywords naming the camera in FITS files (``DETNAM`` also identifies event files).
    fits: FitsIdentity
    #: Where its files lie in an archive.
    layout: ArchiveLayout
    #: (DETY, DETZ) size of the detector image of its event files, gaps included.
    detector_shape: tuple[int, int]
    #: The bands an image is made in when a request names none, keV.
    default_bands_kev: tuple[tuple[float, float], ...]
    #: Sources further off axis than this get no shadow model (and no science window is
    #: selected for them), degrees; None: the camera's zero-response angle, from its geometry.
    max_offaxis_deg: float | None
    #: The selection radius (and mosaic half side) a request gets when it names none, degrees;
    #: None: the default instrument's.
    default_radius_deg: float | None = None
    #: Whether PIFs are computed exactly (areas cut at the mask-element edges) rather than by
    #: sample points, which alias on a mask raster aligned with the pixels.
    exact_pif: bool = False

    @property
    def default_band_kev(self) -> tuple[float, float]:
        """The band a request is made in when it names none (the first default band)."""
        return self.default_bands_kev[0]

    @property
    def energy_range_kev(self) -> tuple[float, float]:
        """The lowest and highest energy the channel grid covers."""
        return self.channel_edges[0], self.channel_edges[-1]

    @property
    def n_channels(self) -> int:
        """Number of fine channels."""
        return len(self.channel_edges) - 1

    @property
    def short_title(self) -> str:
        """The detector name used in product descriptions (``ISGRI``)."""
        return self.fits.detector

    def channel_edge_list(self) -> list[float]:
        """The channel grid as a plain list (the binning unit's parameter)."""
        return list(self.channel_edges)

    def snap_band(self, e_min_kev: float, e_max_kev: float) -> EnergyBand:
        """The band [e_min, e_max] keV snapped to this instrument's channel grid.

        Raises
        ------
        BandError
            When the band is empty, reversed, outside the grid or narrower than one channel.
        """
        channels, lo, hi = band_channels(self.channel_edges, e_min_kev, e_max_kev)
        return EnergyBand(lo, hi, int(channels.start), int(channels.stop))
