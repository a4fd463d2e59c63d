"""The ODA blueprint: the dispatcher endpoints oda_api calls (PROTOCOL.md §1.1).

Thin handlers: read the call, find the owner, ask :class:`~vo_service.oda.OdaFacade`, answer
JSON. User mistakes are ``failed`` envelopes with HTTP 200 (the client raises its
``RemoteException`` with our message); refused identities and foreign job ids are 403 (the
client's ``Unauthorized``); unknown instruments or products in the description endpoints are
400. Error bodies never carry configuration, paths or host names.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from uws import AuthenticationRequiredError, IdentityPolicy, UWSError
from vo_service.oda._facade import ForeignJobError, OdaFacade
from vo_service.oda._meta import instrument_description, instruments
from vo_service.oda._tokens import TokenError, TokenPolicy
from vo_service.oda._wire import (
    INSTRUMENT,
    ODA_INSTRUMENTS,
    parameter_names,
    read_call,
    served_instruments,
)

__all__ = ["oda_blueprint"]

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> tuple[Response, int]:
    body = {"error": message, "error_message": message, "exit_status": {"message": message}}
    return jsonify(body), status


def oda_blueprint(
    facade: OdaFacade, identity: IdentityPolicy, tokens: TokenPolicy, url_prefix: str = "/oda"
) -> Blueprint:
    """The dispatcher-compatible endpoints under ``url_prefix``."""
    bp = Blueprint("oda", __name__, url_prefix=url_prefix)

    def owner_of(token: str | None, notes: list[str]) -> str | None:
        user = identity.identify(request)
        if token is None:
            return user
        if not tokens.active:
            notes.append("token ignored: this service does not use tokens")
            return user
        subject = tokens.subject(token)
        return user if user is not None else subject

    @bp.route("/run_analysis", methods=["GET", "POST"])
    def run_analysis() -> Any:
        call = read_call(request.values.lists())
        notes: list[str] = []
        try:
            owner = owner_of(call.token, notes)
        except (AuthenticationRequiredError, TokenError) as exc:
            return _error(403, str(exc))
        try:
            return jsonify(facade.run_analysis(owner, call, notes))
        except ForeignJobError as exc:
            return _error(403, str(exc))

    @bp.route("/api/par-names")
    def par_names() -> Any:
        product = request.args.get("product_type", "")
        instrument = request.args.get("instrument", INSTRUMENT)
        if instrument not in served_instruments():
            return _error(400, _unknown_instrument())
        products = ODA_INSTRUMENTS[instrument]
        if product not in products:
            return _error(400, f"unknown product (products: {', '.join(products)})")
        return jsonify(parameter_names(product))

    @bp.route("/api/meta-data")
    @bp.route("/meta-data")
    def meta_data() -> Any:
        instrument = request.args.get("instrument", INSTRUMENT)
        if instrument not in served_instruments():
            return _error(400, _unknown_instrument())
        products = ODA_INSTRUMENTS[instrument]
        product = request.args.get("product_type")
        if product is not None and product not in products:
            return _error(400, f"unknown product (products: {', '.join(products)})")
        return jsonify(instrument_description(product, instrument))

    @bp.route("")
    def index() -> Any:
        """What a person opening the base URL sees: how to use it."""
        return jsonify(
            {
                "service": "INTEGRAL ODA dispatcher protocol (oda_api)",
                "usage": f"DispatcherAPI(url={facade.url!r})",
                "instruments": instruments(),
                "products": [p for i in instruments() for p in ODA_INSTRUMENTS[i]],
            }
        )

    @bp.route("/api/instr-list")
    @bp.route("/instr-list")
    def instr_list() -> Any:
        return jsonify(instruments())

    @bp.errorhandler(Exception)
    def internal(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return _error(exc.code or 500, exc.description or exc.name)
        if isinstance(exc, UWSError):  # e.g. 503 when the job service is full: the client retries
            return _error(exc.status, exc.message)
        log.exception("oda: unexpected error")
        return _error(500, "internal error of the service; the operators have the details")

    return bp


def _unknown_instrument() -> str:
    return f"unknown instrument (instruments: {', '.join(served_instruments())})"
