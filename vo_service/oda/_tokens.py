"""ODA tokens: JWTs (HS256) that the ODA front end issues with a shared secret.

With a secret configured (``VO_SERVICE_ODA_TOKEN_SECRET``), a token is checked (signature,
expiry) and its subject (``sub``, else ``email``) names the owner of an otherwise anonymous
request; a wrong or expired token is refused (HTTP 403, the client's ``Unauthorized``). The
owner the service's own identity policy finds (a front proxy's header, HTTP Basic) comes
first. Without a secret there is nothing to check a token against: it is ignored, and the
reply says so. No accounts are kept here.

The service's own bearer tokens (``vo-service tokens issue``) are accepted as ``token=`` too,
checked like an ``Authorization: Bearer`` header (audience, issuer, revocation): a token that
names this service as its issuer is judged as one of ours, any other by the ODA secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uws import TokenService

__all__ = ["TokenError", "TokenPolicy"]


class TokenError(Exception):
    """The token is not acceptable; the message says why (shown to the user)."""


@dataclass(frozen=True)
class TokenPolicy:
    """How tokens are checked: ODA tokens with ``secret``, the service's own with ``service``;
    with neither, tokens are not used."""

    secret: str | None = None
    algorithms: tuple[str, ...] = ("HS256",)
    service: TokenService | None = None

    @property
    def active(self) -> bool:
        """Whether any token can be checked."""
        return self.secret is not None or self.service is not None

    def subject(self, token: str | None) -> str | None:
        """The user a valid token names, or ``None`` (no token, or nothing to check it with).

        Raises
        ------
        TokenError
            For a token that fails the check.
        """
        if token is None:
            return None
        import jwt  # PyJWT; only needed where tokens are configured

        if self.service is not None and (self.secret is None or self._ours(token)):
            from uws import TokenRejected

            try:
                return self.service.verify(token).subject
            except TokenRejected as exc:
                raise TokenError(str(exc)) from exc
        if self.secret is None:
            return None

        try:
            claims = jwt.decode(
                token, self.secret, algorithms=list(self.algorithms), options={"require": ["exp"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("the token has expired; please get a new one") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError("the token is not valid for this service") from exc
        subject = claims.get("sub") or claims.get("email")
        if not isinstance(subject, str) or not subject.strip():
            raise TokenError("the token names no user (no sub or email claim)")
        return subject.strip()

    def _ours(self, token: str) -> bool:
        """Whether the token names this service as its issuer (unverified: only to choose
        which key checks it)."""
        import jwt

        assert self.service is not None
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return False
        return claims.get("iss") == self.service.issuer
