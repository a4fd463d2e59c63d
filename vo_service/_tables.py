"""The service's queryable tables, as VOSI ``/tables`` and the registry record list them.

The declarations live in :mod:`vo_service._tap_tables` (one per table, driving the database,
``TAP_SCHEMA`` and TAP results as well): every table listed here is served by ``/tap``.
"""

from __future__ import annotations

from vo_service._tap_tables import DETECTIONS, OBSCORE, PUBLISHED_SCHEMAS, SCW, TAP_SCHEMA

__all__ = ["DETECTION_TABLE", "OBSCORE_TABLE", "SCW_TABLE", "SERVICE_TABLES"]

DETECTION_TABLE = DETECTIONS
OBSCORE_TABLE = OBSCORE
SCW_TABLE = SCW
SERVICE_TABLES = (*PUBLISHED_SCHEMAS, TAP_SCHEMA)
