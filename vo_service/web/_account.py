"""The account page: sign in with a bearer token (kept as a session cookie), sign out.

A token pasted here is verified like any bearer token and, when valid, stored in an
``HttpOnly``, ``SameSite=Lax`` session cookie that :class:`~uws.BearerTokenIdentity` reads on
every request (pages and ``/async`` alike); revoking the token ends the session at once.
"""

from __future__ import annotations

from flask import Response, redirect, request, url_for
from flask.typing import ResponseReturnValue

from uws import AuthenticationRequiredError, TokenRejected, token_claims
from vo_service.web._views import _front, _page, web

__all__: list[str] = []

#: The session cookie's name (the one :class:`~uws.BearerTokenIdentity` reads by default).
TOKEN_COOKIE = "uws_token"


@web.after_request
def _client_cookie(response: Response) -> Response:
    """Give a new anonymous client its list's cookie (see :class:`~uws.AnonymousClients`)."""
    clients = _front().clients
    return response if clients is None else clients.remember(request, response)


def _account_page(status: int = 200, message: str | None = None) -> ResponseReturnValue:
    front = _front()
    try:
        owner = front.owner(request)
        problem = None
    except AuthenticationRequiredError as exc:
        owner, problem = None, exc.message
    claims = token_claims(request) if owner is not None else None
    return _page(
        "account.html",
        status,
        owner=owner,
        claims=claims,
        problem=message or problem,
        tokens_on=front.tokens is not None,
        session=TOKEN_COOKIE in request.cookies,
    )


@web.get("/web/account")
def account() -> ResponseReturnValue:
    """Who the service takes you for, and the sign-in form."""
    return _account_page()


@web.post("/web/account")
def sign_in() -> ResponseReturnValue:
    """Check the token and keep it as the session cookie."""
    front = _front()
    token = request.form.get("token", "").strip()
    if front.tokens is None:
        return _account_page(400, "this service does not use tokens")
    if not token:
        return _account_page(400, "token: paste the token you were given")
    try:
        front.tokens.verify(token)
    except TokenRejected as exc:
        return _account_page(400, f"token: {exc}")
    response = redirect(url_for("web.account"), 303)
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=front.context.settings.public_base_url.startswith("https://"),
        path="/",
    )
    return response


@web.post("/web/account/sign-out")
def sign_out() -> ResponseReturnValue:
    """Forget the session cookie."""
    response = redirect(url_for("web.account"), 303)
    response.delete_cookie(TOKEN_COOKIE, path="/")
    return response
