# pyright: strict
"""``AsyncDB`` as type checkers see it: every line must pass ``mypy --strict`` and pyright
(strict); ``test_async_typing.py`` runs both on this file and executes it (the coroutines are
only built, never awaited, so it needs no server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from typing import Any, assert_type

from dynamorm import (
    AsyncBatchWriter,
    AsyncDB,
    AsyncQuery,
    AsyncScan,
    AsyncTransaction,
    Attr,
    BatchGetResult,
    ItemList,
    Model,
    Page,
    field,
    key,
)


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    version: Attr[int] = field(version=True)


async def reads(db: AsyncDB) -> None:
    assert_type(await db.get(Payment, merchant_id="m1", payment_id="p1"), Payment)
    assert_type(await db.get(key(Payment, merchant_id="m1", payment_id="p1")), Payment)
    q = db.query(Payment).where(Payment.merchant_id == "m1").filter(Payment.amount > 5)
    assert_type(q, AsyncQuery[Payment])
    assert_type(await q.page(limit=10), Page[Payment])
    assert_type(await q.first(), Payment | None)
    assert_type(await q.all(), list[Payment])
    assert_type(await q.count(), int)
    assert_type(q.pages(), AsyncIterator[Page[Payment]])
    async for payment in q:
        assert_type(payment, Payment)
    assert_type(db.scan(Payment, segments=4), AsyncScan[Payment])
    keys = [{"merchant_id": "m1", "payment_id": "p1"}]
    assert_type(await db.batch_get(Payment, keys), BatchGetResult[Payment])
    got = await db.transact_get([key(Payment, merchant_id="m1", payment_id="p1")])
    assert_type(got, ItemList[Payment | None])


async def writes(db: AsyncDB) -> None:
    p = Payment(merchant_id="m1", payment_id="p1", amount=5)
    assert_type(await db.create(p), Payment)
    assert_type(await db.put(p), Payment)
    assert_type(await db.save(p), Payment)
    assert_type(await db.update(p, Payment.amount.add(1)), Payment)
    assert_type(await db.delete(p), None)
    async with db.transaction() as tx:
        assert_type(tx, AsyncTransaction)
        await tx.create(p)
    async with db.batch_write() as w:
        assert_type(w, AsyncBatchWriter)
        await w.put(p)
    assert_type(db.with_deadline(5.0), AsyncDB)
    assert_type(db.with_actor("user-1"), AsyncDB)


def coroutines(db: AsyncDB) -> None:
    made: Coroutine[Any, Any, Payment] = db.get(Payment, merchant_id="m1", payment_id="p1")
    made.close()


coroutines(AsyncDB(region="us-east-1", endpoint_url="http://127.0.0.1:9", credentials=("a", "b")))
