"""The published tables, declared once: ``ivoa.obscore``, ``isgri.scw``, ``isgri.detections``.

Each :class:`~registry.Table` here drives the database objects (:mod:`vo_service._tap_db`),
VOSI ``/tables``, ``TAP_SCHEMA``, the registry record's tableset and the column metadata of
TAP results. Nothing else describes these columns.

``isgri.scw`` and the science-window half of ``ivoa.obscore`` are views over the archive
index (``archive_scw``), so an ingest shows in them at once; products and detections are
rows written when a product is published (:func:`vo_service._tap_db.publish_product`).
Times are MJD (TT); the archive keeps IJD (MJD - 51544).
"""

from __future__ import annotations

from dataclasses import replace

from processing.isgri import CATALOG_COLUMNS
from registry import Column, ForeignKey, Table, TableSchema

__all__ = [
    "DETECTIONS",
    "FOREIGN_KEYS",
    "IJD_TO_MJD",
    "OBSCORE",
    "PUBLISHED_SCHEMAS",
    "PUBLISHED_TABLES",
    "SCW",
    "TAP_SCHEMA",
    "TAP_SCHEMA_TABLES",
]

#: MJD of the IJD origin (2000-01-01T00:00 TT).
IJD_TO_MJD = 51544.0
_OBS = "obscore:"


def _c(
    name: str,
    datatype: str,
    description: str,
    unit: str | None = None,
    ucd: str | None = None,
    utype: str | None = None,
    *,
    xtype: str | None = None,
    flags: tuple[str, ...] = (),
) -> Column:
    return Column(
        name,
        datatype,
        description,
        unit,
        ucd,
        "*" if datatype == "char" else None,
        xtype,
        utype,
        flags,
    )


OBSCORE = Table(
    name="ivoa.obscore",
    title="ObsCore 1.1 view of the archive",
    utype="ivo://ivoa.net/std/obscore#core-1.1",
    table_type="view",
    description=(
        "Every archive science window (event lists) and every product the service has "
        "published (images, spectra, light curves, source catalogs), in the ObsCore 1.1 "
        "data model; access_url leads to the DataLink links of products."
    ),
    columns=(
        _c(
            "dataproduct_type",
            "char",
            "Data product type (event, image, spectrum, timeseries, measurements)",
            ucd="meta.code.class",
            utype=_OBS + "ObsDataset.dataProductType",
        ),
        _c(
            "calib_level",
            "int",
            "Calibration level: 1 raw events, 3 science products",
            ucd="meta.code;obs.calib",
            utype=_OBS + "ObsDataset.calibLevel",
        ),
        _c(
            "obs_collection",
            "char",
            "Name of the data collection",
            ucd="meta.id",
            utype=_OBS + "DataID.Collection",
        ),
        _c(
            "obs_id",
            "char",
            "Science window or product identifier",
            ucd="meta.id",
            utype=_OBS + "DataID.observationID",
        ),
        _c(
            "obs_publisher_did",
            "char",
            "Publisher DID of the dataset",
            ucd="meta.ref.ivoid",
            utype=_OBS + "Curation.PublisherDID",
            flags=("indexed", "primary"),
        ),
        _c(
            "access_url",
            "char",
            "URL of the dataset: DataLink links of a product, the event file of a science window",
            ucd="meta.ref.url",
            utype=_OBS + "Access.Reference",
        ),
        _c(
            "access_format",
            "char",
            "MIME type of what access_url returns",
            ucd="meta.code.mime",
            utype=_OBS + "Access.Format",
        ),
        _c(
            "access_estsize",
            "long",
            "Estimated size of the dataset",
            "kbyte",
            "phys.size;meta.file",
            _OBS + "Access.Size",
        ),
        _c(
            "target_name",
            "char",
            "Target of the request, or the science window's pointing",
            ucd="meta.id;src",
            utype=_OBS + "Target.Name",
        ),
        _c(
            "s_ra",
            "double",
            "Right ascension of the centre (ICRS)",
            "deg",
            "pos.eq.ra",
            _OBS + "Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1",
            flags=("indexed",),
        ),
        _c(
            "s_dec",
            "double",
            "Declination of the centre (ICRS)",
            "deg",
            "pos.eq.dec",
            _OBS + "Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2",
            flags=("indexed",),
        ),
        _c(
            "s_fov",
            "double",
            "Diameter of the covered field",
            "deg",
            "phys.angSize;instr.fov",
            _OBS + "Char.SpatialAxis.Coverage.Bounds.Extent.diameter",
        ),
        _c(
            "s_region",
            "char",
            "Covered sky region (STC-S)",
            None,
            "pos.outline;obs.field",
            _OBS + "Char.SpatialAxis.Coverage.Support.Area",
            xtype="adql:REGION",
        ),
        _c(
            "s_resolution",
            "double",
            "Angular resolution (FWHM of the point spread function)",
            "arcsec",
            "pos.angResolution",
            _OBS + "Char.SpatialAxis.Resolution.Refval.value",
        ),
        _c(
            "s_xel1",
            "long",
            "Number of pixels along the first axis",
            None,
            "meta.number",
            _OBS + "Char.SpatialAxis.numBins1",
        ),
        _c(
            "s_xel2",
            "long",
            "Number of pixels along the second axis",
            None,
            "meta.number",
            _OBS + "Char.SpatialAxis.numBins2",
        ),
        _c(
            "t_xel",
            "long",
            "Number of time bins",
            None,
            "meta.number",
            _OBS + "Char.TimeAxis.numBins",
        ),
        _c(
            "t_min",
            "double",
            "Start of the data (MJD, TT)",
            "d",
            "time.start;obs.exposure",
            _OBS + "Char.TimeAxis.Coverage.Bounds.Limits.StartTime",
            flags=("indexed",),
        ),
        _c(
            "t_max",
            "double",
            "End of the data (MJD, TT)",
            "d",
            "time.end;obs.exposure",
            _OBS + "Char.TimeAxis.Coverage.Bounds.Limits.StopTime",
        ),
        _c(
            "t_exptime",
            "double",
            "Total exposure time",
            "s",
            "time.duration;obs.exposure",
            _OBS + "Char.TimeAxis.Coverage.Support.Extent",
        ),
        _c(
            "t_resolution",
            "double",
            "Time resolution",
            "s",
            "time.resolution",
            _OBS + "Char.TimeAxis.Resolution.Refval.value",
        ),
        _c(
            "em_xel",
            "long",
            "Number of spectral channels",
            None,
            "meta.number",
            _OBS + "Char.SpectralAxis.numBins",
        ),
        _c(
            "em_min",
            "double",
            "Shortest wavelength of the band (upper energy edge)",
            "m",
            "em.wl;stat.min",
            _OBS + "Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit",
        ),
        _c(
            "em_max",
            "double",
            "Longest wavelength of the band (lower energy edge)",
            "m",
            "em.wl;stat.max",
            _OBS + "Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit",
        ),
        _c(
            "em_res_power",
            "double",
            "Spectral resolving power",
            None,
            "spect.resolution",
            _OBS + "Char.SpectralAxis.Resolution.ResolPower.refVal",
        ),
        _c(
            "o_ucd",
            "char",
            "UCD of the observable",
            ucd="meta.ucd",
            utype=_OBS + "Char.ObservableAxis.ucd",
        ),
        _c(
            "pol_states",
            "char",
            "Polarisation states (none)",
            ucd="meta.code;phys.polarization",
            utype=_OBS + "Char.PolarizationAxis.stateList",
        ),
        _c(
            "pol_xel",
            "long",
            "Number of polarisation samples",
            None,
            "meta.number",
            _OBS + "Char.PolarizationAxis.numBins",
        ),
        _c(
            "facility_name",
            "char",
            "Observatory",
            ucd="meta.id;instr.tel",
            utype=_OBS + "Provenance.ObsConfig.Facility.name",
        ),
        _c(
            "instrument_name",
            "char",
            "Instrument",
            ucd="meta.id;instr",
            utype=_OBS + "Provenance.ObsConfig.Instrument.name",
        ),
    ),
)

SCW = Table(
    name="isgri.scw",
    title="Science windows",
    table_type="view",
    description=(
        "The archive index: one row per ISGRI science window (pointing), with its pointing "
        "axis, times, exposure, revolution and event-file size."
    ),
    columns=(
        _c(
            "scw_id",
            "char",
            "Science window identifier (RRRRPPPPSSSF)",
            ucd="meta.id;meta.main",
            flags=("primary", "indexed"),
        ),
        _c("revolution", "int", "Spacecraft revolution", None, "meta.id;obs.sequence"),
        _c(
            "ra",
            "double",
            "Right ascension of the pointing axis (ICRS)",
            "deg",
            "pos.eq.ra;meta.main",
            flags=("indexed",),
        ),
        _c(
            "dec",
            "double",
            "Declination of the pointing axis (ICRS)",
            "deg",
            "pos.eq.dec;meta.main",
            flags=("indexed",),
        ),
        _c(
            "t_min", "double", "Start (MJD, TT)", "d", "time.start;obs.exposure", flags=("indexed",)
        ),
        _c("t_max", "double", "End (MJD, TT)", "d", "time.end;obs.exposure"),
        _c("ontime", "double", "Time on target", "s", "time.duration;obs.exposure"),
        _c("deadc", "double", "Dead-time correction factor", None, "instr.det;arith.factor"),
        _c("n_events", "long", "Number of ISGRI events", None, "meta.number"),
        _c("file_size", "long", "Size of the event file", "byte", "phys.size;meta.file"),
    ),
)

#: The catalog files' columns (processing's one declaration): the detections table shares
#: their names, units, UCDs and descriptions.
_CATALOG = {name: (dtype, unit, ucd, text) for name, dtype, unit, ucd, text in CATALOG_COLUMNS}
_TAP_TYPES = {"f4": "double", "f8": "double", "i4": "int", "bool": "boolean"}


def _catalog_column(name: str, *, flags: tuple[str, ...] = ()) -> Column:
    dtype, unit, ucd, text = _CATALOG[name]
    datatype = "char" if dtype.startswith("U") else _TAP_TYPES[dtype]
    return _c(name, datatype, text[0].upper() + text[1:], unit, ucd, flags=flags)


DETECTIONS = Table(
    name="isgri.detections",
    title="Source detections",
    description=(
        "Every source of every published image product: position with its 90 % error radius, "
        "energy band, count rate, significance and time span; product_id is the image's "
        "publisher DID (a DataLink ID) and detection_id the row's own DataLink ID."
    ),
    columns=(
        _c(
            "detection_id",
            "char",
            "DataLink ID of this detection (product DID/source/row)",
            ucd="meta.id;meta.main",
            flags=("primary",),
        ),
        _c(
            "product_id",
            "char",
            "Publisher DID of the image product (DataLink ID)",
            ucd="meta.ref.ivoid",
            flags=("indexed",),
        ),
        _c("source_name", "char", "Source name (catalog or new designation)", ucd="meta.id"),
        _catalog_column("ra", flags=("indexed",)),
        _catalog_column("dec", flags=("indexed",)),
        *(_catalog_column(name) for name in ("r90", "e_min", "e_max", "rate", "rate_err")),
        _catalog_column("significance"),
        _c("t_min", "double", "Start of the data (MJD, TT)", "d", "time.start;obs.exposure"),
        _c("t_max", "double", "End of the data (MJD, TT)", "d", "time.end;obs.exposure"),
        _catalog_column("origin"),
        _catalog_column("in_catalog"),
    ),
)


#: Foreign keys (TAP_SCHEMA.keys): id, from table, target table, from column, target column.
FOREIGN_KEYS: tuple[tuple[str, str, str, str, str], ...] = (
    ("tables_schema", "TAP_SCHEMA.tables", "TAP_SCHEMA.schemas", "schema_name", "schema_name"),
    ("columns_table", "TAP_SCHEMA.columns", "TAP_SCHEMA.tables", "table_name", "table_name"),
    ("keys_from", "TAP_SCHEMA.keys", "TAP_SCHEMA.tables", "from_table", "table_name"),
    ("keys_target", "TAP_SCHEMA.keys", "TAP_SCHEMA.tables", "target_table", "table_name"),
    ("key_columns_key", "TAP_SCHEMA.key_columns", "TAP_SCHEMA.keys", "key_id", "key_id"),
)


def _with_keys(table: Table) -> Table:
    keys = tuple(
        ForeignKey(target, ((from_column, target_column),))
        for _, source, target, from_column, target_column in FOREIGN_KEYS
        if source == table.name
    )
    return replace(table, foreign_keys=keys)


def _tap_schema_tables() -> tuple[Table, ...]:
    text, i = "char", "int"
    tables = (
        Table(
            "TAP_SCHEMA.schemas",
            "Schemas of this TAP service",
            (
                _c("schema_name", text, "schema name", ucd="meta.id", flags=("primary",)),
                _c("utype", text, "utype of the schema", ucd="meta.ref"),
                _c("description", text, "description", ucd="meta.note"),
                _c("schema_index", i, "order of the schemas", ucd="meta.number"),
            ),
        ),
        Table(
            "TAP_SCHEMA.tables",
            "Tables of this TAP service",
            (
                _c("schema_name", text, "schema name", ucd="meta.id"),
                _c("table_name", text, "qualified table name", ucd="meta.id", flags=("primary",)),
                _c("table_type", text, "table or view", ucd="meta.code"),
                _c("utype", text, "utype of the table", ucd="meta.ref"),
                _c("description", text, "description", ucd="meta.note"),
                _c("table_index", i, "order of the tables", ucd="meta.number"),
            ),
        ),
        Table(
            "TAP_SCHEMA.columns",
            "Columns of the tables of this TAP service",
            (
                _c("table_name", text, "qualified table name", ucd="meta.id"),
                _c("column_name", text, "column name", ucd="meta.id"),
                _c("datatype", text, "VOTable datatype", ucd="meta.code"),
                _c("arraysize", text, "VOTable arraysize", ucd="meta.code"),
                _c("xtype", text, "DALI xtype", ucd="meta.code"),
                _c('"size"', i, "deprecated length", ucd="meta.number"),
                _c("description", text, "description", ucd="meta.note"),
                _c("utype", text, "utype", ucd="meta.ref"),
                _c("unit", text, "VOUnit", ucd="meta.unit"),
                _c("ucd", text, "UCD", ucd="meta.ucd"),
                _c("indexed", i, "1 when indexed", ucd="meta.code"),
                _c("principal", i, "1 when principal", ucd="meta.code"),
                _c("std", i, "1 when defined by a standard", ucd="meta.code"),
                _c("column_index", i, "order of the columns", ucd="meta.number"),
            ),
        ),
        Table(
            "TAP_SCHEMA.keys",
            "Foreign keys between tables",
            (
                _c("key_id", text, "key identifier", ucd="meta.id", flags=("primary",)),
                _c("from_table", text, "table holding the key", ucd="meta.id"),
                _c("target_table", text, "table the key points to", ucd="meta.id"),
                _c("description", text, "description", ucd="meta.note"),
                _c("utype", text, "utype", ucd="meta.ref"),
            ),
        ),
        Table(
            "TAP_SCHEMA.key_columns",
            "Columns of the foreign keys",
            (
                _c("key_id", text, "key identifier", ucd="meta.id"),
                _c("from_column", text, "column in from_table", ucd="meta.id"),
                _c("target_column", text, "column in target_table", ucd="meta.id"),
            ),
        ),
    )
    return tuple(_with_keys(t) for t in tables)


TAP_SCHEMA_TABLES = _tap_schema_tables()
PUBLISHED_TABLES: tuple[Table, ...] = (OBSCORE, SCW, DETECTIONS)

PUBLISHED_SCHEMAS = (
    TableSchema(
        "ivoa",
        "IVOA data models: ObsCore 1.1",
        (OBSCORE,),
        title="IVOA standard tables",
    ),
    TableSchema(
        "isgri",
        "The ISGRI archive index and the source detections of the published products",
        (SCW, DETECTIONS),
        title="INTEGRAL/ISGRI archive",
    ),
)
TAP_SCHEMA = TableSchema(
    "TAP_SCHEMA", "Metadata of the tables of this TAP service (TAP 1.1)", TAP_SCHEMA_TABLES
)
