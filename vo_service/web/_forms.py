"""The request form, generated from the one parameter model (``_request.PARAMETERS``).

Every field comes from a :class:`~vo_service._request.ParamSpec`: its name, unit, range, choices,
default and description; nothing here lists the parameters again. Only the presentation is
added: which fieldset a parameter is shown in (by its UCD, so a new parameter finds its place)
and which input suits its datatype.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vo_service._request import PARAMETERS, PRODUCT_TYPES, ParamSpec

__all__ = ["FORM_GROUPS", "FormField", "FormGroup", "build_form", "submitted_pairs"]

#: Fieldsets, in page order: (key, legend, UCD prefixes of the parameters shown in it).
FORM_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("target", "Target", ("meta.id;src", "pos.")),
    (
        "time",
        "Time and science windows",
        ("time.start", "time.end", "meta.code", "meta.id;obs", "meta.number"),
    ),
    ("analysis", "Analysis", ("em.", "stat.", "time.interval", "meta.ref")),
    ("advanced", "Software", ()),
)
#: Parameters kept in a multi-line box (long lists and uploads).
_LONG_TEXT = frozenset({"scw_list", "selected_catalog"})


@dataclass(frozen=True)
class FormField:
    """One input of the form: the declaration, the value shown, and the server's message."""

    spec: ParamSpec
    value: str
    error: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def widget(self) -> str:
        """``select``, ``textarea``, ``number`` or ``text``."""
        if self.spec.choices:
            return "select"
        if self.spec.name in _LONG_TEXT:
            return "textarea"
        if self.spec.datatype in ("double", "int"):
            return "number"
        return "text"

    @property
    def step(self) -> str:
        return "1" if self.spec.datatype == "int" else "any"

    @property
    def range_text(self) -> str:
        """The allowed range in words, as the server checks it."""
        spec = self.spec
        unit = f" {spec.unit}" if spec.unit else ""
        if spec.minimum is not None and spec.maximum is not None:
            upper = "below" if spec.maximum_exclusive else "up to"
            return f"{spec.minimum:g} {upper} {spec.maximum:g}{unit}"
        return ""

    @property
    def default_text(self) -> str:
        if self.spec.default is None:
            return ""
        if isinstance(self.spec.default, float):
            return f"{self.spec.default:g}"
        return str(self.spec.default)

    @property
    def used_by(self) -> str:
        """Product types that use it, space separated (empty: all)."""
        return " ".join(self.spec.used_by)


@dataclass(frozen=True)
class FormGroup:
    """A fieldset of the form."""

    key: str
    legend: str
    fields: tuple[FormField, ...]


def _group_of(spec: ParamSpec) -> str:
    for key, _, prefixes in FORM_GROUPS:
        if any(spec.ucd.startswith(p) for p in prefixes):
            return key
    return FORM_GROUPS[-1][0]


def build_form(
    values: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None
) -> tuple[FormField, list[FormGroup]]:
    """The product-type field and the fieldsets of the others.

    ``values`` are what to show (the defaults where absent), ``errors`` the server's messages
    by parameter name (any case).
    """
    given = {k.lower(): v for k, v in (values or {}).items()}
    wrong = {k.lower(): v for k, v in (errors or {}).items()}

    def field(spec: ParamSpec) -> FormField:
        key = spec.name.lower()
        if key in given:
            value = given[key]
        elif spec.default is None:
            value = ""
        elif isinstance(spec.default, float):
            value = f"{spec.default:g}"
        else:
            value = str(spec.default)
        return FormField(spec, value, wrong.get(key))

    product = next(field(p) for p in PARAMETERS if p.name == "product_type")
    grouped: dict[str, list[FormField]] = {key: [] for key, _, _ in FORM_GROUPS}
    for spec in PARAMETERS:
        if spec.name != "product_type":
            grouped[_group_of(spec)].append(field(spec))
    groups = [
        FormGroup(key, legend, tuple(grouped[key]))
        for key, legend, _ in FORM_GROUPS
        if grouped[key]
    ]
    return product, groups


def submitted_pairs(form: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The request parameters of a submitted form: known names only, empty values and
    parameters the chosen product type does not use left out (so that a job lists what
    shapes its product)."""
    pairs = [(k, v) for k, v in form if v.strip()]
    chosen = next((v.strip().lower() for k, v in pairs if k.lower() == "product_type"), "image")
    specs = {p.name.lower(): p for p in PARAMETERS}
    kept = []
    for name, value in pairs:
        spec = specs.get(name.lower())
        if spec is None:
            continue
        if chosen in PRODUCT_TYPES and not spec.applies_to(chosen):
            continue
        kept.append((spec.name, value))
    return kept


def values_of(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Form values from parameter pairs (the last value of a name wins)."""
    return {name: value for name, value in pairs}
