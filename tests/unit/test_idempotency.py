"""@idempotent: request shapes (one round trip, no read on conflict), keys and payloads."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from dynamorm import (
    IdempotencyKeyError,
    IdempotencyPayloadMismatch,
    IdempotencyRecord,
    idempotent,
)
from dynamorm._features.idempotency_values import (
    _default_payload,
    _select,
    decode_result,
    encode_result,
)
from tests.unit.test_crud import T0, FakeDynamo, Note, checked_failed, make_db, ok


def stored(**over: Any) -> dict[str, Any]:
    item = IdempotencyRecord(
        id="x", status="COMPLETED", lock="other", expiration=T0.replace(year=2030)
    ).to_item()
    item["data"] = {"S": json.dumps({"json": "replayed"})}
    item.update(over)
    return item


def test_a_first_call_is_one_conditional_put_then_the_completion() -> None:
    fake = FakeDynamo(ok(), ok())
    db = make_db(fake)

    @idempotent(db, key="id", name="n", in_progress_expiry=10)
    def work(order: dict[str, Any]) -> str:
        return "done"

    assert work({"id": "k"}) == "done"
    (op1, first), (op2, second) = fake.sent
    assert (op1, op2) == ("PutItem", "PutItem")
    assert first["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert first["Item"]["status"] == {"S": "INPROGRESS"}
    assert first["Item"]["in_progress_expiry"] == {"N": str(int(T0.timestamp() * 1000) + 10_000)}
    assert first["ConditionExpression"].startswith("attribute_not_exists(#n0) OR #n1 < :v0")
    assert second["Item"]["status"] == {"S": "COMPLETED"}
    assert second["Item"]["lock"] == first["Item"]["lock"]
    assert second["ConditionExpression"] == "#n0 = :v0"
    assert second["ExpressionAttributeValues"] == {":v0": first["Item"]["lock"]}


def test_a_completed_record_replays_from_the_failed_put_without_a_read() -> None:
    fake = FakeDynamo(checked_failed(stored()))
    db = make_db(fake)

    @idempotent(db, key="id", name="n", payload=None)
    def work(order: dict[str, Any]) -> str:
        raise AssertionError("must not run")

    assert work({"id": "k"}) == "replayed"
    assert [op for op, _ in fake.sent] == ["PutItem"]


def test_a_different_payload_hash_is_a_mismatch() -> None:
    fake = FakeDynamo(checked_failed(stored(payload_hash={"S": "0" * 64})))

    @idempotent(make_db(fake), key="id", name="n")
    def work(order: dict[str, Any]) -> str:
        raise AssertionError("must not run")

    with pytest.raises(IdempotencyPayloadMismatch):
        work({"id": "k"})


def test_our_own_lock_in_the_stored_record_means_a_lost_answer_and_it_is_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.urandom", lambda n: b"\xab" * n)  # the lock token's randomness
    ours = stored(status={"S": "INPROGRESS"}, lock={"S": "ab" * 16}, data={"NULL": True})
    fake = FakeDynamo(checked_failed(ours), ok())
    runs = 0

    @idempotent(make_db(fake), key="id", name="n")
    def work(order: dict[str, Any]) -> str:
        nonlocal runs
        runs += 1
        return "done"

    assert work({"id": "k"}) == "done"
    assert runs == 1
    assert [op for op, _ in fake.sent] == ["PutItem", "PutItem"]


@pytest.mark.parametrize(
    ("selector", "args", "expected"),
    [
        ("body.order_id", ({"body": '{"order_id": "o1"}'},), "o1"),
        ("Records.0.messageId", ({"Records": [{"messageId": "m1"}]},), "m1"),
        ("a.b", ({"a": {"b": 3}},), 3),
        (lambda event, context: event["k"], ({"k": "v"}, None), "v"),
    ],
)
def test_keys_are_dotted_paths_or_callables(selector: Any, args: Any, expected: Any) -> None:
    assert _select(selector, args, {}, "key") == expected


@pytest.mark.parametrize(
    ("selector", "args", "message"),
    [
        ("body.order_id", ({"body": "{}"},), "'order_id' is missing"),
        ("body.order_id", ({"body": "<xml/>"},), "is not JSON"),
        ("id", (), "the call has none"),
        ("id", ({"id": ""},), "is empty"),
        ("id", ({"id": None},), "is empty"),
    ],
)
def test_a_missing_key_is_a_typed_error(selector: str, args: Any, message: str) -> None:
    with pytest.raises(IdempotencyKeyError, match=message):
        _select(selector, args, {}, "key")


class Ctx:
    def get_remaining_time_in_millis(self) -> int:
        return 1000


def test_the_default_payload_ignores_what_differs_between_deliveries() -> None:
    def event(request_id: str, body: str) -> dict[str, Any]:
        return {
            "requestContext": {"requestId": request_id, "http": {"method": "POST"}},
            "rawPath": "/pay",
            "headers": {"x-amzn-trace-id": request_id},
            "body": body,
        }

    one = _default_payload((event("a", '{"x": 1}'), Ctx()), {})
    assert one == _default_payload((event("b", '{"x":1}'), Ctx()), {})
    assert one == {"method": "POST", "path": "/pay", "body": {"x": 1}}
    assert _default_payload(({"Records": []}, Ctx()), {}) is None
    assert _default_payload(("a",), {"b": 1}) == {"args": ["a"], "kwargs": {"b": 1}}


def test_results_round_trip_and_refuse_what_would_not_replay() -> None:
    value = {"a": [1, 2.5, None, True, "s"]}
    assert decode_result(encode_result(value)) == value
    note = Note(note_id="n1", text="hi")
    assert decode_result(encode_result(note)) == note
    for bad in (Decimal(1), {"k": (1,)}, {2: 1}, b"x", float("inf")):
        with pytest.raises(ValueError, match="result"):
            encode_result(bad)
