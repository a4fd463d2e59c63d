"""The health probe (the pages for people, ``/`` among them, are :mod:`vo_service.web`)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from vo_service._version import __version__

__all__ = ["pages"]

pages = Blueprint("pages", __name__)


@pages.get("/health")
def health() -> ResponseReturnValue:
    """Liveness probe for load balancers (VOSI availability is the protocol answer)."""
    return jsonify(status="ok", version=__version__)
