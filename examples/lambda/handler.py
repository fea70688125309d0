"""A payment-status Lambda on DynamORM: the pattern for warm reuse, init pre-warm and deadlines.

Everything at module level runs once per execution environment, in Lambda's init phase: the
model compiles, the DB is built and its connection to DynamoDB is opened. Each invocation then
reads and writes through a view of that DB bound to the invocation's remaining time, so no
request outlives the invocation: when time runs out the handler still answers, and metrics are
still flushed.

Configuration comes from the environment Lambda provides (``AWS_REGION``, the function's
credentials) plus ``TABLE_PREFIX``; ``AWS_ENDPOINT_URL_DYNAMODB`` points it at a local engine.
"""

from __future__ import annotations

import os
from typing import Any

from dynamorm import (
    Attr,
    DeadlineExceeded,
    EMFMetrics,
    LambdaContextLike,
    Model,
    NotFound,
    VersionConflict,
    field,
    lambda_db,
)


class Payment(Model, table="payments"):
    pk: Attr[str] = field(pk=True)  # the merchant's account
    sk: Attr[str] = field(sk=True)  # "order#<created at>"
    merchant: Attr[str]
    amount: Attr[int]  # minor units: money is never a float
    currency: Attr[str] = field(default="EUR")
    status: Attr[str] = field(default="pending")
    attempts: Attr[int] = field(default=0)
    version: Attr[int] = field(version=True)  # every write is conditioned on it


# --- init phase ------------------------------------------------------------------------------
metrics = EMFMetrics(namespace="PaymentsApi")
db = lambda_db(
    Payment,
    prewarm=True,
    hooks=[metrics],
    table_prefix=os.environ.get("TABLE_PREFIX", ""),
)


# --- per invocation --------------------------------------------------------------------------
@metrics.flush_after
def handler(event: dict[str, Any], context: LambdaContextLike) -> dict[str, Any]:
    """Move a payment to a new status: read it, change it, write it back (version-checked)."""
    invocation = db.with_deadline(context)
    try:
        payment = invocation.get(Payment, pk=event["account"], sk=event["order"])
        payment.status = event["status"]
        payment.attempts += 1
        invocation.put(payment)
    except NotFound:
        return {"statusCode": 404, "body": "no such payment"}
    except VersionConflict:
        return {"statusCode": 409, "body": "the payment changed meanwhile; read it again"}
    except DeadlineExceeded as exc:
        # Answer while there is still time; the message says what was (maybe) written.
        return {"statusCode": 503, "retryable": True, "body": str(exc)}
    return {"statusCode": 200, "status": payment.status, "version": payment.version}
