"""Bearer tokens: signed JWTs (HS256, PyJWT) that the operators issue and can revoke at once.

A token carries its subject (the job owner), an identifier (``jti``), an expiry, the audience
and issuer of this service, and what the service needs to know about the person: roles, a
quota class and e-mail preferences. Every issued token is recorded in the ``uws_token`` table;
a token is accepted only while its row exists and is not revoked, so ``revoke`` takes effect on
the next request of every process sharing the database (one primary-key look-up per request).

Nothing here knows Flask or the telescope: :class:`~uws.BearerTokenIdentity` reads the HTTP
side, the application's CLI calls :meth:`TokenService.issue` and :meth:`TokenService.revoke`.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from typing import cast as type_cast

import jwt
from sqlalchemy import Engine, Table, create_engine, insert, select, update
from sqlalchemy.exc import DBAPIError

from uws._errors import ParameterError
from uws._schema import TokenRow
from uws._storage import utcnow
from uws._text import MAX_NAME_LENGTH, check_text

__all__ = ["TokenClaims", "TokenRecord", "TokenRejected", "TokenService"]

TOKEN = type_cast(Table, TokenRow.__table__)
#: The one signing algorithm accepted: a token naming another (``none`` included) is refused.
ALGORITHM = "HS256"
_LOOKUPS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_LOOKUPS_LOCK = threading.Lock()
#: Claims every token must carry.
REQUIRED_CLAIMS = ("exp", "iat", "sub", "jti", "aud", "iss")


class TokenRejected(Exception):
    """The token is not acceptable; the message says why in words fit for the client."""


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says about its bearer.

    Attributes
    ----------
    subject
        The user name (owner of the jobs the bearer creates).
    token_id
        The token's identifier (``jti``): what ``revoke`` names.
    expires
        When the token stops being accepted.
    roles
        Role names (e.g. ``astronomer``, ``operator``), for quotas and sharing with a group.
    quota_class
        The quota class the operators gave this user (``None``: the default class).
    email
        Where notifications go (``None``: no e-mail known).
    notify
        Notifications the user wants by default when a job ends (``email``, ``webhook:<url>``).
    """

    subject: str
    token_id: str
    expires: dt.datetime
    roles: tuple[str, ...] = ()
    quota_class: str | None = None
    email: str | None = None
    notify: tuple[str, ...] = ()


@dataclass(frozen=True)
class TokenRecord:
    """One issued token as the operators see it (the token itself is never stored)."""

    claims: TokenClaims
    issued: dt.datetime
    revoked: dt.datetime | None
    note: str | None = None

    def state(self, now: dt.datetime) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked is not None:
            return "revoked"
        return "expired" if self.claims.expires <= now else "active"


@dataclass
class TokenService:
    """Issues, verifies, lists and revokes the service's bearer tokens.

    Parameters
    ----------
    engine
        The database holding ``uws_token`` (the job database).
    secret
        The signing key (at least 32 bytes: HS256 needs a key as long as its hash).
    issuer
        ``iss`` of issued tokens, and the only one accepted.
    audience
        ``aud`` of issued tokens, and the only one accepted (a token for another
        service signed with the same key is refused).
    leeway
        Seconds of clock difference tolerated on ``exp`` and ``iat``.
    """

    engine: Engine
    secret: bytes = field(repr=False)
    issuer: str
    audience: str
    leeway: float = 5.0

    def __post_init__(self) -> None:
        if len(self.secret) < 32:
            raise ValueError("the token signing key must be at least 32 bytes")
        self._lookup = _lookup_engine(self.engine)

    # Issuing --------------------------------------------------------------------------------
    def issue(
        self,
        subject: str,
        *,
        lifetime: dt.timedelta,
        roles: Sequence[str] = (),
        quota_class: str | None = None,
        email: str | None = None,
        notify: Sequence[str] = (),
        note: str | None = None,
    ) -> tuple[str, TokenClaims]:
        """Sign and record a new token; returns the token and its claims.

        Raises
        ------
        ValueError
            For a subject, role or quota class that cannot be stored and rendered, or a
            lifetime that is not positive.
        """
        try:
            check_text("subject", subject, max_length=MAX_NAME_LENGTH)
            for role in roles:
                check_text("role", role, max_length=64)
        except ParameterError as exc:
            raise ValueError(exc.message) from None
        if not subject.isprintable():
            raise ValueError("the subject must be printable (no tab, newline or control)")
        if not subject.strip() or subject != subject.strip():
            raise ValueError("the subject must be a non-empty name without surrounding spaces")
        if lifetime <= dt.timedelta(0):
            raise ValueError("the token lifetime must be positive")
        now = utcnow().replace(microsecond=0)
        claims = TokenClaims(
            subject=subject,
            token_id=secrets.token_hex(16),
            expires=now + lifetime,
            roles=tuple(roles),
            quota_class=quota_class,
            email=email,
            notify=tuple(notify),
        )
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "jti": claims.token_id,
            "iat": int(now.timestamp()),
            "exp": int(claims.expires.timestamp()),
            "roles": list(claims.roles),
        }
        if quota_class is not None:
            payload["quota_class"] = quota_class
        if email is not None:
            payload["email"] = email
        if notify:
            payload["notify"] = list(notify)
        token = jwt.encode(payload, self.secret, algorithm=ALGORITHM)
        with self.engine.begin() as conn:
            conn.execute(
                insert(TOKEN).values(
                    jti=claims.token_id,
                    subject=subject,
                    roles=list(claims.roles),
                    quota_class=quota_class,
                    email=email,
                    notify=list(claims.notify),
                    issued_at=now,
                    expires_at=claims.expires,
                    revoked_at=None,
                    note=note,
                )
            )
        return token, claims

    # Verifying ------------------------------------------------------------------------------
    def decode(self, token: str) -> TokenClaims:
        """Check the signature, algorithm, expiry, audience, issuer and claims (no database).

        Raises
        ------
        TokenRejected
            Saying which check failed.
        """
        try:
            payload = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("the token has expired; ask for a new one") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRejected("the token is for another service (audience)") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRejected("the token was issued by another service") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected(f"the token lacks the {exc.claim!r} claim") from exc
        except jwt.InvalidTokenError as exc:
            # A bad signature, a foreign algorithm, a malformed token: one message, no detail
            # that would help forging.
            raise TokenRejected("the token is not valid for this service") from exc
        return _claims(payload)

    def verify(self, token: str) -> TokenClaims:
        """:meth:`decode`, then the revocation check: the token must be recorded and not revoked.

        Raises
        ------
        TokenRejected
            When any check fails.
        """
        claims = self.decode(token)
        stmt = select(TOKEN.c.subject, TOKEN.c.revoked_at).where(TOKEN.c.jti == claims.token_id)
        try:
            with self._lookup.connect() as conn:
                row = conn.execute(stmt).first()
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # A pooled connection the server closed (no pre-ping here): once more, afresh.
            with self._lookup.connect() as conn:
                row = conn.execute(stmt).first()
        if row is None or row.subject != claims.subject:
            raise TokenRejected("the token is not valid for this service")
        if row.revoked_at is not None:
            raise TokenRejected("the token has been revoked")
        return claims

    # Operators ------------------------------------------------------------------------------
    def revoke(self, token_id: str | None = None, *, subject: str | None = None) -> int:
        """Revoke one token (by ``jti``) or every token of ``subject``; the number revoked."""
        if (token_id is None) == (subject is None):
            raise ValueError("give a token id or a subject, not both")
        stmt = update(TOKEN).where(TOKEN.c.revoked_at.is_(None)).values(revoked_at=utcnow())
        if token_id is not None:
            stmt = stmt.where(TOKEN.c.jti == token_id)
        else:
            stmt = stmt.where(TOKEN.c.subject == subject)
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount

    def newest_claims(self, subject: str) -> TokenClaims | None:
        """The claims of the subject's newest active token (its quota class, e-mail and
        notification defaults apply wherever the user is identified, token or not)."""
        now = utcnow()
        stmt = (
            select(TOKEN)
            .where(
                TOKEN.c.subject == subject,
                TOKEN.c.revoked_at.is_(None),
                TOKEN.c.expires_at > now,
            )
            .order_by(TOKEN.c.issued_at.desc(), TOKEN.c.jti)
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _row_claims(row)

    def records(self, subject: str | None = None) -> list[TokenRecord]:
        """Issued tokens, newest first (optionally one subject's)."""
        stmt = select(TOKEN).order_by(TOKEN.c.issued_at.desc(), TOKEN.c.jti)
        if subject is not None:
            stmt = stmt.where(TOKEN.c.subject == subject)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            TokenRecord(
                claims=_row_claims(r),
                issued=r.issued_at,
                revoked=r.revoked_at,
                note=r.note,
            )
            for r in rows
        ]


def _lookup_engine(engine: Engine) -> Engine:
    """The engine of the per-request revocation look-up.

    On PostgreSQL a pool of autocommit connections without pre-ping or reset: the look-up is
    then one round trip instead of four (ping, BEGIN, SELECT, ROLLBACK), which is what keeps
    a token's cost under a millisecond (``benchmarks/bench_tokens.py``). SQLite needs none.
    """
    if engine.dialect.name != "postgresql":
        return engine
    with _LOOKUPS_LOCK:  # one look-up pool per database engine, however many services
        lookup = _LOOKUPS.get(engine)
        if lookup is None:
            lookup = create_engine(
                engine.url,
                isolation_level="AUTOCOMMIT",
                pool_pre_ping=False,
                pool_reset_on_return=None,
                pool_size=5,
                max_overflow=10,
            )
            _LOOKUPS[engine] = lookup
        return lookup


def _row_claims(row: Any) -> TokenClaims:
    """The claims recorded in a ``uws_token`` row."""
    return TokenClaims(
        subject=row.subject,
        token_id=row.jti,
        expires=row.expires_at,
        roles=tuple(row.roles or ()),
        quota_class=row.quota_class,
        email=row.email,
        notify=tuple(row.notify or ()),
    )


def _claims(payload: dict[str, Any]) -> TokenClaims:
    subject, token_id = payload["sub"], payload["jti"]
    if not isinstance(subject, str) or not subject or not isinstance(token_id, str):
        raise TokenRejected("the token names no user")
    roles = payload.get("roles") or []
    notify = payload.get("notify") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise TokenRejected("the token's roles are not a list of names")
    if not isinstance(notify, list) or not all(isinstance(n, str) for n in notify):
        raise TokenRejected("the token's notify claim is not a list")
    quota_class, email = payload.get("quota_class"), payload.get("email")
    return TokenClaims(
        subject=subject,
        token_id=token_id,
        expires=dt.datetime.fromtimestamp(payload["exp"], dt.UTC),
        roles=tuple(roles),
        quota_class=quota_class if isinstance(quota_class, str) else None,
        email=email if isinstance(email, str) else None,
        notify=tuple(notify),
    )
