"""The read API (API Gateway HTTP API), for the merchant the token names, in its partner's account:

* ``GET /payments?status=&from=&to=&limit=&cursor=``: a page of payments, newest first, by
  status (the ``by-status`` index) or all (the table), within a time range; ``cursor`` is the
  signed, opaque cursor of the previous page (a forged or reused-elsewhere one is a 400);
* ``GET /payments/{payment_id}``: one payment (404 when the merchant has none by that id);
* ``POST /exports`` ``{"status", "from", "to"}``: the range as CSV, streamed to S3 page by page,
  answered with a presigned download link valid for 15 minutes.

A token can only ever reach its own partner's account and its own merchant's partition.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from dynamorm import (
    DB,
    Attr,
    Condition,
    DynamORMError,
    InvalidCursor,
    LambdaContextLike,
    NotFound,
    Query,
)

from . import objects
from .models import Payment
from .platform import (
    Caller,
    HttpError,
    answer,
    authenticate,
    error_answer,
    json_body,
    partner_db,
    platform,
    request_id,
    storage_error_answer,
)

STATUSES = frozenset({"authorized", "settled"})
MAX_LIMIT = 100
DEFAULT_LIMIT = 25
LINK_SECONDS = 900
T = TypeVar("T")
EXPORT_COLUMNS = "payment_id,status,amount,currency,customer_id,placed_at,settled_at\n"


def handler(event: dict[str, Any], context: LambdaContextLike) -> dict[str, Any]:
    """The Lambda entry point: routes on the HTTP method and path."""
    rid = request_id(event, context)
    try:
        app = platform()
        http = (event.get("requestContext") or {}).get("http") or {}
        method, path = http.get("method", "GET"), event.get("rawPath", "/")
        scope = "payments:export" if method == "POST" else "payments:read"
        caller = authenticate(event, app.settings, scope=scope)
        db = partner_db(app, caller).with_deadline(context)
        if method == "GET" and path == "/payments":
            return list_payments(db, caller, event.get("queryStringParameters") or {})
        if method == "GET" and path.startswith("/payments/"):
            return get_payment(db, caller, path.removeprefix("/payments/"))
        if method == "POST" and path == "/exports":
            return export(db, caller, json_body(event), app.settings.export_bucket, context)
        raise HttpError(404, "not_found", "no such route")
    except HttpError as exc:
        return error_answer(exc, rid)
    except DynamORMError as exc:
        return storage_error_answer(exc, rid)


def payment_view(p: Payment) -> dict[str, Any]:
    return {
        "payment_id": p.payment_id,
        "status": p.status,
        "amount": p.amount,
        "currency": p.currency,
        "customer_id": p.customer_id,
        "placed_at": p.placed_at.isoformat(),
        "settled_at": None if p.settled_at is None else p.settled_at.isoformat(),
    }


def get_payment(db: DB, caller: Caller, payment_id: str) -> dict[str, Any]:
    if not payment_id or "/" in payment_id or len(payment_id) > 64:
        raise HttpError(404, "not_found", "no such payment")
    try:
        payment = db.get(Payment, merchant_id=caller.merchant, payment_id=payment_id)
    except NotFound:
        raise HttpError(404, "not_found", "no such payment") from None
    return answer(200, payment_view(payment))


def range_query(db: DB, caller: Caller, params: dict[str, Any]) -> Query[Payment]:
    """The payments of the caller's merchant placed in [from, to] (either bound optional), by
    status if given, newest first. The bounds are part of the cursor's binding, so the same
    parameters must come with the cursor (absent bounds stay absent: "now" would move)."""
    start, end = _time(params, "from"), _time(params, "to")
    if start is not None and end is not None and start > end:
        raise HttpError(400, "invalid_request", "from must not be after to", field="from")
    status = params.get("status")
    m = caller.merchant
    if status is None:
        low = None if start is None else f"pay_{_ms(start):013d}"
        high = None if end is None else f"pay_{_ms(end):013d}~"
        return (
            db.query(Payment)
            .where(_bounded(Payment.merchant_id == m, Payment.payment_id, low, high))
            .reverse()
        )
    if status not in STATUSES:
        raise HttpError(
            400, "invalid_request", f"status must be one of {sorted(STATUSES)}", field="status"
        )
    condition = _bounded(Payment.status_key == f"{m}#{status}", Payment.placed_at, start, end)
    return db.query(Payment).index("by-status").where(condition).reverse()


def _bounded(partition: Condition, sort: Attr[T], low: T | None, high: T | None) -> Condition:
    if low is not None and high is not None:
        return partition & sort.between(low, high)
    if low is not None:
        return partition & (sort >= low)
    if high is not None:
        return partition & (sort <= high)
    return partition


def list_payments(db: DB, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    raw_limit = params.get("limit", str(DEFAULT_LIMIT))
    if not str(raw_limit).isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise HttpError(400, "invalid_request", f"limit must be 1-{MAX_LIMIT}", field="limit")
    query = range_query(db, caller, params)
    try:
        page = query.page(cursor=params.get("cursor") or None, limit=int(raw_limit))
    except InvalidCursor:
        raise HttpError(
            400, "invalid_request", "the cursor is not valid for this query", field="cursor"
        ) from None
    body = {"items": [payment_view(p) for p in page.items], "cursor": page.cursor}
    return answer(200, body)


def export(
    db: DB, caller: Caller, body: dict[str, Any], bucket: str, context: LambdaContextLike
) -> dict[str, Any]:
    """Stream the range to S3 as CSV, page by page; answer with a time-limited link."""
    if not bucket:
        raise HttpError(503, "unavailable", "exports are not configured")
    params = {k: v for k, v in body.items() if k in ("status", "from", "to")}
    query = range_query(db, caller, params)
    rows = 0

    def chunks() -> Iterator[bytes]:
        nonlocal rows
        yield EXPORT_COLUMNS.encode()
        for page in query.pages():
            lines = []
            for p in page.items:
                v = payment_view(p)
                lines.append(",".join("" if x is None else str(x) for x in v.values()) + "\n")
            rows += len(lines)
            yield "".join(lines).encode()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    object_key = f"exports/{caller.partner}/{caller.merchant}/{stamp}-{secrets.token_hex(4)}.csv"
    size = objects.upload(bucket, object_key, chunks(), content_type="text/csv", context=context)
    url = objects.presign(bucket, object_key, seconds=LINK_SECONDS)
    return answer(201, {"url": url, "expires_in": LINK_SECONDS, "rows": rows, "bytes": size})


def _time(params: dict[str, Any], name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise HttpError(
            400, "invalid_request", f"{name} must be an ISO 8601 time with a zone", field=name
        )
    return value.astimezone(UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
