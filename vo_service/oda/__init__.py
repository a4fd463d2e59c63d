"""A dispatcher-compatible front for oda_api scripts (``DispatcherAPI(url=".../oda")``).

The endpoints oda_api calls (``/run_analysis``, ``/api/par-names``, ``/api/meta-data``,
``/api/instr-list``) over the same UWS product jobs as ``/async``; see ``docs/oda.md`` and
``../shared/oda/PROTOCOL.md`` for the protocol.
"""

from __future__ import annotations

from flask import Flask

from registry import Capability, capabilities_of
from uws import IdentityPolicy, UWSService
from vo_service.oda._encode import clean_text, encode_hdu
from vo_service.oda._facade import JOB_TAG, OdaFacade, request_job_id
from vo_service.oda._handlers import oda_blueprint
from vo_service.oda._tokens import TokenError, TokenPolicy
from vo_service.oda._wire import ODA_PRODUCTS, OdaCall, read_call, translate
from vo_service.settings import Settings

__all__ = [
    "JOB_TAG",
    "ODA_PRODUCTS",
    "OdaCall",
    "OdaFacade",
    "TokenError",
    "TokenPolicy",
    "clean_text",
    "encode_hdu",
    "install_oda",
    "oda_blueprint",
    "read_call",
    "request_job_id",
    "translate",
]


def install_oda(
    app: Flask, settings: Settings, service: UWSService, identity: IdentityPolicy
) -> None:
    """Mount the ODA front at ``/oda`` over ``service`` (the ``/async`` jobs)."""
    from vo_service._context import ServiceContext

    context: ServiceContext = app.extensions["vo_service"]
    secret = settings.oda_token_secret
    facade = OdaFacade(
        service=service,
        store=context.store,
        public_url=settings.public_base_url,
        ivoid=settings.ivoid,
    )
    from vo_service._users import build_tokens

    tokens = TokenPolicy(
        None if secret is None else secret.get_secret_value(),
        service=build_tokens(settings, context.engine),
    )
    app.register_blueprint(oda_blueprint(facade, identity, tokens))
    capabilities_of(app).add(
        Capability(
            None,
            "/oda",
            "INTEGRAL ODA dispatcher protocol for unchanged oda_api scripts: "
            "DispatcherAPI(url=<this base URL>); its jobs are the /async product jobs",
            use="base",
            role=None,
            query_types=("GET", "POST"),
        )
    )
