"""Run by tests/unit/test_plain_requests.py in a fresh interpreter: a model without any feature
(no encryption, unique, audit or idempotency) goes through create, get, put, update, save and
delete against a fake transport; prints the exact request bodies and the modules loaded."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from typing import Any

from dynamorm import DB, Attr, Model, Request, Response, RetryPolicy, field

ITEM = {
    "merchant_id": {"S": "m1"},
    "payment_id": {"S": "p1"},
    "amount": {"N": "100"},
    "status": {"S": "pending"},
    "version": {"N": "1"},
    "created_at": {"S": "2024-01-02T03:04:05.000000Z"},
    "updated_at": {"S": "2024-01-02T03:04:05.000000Z"},
}


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    status: Attr[str] = field(default="pending")
    version: Attr[int] = field(version=True)
    created_at: Attr[datetime] = field(created_at=True)
    updated_at: Attr[datetime] = field(updated_at=True)


_TOKEN = re.compile(r'("(?:_dm_tok|:dm_tok)":\{"S":")[^"]*(")')


class Fake:
    """Records every request (target header and exact body bytes); answers with ITEM."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    def __call__(self, request: Request) -> Response:
        target = request.headers.get("x-amz-target") or request.headers.get("X-Amz-Target", "")
        # The write token is random per call (docs/failures.md): pinned as a placeholder.
        body_text = _TOKEN.sub(r"\1<token>\2", request.body.decode())
        self.sent.append({"target": target, "body": body_text})
        body: dict[str, Any] = {"Item": ITEM, "Attributes": ITEM}
        return Response(200, {"x-amzn-requestid": "RID"}, json.dumps(body).encode())


def main() -> None:
    before = set(sys.modules)
    fake = Fake()
    db = DB(
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        credentials=("AKIDEXAMPLE", "secret"),
        transport=fake,
        retry=RetryPolicy(1),
    )
    db.clock = lambda: datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    new = Payment(merchant_id="m1", payment_id="p2", amount=5)
    db.create(new)
    got = db.get(Payment, merchant_id="m1", payment_id="p1")
    got.status = "captured"
    db.save(got)
    db.put(got)
    db.update(got, Payment.amount.add(7))
    db.delete(got)
    modules = sorted(m for m in set(sys.modules) - before if m.startswith("dynamorm"))
    print(json.dumps({"requests": fake.sent, "modules": modules}))


if __name__ == "__main__":
    main()
