"""DynamoDB Streams Lambda events -> typed change records, for every stream view type."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from dynamorm import ConfigurationError
from dynamorm._core.errors import InvalidStreamEvent
from dynamorm._orm.meta import Attr
from dynamorm._orm.model import Model, field
from dynamorm._runtime.streams import StreamRecord, batch_item_failures, stream_records

ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/prod_payments/stream/2024-05-01T00:00:00.000"


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True, name="paymentId")
    amount: Attr[int] = field(default=0)
    status: Attr[str] = field(default="pending")


def item(amount: int, status: str = "pending") -> dict[str, Any]:
    return {
        "merchant_id": {"S": "m1"},
        "paymentId": {"S": "p1"},
        "amount": {"N": str(amount)},
        "status": {"S": status},
    }


KEYS = {"merchant_id": {"S": "m1"}, "paymentId": {"S": "p1"}}


def record(
    name: str, view: str, *, old: dict[str, Any] | None = None, new: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": 1714521600,
        "Keys": KEYS,
        "SequenceNumber": f"1000{len(name)}",
        "SizeBytes": 59,
        "StreamViewType": view,
    }
    if old is not None:
        body["OldImage"] = old
    if new is not None:
        body["NewImage"] = new
    return {
        "eventID": "c81e728d9d4c2f636f067f89cc14862c",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": body,
        "eventSourceARN": ARN,
    }


CASES = [
    ("KEYS_ONLY", "INSERT", False, False),
    ("KEYS_ONLY", "MODIFY", False, False),
    ("KEYS_ONLY", "REMOVE", False, False),
    ("NEW_IMAGE", "INSERT", False, True),
    ("NEW_IMAGE", "MODIFY", False, True),
    ("NEW_IMAGE", "REMOVE", False, False),
    ("OLD_IMAGE", "INSERT", False, False),
    ("OLD_IMAGE", "MODIFY", True, False),
    ("OLD_IMAGE", "REMOVE", True, False),
    ("NEW_AND_OLD_IMAGES", "INSERT", False, True),
    ("NEW_AND_OLD_IMAGES", "MODIFY", True, True),
    ("NEW_AND_OLD_IMAGES", "REMOVE", True, False),
]


@pytest.mark.parametrize(("view", "name", "has_old", "has_new"), CASES)
def test_every_view_type_and_event(view: str, name: str, has_old: bool, has_new: bool) -> None:
    raw = record(
        name,
        view,
        old=item(100) if has_old else None,
        new=item(250, "settled") if has_new else None,
    )
    (rec,) = stream_records({"Records": [raw]}, Payment, table_prefix="prod_")
    assert isinstance(rec, StreamRecord)
    assert rec.event_name == name
    assert rec.view_type == view
    assert rec.table == "prod_payments"
    assert rec.region == "eu-west-1"
    assert rec.keys == {"merchant_id": "m1", "payment_id": "p1"}
    assert rec.sequence_number == f"1000{len(name)}"
    assert rec.event_id == "c81e728d9d4c2f636f067f89cc14862c"
    assert rec.size_bytes == 59
    assert rec.approximate_creation_time == datetime(2024, 5, 1, tzinfo=UTC)
    assert rec.expired is False
    if has_new:
        assert rec.new == Payment(merchant_id="m1", payment_id="p1", amount=250, status="settled")
    else:
        assert rec.new is None
    if has_old:
        assert rec.old == Payment(merchant_id="m1", payment_id="p1", amount=100)
    else:
        assert rec.old is None
    assert "prod_payments" in repr(rec)
    assert name in repr(rec)


@pytest.mark.parametrize(("view", "name", "has_old", "has_new"), CASES)
def test_images_a_view_type_promises_must_be_there(
    view: str, name: str, has_old: bool, has_new: bool
) -> None:
    if has_new:
        missing = record(name, view, old=item(1) if has_old else None)
        with pytest.raises(InvalidStreamEvent, match=f"a {name} record of a {view} stream lacks"):
            stream_records({"Records": [missing]}, Payment, table_prefix="prod_")
    if not has_old:
        extra = record(name, view, old=item(1), new=item(2) if has_new else None)
        with pytest.raises(InvalidStreamEvent, match="should not carry OldImage") as info:
            stream_records({"Records": [extra]}, Payment, table_prefix="prod_")
        assert info.value.path == "Records[0].dynamodb.OldImage"


def test_ttl_removal_is_flagged_expired() -> None:
    raw = record("REMOVE", "OLD_IMAGE", old=item(5))
    raw["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    (rec,) = stream_records({"Records": [raw]}, Payment, table_prefix="prod_")
    assert rec.expired is True


def test_explicit_table_name_wins_over_the_prefix() -> None:
    raw = record("INSERT", "NEW_IMAGE", new=item(1))
    (rec,) = stream_records({"Records": [raw]}, Payment, table="prod_payments")
    assert rec.new is not None
    assert rec.new.amount == 1


def test_record_of_another_table_is_a_clear_error() -> None:
    event = {"Records": [record("INSERT", "NEW_IMAGE", new=item(1))]}
    with pytest.raises(InvalidStreamEvent) as info:
        stream_records(event, Payment)
    assert str(info.value) == (
        "Records[0] comes from table 'prod_payments', expected 'payments' "
        "(check the event source mapping and the table prefix)"
    )
    assert info.value.path == "Records[0].eventSourceARN"


def test_keys_of_another_model_are_a_clear_error() -> None:
    raw = record("INSERT", "KEYS_ONLY")
    raw["dynamodb"]["Keys"] = {"order_id": {"S": "o1"}}
    with pytest.raises(InvalidStreamEvent, match=r"'order_id' is not a key attribute of Payment"):
        stream_records({"Records": [raw]}, Payment, table_prefix="prod_")
    raw["dynamodb"]["Keys"] = {"merchant_id": {"S": "m1"}}
    with pytest.raises(InvalidStreamEvent, match="holds merchant_id; Payment's key is"):
        stream_records({"Records": [raw]}, Payment, table_prefix="prod_")
    raw["dynamodb"]["Keys"] = {"merchant_id": {"N": "1"}, "paymentId": {"S": "p"}}
    with pytest.raises(InvalidStreamEvent, match=r"Records\[0\].dynamodb.Keys: cannot decode"):
        stream_records({"Records": [raw]}, Payment, table_prefix="prod_")


def _set(**members: Any) -> Any:
    return lambda r: r.update(members)


def _set_body(**members: Any) -> Any:
    return lambda r: r["dynamodb"].update(members)


def _drop_body(name: str) -> Any:
    return lambda r: r["dynamodb"].pop(name)


SHAPES = [
    (_set(eventSource="aws:sqs"), "eventSource 'aws:sqs' is not", "eventSource"),
    (_set(eventSourceARN="arn:aws:sqs:x"), "not a DynamoDB stream ARN", "eventSourceARN"),
    (_set(eventName="UPSERT"), "eventName 'UPSERT' is not", "eventName"),
    (lambda r: r.pop("dynamodb"), "has no 'dynamodb' object", "dynamodb"),
    (_set_body(StreamViewType="ALL"), "unknown StreamViewType 'ALL'", "dynamodb.StreamViewType"),
    (_drop_body("SequenceNumber"), "has no SequenceNumber", "dynamodb.SequenceNumber"),
    (_drop_body("Keys"), "has no Keys", "dynamodb.Keys"),
    (_set_body(NewImage=[1]), "lacks NewImage", "dynamodb.NewImage"),
    (
        _set_body(ApproximateCreationDateTime="yesterday"),
        "is not epoch seconds",
        "dynamodb.ApproximateCreationDateTime",
    ),
]


@pytest.mark.parametrize(("mutate", "message", "path"), SHAPES)
def test_unknown_shapes_are_clear_errors(mutate: Any, message: str, path: str) -> None:
    ok = record("INSERT", "NEW_IMAGE", new=item(1))
    bad = copy.deepcopy(ok)
    mutate(bad)
    with pytest.raises(InvalidStreamEvent, match=message) as info:
        stream_records({"Records": [ok, bad]}, Payment, table_prefix="prod_")
    assert info.value.path == f"Records[1].{path}"
    assert str(info.value).startswith("Records[1]")


@pytest.mark.parametrize("event", [{}, {"Records": "x"}, [], {"detail": {}}])
def test_not_a_stream_event(event: Any) -> None:
    with pytest.raises(InvalidStreamEvent, match="not a DynamoDB Streams event"):
        stream_records(event, Payment)


def test_record_that_is_not_an_object() -> None:
    with pytest.raises(InvalidStreamEvent, match=r"Records\[0\] is not an object"):
        stream_records({"Records": ["x"]}, Payment)


def test_image_that_does_not_decode_fails_on_access_only() -> None:
    bad = item(1)
    bad["amount"] = {"S": "one"}
    good, broken_record = stream_records(
        {
            "Records": [
                record("INSERT", "NEW_IMAGE", new=item(7)),
                record("INSERT", "NEW_IMAGE", new=bad),
            ]
        },
        Payment,
        table_prefix="prod_",
    )
    assert good.new is not None
    assert good.new.amount == 7
    assert broken_record.keys == {"merchant_id": "m1", "payment_id": "p1"}
    with pytest.raises(InvalidStreamEvent) as info:
        _ = broken_record.new
    assert str(info.value).startswith("Records[1].dynamodb.NewImage")
    assert "Payment.amount" in str(info.value)
    assert info.value.path == "Records[1].dynamodb.NewImage"


def test_decoded_images_are_cached() -> None:
    (rec,) = stream_records(
        {"Records": [record("MODIFY", "NEW_AND_OLD_IMAGES", old=item(1), new=item(2))]},
        Payment,
        table_prefix="prod_",
    )
    assert rec.new is rec.new
    assert rec.old is rec.old
    assert rec.old is not None
    assert rec.old.amount == 1


def test_decode_function_for_single_table_designs() -> None:
    def decode(raw: dict[str, Any]) -> tuple[str, int]:
        return (raw["status"]["S"], int(raw["amount"]["N"]))

    raw = record("MODIFY", "NEW_AND_OLD_IMAGES", old=item(1), new=item(9, "paid"))
    raw["dynamodb"]["Keys"] = {"pk": {"S": "m1"}, "sk": {"N": "12.5"}}
    (rec,) = stream_records({"Records": [raw]}, decode, table="prod_payments")
    assert rec.new == ("paid", 9)
    assert rec.old == ("pending", 1)
    assert rec.keys == {"pk": "m1", "sk": Decimal("12.5")}
    with pytest.raises(ConfigurationError, match="needs table='<physical table name>'"):
        stream_records({"Records": [raw]}, decode)


def test_source_must_be_a_model_or_function() -> None:
    with pytest.raises(ConfigurationError, match="takes a Model class or a decode function"):
        stream_records({"Records": []}, "Payment", table="t")  # type: ignore[arg-type]


def test_batch_item_failures() -> None:
    records = stream_records(
        {"Records": [record("INSERT", "KEYS_ONLY"), record("REMOVE", "KEYS_ONLY")]},
        Payment,
        table_prefix="prod_",
    )
    assert batch_item_failures([]) == {"batchItemFailures": []}
    assert batch_item_failures([records[1], "49668"]) == {
        "batchItemFailures": [{"itemIdentifier": "10006"}, {"itemIdentifier": "49668"}]
    }
    with pytest.raises(ConfigurationError, match="StreamRecords or sequence numbers"):
        batch_item_failures([""])
