"""Who is asking: the owner of the jobs a request creates and sees.

Two ways are offered, chosen by configuration:

* :class:`TrustedHeaderIdentity` reads a header (``X-Remote-User`` by default) that
  a front proxy sets after authenticating the user (Shibboleth, OIDC, client
  certificates...). Only safe when the proxy strips the header from client requests
  and the service is not reachable except through the proxy.
* :class:`BasicAuthIdentity` checks HTTP Basic credentials against a users file of
  ``name:hash`` lines, hashes from :func:`werkzeug.security.generate_password_hash`.

With neither credential, the request is anonymous (owner ``None``) when anonymous
use is allowed, and answered 401 otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from flask import Request
from werkzeug.security import check_password_hash

from uws._errors import AuthenticationRequiredError

__all__ = [
    "AnonymousIdentity",
    "BasicAuthIdentity",
    "IdentityPolicy",
    "TrustedHeaderIdentity",
    "load_users_file",
]


class IdentityPolicy(Protocol):
    """Finds the owner of a request."""

    def identify(self, request: Request) -> str | None:
        """The authenticated user name, or ``None`` for an anonymous request.

        Raises
        ------
        AuthenticationRequiredError
            When credentials are wrong, or absent while anonymous use is off.
        """
        ...


class AnonymousIdentity:
    """Everybody is anonymous (a public service without accounts)."""

    def identify(self, request: Request) -> str | None:
        """Always ``None``."""
        return None


class TrustedHeaderIdentity:
    """The user name a trusted front proxy puts in a header.

    Parameters
    ----------
    header
        Header name, e.g. ``X-Remote-User``.
    allow_anonymous
        Whether requests without the header are served (as anonymous).
    """

    def __init__(self, header: str = "X-Remote-User", *, allow_anonymous: bool = True) -> None:
        self.header = header
        self.allow_anonymous = allow_anonymous

    def identify(self, request: Request) -> str | None:
        """The header's value, or ``None`` when absent and anonymous use is allowed."""
        user = request.headers.get(self.header, "").strip()
        if user:
            return user
        if self.allow_anonymous:
            return None
        raise AuthenticationRequiredError(f"authentication required (no {self.header})")


class BasicAuthIdentity:
    """HTTP Basic authentication against a fixed user list.

    Parameters
    ----------
    users
        User name to password hash (werkzeug format).
    allow_anonymous
        Whether requests without credentials are served (as anonymous).
    realm
        Realm announced in the ``WWW-Authenticate`` challenge.
    """

    def __init__(
        self, users: Mapping[str, str], *, allow_anonymous: bool = True, realm: str = "uws"
    ) -> None:
        self.users = dict(users)
        self.allow_anonymous = allow_anonymous
        self.challenge = f'Basic realm="{realm}"'

    def identify(self, request: Request) -> str | None:
        """The checked user name; wrong credentials are refused even if anonymous is on."""
        auth = request.authorization
        if auth is None or auth.type != "basic":
            if self.allow_anonymous:
                return None
            raise AuthenticationRequiredError("authentication required", challenge=self.challenge)
        stored = self.users.get(auth.username or "")
        if stored is None or not check_password_hash(stored, auth.password or ""):
            raise AuthenticationRequiredError(
                "wrong user name or password", challenge=self.challenge
            )
        return auth.username


def load_users_file(path: Path) -> dict[str, str]:
    """Read ``name:hash`` lines (blank lines and ``#`` comments ignored).

    Raises
    ------
    ValueError
        Naming the line that is not ``name:hash``.
    """
    users: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not name or not hashed:
            raise ValueError(f"{path}:{number}: expected 'name:hash'")
        users[name] = hashed
    return users
