"""Bearer-token identity and per-client anonymous job lists (the HTTP side of ``_tokens``).

* :class:`BearerTokenIdentity` takes the owner from ``Authorization: Bearer <token>`` (pyvo,
  curl, scripts) or from the session cookie the web pages set from a token, and hands every
  other request to the policy it wraps (a proxy's header, HTTP Basic, or anonymous).
* :class:`AnonymousClients` gives every anonymous client its own job list: a random,
  unguessable identifier in a cookie names the list a new job joins and the list the client
  sees. A job's own URL stays its capability (anyone anonymous who has it reads it, as
  before), but nobody sees another client's jobs listed.
"""

from __future__ import annotations

import re
import secrets

from flask import Request, Response

from uws._errors import AuthenticationRequiredError
from uws._identity import IdentityPolicy
from uws._tokens import TokenClaims, TokenRejected, TokenService

__all__ = ["AnonymousClients", "BearerTokenIdentity", "token_claims"]

#: Where the verified claims of a request are kept (the WSGI environ lives as long as it).
_CLAIMS_KEY = "uws.token_claims"
_NEW_CLIENT_KEY = "uws.new_client"
_CLIENT_VALUE = re.compile(r"^[0-9a-f]{32}$")


def token_claims(request: Request) -> TokenClaims | None:
    """The claims of the bearer token that identified ``request`` (``None``: no token)."""
    claims = request.environ.get(_CLAIMS_KEY)
    return claims if isinstance(claims, TokenClaims) else None


class BearerTokenIdentity:
    """Owners from bearer tokens, else from the wrapped policy.

    A request that presents a token (header or cookie) is judged by the token alone: a bad
    token is refused (401 with a ``Bearer`` challenge naming ``invalid_token``), never taken
    for an anonymous request or passed to the wrapped policy.

    Parameters
    ----------
    tokens
        Verifies tokens (signature, expiry, audience, issuer, revocation).
    fallback
        The policy for requests without a token.
    cookie
        Name of the session cookie the web pages set from a token.
    realm
        Realm announced in the challenge.
    """

    def __init__(
        self,
        tokens: TokenService,
        fallback: IdentityPolicy,
        *,
        cookie: str = "uws_token",
        realm: str = "uws",
    ) -> None:
        self.tokens = tokens
        self.fallback = fallback
        self.cookie = cookie
        self.realm = realm

    def _refuse(self, reason: str) -> AuthenticationRequiredError:
        description = reason.replace('"', "'")
        challenge = (
            f'Bearer realm="{self.realm}", error="invalid_token", error_description="{description}"'
        )
        return AuthenticationRequiredError(reason, challenge=challenge)

    def presented(self, request: Request) -> str | None:
        """The token the request carries (header first, then the cookie), or ``None``."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
        cookie = request.cookies.get(self.cookie)
        return cookie.strip() if cookie else None

    def identify(self, request: Request) -> str | None:
        """The token's subject, or what the wrapped policy finds when no token is presented."""
        token = self.presented(request)
        if token is None:
            return self.fallback.identify(request)
        if not token:
            raise self._refuse("empty bearer token")
        try:
            claims = self.tokens.verify(token)
        except TokenRejected as exc:
            raise self._refuse(str(exc)) from None
        request.environ[_CLAIMS_KEY] = claims
        return claims.subject


class AnonymousClients:
    """One job list per anonymous client, named by a random identifier in a cookie.

    Parameters
    ----------
    cookie
        Cookie name.
    path
        Cookie path (``/``: the web pages and every job endpoint share the list).
    secure
        Send the cookie over HTTPS only.
    max_age
        Cookie lifetime (s); a year by default, longer than any job.
    """

    def __init__(
        self,
        cookie: str = "uws_client",
        *,
        path: str = "/",
        secure: bool = False,
        max_age: int = 365 * 86400,
    ) -> None:
        self.cookie = cookie
        self.path = path
        self.secure = secure
        self.max_age = max_age

    def client(self, request: Request) -> str:
        """The client's identifier: its cookie's, or a new one to be set on the response."""
        minted = request.environ.get(_NEW_CLIENT_KEY)
        if isinstance(minted, str):
            return minted
        value = request.cookies.get(self.cookie, "")
        if _CLIENT_VALUE.match(value):
            return value
        value = secrets.token_hex(16)
        request.environ[_NEW_CLIENT_KEY] = value
        return value

    def remember(self, request: Request, response: Response) -> Response:
        """Set the cookie when :meth:`client` made a new identifier for this request."""
        minted = request.environ.get(_NEW_CLIENT_KEY)
        if isinstance(minted, str):
            response.set_cookie(
                self.cookie,
                minted,
                max_age=self.max_age,
                path=self.path,
                secure=self.secure,
                httponly=True,
                samesite="Lax",
            )
        return response
