"""ODA tokens: JWTs (HS256) that the ODA front end issues with a shared secret.

With a secret configured (``VO_SERVICE_ODA_TOKEN_SECRET``), a token is checked (signature,
expiry) and its subject (``sub``, else ``email``) names the owner of an otherwise anonymous
request; a wrong or expired token is refused (HTTP 403, the client's ``Unauthorized``). The
owner the service's own identity policy finds (a front proxy's header, HTTP Basic) comes
first. Without a secret there is nothing to check a token against: it is ignored, and the
reply says so. No accounts are kept here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TokenError", "TokenPolicy"]


class TokenError(Exception):
    """The token is not acceptable; the message says why (shown to the user)."""


@dataclass(frozen=True)
class TokenPolicy:
    """How tokens are checked: ``secret`` ``None`` means tokens are not used."""

    secret: str | None = None
    algorithms: tuple[str, ...] = ("HS256",)

    def subject(self, token: str | None) -> str | None:
        """The user a valid token names, or ``None`` (no token, or no secret to check it).

        Raises
        ------
        TokenError
            For a token that fails the check.
        """
        if token is None or self.secret is None:
            return None
        import jwt  # PyJWT; only needed where tokens are configured

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
