"""OAI-PMH 2.0 publishing registry (IVOA Registry Interfaces 1.1), independent of Flask.

:meth:`OAIRepository.respond` takes the request arguments and returns the whole
``OAI-PMH`` document. Each verb is an entry of :data:`VERBS` (its required, optional and
exclusive arguments, and the builder that answers it), so argument checking is declarative
and shared; every protocol error is an :class:`OAIError` subclass carrying its OAI code,
turned into the ``error`` element in one place.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from lxml import etree

from registry._dublin_core import dublin_core
from registry._publication import MANAGED_SET, Publication, PublishedRecord
from registry._record import vo_datetime
from registry._xml import OAI, OAI_DC, RI, XSI

__all__ = [
    "METADATA_FORMATS",
    "VERBS",
    "BadArgument",
    "BadResumptionToken",
    "BadVerb",
    "CannotDisseminateFormat",
    "IdDoesNotExist",
    "MetadataFormat",
    "NoRecordsMatch",
    "OAIError",
    "OAIRepository",
]


class OAIError(Exception):
    """An OAI-PMH error condition; ``code`` is the protocol's error code."""

    code: ClassVar[str]


class BadArgument(OAIError):
    """Illegal, missing, repeated or ill-formed arguments."""

    code = "badArgument"


class BadVerb(OAIError):
    """Missing, repeated or unknown verb."""

    code = "badVerb"


class BadResumptionToken(OAIError):
    """The resumption token is invalid or expired."""

    code = "badResumptionToken"


class CannotDisseminateFormat(OAIError):
    """The metadata format is not supported by the item or the repository."""

    code = "cannotDisseminateFormat"


class IdDoesNotExist(OAIError):
    """The identifier is unknown in this repository."""

    code = "idDoesNotExist"


class NoRecordsMatch(OAIError):
    """The combination of from, until, set and metadataPrefix selects nothing."""

    code = "noRecordsMatch"


@dataclass(frozen=True)
class MetadataFormat:
    """A metadata format the repository disseminates."""

    prefix: str
    schema: str
    namespace: str
    render: Callable[[etree._Element], etree._Element]
    """Turns a ``ri:Resource`` into this format's metadata element."""


METADATA_FORMATS: Mapping[str, MetadataFormat] = {
    "ivo_vor": MetadataFormat(
        "ivo_vor",
        "http://www.ivoa.net/xml/RegistryInterface/v1.0",
        RI,
        copy.deepcopy,
    ),
    "oai_dc": MetadataFormat(
        "oai_dc",
        "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
        OAI_DC,
        dublin_core,
    ),
}

_SETS = {MANAGED_SET: "Resources managed by this registry (IVOA Registry Interfaces 1.1)"}


def _q(tag: str) -> str:
    return f"{{{OAI}}}{tag}"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _q(tag))
    if text is not None:
        child.text = text
    return child


@dataclass(frozen=True)
class _Selection:
    """What a list request asks for; a resumption token carries it and the next offset."""

    verb: str
    prefix: str
    start: str | None = None
    end: str | None = None
    set_spec: str | None = None
    offset: int = 0

    def token(self, offset: int) -> str:
        payload = {
            "v": self.verb,
            "m": self.prefix,
            "f": self.start,
            "u": self.end,
            "s": self.set_spec,
            "o": offset,
        }
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    @classmethod
    def from_token(cls, verb: str, token: str) -> _Selection:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = json.loads(raw)
        except (binascii.Error, ValueError, RecursionError) as exc:
            raise BadResumptionToken(f"resumptionToken {token!r} was not issued here") from exc
        selection = cls._from_payload(payload)
        if selection is None:
            raise BadResumptionToken(f"resumptionToken {token!r} was not issued here")
        if selection.verb != verb or selection.offset < 0:
            raise BadResumptionToken(f"resumptionToken {token!r} does not belong to {verb}")
        # A forged token must not surface as another error code.
        try:
            for name, value in (("from", selection.start), ("until", selection.end)):
                if value is not None:
                    _parse_datestamp(name, value, end_of_day=False)
        except BadArgument as exc:
            raise BadResumptionToken(f"resumptionToken {token!r} is corrupt") from exc
        if selection.prefix not in METADATA_FORMATS:
            raise BadResumptionToken(f"resumptionToken {token!r} names an unknown format")
        return selection

    @classmethod
    def _from_payload(cls, payload: object) -> _Selection | None:
        """The selection a token's JSON describes, ``None`` when it has the wrong shape."""
        if not isinstance(payload, dict):
            return None
        text = {key: payload.get(key) for key in ("v", "m", "f", "u", "s")}
        offset = payload.get("o")
        if not all(isinstance(text[key], str) for key in ("v", "m")) or not all(
            text[key] is None or isinstance(text[key], str) for key in ("f", "u", "s")
        ):
            return None
        if not isinstance(offset, int) or isinstance(offset, bool):
            return None
        return cls(
            verb=str(text["v"]),
            prefix=str(text["m"]),
            start=text["f"],
            end=text["u"],
            set_spec=text["s"],
            offset=offset,
        )


#: OAI-PMH UTCdatetime: a day or a second (the digits strptime alone would not insist on).
_DATESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?")
#: Patterns of the request element's attributes (OAI-PMH.xsd: metadataPrefixType,
#: setSpecType, UTCdatetimeType); a value that fails its pattern is not echoed.
_ATTRIBUTE_PATTERNS = {
    "metadataPrefix": re.compile(r"[A-Za-z0-9\-_.!~*'()]+"),
    "set": re.compile(r"[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*"),
    "from": _DATESTAMP,
    "until": _DATESTAMP,
}
#: Characters XML 1.0 does not allow (they cannot be echoed, and no record holds them).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _parse_datestamp(name: str, value: str, *, end_of_day: bool) -> tuple[datetime, str]:
    """An OAI UTCdatetime (day or seconds granularity) and its granularity."""
    if not _DATESTAMP.fullmatch(value):
        raise BadArgument(f"{name}={value!r} is not YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ")
    for pattern, granularity in (("%Y-%m-%dT%H:%M:%SZ", "seconds"), ("%Y-%m-%d", "day")):
        try:
            moment = datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
        if granularity == "day" and end_of_day:
            moment += timedelta(days=1, seconds=-1)
        return moment, granularity
    raise BadArgument(f"{name}={value!r} is not YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ")


class OAIRepository:
    """The OAI-PMH repository serving a :class:`Publication`.

    Parameters
    ----------
    publication
        The records to serve; its registry record is Identify's description.
    base_url
        The OAI-PMH base URL (what clients request).
    admin_emails
        Repository administrators (Identify's ``adminEmail``).
    page_size
        Most records or headers in one list response before a resumption token.
    clock
        Source of ``responseDate``.
    """

    def __init__(
        self,
        publication: Publication,
        base_url: str,
        admin_emails: Sequence[str],
        *,
        page_size: int = 100,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be positive")
        if not admin_emails:
            raise ValueError("OAI-PMH needs at least one admin e-mail")
        self.publication = publication
        self.base_url = base_url
        self.admin_emails = tuple(admin_emails)
        self.page_size = page_size
        self._clock = clock

    # Entry point ------------------------------------------------------------------------
    def respond(self, arguments: Mapping[str, Sequence[str]]) -> etree._Element:
        """Answer one request; ``arguments`` maps each name to all the values sent."""
        # A prefix, not a default namespace: the embedded VOResource records have unqualified
        # children, and libxml2 would not undeclare a default namespace above them.
        root = etree.Element(_q("OAI-PMH"), nsmap={"oai": OAI, "xsi": XSI})
        root.set(
            f"{{{XSI}}}schemaLocation", f"{OAI} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
        )
        _sub(root, "responseDate", vo_datetime(self._clock()))
        request = _sub(root, "request", self.base_url)
        try:
            verb, params = _parse_arguments(arguments)
        except OAIError as error:
            # OAI-PMH 3.2: after badVerb or badArgument, the bare base URL and no attributes.
            _sub(root, "error", _NOT_XML.sub("\ufffd", str(error))).set("code", error.code)
            return root
        request.set("verb", verb)
        try:
            root.append(VERBS[verb].build(self, params))
        except OAIError as error:
            failed: OAIError | None = error
        else:
            failed = None
        for name, value in params.items():
            if failed is None or _echoable(name, value, failed):
                request.set(name, value)
        if isinstance(failed, BadVerb | BadArgument):  # found while answering (from > until)
            request.attrib.clear()
        if failed is not None:
            _sub(root, "error", _NOT_XML.sub("\ufffd", str(failed))).set("code", failed.code)
        return root

    # Verbs ------------------------------------------------------------------------------
    def _identify(self, params: Mapping[str, str]) -> etree._Element:
        records = self.publication.records()
        identify = etree.Element(_q("Identify"))
        _sub(identify, "repositoryName", self.publication.registry_record().findtext("title"))
        _sub(identify, "baseURL", self.base_url)
        _sub(identify, "protocolVersion", "2.0")
        for email in self.admin_emails:
            _sub(identify, "adminEmail", email)
        _sub(identify, "earliestDatestamp", vo_datetime(min(r.datestamp for r in records)))
        # Withdrawn records are remembered in the stamp store, which an operator may wipe.
        _sub(identify, "deletedRecord", "transient")
        _sub(identify, "granularity", "YYYY-MM-DDThh:mm:ssZ")
        # Registry Interfaces 1.1: Identify carries the registry's own vg:Registry record.
        _sub(identify, "description").append(copy.deepcopy(self.publication.registry_record()))
        return identify

    def _list_metadata_formats(self, params: Mapping[str, str]) -> etree._Element:
        if "identifier" in params:
            self._get(params["identifier"])
        formats = etree.Element(_q("ListMetadataFormats"))
        for fmt in METADATA_FORMATS.values():
            element = _sub(formats, "metadataFormat")
            _sub(element, "metadataPrefix", fmt.prefix)
            _sub(element, "schema", fmt.schema)
            _sub(element, "metadataNamespace", fmt.namespace)
        return formats

    def _list_sets(self, params: Mapping[str, str]) -> etree._Element:
        if "resumptionToken" in params:
            raise BadResumptionToken("ListSets is never split; no resumptionToken was issued")
        sets = etree.Element(_q("ListSets"))
        for spec, name in _SETS.items():
            element = _sub(sets, "set")
            _sub(element, "setSpec", spec)
            _sub(element, "setName", name)
        return sets

    def _list_identifiers(self, params: Mapping[str, str]) -> etree._Element:
        return self._list("ListIdentifiers", params, with_metadata=False)

    def _list_records(self, params: Mapping[str, str]) -> etree._Element:
        return self._list("ListRecords", params, with_metadata=True)

    def _get_record(self, params: Mapping[str, str]) -> etree._Element:
        fmt = _format(params["metadataPrefix"])
        record = self._get(params["identifier"])
        element = etree.Element(_q("GetRecord"))
        element.append(_record_element(record, fmt))
        return element

    # Helpers ----------------------------------------------------------------------------
    def _get(self, identifier: str) -> PublishedRecord:
        record = self.publication.record(identifier)
        if record is None:
            raise IdDoesNotExist(f"no record with identifier {identifier!r}")
        return record

    def _list(self, verb: str, params: Mapping[str, str], *, with_metadata: bool) -> etree._Element:
        token = params.get("resumptionToken")
        if token is not None:
            selection = _Selection.from_token(verb, token)
        else:
            selection = _Selection(
                verb,
                params["metadataPrefix"],
                params.get("from"),
                params.get("until"),
                params.get("set"),
            )
        fmt = _format(selection.prefix)
        matches = self._select(selection)
        if token is not None and selection.offset >= len(matches):
            raise BadResumptionToken(f"resumptionToken {token!r} points past the end of the list")
        if not matches:
            raise NoRecordsMatch("no records match the given from, until, set and metadataPrefix")
        page = matches[selection.offset : selection.offset + self.page_size]
        listing = etree.Element(_q(verb))
        for record in page:
            listing.append(_record_element(record, fmt) if with_metadata else _header(record))
        following = selection.offset + len(page)
        if token is not None or following < len(matches):
            resumption = _sub(listing, "resumptionToken")
            resumption.set("completeListSize", str(len(matches)))
            resumption.set("cursor", str(selection.offset))
            if following < len(matches):
                resumption.text = selection.token(following)
        return listing

    def _select(self, selection: _Selection) -> list[PublishedRecord]:
        start = end = None
        if selection.start is not None:
            start, start_granularity = _parse_datestamp("from", selection.start, end_of_day=False)
        if selection.end is not None:
            end, end_granularity = _parse_datestamp("until", selection.end, end_of_day=True)
        if start is not None and end is not None:
            if start_granularity != end_granularity:
                raise BadArgument("from and until must have the same granularity")
            if start > end:
                raise BadArgument(f"from={selection.start} is later than until={selection.end}")
        return [
            record
            for record in self.publication.records()
            if (start is None or record.datestamp >= start)
            and (end is None or record.datestamp <= end)
            and (selection.set_spec is None or selection.set_spec in record.sets)
        ]


def _format(prefix: str) -> MetadataFormat:
    try:
        return METADATA_FORMATS[prefix]
    except KeyError as exc:
        known = ", ".join(METADATA_FORMATS)
        raise CannotDisseminateFormat(
            f"metadataPrefix {prefix!r} is not supported (use one of {known})"
        ) from exc


def _header(record: PublishedRecord) -> etree._Element:
    header = etree.Element(_q("header"))
    if record.deleted:
        header.set("status", "deleted")
    _sub(header, "identifier", record.identifier)
    _sub(header, "datestamp", vo_datetime(record.datestamp))
    for spec in record.sets:
        _sub(header, "setSpec", spec)
    return header


def _record_element(record: PublishedRecord, fmt: MetadataFormat) -> etree._Element:
    element = etree.Element(_q("record"))
    element.append(_header(record))
    if record.resource is not None:  # OAI-PMH 2.5.1: a deleted record has a header only
        _sub(element, "metadata").append(fmt.render(record.resource))
    return element


@dataclass(frozen=True)
class _Verb:
    """One OAI-PMH verb: its arguments and the repository method that answers it."""

    build: Callable[[OAIRepository, Mapping[str, str]], etree._Element]
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    exclusive: str | None = None


_LIST_ARGS = frozenset({"from", "until", "set"})

#: The verb dispatch table.
VERBS: Mapping[str, _Verb] = {
    "Identify": _Verb(OAIRepository._identify),
    "ListMetadataFormats": _Verb(
        OAIRepository._list_metadata_formats, optional=frozenset({"identifier"})
    ),
    "ListSets": _Verb(OAIRepository._list_sets, exclusive="resumptionToken"),
    "ListIdentifiers": _Verb(
        OAIRepository._list_identifiers,
        required=frozenset({"metadataPrefix"}),
        optional=_LIST_ARGS,
        exclusive="resumptionToken",
    ),
    "ListRecords": _Verb(
        OAIRepository._list_records,
        required=frozenset({"metadataPrefix"}),
        optional=_LIST_ARGS,
        exclusive="resumptionToken",
    ),
    "GetRecord": _Verb(
        OAIRepository._get_record, required=frozenset({"identifier", "metadataPrefix"})
    ),
}


def _echoable(name: str, value: str, error: OAIError) -> bool:
    """Whether the request element of an error response may repeat this argument: only
    values the schema's attribute types accept (an unknown identifier may be no URI)."""
    if name == "identifier":
        return not isinstance(error, IdDoesNotExist)
    pattern = _ATTRIBUTE_PATTERNS.get(name)
    return pattern is None or pattern.fullmatch(value) is not None


def _parse_arguments(arguments: Mapping[str, Sequence[str]]) -> tuple[str, dict[str, str]]:
    """Check the arguments against the verb's declaration; return the verb and the rest."""
    for name, values in arguments.items():
        for text in (name, *values):
            if _NOT_XML.search(text):
                error = BadVerb if name == "verb" else BadArgument
                raise error(f"argument {ascii(name)[:80]} holds characters XML forbids")
    verbs = arguments.get("verb", [])
    if not verbs:
        raise BadVerb("the verb argument is missing")
    if len(verbs) > 1:
        raise BadVerb("the verb argument is repeated")
    verb = verbs[0]
    if verb not in VERBS:
        raise BadVerb(f"{verb!r} is not an OAI-PMH verb (use one of {', '.join(VERBS)})")
    spec = VERBS[verb]
    params: dict[str, str] = {}
    for name, values in arguments.items():
        if name == "verb":
            continue
        if name not in spec.required | spec.optional | {spec.exclusive}:
            raise BadArgument(f"{verb} does not take the argument {name!r}")
        if len(values) != 1:
            raise BadArgument(f"the argument {name!r} is repeated")
        params[name] = values[0]
    if spec.exclusive is not None and spec.exclusive in params:
        if len(params) > 1:
            others = ", ".join(sorted(set(params) - {spec.exclusive}))
            raise BadArgument(f"{spec.exclusive} is exclusive; drop {others}")
        return verb, params
    missing = sorted(spec.required - set(params))
    if missing:
        raise BadArgument(f"{verb} needs the argument(s) {', '.join(missing)}")
    return verb, params
