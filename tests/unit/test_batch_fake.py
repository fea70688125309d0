"""An in-memory BatchGetItem/BatchWriteItem server behind a transport function, the models the
batch unit tests share, and tests of the pure batch flow helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from dynamorm import DB, RetryPolicy
from dynamorm._core.steps import Call, Sleep
from dynamorm._io.drive import drive
from dynamorm._io.transport import Request, Response
from dynamorm._orm.batch_flow import (
    ChunkOutcome,
    Entry,
    chunked,
    get_flow,
    key_ident,
    write_flow,
)
from dynamorm._orm.model import Attr, Model, field

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
STAMP = "2030-01-02T03:04:05.000000Z"


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    created_at: Attr[datetime] = field(created_at=True)
    updated_at: Attr[datetime] = field(updated_at=True)


class Account(Model, table="accounts"):
    account_id: Attr[int] = field(pk=True)
    name: Attr[str] = field(default="")


class Ledger(Model, table="ledger"):
    entry_id: Attr[str] = field(pk=True)
    version: Attr[int] = field(version=True)


KEYS = {
    "t_payments": ("merchant_id", "payment_id"),
    "t_accounts": ("account_id",),
    "t_ledger": ("entry_id",),
}

Withhold = Callable[[str, int, str, dict[str, Any]], bool]
"""(operation, call number from 1, table, Put/DeleteRequest or key) -> leave it unprocessed"""


class FakeDynamo:
    """Answers BatchWriteItem and BatchGetItem from in-memory tables, recording every request.

    ``withhold`` leaves chosen requests or keys unprocessed; ``errors`` maps a call number to
    an error response ``(status, body)``. Writes consume 1 unit per item, reads 0.5 per key.
    """

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, dict[str, Any]]] = {t: {} for t in KEYS}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.withhold: Withhold = lambda op, call, table, entry: False
        self.errors: dict[int, tuple[int, dict[str, Any]]] = {}
        self.shuffle = False

    def __call__(self, request: Request) -> Response:
        operation = request.headers["x-amz-target"].rpartition(".")[2]
        payload = json.loads(request.body)
        self.requests.append((operation, payload))
        call = len(self.requests)
        if call in self.errors:
            status, body = self.errors[call]
            return Response(status, {}, json.dumps(body).encode())
        handler = self._write if operation == "BatchWriteItem" else self._get
        return Response(200, {}, json.dumps(handler(call, payload)).encode())

    def key(self, table: str, item: dict[str, Any]) -> Any:
        return key_ident(item, KEYS[table])

    def _write(self, call: int, payload: dict[str, Any]) -> dict[str, Any]:
        left: dict[str, list[Any]] = {}
        used: list[dict[str, Any]] = []
        for table, requests in payload["RequestItems"].items():
            done = 0
            for request in requests:
                if self.withhold("BatchWriteItem", call, table, request):
                    left.setdefault(table, []).append(request)
                    continue
                done += 1
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    self.tables[table][self.key(table, item)] = item
                else:
                    self.tables[table].pop(self.key(table, request["DeleteRequest"]["Key"]), None)
            used.append({"TableName": table, "CapacityUnits": float(done)})
        return {"UnprocessedItems": left, "ConsumedCapacity": used}

    def _get(self, call: int, payload: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, list[Any]] = {}
        left: dict[str, Any] = {}
        used: list[dict[str, Any]] = []
        for table, spec in payload["RequestItems"].items():
            keys = [k for k in spec["Keys"] if not self.withhold("BatchGetItem", call, table, k)]
            withheld = [k for k in spec["Keys"] if k not in keys]
            if withheld:
                left[table] = {**spec, "Keys": withheld}
            items = [self.tables[table].get(self.key(table, k)) for k in keys]
            hits = [item for item in items if item is not None]
            found[table] = hits[::-1] if self.shuffle else hits
            used.append({"TableName": table, "CapacityUnits": 0.5 * len(keys)})
        return {"Responses": found, "UnprocessedKeys": left, "ConsumedCapacity": used}

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [payload for op, payload in self.requests if op == operation]


def make_db(fake: FakeDynamo, *, attempts: int = 8) -> tuple[DB, list[float]]:
    """A DB on the fake with a fixed clock; the returned list records backoff sleeps."""
    db = DB(
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        credentials=("AKIDEXAMPLE", "secret"),
        table_prefix="t_",
        transport=fake,
        retry=RetryPolicy(attempts, base_delay=0.01, max_delay=0.08),
    )
    db.clock = lambda: NOW
    sleeps: list[float] = []
    db.client._sleep = sleeps.append
    return db, sleeps


def payment_item(i: int, amount: int = 0) -> dict[str, Any]:
    return {
        "merchant_id": {"S": "m1"},
        "payment_id": {"S": f"p{i:04d}"},
        "amount": {"N": str(amount)},
        "created_at": {"S": STAMP},
        "updated_at": {"S": STAMP},
    }


# --- the pure helpers -----------------------------------------------------------------------


def test_key_ident_compares_numbers_by_value_and_keeps_types_apart() -> None:
    assert key_ident({"n": {"N": "10"}}, ["n"]) == key_ident({"n": {"N": "1E+1"}}, ["n"])
    assert key_ident({"n": {"N": "1.50"}}, ["n"]) == key_ident({"n": {"N": "1.5"}}, ["n"])
    assert key_ident({"n": {"S": "10"}}, ["n"]) != key_ident({"n": {"N": "10"}}, ["n"])
    both = {"a": {"S": "x"}, "b": {"S": "y"}, "c": {"S": "ignored"}}
    assert key_ident(both, ["a", "b"]) == (("S", "x"), ("S", "y"))


def _entries(n: int) -> list[Entry]:
    out = []
    for i in range(n):
        key = {"k": {"S": f"k{i}"}}
        out.append(Entry("t", key_ident(key, ["k"]), {"PutRequest": {"Item": key}}))
    return out


def test_chunked_keeps_order_and_sizes() -> None:
    entries = _entries(7)
    assert chunked(entries, 3) == [entries[0:3], entries[3:6], entries[6:]]
    assert chunked([], 3) == []


def test_write_flow_yields_calls_and_sleeps_and_ends_with_the_unprocessed() -> None:
    entries = _entries(3)
    flow = write_flow(entries, {"t": ("k",)}, RetryPolicy(2, base_delay=1.0), lambda: None)
    first = next(flow)
    assert isinstance(first, Call)
    assert first.payload == {
        "RequestItems": {"t": [e.wire for e in entries]},
        "ReturnConsumedCapacity": "TOTAL",
    }
    step = flow.send({"UnprocessedItems": {"t": [entries[1].wire]}})
    assert isinstance(step, Sleep)
    assert 0.0 <= step.seconds <= 1.0
    step = flow.send({})
    assert isinstance(step, Call)
    assert step.payload["RequestItems"] == {"t": [entries[1].wire]}
    with pytest.raises(StopIteration) as stop:
        flow.send({"UnprocessedItems": {"t": [entries[1].wire]}})
    outcome: ChunkOutcome[Entry] = stop.value.value
    assert outcome.done == [entries[0], entries[2]]
    assert outcome.failed == [entries[1]]
    assert (outcome.attempts, outcome.error, outcome.deadline) == (2, None, False)


def test_progress_restarts_the_attempt_count() -> None:
    # DynamoDB splits large batches by size: each answer writing one item is progress, so a
    # policy of 2 attempts still gets all 5 written; only answers without progress count.
    entries = _entries(5)
    flow = write_flow(entries, {"t": ("k",)}, RetryPolicy(2, base_delay=0.0), lambda: None)
    left = list(entries)

    def one_more_each_time() -> None:
        step = next(flow)
        while True:
            assert isinstance(step, Call)
            left.pop(0)
            answer = {"UnprocessedItems": {"t": [e.wire for e in left]}} if left else {}
            step = flow.send(answer)
            if isinstance(step, Sleep):
                step = flow.send({})

    with pytest.raises(StopIteration) as stop:
        one_more_each_time()
    outcome: ChunkOutcome[Entry] = stop.value.value
    assert outcome.done == entries
    assert (outcome.failed, outcome.attempts) == ([], 5)


def test_get_flow_matches_found_items_to_keys() -> None:
    entries = _entries(3)
    keys = [e.wire["PutRequest"]["Item"] for e in entries]
    for entry, key in zip(entries, keys, strict=True):
        entry.wire = key
    flow = get_flow(
        entries, {"t": ("k",)}, {"t": {"ConsistentRead": True}}, RetryPolicy(), _no_deadline
    )
    first = next(flow)
    assert isinstance(first, Call)
    assert first.payload["RequestItems"] == {"t": {"Keys": keys, "ConsistentRead": True}}
    found = {**keys[2], "x": {"N": "1"}}
    outcome = drive_answer(flow, {"Responses": {"t": [found]}})
    assert outcome.found == [(entries[2], found)]
    assert outcome.done == entries
    assert outcome.failed == []


def _no_deadline() -> None:
    return None


def drive_answer(flow: Any, response: dict[str, Any]) -> ChunkOutcome[Entry]:
    with pytest.raises(StopIteration) as stop:
        flow.send(response)
    result: ChunkOutcome[Entry] = stop.value.value
    return result


def test_flow_stops_without_sending_when_no_time_is_left() -> None:
    entries = _entries(2)
    outcome = drive(write_flow(entries, {"t": ("k",)}, RetryPolicy(), lambda: 0.0), object())
    assert outcome.failed == entries
    assert (outcome.attempts, outcome.deadline) == (0, True)


def test_fake_answers_like_dynamodb() -> None:
    fake = FakeDynamo()
    db, _ = make_db(fake)
    with db.batch_write() as w:
        w.put(Payment(merchant_id="m1", payment_id="p0001", amount=5))
    assert fake.tables["t_payments"][fake.key("t_payments", payment_item(1))] == payment_item(1, 5)
