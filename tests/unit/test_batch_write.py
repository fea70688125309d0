"""The batch writer against an in-memory fake: exact payloads, chunking, retries, failures."""

from __future__ import annotations

from typing import Any

import pytest

from dynamorm import DeadlineExceeded
from dynamorm._core.errors import (
    BatchDeadlineExceeded,
    BatchIncomplete,
    ConfigurationError,
    MissingPrimaryKey,
    RequestValidationFailed,
    ValidationError,
)
from dynamorm._io import client as client_module
from dynamorm._orm.batch_write import WriteRequest
from dynamorm._orm.keys import key
from dynamorm._orm.results import Capacity
from tests.unit.test_batch_fake import (
    NOW,
    Account,
    FakeDynamo,
    Ledger,
    Payment,
    make_db,
    payment_item,
)


def payments(n: int, start: int = 0) -> list[Payment]:
    return [Payment(merchant_id="m1", payment_id=f"p{i:04d}") for i in range(start, start + n)]


def test_puts_go_25_per_request_with_exact_items() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    with db.batch_write() as w:
        for p in payments(60):
            w.put(p)
    calls = fake.calls("BatchWriteItem")
    assert [len(c["RequestItems"]["t_payments"]) for c in calls] == [25, 25, 10]
    assert calls[0] == {
        "RequestItems": {
            "t_payments": [{"PutRequest": {"Item": payment_item(i)}} for i in range(25)]
        },
        "ReturnConsumedCapacity": "TOTAL",
    }
    assert w.written == 60
    assert w.pending == 0
    assert len(fake.tables["t_payments"]) == 60


def test_every_25_requests_are_flushed_as_they_are_added() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    w = db.batch_write()
    for p in payments(24):
        w.put(p)
    assert fake.requests == []
    assert w.pending == 24
    w.put(payments(1, 24)[0])
    assert len(fake.requests) == 1
    assert (w.pending, w.written) == (0, 25)
    w.put(payments(1, 25)[0])
    assert w.pending == 1
    w.flush()
    assert (len(fake.requests), w.pending, w.written) == (2, 0, 26)
    w.flush()
    assert len(fake.requests) == 2


def test_put_stamps_lifecycle_and_marks_the_instance_saved() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    p = Payment(merchant_id="m1", payment_id="p0001", amount=3)
    with db.batch_write() as w:
        w.put(p)
    assert p.created_at == NOW
    assert p.updated_at == NOW
    assert Payment.__meta__.loaded_item(p) == payment_item(1, 3)
    assert Payment.__meta__.changed(p) == []


def test_requests_for_several_tables_share_chunks() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    with db.batch_write() as w:
        for p in payments(20):
            w.put(p)
        for i in range(10):
            w.put(Account(account_id=i, name=f"a{i}"))
        w.delete(key(Account, account_id=99))
    first, second = fake.calls("BatchWriteItem")
    assert {t: len(r) for t, r in first["RequestItems"].items()} == {
        "t_payments": 20,
        "t_accounts": 5,
    }
    assert second["RequestItems"] == {
        "t_accounts": [
            *[
                {"PutRequest": {"Item": {"account_id": {"N": str(i)}, "name": {"S": f"a{i}"}}}}
                for i in range(5, 10)
            ],
            {"DeleteRequest": {"Key": {"account_id": {"N": "99"}}}},
        ]
    }


def test_deletes_by_instance_and_by_key() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    with db.batch_write() as w:
        w.delete(Payment(merchant_id="m1", payment_id="p1"))
        w.delete(key(Payment, merchant_id="m1", payment_id="p2"))
    (call,) = fake.calls("BatchWriteItem")
    assert call["RequestItems"] == {
        "t_payments": [
            {"DeleteRequest": {"Key": {"merchant_id": {"S": "m1"}, "payment_id": {"S": "p1"}}}},
            {"DeleteRequest": {"Key": {"merchant_id": {"S": "m1"}, "payment_id": {"S": "p2"}}}},
        ]
    }
    with pytest.raises(MissingPrimaryKey, match="payment_id"):
        w.delete(Payment(merchant_id="m1", payment_id=""))
    with pytest.raises(ValidationError) as caught:
        w.delete(Payment)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "delete() takes an instance or key(Payment, ...), not the class Payment"
    )
    assert w.pending == 0


def test_a_duplicate_key_in_one_chunk_is_an_error_before_sending() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    w = db.batch_write()
    w.put(Payment(merchant_id="m1", payment_id="p1", amount=1))
    second = Payment(merchant_id="m1", payment_id="p1", amount=2)
    with pytest.raises(ValidationError) as caught:
        w.delete(second)
    assert str(caught.value) == (
        "WriteRequest(delete Payment(merchant_id='m1', payment_id='p1')): the key is already in "
        "this batch (WriteRequest(put Payment(merchant_id='m1', payment_id='p1'))); DynamoDB "
        "rejects two requests for one key in a BatchWriteItem, so flush() before writing it again"
    )
    with pytest.raises(ValidationError, match="already in this batch"):
        w.put(second)
    assert "updated_at" not in second.__dict__, "a refused put must not stamp the instance"
    assert fake.requests == []
    assert w.pending == 1
    w.flush()
    w.put(second)
    w.flush()
    assert len(fake.requests) == 2


def test_the_same_key_in_different_chunks_is_allowed() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    with db.batch_write() as w:
        for p in payments(25):
            w.put(p)
        w.put(Payment(merchant_id="m1", payment_id="p0000", amount=7))
    assert len(fake.requests) == 2
    assert fake.tables["t_payments"][fake.key("t_payments", payment_item(0))] == payment_item(0, 7)


def test_a_block_that_raises_sends_nothing_more() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    w = db.batch_write()

    def block() -> None:
        with w:
            for p in payments(30):
                w.put(p)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom") as caught:
        block()
    assert len(fake.requests) == 1, "only the automatic flush of the first 25 was sent"
    assert w.pending == 0
    assert caught.value.__notes__ == [
        "dynamorm: the batch writer discarded 5 unsent request(s) because its block raised"
    ]


def test_unprocessed_items_are_retried_with_backoff_until_written() -> None:
    fake = FakeDynamo()
    db, sleeps = make_db(fake)
    fake.withhold = lambda op, call, table, req: (
        call < 3 and req["PutRequest"]["Item"]["payment_id"]["S"] in ("p0003", "p0007")
    )
    with db.batch_write() as w:
        for p in payments(10):
            w.put(p)
    calls = fake.calls("BatchWriteItem")
    assert len(calls) == 3
    assert (
        calls[1]["RequestItems"]
        == calls[2]["RequestItems"]
        == {"t_payments": [{"PutRequest": {"Item": payment_item(i)}} for i in (3, 7)]}
    )
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.01
    assert 0 <= sleeps[1] <= 0.02
    assert len(fake.tables["t_payments"]) == 10
    assert w.written == 10


def test_items_unprocessed_forever_raise_batch_incomplete_with_exactly_those() -> None:
    fake = FakeDynamo()
    db, sleeps = make_db(fake, attempts=4)
    stuck = {"p0003", "p0030"}
    fake.withhold = lambda op, call, table, req: (
        req["PutRequest"]["Item"]["payment_id"]["S"] in stuck
    )
    w = db.batch_write()

    def block() -> None:
        with w:
            for p in payments(40):
                w.put(p)

    with pytest.raises(BatchIncomplete) as caught:
        block()
    error = caught.value
    assert not isinstance(error, DeadlineExceeded)
    assert str(error) == (
        "BatchWriteItem: 1 request(s) not written (WriteRequest(put Payment(merchant_id='m1', "
        "payment_id='p0003'))): still unprocessed after 4 attempts; 24 written"
    )
    assert [r.key for r in error.unprocessed] == [{"merchant_id": "m1", "payment_id": "p0003"}]
    assert error.written == 24
    assert error.error is None
    assert len(fake.requests) == 4, "the first chunk failed: the rest is never sent"
    assert len(sleeps) == 3
    request = error.unprocessed[0]
    assert isinstance(request, WriteRequest)
    assert (request.action, request.model, request.table) == ("put", Payment, "t_payments")
    assert isinstance(request.obj, Payment)
    assert Payment.__meta__.loaded_item(request.obj) is None


def test_a_failed_request_is_reported_with_what_was_written() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    fake.errors[2] = (400, {"__type": "x#ValidationException", "message": "Item too large"})
    w = db.batch_write()
    for p in payments(20):
        w.put(p)
    for i in range(29):
        w.put(Account(account_id=i))
    assert w.written == 25
    with pytest.raises(BatchIncomplete) as caught:
        w.put(Account(account_id=29))
    error = caught.value
    assert isinstance(error.error, RequestValidationFailed)
    assert error.__cause__ is error.error
    assert str(error) == (
        "BatchWriteItem: 25 request(s) not written (WriteRequest(put Account(account_id=5)), "
        "WriteRequest(put Account(account_id=6)), WriteRequest(put Account(account_id=7)) and "
        "22 more): BatchWriteItem: ValidationException: Item too large [table t_accounts "
        "(logical 'accounts', table_prefix 't_'), region us-east-1, endpoint "
        "http://127.0.0.1:9]; 25 written"
    )
    assert [r.key["account_id"] for r in error.unprocessed] == list(range(5, 30))
    assert (w.pending, w.written) == (0, 25)


def test_parallel_chunks_are_flushed_together() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    w = db.batch_write(parallel=3)
    for p in payments(74):
        w.put(p)
    assert fake.requests == []
    w.put(payments(1, 74)[0])
    assert len(fake.requests) == 3
    w.put(payments(1, 75)[0])
    w.flush()
    assert sorted(len(c["RequestItems"]["t_payments"]) for c in fake.calls("BatchWriteItem")) == [
        1,
        25,
        25,
        25,
    ]
    assert len(fake.tables["t_payments"]) == 76
    with pytest.raises(ConfigurationError, match="parallel must be an int >= 1, got 0"):
        db.batch_write(parallel=0)


def test_parallel_duplicates_are_rejected_across_the_whole_pending_group() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    w = db.batch_write(parallel=2)
    for p in payments(30):
        w.put(p)
    with pytest.raises(ValidationError, match="already in this batch"):
        w.put(payments(1)[0])


def test_consumed_capacity_is_summed_per_writer_and_on_the_db() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    with db.batch_write() as w:
        for p in payments(30):
            w.put(p)
        w.put(Account(account_id=1))
    assert w.consumed == Capacity(0.0, 31.0, 31.0, {"t_payments": 30.0, "t_accounts": 1.0})
    assert db.consumed == w.consumed


def test_versioned_models_need_check_version_false() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    w = db.batch_write()
    with pytest.raises(ValidationError, match="BatchWriteItem cannot check it"):
        w.put(Ledger(entry_id="e1"))
    with pytest.raises(ValidationError) as caught:
        w.delete(key(Ledger, entry_id="e1"))
    assert str(caught.value) == (
        "Ledger has a version field (version) and a batch delete cannot check it; delete it "
        "with db.delete() or a transaction, or pass check_version=False to delete without the "
        "check"
    )
    w.put(Ledger(entry_id="e1"), check_version=False)
    w.delete(key(Ledger, entry_id="e2"), check_version=False)
    w.flush()
    assert fake.calls("BatchWriteItem")[0]["RequestItems"]["t_ledger"] == [
        {"PutRequest": {"Item": {"entry_id": {"S": "e1"}, "version": {"N": "0"}}}},
        {"DeleteRequest": {"Key": {"entry_id": {"S": "e2"}}}},
    ]


class _Clock:
    """A fake ``time.monotonic``: sleeps advance it, and so does each request (by 0.01 s)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_deadline_stops_retries_without_sleeping_past_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _Clock()
    monkeypatch.setattr(client_module, "_monotonic", clock)
    fake = FakeDynamo()
    base, _ = make_db(fake, attempts=1000)
    base.client.retry.max_delay = 0.4
    db = base.with_deadline(1.0)
    deadline = db.client.deadline
    assert deadline is not None
    slept: list[tuple[float, float]] = []

    def sleep(seconds: float) -> None:
        slept.append((clock.now, seconds))
        clock.now += seconds

    def transport(request: Any) -> Any:
        clock.now += 0.01
        return fake(request)

    db.client._sleep = sleep
    db.client.transport = transport
    fake.withhold = lambda op, call, table, req: req["PutRequest"]["Item"]["payment_id"][
        "S"
    ].endswith("1")
    w = db.batch_write()
    for p in payments(20):
        w.put(p)
    with pytest.raises(BatchDeadlineExceeded) as caught:
        w.flush()
    error = caught.value
    assert isinstance(error, DeadlineExceeded)
    assert isinstance(error, BatchIncomplete)
    assert [r.key["payment_id"] for r in error.unprocessed] == ["p0001", "p0011"]
    assert error.written == 18
    assert "the deadline leaves no time for attempt" in str(error)
    assert slept, "it backed off at least once"
    assert all(start + seconds <= deadline for start, seconds in slept)
    # an attempt started just before the deadline is cut off by the transport's own timeout,
    # which this fake (0.01 s per call) does not model: at most one call's time past it
    assert clock.now <= deadline + 0.01
    assert len(fake.requests) < 1000
