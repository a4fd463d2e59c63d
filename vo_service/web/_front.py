"""The front end's service objects and the rules its pages share: who asks, what a form
checks, what the sky preview of a request shows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from flask import Request

from uws import (
    AnonymousClients,
    IdentityPolicy,
    ParameterError,
    ParameterSet,
    TokenService,
    UWSService,
)
from vo_service._context import ServiceContext
from vo_service._datalink import StoreProductSource

__all__ = ["Check", "Pointing", "WebFront"]

#: Half width of the preview plot, in SVG units.
_HALF = 100.0


@dataclass(frozen=True)
class Pointing:
    """A science window in the preview plot (SVG coordinates, north up, east left)."""

    scw_id: str
    x: float
    y: float


@dataclass(frozen=True)
class Check:
    """What the server says of a filled form before it is submitted."""

    error_field: str | None = None
    error: str | None = None
    ra: float | None = None
    dec: float | None = None
    resolver: str | None = None
    radius_deg: float | None = None
    #: The selection radius in SVG units (``None`` for an explicit list).
    radius_svg: float | None = None
    pointings: tuple[Pointing, ...] = field(default_factory=tuple)
    #: Science windows in the cone and time range before ``max_pointings`` caps them.
    matching: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


def _offset(ra: float, dec: float, ra0: float, dec0: float) -> tuple[float, float]:
    """Gnomonic-free small-field offsets in degrees (east, north)."""
    d_ra = (ra - ra0 + 180.0) % 360.0 - 180.0
    return d_ra * math.cos(math.radians(dec0)), dec - dec0


@dataclass
class WebFront:
    """What the pages need: the ``/async`` job service and identity, the service context and
    the DataLink product source."""

    service: UWSService
    identity: IdentityPolicy
    context: ServiceContext
    source: StoreProductSource
    kind: str
    #: Per-client anonymous job lists (shared with ``/async``: the same cookie).
    clients: AnonymousClients | None = None
    #: The service's bearer tokens (the account page turns one into a session cookie).
    tokens: TokenService | None = None

    def owner(self, request: Request) -> str | None:
        """The user the request comes from (raises ``AuthenticationRequiredError``)."""
        return self.identity.identify(request)

    def client(self, request: Request, owner: str | None) -> str | None:
        """The anonymous client whose list an anonymous request's jobs join."""
        if owner is not None or self.clients is None:
            return None
        return self.clients.client(request)

    def check(self, pairs: Sequence[tuple[str, str]]) -> Check:
        """Validate like a job creation does (the same validator, so the same messages), and
        describe the science windows the request selects."""
        try:
            spec = self.service.kinds.validate(self.kind, ParameterSet(list(pairs)))
        except ParameterError as exc:
            return Check(error_field=exc.parameter, error=exc.reason)
        ra, dec = spec.get("ra"), spec.get("dec")
        request = spec.get("request", {})
        radius = float(request.get("radius_deg") or 0.0)
        scws = self.context.archive.get(list(spec.get("scw_ids", [])))
        if ra is None or dec is None:  # an explicit ScW list: centre on its pointings
            ra, dec = scws[0].ra_x, scws[0].dec_x
        reach = max(
            [radius, *(math.hypot(*_offset(s.ra_x, s.dec_x, ra, dec)) for s in scws)], default=1.0
        )
        scale = 0.9 * _HALF / max(reach, 1e-3)
        points = []
        for s in scws:
            east, north = _offset(s.ra_x, s.dec_x, ra, dec)
            points.append(Pointing(s.scw_id, _HALF - east * scale, _HALF - north * scale))
        matching = len(scws)
        if not request.get("scw_list"):
            matching = len(
                self.context.archive.query(
                    ra=ra,
                    dec=dec,
                    radius_deg=radius,
                    t1=request.get("t1_ijd"),
                    t2=request.get("t2_ijd"),
                )
            )
        return Check(
            matching=matching,
            ra=float(ra),
            dec=float(dec),
            resolver=spec.get("resolver"),
            radius_deg=radius,
            radius_svg=None if request.get("scw_list") else radius * scale,
            pointings=tuple(points),
        )
