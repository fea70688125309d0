"""POST /payments (API Gateway HTTP API): authorize a payment, exactly once.

1. The bearer token is verified (401) and must carry ``payments:write`` and name a partner
   that is enabled (403); its claims choose the partner's account and the merchant.
2. The body is validated (400 naming the field); an ``Idempotency-Key`` header is required.
3. Under ``@idempotent`` (records in the partner's account, keyed by partner, merchant and
   idempotency key, written within the invocation's deadline; the body must match on a repeat,
   else 422), one transaction checks that the
   customer exists (404) and writes the payment (unique per merchant and idempotency key), its
   funds hold, two ledger entries, the payment's audit record and the ``payment.authorized``
   outbox event.
4. A concurrent duplicate is a 409; a deadline, throttling or an unknown outcome a retryable
   503 with nothing half-written (the transaction is atomic and carries a request token).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dynamorm import (
    DB,
    DynamORMError,
    IdempotencyInProgress,
    IdempotencyPayloadMismatch,
    LambdaContextLike,
    TransactionCanceled,
    UniqueViolation,
    idempotent,
    key,
)

from .models import Customer, Hold, LedgerEntry, Payment, WebhookEvent
from .platform import (
    Caller,
    HttpError,
    Platform,
    answer,
    authenticate,
    error_answer,
    json_body,
    partner_db,
    platform,
    request_id,
    storage_error_answer,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING: this module is on every cold start
if TYPE_CHECKING:
    from typing import Any

CURRENCIES = frozenset({"EUR", "USD", "GBP", "CHF", "JPY", "SEK", "DKK", "NOK", "PLN", "CAD"})
MAX_AMOUNT = 100_000_000_00  # minor units
HOLD_DAYS = 7
IN_PROGRESS = HttpError(
    409, "in_progress", "a request with this idempotency key is in progress; retry later"
)
KEY_REUSED = HttpError(
    422, "idempotency_key_reused", "this idempotency key was used for a different request"
)
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def handler(event: dict[str, Any], context: LambdaContextLike) -> dict[str, Any]:
    """The Lambda entry point."""
    rid = request_id(event, context)
    try:
        app = platform()
        caller = authenticate(event, app.settings, scope="payments:write")
        request = parse_request(event)
        partner_db(app, caller)  # 403 before anything is written for a partner not enabled
        command = {
            "partner": caller.partner,
            "merchant": caller.merchant,
            "subject": caller.subject,
            "request_id": rid,
            **request,
        }
        return _authorize_for(app)(command, context)
    except HttpError as exc:
        return error_answer(exc, rid)
    except IdempotencyInProgress:
        return error_answer(IN_PROGRESS, rid)
    except IdempotencyPayloadMismatch:
        return error_answer(KEY_REUSED, rid)
    except DynamORMError as exc:
        return storage_error_answer(exc, rid)


def parse_request(event: dict[str, Any]) -> dict[str, Any]:
    """The validated request: 400 naming the first field that is wrong."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    key = headers.get("idempotency-key", "")
    if not isinstance(key, str) or not _KEY.match(key):
        raise _invalid("Idempotency-Key", "a header of 1-255 visible ASCII characters")
    body = json_body(event)
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise _invalid("amount", f"an integer of minor units between 1 and {MAX_AMOUNT}")
    currency = body.get("currency")
    if currency not in CURRENCIES:
        raise _invalid("currency", f"one of {', '.join(sorted(CURRENCIES))}")
    customer = body.get("customer_id")
    if not isinstance(customer, str) or not _ID.match(customer):
        raise _invalid("customer_id", "1-64 letters, digits, '_' or '-'")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 200:
        raise _invalid("description", "a string of at most 200 characters")
    unknown = sorted(set(body) - {"amount", "currency", "customer_id", "description"})
    if unknown:
        raise _invalid(unknown[0], "not a field of a payment request")
    return {
        "idempotency_key": key,
        "amount": amount,
        "currency": currency,
        "customer_id": customer,
        "description": description,
    }


def _invalid(field: str, expected: str) -> HttpError:
    return HttpError(400, "invalid_request", f"{field} must be {expected}", field=field)


# --- the idempotent part -------------------------------------------------------------------

_guarded: dict[int, Callable[[dict[str, Any], LambdaContextLike], dict[str, Any]]] = {}
_guarded_lock = threading.Lock()


def _authorize_for(
    app: Platform,
) -> Callable[[dict[str, Any], LambdaContextLike], dict[str, Any]]:
    """``authorize`` under ``@idempotent``, its records in the caller's partner account
    (one wrapper per Platform; the Lambda context bounds the record writes)."""
    with _guarded_lock:
        wrapped = _guarded.get(id(app))
        if wrapped is None:
            wrapped = idempotent(
                lambda c, _ctx: partner_db(app, _caller(c)),
                name="payments.process",  # explicit: survives refactors across deploys
                key=lambda c, _ctx: f"{c['partner']}/{c['merchant']}/{c['idempotency_key']}",
                payload=lambda c, _ctx: [
                    c["amount"],
                    c["currency"],
                    c["customer_id"],
                    c["description"],
                ],
                expires_after=timedelta(hours=24),
            )(lambda c, ctx: authorize(app, c, ctx))
            _guarded.clear()
            _guarded[id(app)] = wrapped
        return wrapped


def _caller(c: dict[str, Any]) -> Caller:
    return Caller(c["partner"], c["merchant"], c["subject"], frozenset())


def authorize(app: Platform, c: dict[str, Any], context: LambdaContextLike) -> dict[str, Any]:
    """Check the customer and write the payment and everything it implies in one transaction."""
    db = (
        partner_db(app, _caller(c))
        .with_actor(f"merchant:{c['merchant']}", request_id=c["request_id"])
        .with_deadline(context)
    )
    merchant = c["merchant"]
    now = datetime.now(UTC)
    payment_id = f"pay_{int(now.timestamp() * 1000):013d}_{os.urandom(4).hex()}"
    payment = Payment(
        merchant_id=merchant,
        payment_id=payment_id,
        idempotency_key=c["idempotency_key"],
        customer_id=c["customer_id"],
        amount=c["amount"],
        currency=c["currency"],
        status="authorized",
        status_key=f"{merchant}#authorized",
        placed_at=now,
        description=c["description"],
    )
    event = {"payment_id": payment_id, "amount": c["amount"], "currency": c["currency"]}
    try:
        with db.transaction() as tx:
            # The customer must exist: checked in the transaction itself (no read, no card
            # data decrypted, and no customer deleted between a read and the write).
            customer = key(Customer, merchant_id=merchant, customer_id=c["customer_id"])
            tx.check(customer, Customer.customer_id.exists())
            tx.create(payment)
            tx.create(
                Hold(
                    hold_id=f"{merchant}#{payment_id}",
                    customer_id=c["customer_id"],
                    amount=c["amount"],
                    currency=c["currency"],
                    expires_at=now + timedelta(days=HOLD_DAYS),
                )
            )
            for account, amount in (
                (f"customer#{merchant}#{c['customer_id']}", -c["amount"]),
                (f"merchant#{merchant}", c["amount"]),
            ):
                tx.create(
                    LedgerEntry(
                        account=account,
                        entry_id=f"{payment_id}#authorization",
                        payment_id=payment_id,
                        kind="authorization",
                        amount=amount,
                        currency=c["currency"],
                    )
                )
            tx.create(
                WebhookEvent(
                    merchant_id=merchant,
                    event_id=f"evt_{payment_id}_authorized",
                    type="payment.authorized",
                    payment_id=payment_id,
                    payload=json.dumps(event, separators=(",", ":"), sort_keys=True),
                )
            )
    except TransactionCanceled as exc:
        if any(f.action == "check" for f in exc.failures):
            raise HttpError(404, "not_found", "no such customer", field="customer_id") from None
        held = [f.error for f in exc.failures if isinstance(f.error, UniqueViolation)]
        if not held:
            raise
        # The key already names a payment: an earlier attempt whose answer was lost (a timeout
        # after sending), or a retry after the idempotency record expired. The payment itself
        # is the durable record: answer with it when it is the same request.
        return _existing(db, held[0], c)
    return answer(201, _view(payment), Location=f"/payments/{payment_id}")


def _view(p: Payment) -> dict[str, Any]:
    return {
        "payment_id": p.payment_id,
        "status": p.status,
        "amount": p.amount,
        "currency": p.currency,
        "created_at": p.placed_at.isoformat(),
    }


def _existing(db: DB, held: UniqueViolation, c: dict[str, Any]) -> dict[str, Any]:
    holder = held.holder_key
    if holder is None:
        raise HttpError(409, "duplicate", "a payment with this idempotency key already exists")
    payment = db.get(Payment, consistent=True, **holder)
    same = (payment.amount, payment.currency, payment.customer_id, payment.description) == (
        c["amount"],
        c["currency"],
        c["customer_id"],
        c["description"],
    )
    if not same:
        raise KEY_REUSED
    return answer(201, _view(payment), Location=f"/payments/{payment.payment_id}")
