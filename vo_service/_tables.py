"""The service's queryable tables, declared once with units and UCDs.

The registry renders them (VOSI ``/tables`` and the record's tableset); product writers and
a future TAP schema reuse the same :class:`~registry.Column` objects, so a column's unit and
UCD are stated in one place.
"""

from __future__ import annotations

from registry import Column, Table, TableSchema

__all__ = ["DETECTION_TABLE", "PRODUCT_TABLE", "SERVICE_TABLES"]

_MJD = "d"

PRODUCT_TABLE = Table(
    name="isgri.products",
    title="High-level products",
    description=(
        "Every product the service has built (images, mosaics, source catalogs, spectra, "
        "light curves, transient searches), one row per product, identified by its "
        "publisher DID; DataLink resolves the DID to files, previews and provenance."
    ),
    columns=(
        Column(
            "product_id",
            "char",
            "Publisher DID of the product (ivo://authority/service?hash).",
            ucd="meta.ref.ivoid;meta.main",
            arraysize="*",
            flags=("primary", "indexed"),
        ),
        Column(
            "product_type",
            "char",
            "Kind of product: image, mosaic, catalog, spectrum, lightcurve, transients.",
            ucd="meta.code.class",
            arraysize="*",
        ),
        Column(
            "ra",
            "double",
            "Right ascension of the field centre (ICRS).",
            "deg",
            "pos.eq.ra;meta.main",
        ),
        Column(
            "dec",
            "double",
            "Declination of the field centre (ICRS).",
            "deg",
            "pos.eq.dec;meta.main",
        ),
        Column(
            "fov_radius",
            "double",
            "Radius of the sky region the product covers.",
            "deg",
            "instr.fov",
        ),
        Column(
            "t_min", "double", "Start of the data used (MJD, TT).", _MJD, "time.start;obs.exposure"
        ),
        Column("t_max", "double", "End of the data used (MJD, TT).", _MJD, "time.end;obs.exposure"),
        Column(
            "exposure",
            "double",
            "Dead-time corrected exposure summed over science windows.",
            "s",
            "time.duration;obs.exposure",
        ),
        Column("e_min", "double", "Lower edge of the energy band.", "keV", "em.energy;stat.min"),
        Column("e_max", "double", "Upper edge of the energy band.", "keV", "em.energy;stat.max"),
        Column("n_scw", "int", "Number of science windows combined.", None, "meta.number"),
        Column(
            "created",
            "char",
            "When the product was built (UTC).",
            ucd="time.creation",
            arraysize="*",
            xtype="timestamp",
        ),
        Column(
            "access_url",
            "char",
            "URL of the primary product file.",
            ucd="meta.ref.url",
            arraysize="*",
        ),
        Column(
            "content_type",
            "char",
            "MIME type of the primary product file.",
            ucd="meta.code.mime",
            arraysize="*",
        ),
    ),
)

DETECTION_TABLE = Table(
    name="isgri.detections",
    title="Source detections",
    description=(
        "Sources detected in the service's sky images and mosaics, one row per source and "
        "product, with count rates and significances in the product's energy band."
    ),
    columns=(
        Column(
            "detection_id",
            "char",
            "Identifier of the detection (product hash and source index).",
            ucd="meta.id;meta.main",
            arraysize="*",
            flags=("primary",),
        ),
        Column(
            "product_id",
            "char",
            "DID of the image or mosaic the source was detected in.",
            ucd="meta.ref.ivoid",
            arraysize="*",
            flags=("indexed",),
        ),
        Column(
            "source_name",
            "char",
            "Catalog name of the source, or a designation for a new source.",
            ucd="meta.id",
            arraysize="*",
        ),
        Column("ra", "double", "Right ascension (ICRS).", "deg", "pos.eq.ra;meta.main"),
        Column("dec", "double", "Declination (ICRS).", "deg", "pos.eq.dec;meta.main"),
        Column(
            "pos_err",
            "double",
            "Position error radius at 90 % confidence.",
            "arcmin",
            "stat.error;pos.eq",
        ),
        Column(
            "significance",
            "double",
            "Detection significance in the reconstructed sky image.",
            None,
            "stat.snr",
        ),
        Column(
            "rate",
            "double",
            "Source count rate in the energy band, on-axis equivalent.",
            "ct/s",
            "phot.count;em.X-ray.hard",
        ),
        Column(
            "rate_err",
            "double",
            "One-sigma error of the count rate.",
            "ct/s",
            "stat.error;phot.count;em.X-ray.hard",
        ),
        Column(
            "flux",
            "double",
            "Energy flux in the band, converted with the Crab spectrum.",
            "erg.cm**-2.s**-1",
            "phot.flux;em.X-ray.hard",
        ),
        Column(
            "offaxis",
            "double",
            "Angle between the source and the pointing axis.",
            "deg",
            "pos.angDistance;instr.fov",
        ),
        Column("e_min", "double", "Lower edge of the energy band.", "keV", "em.energy;stat.min"),
        Column("e_max", "double", "Upper edge of the energy band.", "keV", "em.energy;stat.max"),
        Column(
            "t_min", "double", "Start of the data used (MJD, TT).", _MJD, "time.start;obs.exposure"
        ),
        Column("t_max", "double", "End of the data used (MJD, TT).", _MJD, "time.end;obs.exposure"),
        Column(
            "is_new",
            "boolean",
            "True when no catalog source lies within the error circle.",
            ucd="meta.code",
        ),
    ),
)

SERVICE_TABLES = (
    TableSchema(
        name="isgri",
        title="INTEGRAL/ISGRI products",
        description="Products and source detections built by this service from the archive.",
        tables=(PRODUCT_TABLE, DETECTION_TABLE),
    ),
)
