"""batch_get against an in-memory fake: exact payloads, chunks of 100, retries, failures."""

from __future__ import annotations

from typing import Any

import pytest

from dynamorm import DeadlineExceeded
from dynamorm._core.errors import (
    BatchDeadlineExceeded,
    BatchIncomplete,
    ConfigurationError,
    MissingPrimaryKey,
    TableNotFound,
    ValidationError,
)
from dynamorm._io import client as client_module
from dynamorm._orm.keys import key
from dynamorm._orm.results import Capacity
from tests.unit.test_batch_fake import Account, FakeDynamo, Payment, make_db, payment_item


def stored(fake: FakeDynamo, n: int, *, every: int = 1) -> None:
    """Put payments p0000.. into the fake, only every ``every``-th one."""
    for i in range(0, n, every):
        item = payment_item(i, amount=i)
        fake.tables["t_payments"][fake.key("t_payments", item)] = item


def pkeys(n: int) -> list[dict[str, Any]]:
    return [{"merchant_id": "m1", "payment_id": f"p{i:04d}"} for i in range(n)]


def wire_key(i: int) -> dict[str, Any]:
    return {"merchant_id": {"S": "m1"}, "payment_id": {"S": f"p{i:04d}"}}


def test_250_keys_go_100_per_request_and_come_back_in_order() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    stored(fake, 250, every=3)
    fake.shuffle = True
    result = db.batch_get(Payment, pkeys(250))
    calls = fake.calls("BatchGetItem")
    assert [len(c["RequestItems"]["t_payments"]["Keys"]) for c in calls] == [100, 100, 50]
    assert calls[0] == {
        "RequestItems": {"t_payments": {"Keys": [wire_key(i) for i in range(100)]}},
        "ReturnConsumedCapacity": "TOTAL",
    }
    assert [p.payment_id for p in result.items] == [f"p{i:04d}" for i in range(0, 250, 3)]
    assert [p.amount for p in result] == list(range(0, 250, 3))
    assert len(result) == 84
    assert result.missing == [k for i, k in enumerate(pkeys(250)) if i % 3]
    assert result.unprocessed == []
    assert result.consumed == Capacity(125.0, 0.0, 125.0, {"t_payments": 125.0})
    assert db.consumed == result.consumed


def test_found_items_are_loaded_instances() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    stored(fake, 1)
    (p,) = db.batch_get(Payment, pkeys(1)).items
    assert Payment.__meta__.loaded_item(p) == payment_item(0)
    assert Payment.__meta__.changed(p) == []


def test_consistent_and_projection_options() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    db.batch_get(Payment, pkeys(2), consistent=True, projection=[Payment.amount])
    (call,) = fake.calls("BatchGetItem")
    assert call["RequestItems"] == {
        "t_payments": {
            "Keys": [wire_key(0), wire_key(1)],
            "ConsistentRead": True,
            "ProjectionExpression": "#n0, #n1, #n2",
            "ExpressionAttributeNames": {
                "#n0": "amount",
                "#n1": "merchant_id",
                "#n2": "payment_id",
            },
        }
    }


def test_keys_may_be_dicts_key_objects_or_instances_and_duplicates_are_read_once() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    stored(fake, 3)
    result = db.batch_get(
        Payment,
        [
            {"merchant_id": "m1", "payment_id": "p0002"},
            key(Payment, merchant_id="m1", payment_id="p0000"),
            Payment(merchant_id="m1", payment_id="p0002"),
            {"merchant_id": "m1", "payment_id": "p0009"},
            Payment(merchant_id="m1", payment_id="p0009", amount=4),
        ],
    )
    (call,) = fake.calls("BatchGetItem")
    assert call["RequestItems"]["t_payments"]["Keys"] == [wire_key(2), wire_key(0), wire_key(9)]
    assert [p.payment_id for p in result] == ["p0002", "p0000"]
    assert result.missing == [{"merchant_id": "m1", "payment_id": "p0009"}]


def test_bad_keys_fail_before_sending() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    with pytest.raises(ValidationError) as caught:
        db.batch_get(Payment, [Account(account_id=1)])
    assert str(caught.value) == (
        "batch_get(Payment) takes dicts of key fields, key(Payment, ...) or Payment instances, "
        "got Account(account_id=1, name='')"
    )
    with pytest.raises(MissingPrimaryKey, match="payment_id"):
        db.batch_get(Payment, [{"merchant_id": "m1"}])
    with pytest.raises(ValidationError, match="unknown amount"):
        db.batch_get(Payment, [{"merchant_id": "m1", "payment_id": "p", "amount": 1}])
    with pytest.raises(ConfigurationError, match="parallel must be an int >= 1"):
        db.batch_get(Payment, pkeys(1), parallel=0)
    assert fake.requests == []
    assert db.batch_get(Payment, []).items == []
    assert fake.requests == []


def test_unprocessed_keys_are_retried_until_read() -> None:
    fake = FakeDynamo()
    db, sleeps = make_db(fake)
    stored(fake, 10)
    fake.withhold = lambda op, call, table, k: call < 3 and k["payment_id"]["S"] > "p0006"
    result = db.batch_get(Payment, pkeys(10), consistent=True)
    calls = fake.calls("BatchGetItem")
    assert len(calls) == 3
    assert calls[1]["RequestItems"] == {
        "t_payments": {"Keys": [wire_key(i) for i in (7, 8, 9)], "ConsistentRead": True}
    }
    assert len(sleeps) == 2
    assert [p.payment_id for p in result] == [f"p{i:04d}" for i in range(10)]
    assert result.missing == result.unprocessed == []


def test_keys_unprocessed_forever_raise_with_the_partial_result() -> None:
    fake = FakeDynamo()
    db, sleeps = make_db(fake, attempts=3)
    stored(fake, 250, every=2)
    fake.withhold = lambda op, call, table, k: k["payment_id"]["S"] in ("p0120", "p0121")
    with pytest.raises(BatchIncomplete) as caught:
        db.batch_get(Payment, pkeys(250))
    error = caught.value
    assert not isinstance(error, DeadlineExceeded)
    assert str(error) == (
        "BatchGetItem: 52 key(s) of Payment not read ({'merchant_id': 'm1', 'payment_id': "
        "'p0120'}, {'merchant_id': 'm1', 'payment_id': 'p0121'}, {'merchant_id': 'm1', "
        "'payment_id': 'p0200'} and 49 more): still unprocessed after 3 attempts"
    )
    assert len(fake.calls("BatchGetItem")) == 4, "chunk 1, chunk 2 three times, chunk 3 never"
    assert len(sleeps) == 2
    expected = [pkeys(250)[i] for i in (120, 121, *range(200, 250))]
    assert error.unprocessed == expected
    partial = error.result
    assert partial.unprocessed == expected
    assert [p.payment_id for p in partial] == [f"p{i:04d}" for i in range(0, 200, 2) if i != 120]
    assert partial.missing == [pkeys(250)[i] for i in range(1, 200, 2) if i != 121]

    again = db.batch_get(Payment, pkeys(250), partial=True)
    assert again.unprocessed == expected
    assert len(again) == 99


def test_a_non_retryable_error_raises_even_with_partial() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    fake.errors[1] = (400, {"__type": "x#ResourceNotFoundException", "message": "no table"})
    with pytest.raises(BatchIncomplete) as caught:
        db.batch_get(Payment, pkeys(3), partial=True)
    assert isinstance(caught.value.error, TableNotFound)
    assert caught.value.unprocessed == pkeys(3)
    assert ": BatchGetItem: ResourceNotFoundException: no table [table t_payments" in str(
        caught.value
    )


def test_parallel_chunks_read_the_same_as_sequential() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    stored(fake, 450, every=4)
    fake.shuffle = True
    sequential = db.batch_get(Payment, pkeys(450))
    parallel = db.batch_get(Payment, pkeys(450), parallel=3)
    assert len(fake.calls("BatchGetItem")) == 10
    assert [p.payment_id for p in parallel] == [p.payment_id for p in sequential]
    assert parallel.missing == sequential.missing
    assert parallel.consumed == sequential.consumed


def test_the_deadline_returns_what_was_read_with_partial(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [500.0]
    monkeypatch.setattr(client_module, "_monotonic", lambda: now[0])
    fake = FakeDynamo()
    base, _ = make_db(fake, attempts=100)
    stored(fake, 10)
    db = base.with_deadline(0.5)
    deadline = db.client.deadline
    assert deadline is not None
    slept: list[tuple[float, float]] = []

    def sleep(seconds: float) -> None:
        slept.append((now[0], seconds))
        now[0] += seconds

    db.client._sleep = sleep
    fake.withhold = lambda op, call, table, k: k["payment_id"]["S"] == "p0004"
    with pytest.raises(BatchDeadlineExceeded) as caught:
        db.batch_get(Payment, pkeys(10))
    assert isinstance(caught.value, DeadlineExceeded)
    assert caught.value.unprocessed == [pkeys(10)[4]]
    assert len(caught.value.result) == 9
    assert all(start + seconds <= deadline for start, seconds in slept)

    now[0] = 500.0
    db = base.with_deadline(0.5)
    db.client._sleep = sleep
    result = db.batch_get(Payment, pkeys(10), partial=True)
    assert result.unprocessed == [pkeys(10)[4]]
    assert len(result) == 9
