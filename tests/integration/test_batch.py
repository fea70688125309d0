"""batch_get and the batch writer against DynamoDB Local, with a fault-injecting transport that
leaves chosen items unprocessed without sending them."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from dynamorm import DB, DeadlineExceeded, HTTPTransport, RetryPolicy
from dynamorm._core.errors import BatchDeadlineExceeded, BatchIncomplete, ValidationError
from dynamorm._io.transport import Request, Response
from dynamorm._orm.keys import key
from dynamorm._orm.model import Attr, Model, field
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB
from tests.wire_model import validate_http_request

pytestmark = [pytest.mark.integration, pytest.mark.sync_and_async]

FAST_RETRY = RetryPolicy(6, base_delay=0.001, max_delay=0.01)


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    created_at: Attr[datetime] = field(created_at=True)
    updated_at: Attr[datetime] = field(updated_at=True)


class Account(Model, table="accounts"):
    account_id: Attr[int] = field(pk=True)
    name: Attr[str] = field(default="")


Withhold = Callable[[str, dict[str, Any], int], bool]
"""(operation, Put/DeleteRequest or key, how often the operation asked for it, this time
included) -> leave it unprocessed, unsent"""


def _key_of(entry: dict[str, Any]) -> dict[str, Any]:
    put = entry.get("PutRequest")
    if put is not None:
        item: dict[str, Any] = put["Item"]
        return {k: v for k, v in item.items() if k in ("merchant_id", "payment_id", "account_id")}
    delete = entry.get("DeleteRequest")
    return delete["Key"] if delete is not None else entry


def label(entry: dict[str, Any]) -> str:
    """``p0007`` / ``a12`` for a request or key of a Payment or an Account."""
    k = _key_of(entry)
    return k["payment_id"]["S"] if "payment_id" in k else f"a{k['account_id']['N']}"


class BatchFaults:
    """A transport that leaves the entries ``withhold`` picks unprocessed WITHOUT sending them,
    sends the rest through a separate plain client, and answers with the merged response.

    ``sent`` counts how often each entry really reached the server, ``seen`` how often the
    library asked for it (by operation and entry label); ``times`` records when each batch
    request arrived.
    """

    def __init__(self, server: LocalDynamoDB, prefix: str, withhold: Withhold) -> None:
        self.http = HTTPTransport()
        self.side = DB(
            region=server.region,
            endpoint_url=server.endpoint,
            credentials=LOCAL_CREDENTIALS,
            table_prefix=prefix,
        )
        self.withhold = withhold
        self.sent: Counter[str] = Counter()
        self.seen: Counter[tuple[str, str]] = Counter()
        self.times: list[float] = []

    def __call__(self, request: Request) -> Response:
        operation = request.headers["x-amz-target"].rpartition(".")[2]
        if operation not in ("BatchWriteItem", "BatchGetItem"):
            return self.http(request)
        self.times.append(time.monotonic())
        validate_http_request(request.method, request.headers, request.body)
        payload = json.loads(request.body)
        send: dict[str, Any] = {}
        left: dict[str, Any] = {}
        for table, spec in payload["RequestItems"].items():
            entries = spec if operation == "BatchWriteItem" else spec["Keys"]
            keep = []
            for entry in entries:
                self.seen[operation, label(entry)] += 1
                if self.withhold(operation, entry, self.seen[operation, label(entry)]):
                    left.setdefault(table, []).append(entry)
                else:
                    keep.append(entry)
                    self.sent[label(entry)] += 1
            if keep:
                send[table] = keep if operation == "BatchWriteItem" else {**spec, "Keys": keep}
            if operation == "BatchGetItem" and table in left:
                left[table] = {**spec, "Keys": left[table]}
        response: dict[str, Any] = {}
        if send:
            body = {**payload, "RequestItems": send}
            response = self.side.client.call(operation, body)
        name = "UnprocessedItems" if operation == "BatchWriteItem" else "UnprocessedKeys"
        response[name] = {**response.get(name, {}), **left}
        data = json.dumps(response).encode()
        headers = {"content-type": "application/x-amz-json-1.0", "content-length": str(len(data))}
        return Response(200, headers, data)

    def close(self) -> None:
        self.http.close()
        self.side.close()


@pytest.fixture
def faulty(
    db: DB, make_db: Callable[..., DB], dynamodb_local: LocalDynamoDB, table_prefix: str
) -> Iterator[Callable[..., tuple[DB, BatchFaults]]]:
    """Make a DB on the same tables whose batch requests go through a :class:`BatchFaults`."""
    db.create_table(Payment)
    db.create_table(Account)
    made: list[DB] = []

    def make(withhold: Withhold, retry: RetryPolicy = FAST_RETRY) -> tuple[DB, BatchFaults]:
        faults = BatchFaults(dynamodb_local, table_prefix, withhold)
        handle = make_db(
            region=dynamodb_local.region,
            endpoint_url=dynamodb_local.endpoint,
            credentials=LOCAL_CREDENTIALS,
            table_prefix=table_prefix,
            transport=faults,
            retry=retry,
        )
        made.append(handle)
        return handle, faults

    yield make
    for handle in made:
        handle.close()


def scan(db: DB, model: type[Model]) -> list[dict[str, Any]]:
    """Every item of ``model``'s table, through the raw client."""
    items: list[dict[str, Any]] = []
    payload: dict[str, Any] = {"TableName": db.table_name(model.__meta__.require_table())}
    while True:
        page = db.client.call("Scan", payload)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        payload["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def payments(n: int, start: int = 0) -> list[Payment]:
    return [
        Payment(merchant_id="m1", payment_id=f"p{i:04d}", amount=i) for i in range(start, start + n)
    ]


def never(operation: str, entry: dict[str, Any], seen: int) -> bool:
    return False


def test_batch_get_250_keys_returns_found_items_and_missing_keys(db: DB) -> None:
    db.create_table(Payment)
    with db.batch_write() as w:
        for p in payments(250):
            if p.amount % 2 == 0:
                w.put(p)
    keys = [{"merchant_id": "m1", "payment_id": f"p{i:04d}"} for i in range(250)]
    result = db.batch_get(Payment, keys)
    assert [p.payment_id for p in result] == [f"p{i:04d}" for i in range(0, 250, 2)]
    assert [p.amount for p in result] == list(range(0, 250, 2))
    assert result.missing == keys[1::2]
    assert result.unprocessed == []
    assert result.consumed.read > 0
    assert set(result.consumed.by_table) == {db.table_name("payments")}
    assert w.consumed.write >= 125


def test_batch_get_consistent_with_projection(db: DB) -> None:
    db.create_table(Payment)
    with db.batch_write() as w:
        w.put(Payment(merchant_id="m1", payment_id="p1", amount=5))
    (p,) = db.batch_get(
        Payment,
        [key(Payment, merchant_id="m1", payment_id="p1")],
        consistent=True,
        projection=[Payment.amount],
    )
    assert (p.merchant_id, p.payment_id, p.amount) == ("m1", "p1", 5)
    assert "created_at" not in p.__dict__


def test_1000_writes_with_forced_unprocessed_items_are_stored_exactly_once(
    faulty: Callable[..., tuple[DB, BatchFaults]],
) -> None:
    def withhold(operation: str, entry: dict[str, Any], seen: int) -> bool:
        number = int(label(entry)[1:])
        return (number % 7 == 0 and seen == 1) or (number % 11 == 0 and seen <= 2)

    handle, faults = faulty(withhold)
    with handle.batch_write() as w:
        for p in payments(1000):
            w.put(p)
    stored = scan(handle, Payment)
    assert sorted(item["payment_id"]["S"] for item in stored) == [f"p{i:04d}" for i in range(1000)]
    assert {item["payment_id"]["S"]: int(item["amount"]["N"]) for item in stored} == {
        f"p{i:04d}": i for i in range(1000)
    }
    assert set(faults.sent.values()) == {1}, "each item reached the server exactly once"
    assert faults.seen["BatchWriteItem", "p0077"] == 3
    assert faults.seen["BatchWriteItem", "p0014"] == 2
    assert faults.seen["BatchWriteItem", "p0001"] == 1
    assert w.written == 1000
    assert w.consumed.write >= 1000


def test_items_unprocessed_forever_raise_batch_incomplete_with_exactly_those(
    faulty: Callable[..., tuple[DB, BatchFaults]],
) -> None:
    stuck = {"p0005", "p0017"}
    handle, faults = faulty(lambda op, entry, seen: label(entry) in stuck)
    w = handle.batch_write()
    for p in payments(24):
        w.put(p)
    with pytest.raises(BatchIncomplete) as caught:
        w.put(payments(1, 24)[0])
    error = caught.value
    assert not isinstance(error, DeadlineExceeded)
    assert sorted(r.key["payment_id"] for r in error.unprocessed) == sorted(stuck)
    assert error.written == 23
    assert "still unprocessed after 6 attempts; 23 written" in str(error)
    assert faults.seen["BatchWriteItem", "p0005"] == FAST_RETRY.max_attempts
    assert faults.sent["p0005"] == 0
    stored = {item["payment_id"]["S"] for item in scan(handle, Payment)}
    assert stored == {f"p{i:04d}" for i in range(25)} - stuck


@pytest.mark.sync_only  # patches the sync client's sleep
def test_the_deadline_stops_the_batch_without_sleeping_past_it(
    faulty: Callable[..., tuple[DB, BatchFaults]],
) -> None:
    patient = RetryPolicy(1000, base_delay=0.02, max_delay=0.1)
    handle, faults = faulty(lambda op, entry, seen: label(entry) == "p0003", patient)
    view = handle.with_deadline(0.5)
    deadline = view.client.deadline
    assert deadline is not None
    sleeps: list[tuple[float, float]] = []
    real_sleep = view.client._sleep

    def sleep(seconds: float) -> None:
        sleeps.append((time.monotonic(), seconds))
        real_sleep(seconds)

    view.client._sleep = sleep
    w = view.batch_write()
    for p in payments(10):
        w.put(p)
    with pytest.raises(BatchDeadlineExceeded) as caught:
        w.flush()
    assert isinstance(caught.value, DeadlineExceeded)
    assert [r.key["payment_id"] for r in caught.value.unprocessed] == ["p0003"]
    assert caught.value.written == 9
    assert sleeps
    assert all(start + seconds <= deadline + 0.005 for start, seconds in sleeps)
    assert all(at < deadline for at in faults.times)
    assert len(faults.times) < patient.max_attempts
    assert len(scan(handle, Payment)) == 9


def test_a_block_that_raises_sends_nothing(
    faulty: Callable[..., tuple[DB, BatchFaults]],
) -> None:
    handle, faults = faulty(never)

    def block() -> None:
        with handle.batch_write() as w:
            for p in payments(20):
                w.put(p)
            raise KeyError("stop")

    with pytest.raises(KeyError, match="stop"):
        block()
    assert faults.times == []
    assert scan(handle, Payment) == []


def test_a_duplicate_key_fails_before_anything_is_sent(
    faulty: Callable[..., tuple[DB, BatchFaults]],
) -> None:
    handle, faults = faulty(never)
    w = handle.batch_write()
    w.put(Payment(merchant_id="m1", payment_id="p1"))
    with pytest.raises(ValidationError, match=r"payment_id='p1'\)\): the key is already in"):
        w.delete(key(Payment, merchant_id="m1", payment_id="p1"))
    assert faults.times == []


def test_deletes_by_instance_and_key(faulty: Callable[..., tuple[DB, BatchFaults]]) -> None:
    # Each delete is withheld once: the entry's second BatchWriteItem appearance (after its put).
    handle, faults = faulty(lambda op, entry, seen: "DeleteRequest" in entry and seen == 2)
    written = payments(30)
    with handle.batch_write() as w:
        for p in written:
            w.put(p)
    with handle.batch_write() as w:
        for p in written[:5]:
            w.delete(p)
        for i in range(5, 10):
            w.delete(key(Payment, merchant_id="m1", payment_id=f"p{i:04d}"))
        w.delete(key(Payment, merchant_id="m1", payment_id="never-written"))
    stored = sorted(item["payment_id"]["S"] for item in scan(handle, Payment))
    assert stored == [f"p{i:04d}" for i in range(10, 30)]
    assert faults.seen["BatchWriteItem", "p0003"] == 3, "put, delete withheld, delete sent"


def test_mixed_models_and_tables_in_parallel_chunks(
    faulty: Callable[..., tuple[DB, BatchFaults]],
) -> None:
    handle, faults = faulty(lambda op, entry, seen: seen == 1 and label(entry).endswith("3"))
    with handle.batch_write(parallel=3) as w:
        for i, p in enumerate(payments(200)):
            w.put(p)
            if i % 2 == 0:
                w.put(Account(account_id=i, name=f"n{i}"))
    assert len(scan(handle, Payment)) == 200
    accounts = {int(item["account_id"]["N"]): item["name"]["S"] for item in scan(handle, Account)}
    assert accounts == {i: f"n{i}" for i in range(0, 200, 2)}
    assert set(faults.sent.values()) == {1}
    assert w.written == 300
    assert set(w.consumed.by_table) == {
        handle.table_name("payments"),
        handle.table_name("accounts"),
    }


def test_batch_get_retries_unprocessed_keys(
    faulty: Callable[..., tuple[DB, BatchFaults]],
) -> None:
    def withhold(operation: str, entry: dict[str, Any], seen: int) -> bool:
        return operation == "BatchGetItem" and seen <= 2 and int(label(entry)[1:]) % 5 == 0

    handle, faults = faulty(withhold)
    with handle.batch_write() as w:
        for p in payments(150):
            w.put(p)
    keys = [{"merchant_id": "m1", "payment_id": f"p{i:04d}"} for i in range(160)]
    result = handle.batch_get(Payment, keys, parallel=2)
    assert [p.payment_id for p in result] == [f"p{i:04d}" for i in range(150)]
    assert result.missing == keys[150:]
    assert faults.seen["BatchGetItem", "p0010"] == 3
    assert faults.seen["BatchGetItem", "p0011"] == 1
    assert result.consumed.read > 0
