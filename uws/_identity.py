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

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

from flask import Request
from werkzeug.security import check_password_hash, generate_password_hash

from uws._errors import AuthenticationRequiredError, ParameterError
from uws._text import MAX_NAME_LENGTH, check_text

__all__ = [
    "AnonymousIdentity",
    "BasicAuthIdentity",
    "CredentialCache",
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
            # The owner is stored (VARCHAR(255)) and written into every job document.
            try:
                return check_text(self.header, user, max_length=MAX_NAME_LENGTH)
            except ParameterError as exc:
                raise AuthenticationRequiredError(f"unusable user name: {exc.message}") from None
        if self.allow_anonymous:
            return None
        raise AuthenticationRequiredError(f"authentication required (no {self.header})")


class CredentialCache:
    """Recently verified HTTP Basic credentials, so that a client's every request does not
    pay the password hash (scrypt: most of a second).

    Entries are keyed by an HMAC of the user name and password under a key drawn at start-up
    (the passwords themselves are never kept), hold for ``ttl`` seconds and are at most
    ``size``, the least recently used dropped first. Only successes are cached: a wrong
    password costs a full hash every time.
    """

    def __init__(
        self,
        *,
        size: int = 1024,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.ttl = ttl
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, username: str, password: str) -> bytes:
        message = f"{len(username)}:{username}:{password}".encode("utf-8", "surrogatepass")
        return hmac.digest(self._key, message, hashlib.sha256)

    def get(self, username: str, password: str) -> str | None:
        """The user name when these credentials were verified less than ``ttl`` ago."""
        key = self._digest(username, password)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, username: str, password: str) -> None:
        """Remember verified credentials."""
        key = self._digest(username, password)
        with self._lock:
            self._entries[key] = (username, self._clock() + self.ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry (after the users file changed)."""
        with self._lock:
            self._entries.clear()


class BasicAuthIdentity:
    """HTTP Basic authentication against a fixed user list.

    A wrong password and an unknown user take the same time (the unknown user's password is
    checked against a hash of a random secret made like the users' own), so the answers do
    not tell which user names exist; verified credentials are cached (:class:`CredentialCache`).
    An ``Authorization`` header that is not well-formed Basic is refused (401), never taken
    for an anonymous request.

    Parameters
    ----------
    users
        User name to password hash (werkzeug format).
    allow_anonymous
        Whether requests without credentials are served (as anonymous).
    realm
        Realm announced in the ``WWW-Authenticate`` challenge.
    cache
        Verified-credential cache (a fresh one with the defaults when omitted).
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        allow_anonymous: bool = True,
        realm: str = "uws",
        cache: CredentialCache | None = None,
    ) -> None:
        self.users = dict(users)
        self.allow_anonymous = allow_anonymous
        self.challenge = f'Basic realm="{realm}"'
        self.cache = cache or CredentialCache()
        self._dummy_hash = _dummy_hash(self.users.values())

    def _refuse(self, message: str) -> AuthenticationRequiredError:
        return AuthenticationRequiredError(message, challenge=self.challenge)

    def identify(self, request: Request) -> str | None:
        """The checked user name; wrong or malformed credentials are refused even if anonymous
        is on."""
        if "Authorization" not in request.headers:
            if self.allow_anonymous:
                return None
            raise self._refuse("authentication required")
        auth = request.authorization
        if auth is None or auth.type != "basic" or auth.username is None:
            raise self._refuse("the Authorization header is not HTTP Basic credentials")
        username, password = auth.username, auth.password or ""
        if self.cache.get(username, password) is not None:
            return username
        stored = self.users.get(username)
        # An unknown user pays the same hash as a known one.
        matches = check_password_hash(stored or self._dummy_hash, password)
        if stored is None or not matches:
            raise self._refuse("wrong user name or password")
        self.cache.put(username, password)
        return username


def _dummy_hash(hashes: Iterable[str]) -> str:
    """A hash of a random secret with the method (and cost) of the first user's hash."""
    method = next((h.split("$", 1)[0] for h in hashes), "") or "scrypt"
    try:
        return generate_password_hash(secrets.token_urlsafe(16), method=method)
    except ValueError:  # an unknown method in the users file fails its users anyway
        return generate_password_hash(secrets.token_urlsafe(16))


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
