"""DynamORM quickstart: the main job of `make demo`, on the embedded local DynamoDB.

Models a small payments ledger, then creates, updates, queries, paginates, batches and
transacts, and shows what a version conflict and a failed condition look like.
"""

from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal

from dynamorm import (
    DB,
    GSI,
    AlreadyExists,
    Attr,
    ConditionFailed,
    Model,
    TransactionCanceled,
    VersionConflict,
    field,
    key,
)
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB


class Merchant(Model, table="merchants"):
    merchant_id: Attr[str] = field(pk=True)
    name: Attr[str] = field(default="")
    balance: Attr[int] = field(default=0)  # minor units
    version: Attr[int] = field(version=True)


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)  # minor units
    fx_rate: Attr[Decimal] = field(default=Decimal("1"))
    status: Attr[str] = field(default="pending", index=GSI("by-status", pk=True))
    tags: Attr[set[str]] = field(default_factory=set)
    version: Attr[int] = field(version=True)
    created_at: Attr[datetime] = field(created_at=True)
    updated_at: Attr[datetime] = field(updated_at=True)


def run(db: DB) -> list[str]:
    """The walkthrough; returns the summary lines."""
    out: list[str] = []
    for report in db.ensure_tables(Merchant, Payment):
        out.append(f"table {report.table}: created={report.created}")

    db.create(Merchant(merchant_id="m1", name="Acme Coffee"))
    p1 = db.create(Payment(merchant_id="m1", payment_id="p0001", amount=1250, tags={"card"}))
    out.append(
        f"created {p1.payment_id}: version {p1.version}, created_at {p1.created_at:%H:%M:%S}"
    )

    try:
        db.create(Payment(merchant_id="m1", payment_id="p0001", amount=1))
    except AlreadyExists as exc:
        stored = exc.current.amount if isinstance(exc.current, Payment) else "?"
        out.append(f"create again -> AlreadyExists, stored amount still {stored}")

    p1 = db.update(p1, Payment.status.set("settled"), Payment.fx_rate.set(Decimal("1.0825")))
    out.append(
        f"updated {p1.payment_id}: status {p1.status}, fx {p1.fx_rate}, version {p1.version}"
    )

    stale = db.get(Payment, merchant_id="m1", payment_id="p0001")
    db.update(p1, Payment.amount.add(50))
    try:
        db.update(stale, Payment.amount.add(50))
    except VersionConflict as exc:
        stored = exc.current.version if isinstance(exc.current, Payment) else "?"
        out.append(f"stale update -> VersionConflict (stored version is {stored})")

    try:
        db.update(p1, Payment.amount.add(-10_000), condition=Payment.amount >= 10_000)
    except ConditionFailed as exc:
        out.append(f"refund over amount -> {type(exc).__name__}: nothing written")

    with db.batch_write() as writer:
        for n in range(2, 121):
            status = "settled" if n % 3 else "pending"
            writer.put(
                Payment(merchant_id="m1", payment_id=f"p{n:04d}", amount=n * 100, status=status),
                check_version=False,
            )
    out.append(f"batch wrote {writer.written} payments")

    q = db.query(Payment).where(Payment.merchant_id == "m1").filter(Payment.amount > 5_000)
    page = q.page(limit=25)
    pages, total = 1, len(page.items)
    while page.cursor:
        page = q.page(cursor=page.cursor, limit=25)
        pages, total = pages + 1, total + len(page.items)
    out.append(f"query amount > 5000: {total} payments over {pages} pages")
    pending = db.query(Payment).where(Payment.status == "pending").count()
    out.append(f"GSI by-status: {pending} pending")

    got = db.batch_get(
        Payment, [{"merchant_id": "m1", "payment_id": f"p{n:04d}"} for n in (1, 2, 999)]
    )
    out.append(f"batch_get: {len(got.items)} found, {len(got.missing)} missing")

    merchant = db.get(Merchant, merchant_id="m1")
    with db.transaction() as tx:
        tx.update(merchant, Merchant.balance.add(1300))
        tx.update(
            key(Payment, merchant_id="m1", payment_id="p0001"), Payment.status.set("paid_out")
        )
    merchant = db.get(Merchant, merchant_id="m1")
    out.append(f"transaction: balance {merchant.balance}, payout marked")

    try:
        with db.transaction() as tx:
            tx.update(merchant, Merchant.balance.add(-5000), condition=Merchant.balance >= 5000)
            tx.create(Payment(merchant_id="m1", payment_id="p9999", amount=-5000))
    except TransactionCanceled as exc:
        reasons = ", ".join(f"{f.action} #{f.index}: {f.code}" for f in exc.failures)
        out.append(f"overdraft transaction canceled ({reasons}); nothing written")

    out.append(f"consumed: {db.consumed.read:g} RCU, {db.consumed.write:g} WCU")
    return out


def main() -> int:
    with LocalDynamoDB() as server:
        print(f"DynamORM quickstart on {server.engine} at {server.endpoint}")
        db = DB(
            region=server.region,
            endpoint_url=server.endpoint,
            credentials=LOCAL_CREDENTIALS,
            table_prefix="demo_",
        )
        for line in run(db):
            print(" -", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
