"""Service errors that say where the request went: table (physical and logical), region and
endpoint, plus a hint for the common deployment mistakes (wrong stage, prefix or region)."""

from __future__ import annotations

import json

from dynamorm._core.errors import ResourceInUse, ServiceError, TableNotFound
from dynamorm._io.events import tables_of


def add_context(
    exc: ServiceError, *, operation: str, body: bytes, region: str, endpoint: str, prefix: str
) -> None:
    """Record on ``exc`` the table(s) ``body`` names, the region, endpoint and prefix, and a
    hint when the error has a usual cause. Runs on the error path only."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    table = tables_of(payload) or ""
    exc.table = table
    exc.region = region
    exc.endpoint = endpoint
    exc.table_prefix = prefix
    exc.logical_table = ",".join(
        name[len(prefix) :] if prefix and name.startswith(prefix) else name
        for name in table.split(",")
        if name
    )
    exc.hint = _hint(exc, operation, payload, prefix)


def _hint(exc: ServiceError, operation: str, payload: object, prefix: str) -> str:
    index = payload.get("IndexName") if isinstance(payload, dict) else None
    if isinstance(exc, TableNotFound):
        if isinstance(index, str):
            return (
                f"if the table exists, its index {index!r} does not; db.ensure_tables(<model>) "
                "adds missing global secondary indexes"
            )
        check = (
            f"the stage (table_prefix {prefix!r})"
            if prefix
            else "the table name (a missing table_prefix?)"
        )
        return (
            f"check {check}, the region and the endpoint, or create the table with "
            "db.ensure_tables(<model>)"
        )
    if isinstance(exc, ResourceInUse) and operation == "CreateTable":
        return "the table exists already; db.ensure_tables(<model>) creates only what is missing"
    return ""
