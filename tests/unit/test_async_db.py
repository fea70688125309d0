"""``AsyncDB`` against a fake transport: every scenario runs on ``DB`` and on ``AsyncDB`` (behind
the blocking facade of tests/async_facade.py) and must send the same requests and give the same
results, since both drive the same flows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from dynamorm import DB, AsyncDB, Request, Response, RetryPolicy, key
from dynamorm._core.errors import AlreadyExists, NotFound, OutcomeUnknown, TransactionCanceled
from dynamorm._orm.model import Attr, Model, field
from tests.async_facade import Blocking, LoopThread
from tests.unit.test_crud import (
    KEY,
    T0,
    WRITE_1,
    FakeDynamo,
    Payment,
    checked_failed,
    fail,
    ok,
    stored,
)


class Note(Model, table="notes"):
    note_id: Attr[str] = field(pk=True)
    day: Attr[str] = field(sk=True)
    text: Attr[str] = field(default="")


OPTIONS: dict[str, Any] = {
    "region": "us-east-1",
    "endpoint_url": "http://127.0.0.1:9",
    "credentials": ("AKIDEXAMPLE", "secret"),
    "retry": RetryPolicy(4, base_delay=0.0, max_delay=0.0),
}


class AsyncFake:
    """The async transport over a :class:`FakeDynamo` (same answers, same recording)."""

    def __init__(self, fake: FakeDynamo) -> None:
        self.fake = fake

    async def __call__(self, request: Request) -> Response:
        await asyncio.sleep(0)
        return self.fake(request)

    async def aclose(self) -> None:
        return None

    def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def runner() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.close()


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest, runner: LoopThread) -> Callable[[FakeDynamo], DB]:
    """``make(fake)``: a DB, or an AsyncDB behind the blocking facade, over ``fake``."""

    def build(fake: FakeDynamo) -> DB:
        if request.param == "sync":
            db = DB(transport=fake, **OPTIONS)
            db.clock = lambda: T0
            return db

        async def made() -> AsyncDB:
            return AsyncDB(transport=AsyncFake(fake), **OPTIONS)

        adb = runner.run(made())
        adb.clock = lambda: T0
        return cast("DB", Blocking(adb, runner))

    return build


def test_get_decodes_the_item_and_raises_not_found(make: Callable[[FakeDynamo], DB]) -> None:
    fake = FakeDynamo(ok(Item=stored()), ok())
    db = make(fake)
    got = db.get(Payment, merchant_id="m1", payment_id="p1", consistent=True)
    assert (got.amount, got.version) == (100, 3)
    with pytest.raises(NotFound):
        db.get(key(Payment, merchant_id="m1", payment_id="p2"))
    assert [op for op, _ in fake.sent] == ["GetItem", "GetItem"]
    assert fake.sent[0][1]["ConsistentRead"] is True


def test_create_put_update_save_delete_send_the_same_requests(
    make: Callable[[FakeDynamo], DB],
) -> None:
    fake = FakeDynamo(ok(**WRITE_1))
    db = make(fake)
    p = Payment(merchant_id="m1", payment_id="p1", amount=5)
    db.create(p)
    p.amount = 6
    db.save(p)
    db.put(p)
    fake.answers = [ok(Attributes=stored(amount={"N": "7"}, version={"N": "4"}))]
    db.update(p, Payment.amount.set(7))
    assert (p.amount, p.version) == (7, 4)
    fake.answers = [ok()]
    db.delete(p)
    assert [op for op, _ in fake.sent] == [
        "PutItem",
        "UpdateItem",
        "UpdateItem",
        "UpdateItem",
        "DeleteItem",
    ]
    assert fake.sent[0][1]["ConditionExpression"] == "attribute_not_exists(#n0)"
    assert all(token for token in fake.tokens[:4])


def test_already_exists_and_outcome_unknown_surface_unchanged(
    make: Callable[[FakeDynamo], DB],
) -> None:
    db = make(FakeDynamo(checked_failed(stored())))
    with pytest.raises(AlreadyExists):
        db.create(Payment(merchant_id="m1", payment_id="p1"))
    # a raw PutItem that got a 5xx is never re-sent blindly
    fake = FakeDynamo((500, {"__type": "InternalServerError", "message": "x"}))
    db = make(fake)
    with pytest.raises(OutcomeUnknown):
        db.client.call("PutItem", {"TableName": "payments", "Item": KEY})
    assert len(fake.sent) == 1


def test_query_pages_and_iteration(make: Callable[[FakeDynamo], DB]) -> None:
    items = [{"note_id": {"S": "n"}, "day": {"S": f"d{i}"}, "text": {"S": "x"}} for i in range(3)]
    last = {"note_id": {"S": "n"}, "day": {"S": "d1"}}
    fake = FakeDynamo(
        ok(Items=items[:2], Count=2, ScannedCount=2, LastEvaluatedKey=last),
        ok(Items=items[2:], Count=1, ScannedCount=1),
    )
    db = make(fake)
    q = db.query(Note).where(Note.note_id == "n")
    assert [n.day for n in q] == ["d0", "d1", "d2"]
    fake.answers = [ok(Items=items[:2], Count=2, ScannedCount=2, LastEvaluatedKey=last)]
    page = q.page(limit=2)
    assert [n.day for n in page] == ["d0", "d1"]
    assert page.cursor
    fake.answers = [ok(Count=3, ScannedCount=3)]
    assert q.count() == 3
    assert fake.sent[1][1]["ExclusiveStartKey"] == last
    assert fake.sent[-1][1]["Select"] == "COUNT"


def test_parallel_scan_reads_every_segment(make: Callable[[FakeDynamo], DB]) -> None:
    item = {"note_id": {"S": "n"}, "day": {"S": "d"}, "text": {"S": ""}}
    fake = FakeDynamo(ok(Items=[item], Count=1, ScannedCount=1))
    db = make(fake)
    found = list(db.scan(Note, segments=3))
    assert len(found) == 3
    assert sorted(p["Segment"] for _, p in fake.sent) == [0, 1, 2]
    assert {p["TotalSegments"] for _, p in fake.sent} == {3}


def test_transaction_commits_once_on_exit_and_maps_cancellation(
    make: Callable[[FakeDynamo], DB],
) -> None:
    fake = FakeDynamo(ok())
    db = make(fake)
    with db.transaction(token="t-1") as tx:
        tx.create(Note(note_id="a", day="d"))
        tx.delete(key(Note, note_id="b", day="d"))
    assert [op for op, _ in fake.sent] == ["TransactWriteItems"]
    assert fake.sent[0][1]["ClientRequestToken"] == "t-1"
    assert len(fake.sent[0][1]["TransactItems"]) == 2
    held = {"note_id": {"S": "a"}, "day": {"S": "d"}}
    reasons = [{"Code": "ConditionalCheckFailed", "Item": held}, {"Code": "None"}]
    db = make(FakeDynamo(fail("TransactionCanceledException", CancellationReasons=reasons)))
    tx = db.transaction()
    tx.create(Note(note_id="a", day="d"))
    tx.check(key(Note, note_id="b", day="d"), Note.text.exists())
    with pytest.raises(TransactionCanceled) as caught:
        tx.__exit__(None, None, None)
    assert isinstance(caught.value.failures[0].error, AlreadyExists)
    assert len(caught.value.failures) == 1


def test_transact_get_and_views(make: Callable[[FakeDynamo], DB]) -> None:
    item = {"note_id": {"S": "a"}, "day": {"S": "d"}, "text": {"S": "hi"}}
    fake = FakeDynamo(ok(Responses=[{"Item": item}, {}]))
    db = make(fake)
    got = db.transact_get([key(Note, note_id="a", day="d"), key(Note, note_id="b", day="d")])
    assert got[0] is not None
    assert got[0].text == "hi"
    assert got[1] is None
    view = db.with_deadline(30).with_actor("user-1")
    fake.answers = [ok(Item=item, ConsumedCapacity={"TableName": "notes", "CapacityUnits": 0.5})]
    view.get(Note, note_id="a", day="d")
    assert view.consumed.read == 0.5
    assert db.consumed.read >= 0.5


def test_async_db_is_a_context_manager_and_closes() -> None:
    async def main() -> str:
        async with AsyncDB(transport=AsyncFake(FakeDynamo(ok(Item=stored()))), **OPTIONS) as db:
            got = await db.get(Payment, merchant_id="m1", payment_id="p1")
            await db.close()
            return repr(db) + got.merchant_id

    assert asyncio.run(main()).startswith("AsyncDB(region='us-east-1'")


def test_batch_get_retries_unprocessed_keys(make: Callable[[FakeDynamo], DB]) -> None:
    a = {"note_id": {"S": "a"}, "day": {"S": "d"}, "text": {"S": "A"}}
    b = {"note_id": {"S": "b"}, "day": {"S": "d"}, "text": {"S": "B"}}
    unread = {"notes": {"Keys": [{"note_id": {"S": "b"}, "day": {"S": "d"}}]}}
    fake = FakeDynamo(
        ok(Responses={"notes": [a]}, UnprocessedKeys=unread),
        ok(Responses={"notes": [b]}),
    )
    db = make(fake)
    keys = [{"note_id": n, "day": "d"} for n in ("a", "b", "c")]
    got = db.batch_get(Note, keys)
    assert [n.text for n in got] == ["A", "B"]
    assert got.missing == [{"note_id": "c", "day": "d"}]
    assert [len(p["RequestItems"]["notes"]["Keys"]) for _, p in fake.sent] == [3, 1]


def test_batch_write_flushes_on_exit_in_chunks(make: Callable[[FakeDynamo], DB]) -> None:
    fake = FakeDynamo(ok())
    db = make(fake)
    with db.batch_write(parallel=2) as w:
        for i in range(30):
            w.put(Note(note_id=f"n{i}", day="d"))
        w.delete(key(Note, note_id="x", day="d"))
    assert w.written == 31
    assert sorted(len(p["RequestItems"]["notes"]) for _, p in fake.sent) == [6, 25]
    fake.sent.clear()

    def interrupted() -> None:
        with db.batch_write() as w:
            w.put(Note(note_id="late", day="d"))
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        interrupted()
    assert fake.sent == []


def test_ensure_tables_creates_and_waits(make: Callable[[FakeDynamo], DB]) -> None:
    creating = {"TableName": "notes", "TableStatus": "CREATING"}
    fake = FakeDynamo(
        fail("ResourceNotFoundException", "Requested resource not found"),
        ok(TableDescription=creating),
        ok(Table=creating),
        ok(Table={**creating, "TableStatus": "ACTIVE"}),
    )
    db = make(fake)
    (report,) = db.ensure_tables(Note)
    assert report.created
    assert [op for op, _ in fake.sent] == [
        "DescribeTable",
        "CreateTable",
        "DescribeTable",
        "DescribeTable",
    ]


def test_idempotent_async_def_runs_once_and_releases_on_failure() -> None:
    from dynamorm import idempotent

    fake = FakeDynamo(ok())
    runs: list[str] = []

    async def main() -> tuple[int, int]:
        adb = AsyncDB(transport=AsyncFake(fake), **OPTIONS)

        @idempotent(adb, key="order_id", payload=None)
        async def charge(event: dict[str, Any]) -> int:
            runs.append(event["order_id"])
            if event["order_id"] == "bad":
                raise ValueError("declined")
            await asyncio.sleep(0)
            return 42

        first = await charge({"order_id": "o1"})
        again = await charge({"order_id": "o1"})
        with pytest.raises(ValueError, match="declined"):
            await charge({"order_id": "bad"})
        return first, again

    assert asyncio.run(main()) == (42, 42)
    assert runs == ["o1", "bad"]
    # acquire + complete for o1 (the repeat is replayed from the cache), acquire + release for bad
    assert [op for op, _ in fake.sent] == ["PutItem", "PutItem", "PutItem", "DeleteItem"]


def test_multi_account_with_an_async_base_gives_async_partners() -> None:
    from dynamorm import MultiAccount

    async def main() -> None:
        base = AsyncDB(transport=AsyncFake(FakeDynamo()), **OPTIONS)
        role = "arn:aws:iam::123456789012:role/partner"
        accounts = MultiAccount(base, {"acme": {"role_arn": role, "table_prefix": "acme-"}})
        acme = accounts.partner("acme")
        assert isinstance(acme, AsyncDB)
        assert acme.table_prefix == "acme-"
        assert acme.client.transport is base.client.transport
        assert accounts.partner(None) is base
        assert "AsyncPartnerDB(partner=" in repr(acme)
        acme.with_deadline(1.0)

    asyncio.run(main())
