"""The product request: one parameter model for every product kind.

Each parameter is declared once with its unit, default, bounds, allowed values and description;
the same declarations validate requests (naming the parameter in every error), normalise values
before they are hashed, and describe the service (VOTable PARAMs with VALUES, registry records).
Names follow the INTEGRAL ODA conventions so that its users feel at home.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from astropy.time import Time

from processing.instruments import (
    BandError,
    EnergyBand,
    default_instrument,
    get_instrument,
    instrument_names,
)

__all__ = [
    "BANDED",
    "ENERGY_RANGE_KEV",
    "PARAMETERS",
    "PRODUCT_TYPES",
    "ParamSpec",
    "ProductRequest",
    "RequestError",
    "normalised_position",
    "parse_request",
    "request_pairs",
]

#: IJD = MJD - 51544 (INTEGRAL Julian Date, TT).
_MJDREF = 51544.0

PRODUCT_TYPES = ("image", "spectrum", "light_curve", "transient_search", "spectral_fit")
#: Product types made in one energy band (spectra cover the instrument's whole range).
BANDED = ("image", "light_curve", "transient_search")
#: Every registered instrument's energy range together: the bounds a band is first checked
#: against (then against the requested instrument's own grid, when it is snapped).
ENERGY_RANGE_KEV = (
    min(get_instrument(n).energy_range_kev[0] for n in instrument_names()),
    max(get_instrument(n).energy_range_kev[1] for n in instrument_names()),
)
_TYPE_ALIASES = {"lc": "light_curve", "lightcurve": "light_curve", "light curve": "light_curve"}


def _default_radius_deg() -> float:
    """The default instrument's selection radius (what a request naming none gets)."""
    radius = default_instrument().default_radius_deg
    if radius is None:
        raise RuntimeError("the default instrument's adapter must give default_radius_deg")
    return radius


class RequestError(ValueError):
    """A request parameter is wrong; ``param`` names it (as the client spelled it)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class ParamSpec:
    """Declaration of one request parameter."""

    name: str
    datatype: str  # "double", "int", "char"
    description: str
    unit: str = ""
    ucd: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    xtype: str = ""
    #: Product types whose result depends on this parameter (empty: all of them).
    used_by: tuple[str, ...] = ()
    #: Whether ``maximum`` itself is refused (RA: 360 is 0).
    maximum_exclusive: bool = False

    def applies_to(self, product_type: str) -> bool:
        """Whether a ``product_type`` request uses this parameter."""
        return not self.used_by or product_type in self.used_by


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "product_type",
        "char",
        "Product to build",
        choices=PRODUCT_TYPES,
        default="image",
        ucd="meta.code",
    ),
    ParamSpec(
        "src_name",
        "char",
        "Source name, resolved to a position (Sesame, then the local "
        "catalog) when RA/DEC are not given",
        ucd="meta.id;src",
    ),
    ParamSpec(
        "RA",
        "double",
        "Right ascension (ICRS) of the request centre",
        unit="deg",
        ucd="pos.eq.ra",
        minimum=0.0,
        maximum=360.0,
        maximum_exclusive=True,
    ),
    ParamSpec(
        "DEC",
        "double",
        "Declination (ICRS) of the request centre",
        unit="deg",
        ucd="pos.eq.dec",
        minimum=-90.0,
        maximum=90.0,
    ),
    ParamSpec(
        "radius",
        "double",
        "Science windows are selected whose pointing lies within this radius of the centre "
        "(default: the instrument's; the default instrument's is given here)",
        unit="deg",
        ucd="pos.angDistance",
        default=_default_radius_deg(),
        minimum=0.1,  # the mosaic's smallest half side (isgri.mosaic radius)
        maximum=30.0,
    ),
    ParamSpec("T1", "char", "Start of the time range, in T_format", ucd="time.start"),
    ParamSpec("T2", "char", "End of the time range, in T_format", ucd="time.end"),
    ParamSpec(
        "T_format",
        "char",
        "Format of T1/T2: ISO date-time (isot), MJD or IJD (MJD - 51544), all TT",
        choices=("isot", "mjd", "ijd"),
        default="isot",
        ucd="meta.code",
    ),
    ParamSpec(
        "scw_list",
        "char",
        "Explicit science windows (RRRRPPPPSSSF[.VVV], comma or "
        "space separated); replaces the cone and time selection",
        ucd="meta.id;obs",
    ),
    ParamSpec(
        "max_pointings",
        "int",
        "Largest number of science windows used; a deterministic subset is drawn when more match",
        default=50,
        minimum=1,
        maximum=5000,
        ucd="meta.number",
    ),
    ParamSpec(
        "E1_keV",
        "double",
        "Lower edge of the energy band (default: the instrument's; the default instrument's "
        "is given here)",
        unit="keV",
        ucd="em.energy;stat.min",
        default=default_instrument().default_band_kev[0],
        minimum=ENERGY_RANGE_KEV[0],
        maximum=ENERGY_RANGE_KEV[1],
        used_by=BANDED,
    ),
    ParamSpec(
        "E2_keV",
        "double",
        "Upper edge of the energy band (default: the instrument's; the default instrument's "
        "is given here)",
        unit="keV",
        ucd="em.energy;stat.max",
        default=default_instrument().default_band_kev[1],
        minimum=ENERGY_RANGE_KEV[0],
        maximum=ENERGY_RANGE_KEV[1],
        used_by=BANDED,
    ),
    ParamSpec(
        "detection_threshold",
        "double",
        "Significance threshold of new sources",
        unit="",
        ucd="stat.snr;stat.min",
        default=7.0,
        minimum=3.0,
        maximum=1000.0,
        used_by=("image",),
    ),
    ParamSpec(
        "time_bin",
        "double",
        "Light-curve bin width",
        unit="s",
        ucd="time.interval",
        default=1000.0,
        minimum=10.0,
        maximum=1.0e7,
        used_by=("light_curve", "transient_search"),
    ),
    ParamSpec(
        "selected_catalog",
        "char",
        "Sky model: a catalog product ID, a JSON list of "
        "{name, ra, dec}, or a VOTable upload; default: the archive's reference catalog",
        ucd="meta.ref",
    ),
    ParamSpec(
        "instrument",
        "char",
        "Instrument (each has its own channel grid, energy range and product types)",
        choices=instrument_names(),
        default=instrument_names()[0],
        ucd="instr",
    ),
    ParamSpec(
        "jemx_num",
        "int",
        "JEM-X unit (instrument=jemx; default 1, the unit this archive holds)",
        default=1,
        minimum=1,
        maximum=2,
        ucd="meta.id;instr",
    ),
    ParamSpec(
        "osa_version",
        "char",
        "Analysis software version (only the current one is served)",
        default="current",
        ucd="meta.version",
    ),
)
_BY_LOWER = {p.name.lower(): p for p in PARAMETERS}
#: Parameters other protocols put into the same request (ignored here, not refused).
_FOREIGN = {
    "kind",
    "phase",
    "runid",
    "executionduration",
    "destruction",
    "request",
    "lang",
    "version",
    "responseformat",
    "upload",
}


@dataclass(frozen=True)
class ProductRequest:
    """A validated, normalised product request (what is hashed and handed to processing)."""

    product_type: str
    ra: float | None
    dec: float | None
    src_name: str | None
    radius_deg: float
    t1_ijd: float | None
    t2_ijd: float | None
    scw_list: tuple[str, ...]
    max_pointings: int
    #: The band snapped to the instrument's channel grid (what products are made in).
    band: EnergyBand
    detection_threshold: float
    time_bin_s: float
    selected_catalog: str | None
    instrument: str
    osa_version: str
    given_names: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: The unit of a camera flown twice (``jemx_num``); None for the others.
    unit: int | None = None

    @property
    def e1_kev(self) -> float:
        """Lower edge of the snapped band (keV)."""
        return self.band.e_min_kev

    @property
    def e2_kev(self) -> float:
        """Upper edge of the snapped band (keV)."""
        return self.band.e_max_kev

    @property
    def banded(self) -> bool:
        """Whether the product is made in this one band (else over the instrument's range)."""
        return self.product_type in BANDED

    def canonical(self) -> dict[str, Any]:
        """JSON-compatible normalised values (stable order, rounded floats)."""
        return {
            "product_type": self.product_type,
            "ra": self.ra,
            "dec": self.dec,
            "src_name": self.src_name,
            "radius_deg": self.radius_deg,
            "t1_ijd": self.t1_ijd,
            "t2_ijd": self.t2_ijd,
            "scw_list": list(self.scw_list),
            "max_pointings": self.max_pointings,
            "e1_kev": self.e1_kev,
            "e2_kev": self.e2_kev,
            "detection_threshold": self.detection_threshold,
            "time_bin_s": self.time_bin_s,
            "selected_catalog": self.selected_catalog,
            "instrument": self.instrument,
            "osa_version": self.osa_version,
            # Only for a camera with units, so that the others' requests keep their form.
            **({} if self.unit is None else {"jemx_num": self.unit}),
        }

    @classmethod
    def from_canonical(cls, data: Mapping[str, Any]) -> ProductRequest:
        """Rebuild from :meth:`canonical` (a job's stored parameters, or a product's request
        with a new band or time range): validated and normalised again by
        :func:`parse_request`, so it fails as a client's request with the same values would.

        Raises
        ------
        RequestError
            Naming the parameter as the client spells it (``E1_keV``, ``T1``...).
        """
        return parse_request(request_pairs(data))

    def name_of(self, param: str) -> str:
        """The client's spelling of a parameter (for error messages)."""
        return self.given_names.get(param.lower(), param)


def request_pairs(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The client parameters that :func:`parse_request` turns into this canonical request."""
    pairs: list[tuple[str, str]] = []

    def put(name: str, value: Any) -> None:
        if value is not None and value != []:
            pairs.append((name, repr(float(value)) if isinstance(value, float) else str(value)))

    put("product_type", data.get("product_type"))
    put("src_name", data.get("src_name"))
    put("RA", data.get("ra"))
    put("DEC", data.get("dec"))
    put("radius", data.get("radius_deg"))
    if data.get("t1_ijd") is not None or data.get("t2_ijd") is not None:
        put("T_format", "ijd")
        put("T1", data.get("t1_ijd"))
        put("T2", data.get("t2_ijd"))
    if data.get("scw_list"):
        put("scw_list", ",".join(data["scw_list"]))
    put("max_pointings", data.get("max_pointings"))
    put("E1_keV", data.get("e1_kev"))
    put("E2_keV", data.get("e2_kev"))
    put("detection_threshold", data.get("detection_threshold"))
    put("time_bin", data.get("time_bin_s"))
    put("selected_catalog", data.get("selected_catalog"))
    put("instrument", data.get("instrument"))
    put("jemx_num", data.get("jemx_num"))
    put("osa_version", data.get("osa_version"))
    return pairs


def _snap(instrument: str, e1: float, e2: float, e1_label: str, e2_label: str) -> EnergyBand:
    """The band snapped to the instrument's channel grid; an error names the edge to change."""
    spec = get_instrument(instrument)
    low, high = spec.energy_range_kev
    if e1 < low or e1 >= high:
        raise RequestError(
            e1_label, f"{e1:g} keV is outside the {spec.name} range {low:g}-{high:g} keV"
        )
    if e2 > high:
        raise RequestError(
            e2_label, f"{e2:g} keV is outside the {spec.name} range {low:g}-{high:g} keV"
        )
    try:
        return spec.snap_band(e1, e2)
    except BandError:
        pass
    # Both edges snap to one channel edge: the band lies within one channel (or straddles an
    # edge by less than half a channel), and is that whole channel, the one holding its middle.
    edges = spec.channel_edges
    k = min(max(bisect.bisect_right(edges, (e1 + e2) / 2.0) - 1, 0), len(edges) - 2)
    try:
        return spec.snap_band(edges[k], edges[k + 1])
    except BandError as exc:
        raise RequestError(e2_label, f"{exc} of the {spec.name} channel grid") from exc


def normalised_position(ra: float, dec: float) -> tuple[float, float]:
    """A position as requests hold it (RA in [0, 360), both rounded to 10 digits): a given
    position and a resolved one are normalised alike, so a name and its position agree."""
    return _round(ra % 360.0), _round(dec)


def _round(value: float, digits: int = 10) -> float:
    if value == 0:
        return 0.0
    return float(f"{value:.{digits}g}")


def _number(spec: ParamSpec, given: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise RequestError(given, f"not a number: {raw!r}") from None
    if not math.isfinite(value):
        raise RequestError(given, f"not a finite number: {raw!r}")
    if spec.datatype == "int" and value != int(value):
        raise RequestError(given, f"not an integer: {raw!r}")
    if spec.minimum is not None and value < spec.minimum:
        raise RequestError(
            given, f"{raw} is below the minimum {spec.minimum:g} {spec.unit}".rstrip()
        )
    if spec.maximum is not None and value > spec.maximum:
        raise RequestError(
            given, f"{raw} is above the maximum {spec.maximum:g} {spec.unit}".rstrip()
        )
    return value


def _time(given: str, raw: str, fmt: str) -> float:
    try:
        if fmt == "isot":
            return _round(float(Time(raw.strip(), format="isot", scale="tt").mjd) - _MJDREF, 12)
        value = float(raw)
    except ValueError:
        raise RequestError(given, f"not a time in format {fmt}: {raw!r}") from None
    if not math.isfinite(value):
        raise RequestError(given, f"not a finite time: {raw!r}")
    return _round(value - _MJDREF if fmt == "mjd" else value, 12)


_SCW_RE = re.compile(r"^\d{12}(\.\d{3})?$")


def _scw_list(given: str, raw: str) -> tuple[str, ...]:
    items = [s for s in re.split(r"[\s,;]+", raw.strip()) if s]
    bad = [s for s in items if not _SCW_RE.match(s)]
    if bad:
        raise RequestError(
            given, f"not science-window ids (RRRRPPPPSSSF[.VVV]): {', '.join(bad[:5])}"
        )
    normalised = sorted({s if "." in s else f"{s}.001" for s in items})
    if not normalised:
        raise RequestError(given, "empty list")
    return tuple(normalised)


def parse_request(params: Iterable[tuple[str, str]]) -> ProductRequest:
    """Validate and normalise raw request parameters (names case-insensitive).

    ``params`` holds (name, value) pairs as submitted.

    Raises
    ------
    RequestError
        For an unknown parameter, a repeated single-valued one, or a bad value; the error
        names the parameter as the client spelled it.
    """
    pairs = list(params)
    raw: dict[str, str] = {}
    given: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key in _FOREIGN:
            continue
        spec = _BY_LOWER.get(key)
        if spec is None:
            raise RequestError(
                name, f"unknown parameter (known: {', '.join(p.name for p in PARAMETERS)})"
            )
        if key in raw and raw[key] != value:
            raise RequestError(name, "given more than once with different values")
        raw[key], given[key] = value, name

    def get(name: str) -> tuple[str, str | None]:
        key = name.lower()
        value = raw.get(key)
        return given.get(key, name), (
            value.strip() if value is not None and value.strip() else None
        )

    def choice(name: str) -> str:
        label, value = get(name)
        spec = _BY_LOWER[name.lower()]
        if value is None:
            return str(spec.default)
        folded = value.lower()
        if name == "product_type":
            folded = _TYPE_ALIASES.get(folded, folded)
        # Instruments registered after this module was imported are requestable too.
        choices = instrument_names() if name == "instrument" else spec.choices
        if folded not in choices:
            raise RequestError(label, f"{value!r} is not one of {', '.join(choices)}")
        return folded

    def number(name: str) -> float | None:
        label, value = get(name)
        spec = _BY_LOWER[name.lower()]
        if value is None:
            return None if spec.default is None else float(spec.default)
        return _number(spec, label, value)

    product_type = choice("product_type")
    t_format = choice("T_format")
    ra, dec = number("RA"), number("DEC")
    if (ra is None) != (dec is None):
        missing = "DEC" if dec is None else "RA"
        raise RequestError(missing, "RA and DEC must be given together")
    if ra is not None and ra >= 360.0:
        raise RequestError(get("RA")[0], "must be below 360 deg")
    _, src_name = get("src_name")
    t1_label, t1_raw = get("T1")
    t2_label, t2_raw = get("T2")
    t1 = _time(t1_label, t1_raw, t_format) if t1_raw is not None else None
    t2 = _time(t2_label, t2_raw, t_format) if t2_raw is not None else None
    if t1 is not None and t2 is not None and t1 >= t2:
        raise RequestError(t2_label, f"T2 ({t2_raw}) must be after T1 ({t1_raw})")
    scw_label, scw_raw = get("scw_list")
    scws = _scw_list(scw_label, scw_raw) if scw_raw is not None else ()
    instrument = choice("instrument")
    camera = get_instrument(instrument)
    e1, e2 = number("E1_keV"), number("E2_keV")
    assert e1 is not None and e2 is not None
    # A band edge not given is the instrument's default band's.
    if get("E1_keV")[1] is None:
        e1 = camera.default_band_kev[0]
    if get("E2_keV")[1] is None:
        e2 = camera.default_band_kev[1]
    if e1 >= e2:
        raise RequestError(get("E2_keV")[0], f"E2_keV ({e2:g}) must be above E1_keV ({e1:g})")
    band = _snap(instrument, e1, e2, get("E1_keV")[0], get("E2_keV")[0])
    if not scws and ra is None and src_name is None:
        raise RequestError("src_name", "give src_name, or RA and DEC, or a scw_list")
    radius, max_p = number("radius"), number("max_pointings")
    if get("radius")[1] is None and camera.default_radius_deg is not None:
        radius = camera.default_radius_deg
    unit_value = number("jemx_num")
    # The JEM-X unit (ODA's jemx_num) means something for JEM-X only; other instruments'
    # requests ignore it, as ODA's do.
    unit = None if instrument != "jemx" else int(unit_value) if unit_value is not None else 1
    threshold, time_bin = number("detection_threshold"), number("time_bin")
    assert radius is not None and max_p is not None and threshold is not None
    assert time_bin is not None
    _, catalog = get("selected_catalog")
    osa_label, osa = get("osa_version")
    if osa not in (None, "current"):
        raise RequestError(osa_label, f"only 'current' is served, not {osa!r}")
    position = None if ra is None or dec is None else normalised_position(ra, dec)
    return ProductRequest(
        product_type=product_type,
        ra=None if position is None else position[0],
        dec=None if position is None else position[1],
        src_name=src_name,
        radius_deg=_round(radius),
        t1_ijd=t1,
        t2_ijd=t2,
        scw_list=scws,
        max_pointings=int(max_p),
        band=band,
        detection_threshold=_round(threshold),
        time_bin_s=_round(time_bin),
        selected_catalog=catalog,
        instrument=instrument,
        osa_version="current",
        given_names=dict(given),
        unit=unit,
    )
