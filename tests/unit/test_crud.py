"""CRUD request shapes and error mapping, driven by a fake transport (exact payloads)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dynamorm import DB, Request, Response, RetryPolicy
from dynamorm._core.errors import (
    AlreadyExists,
    ConditionFailed,
    ConfigurationError,
    InvalidOperator,
    MissingPrimaryKey,
    NotFound,
    ProtocolError,
    ValidationError,
    VersionConflict,
)
from dynamorm._core.expressions import Path
from dynamorm._orm.crud import consumed_capacity
from dynamorm._orm.keys import Key, key
from dynamorm._orm.model import Attr, Model, field
from dynamorm._orm.results import Capacity
from tests.wire_model import validate_http_request

T0 = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
S0 = "2024-01-02T03:04:05.123456Z"
KEY = {"merchant_id": {"S": "m1"}, "payment_id": {"S": "p1"}}
WRITE_1 = {"ConsumedCapacity": {"TableName": "payments", "CapacityUnits": 1.0}}


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    note: Attr[str | None] = field(default=None)
    version: Attr[int] = field(version=True)
    created_at: Attr[datetime] = field(created_at=True)
    updated_at: Attr[datetime] = field(updated_at=True)
    expires_at: Attr[datetime | None] = field(ttl=True, default=None)


class Note(Model, table="notes"):
    note_id: Attr[str] = field(pk=True)
    text: Attr[str] = field(default="")


def stored(**over: Any) -> dict[str, Any]:
    """A stored Payment item (version 3) with overrides (None removes an attribute)."""
    item: dict[str, Any] = {
        **KEY,
        "amount": {"N": "100"},
        "version": {"N": "3"},
        "created_at": {"S": "2023-05-06T07:08:09.000000Z"},
        "updated_at": {"S": "2023-05-06T07:08:09.000000Z"},
        "other_team": {"S": "kept"},
    }
    for name, value in over.items():
        if value is None:
            item.pop(name, None)
        else:
            item[name] = value
    return item


class FakeDynamo:
    """A transport answering from a script (the last answer repeats); every request is
    checked against botocore's DynamoDB model and recorded as (operation, payload)."""

    def __init__(self, *answers: tuple[int, dict[str, Any]]) -> None:
        self.answers = list(answers) or [(200, {})]
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.tokens: list[str | None] = []

    def __call__(self, request: Request) -> Response:
        operation = validate_http_request(request.method, request.headers, request.body)
        payload, token = without_token(json.loads(request.body))
        self.sent.append((operation, payload))
        self.tokens.append(token)
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return Response(status, {"x-amzn-requestid": "RID"}, json.dumps(body).encode())

    @property
    def last(self) -> dict[str, Any]:
        return self.sent[-1][1]


def without_token(payload: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """``payload`` without the write token the library adds (see ``_orm/exactly_once.py``),
    and that token (None if it had none)."""
    out = dict(payload)
    item = out.get("Item")
    if item is not None and "_dm_tok" in item:
        out["Item"] = {k: v for k, v in item.items() if k != "_dm_tok"}
        return out, item["_dm_tok"]["S"]
    expression = out.get("UpdateExpression", "")
    if "#dm_tok = :dm_tok" not in expression:
        return out, None
    out["UpdateExpression"] = expression.replace("#dm_tok = :dm_tok, ", "").replace(
        "SET #dm_tok = :dm_tok ", ""
    )
    names = {k: v for k, v in out["ExpressionAttributeNames"].items() if k != "#dm_tok"}
    values = dict(out["ExpressionAttributeValues"])
    token = values.pop(":dm_tok")["S"]
    for name, mapping in (
        ("ExpressionAttributeNames", names),
        ("ExpressionAttributeValues", values),
    ):
        if mapping:
            out[name] = mapping
        else:
            out.pop(name)
    return out, token


def ok(**body: Any) -> tuple[int, dict[str, Any]]:
    return 200, body


def fail(type_name: str, message: str = "boom", **extra: Any) -> tuple[int, dict[str, Any]]:
    return 400, {
        "__type": f"com.amazonaws.dynamodb.v20120810#{type_name}",
        "message": message,
        **extra,
    }


def checked_failed(item: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
    extra = {} if item is None else {"Item": item}
    return fail("ConditionalCheckFailedException", "The conditional request failed", **extra)


def make_db(fake: FakeDynamo, clock: Callable[[], datetime] = lambda: T0) -> DB:
    db = DB(
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        credentials=("AKIDEXAMPLE", "secret"),
        transport=fake,
        retry=RetryPolicy(4, base_delay=0.0, max_delay=0.0),
    )
    db.clock = clock
    return db


def loaded(**over: Any) -> Payment:
    return Payment.from_item(stored(**over))


# --- create ---------------------------------------------------------------------------------


def test_create_sends_a_put_guarded_by_attribute_not_exists_and_stamps_roles() -> None:
    fake = FakeDynamo(ok(**WRITE_1))
    db = make_db(fake)
    p = Payment(merchant_id="m1", payment_id="p1", amount=5)
    assert db.create(p) is p
    assert fake.sent == [
        (
            "PutItem",
            {
                "TableName": "payments",
                "Item": {
                    **KEY,
                    "amount": {"N": "5"},
                    "version": {"N": "0"},
                    "created_at": {"S": S0},
                    "updated_at": {"S": S0},
                },
                "ConditionExpression": "attribute_not_exists(#n0)",
                "ExpressionAttributeNames": {"#n0": "merchant_id"},
                "ReturnConsumedCapacity": "TOTAL",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        )
    ]
    assert (p.version, p.created_at, p.updated_at) == (0, T0, T0)
    assert Payment.__meta__.changed(p) == []  # recorded as saved
    assert consumed_capacity(p) == Capacity(write=1.0, total=1.0, by_table={"payments": 1.0})
    assert db.consumed == consumed_capacity(p)


def test_create_keeps_a_given_created_at_and_ands_the_callers_condition() -> None:
    fake = FakeDynamo(ok())
    p = Payment(merchant_id="m1", payment_id="p1")
    earlier = T0 - timedelta(days=1)
    p.created_at = earlier
    make_db(fake).create(p, condition=Path("tenant").not_exists())
    body = fake.last
    assert body["Item"]["created_at"] == {"S": "2024-01-01T03:04:05.123456Z"}
    assert body["ConditionExpression"] == "attribute_not_exists(#n0) AND attribute_not_exists(#n1)"
    assert body["ExpressionAttributeNames"] == {"#n0": "merchant_id", "#n1": "tenant"}
    assert p.created_at == earlier


def test_create_of_an_existing_item_raises_already_exists_with_the_current_item() -> None:
    fake = FakeDynamo(checked_failed(stored()))
    p = Payment(merchant_id="m1", payment_id="p1")
    with pytest.raises(AlreadyExists) as info:
        make_db(fake).create(p)
    err = info.value
    assert isinstance(err, ConditionFailed)
    assert str(err) == (
        "Payment(merchant_id='m1', payment_id='p1') already exists; create() never "
        "overwrites (to replace it, put() an instance loaded with get(), or "
        "put(obj, check_version=False))"  # Payment is versioned: a blind put() is refused
    )
    assert err.item == stored()
    assert isinstance(err.current, Payment)
    assert err.current.amount == 100
    assert err.request_id == "RID"
    assert "version" not in p.__dict__ or p.version == 0
    assert consumed_capacity(p) is None


def test_create_whose_own_condition_fails_raises_condition_failed() -> None:
    fake = FakeDynamo(checked_failed(None))
    with pytest.raises(ConditionFailed) as info:
        make_db(fake).create(Note(note_id="n1"), condition=Path("x").exists())
    assert type(info.value) is ConditionFailed
    assert str(info.value) == (
        "Note(note_id='n1'): attribute_exists(x) failed (the item does not exist)"
    )
    assert info.value.current is None


# --- put ------------------------------------------------------------------------------------


def test_put_of_a_loaded_instance_is_a_versioned_update_of_every_declared_field() -> None:
    answer = stored(version={"N": "4"}, amount={"N": "7"}, updated_at={"S": S0})
    fake = FakeDynamo(ok(Attributes=answer, **WRITE_1))
    p = loaded()
    p.amount = 7
    assert make_db(fake).put(p) is p
    assert fake.sent == [
        (
            "UpdateItem",
            {
                "TableName": "payments",
                "Key": KEY,
                "ConditionExpression": "#n0 = :v0",
                "UpdateExpression": (
                    "SET #n1 = :v1, #n2 = if_not_exists(#n2, :v2), #n3 = :v3, #n0 = :v4 "
                    "REMOVE #n4, #n5"
                ),
                "ExpressionAttributeNames": {
                    "#n0": "version",
                    "#n1": "amount",
                    "#n2": "created_at",
                    "#n3": "updated_at",
                    "#n4": "note",
                    "#n5": "expires_at",
                },
                "ExpressionAttributeValues": {
                    ":v0": {"N": "3"},
                    ":v1": {"N": "7"},
                    ":v2": {"S": "2023-05-06T07:08:09.000000Z"},
                    ":v3": {"S": S0},
                    ":v4": {"N": "4"},
                },
                "ReturnConsumedCapacity": "TOTAL",
                "ReturnValues": "ALL_NEW",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        )
    ]
    assert (p.version, p.updated_at, p.amount) == (4, T0, 7)
    assert Payment.__meta__.extras(p) == {"other_team": {"S": "kept"}}


def test_put_of_a_new_instance_requires_that_no_item_exists_and_removes_none_fields() -> None:
    fake = FakeDynamo(ok(Attributes=stored(version={"N": "0"})))
    p = Payment(merchant_id="m1", payment_id="p1", amount=5, note=None)
    make_db(fake).put(p)
    body = fake.last
    assert body["ConditionExpression"] == "attribute_not_exists(#n0)"
    assert body["UpdateExpression"] == (
        "SET #n1 = :v0, #n2 = if_not_exists(#n2, :v1), #n3 = :v2, #n4 = :v3 REMOVE #n5, #n6"
    )
    assert body["ExpressionAttributeNames"] == {
        "#n0": "merchant_id",
        "#n1": "amount",
        "#n2": "created_at",
        "#n3": "updated_at",
        "#n4": "version",
        "#n5": "note",
        "#n6": "expires_at",
    }
    assert body["ExpressionAttributeValues"][":v3"] == {"N": "0"}


def test_put_without_version_check_writes_the_next_version_unconditionally() -> None:
    fake = FakeDynamo(ok(Attributes=stored(version={"N": "4"})))
    make_db(fake).put(loaded(), check_version=False)
    body = fake.last
    assert "ConditionExpression" not in body
    assert "ReturnValuesOnConditionCheckFailure" not in body
    assert body["ExpressionAttributeValues"][":v3"] == {"N": "4"}
    assert body["ExpressionAttributeNames"]["#n3"] == "version"


def test_put_with_a_stale_version_raises_version_conflict_with_the_current_item() -> None:
    fake = FakeDynamo(checked_failed(stored(version={"N": "5"}, amount={"N": "999"})))
    p = loaded()
    with pytest.raises(VersionConflict) as info:
        make_db(fake).put(p)
    assert str(info.value) == (
        "Payment(merchant_id='m1', payment_id='p1'): version conflict: expected version 3, "
        "found version 5; reload the item and retry"
    )
    assert info.value.current.amount == 999
    assert p.version == 3


def test_put_of_a_new_instance_over_an_existing_item_is_a_version_conflict() -> None:
    fake = FakeDynamo(checked_failed(stored()))
    with pytest.raises(VersionConflict, match=r"expected no stored item .* found version 3"):
        make_db(fake).put(Payment(merchant_id="m1", payment_id="p1"))


def test_put_of_an_item_stored_without_version_expects_the_attribute_absent() -> None:
    fake = FakeDynamo(ok(Attributes=stored(version={"N": "1"})))
    make_db(fake).put(loaded(version=None))
    body = fake.last
    assert body["ConditionExpression"] == "attribute_not_exists(#n0)"
    assert body["ExpressionAttributeNames"]["#n0"] == "version"


def test_put_of_an_unversioned_model_is_a_plain_upsert() -> None:
    fake = FakeDynamo(ok(Attributes={"note_id": {"S": "n1"}, "text": {"S": "hi"}}))
    make_db(fake).put(Note(note_id="n1", text="hi"))
    assert fake.sent == [
        (
            "UpdateItem",
            {
                "TableName": "notes",
                "Key": {"note_id": {"S": "n1"}},
                "UpdateExpression": "SET #n0 = :v0",
                "ExpressionAttributeNames": {"#n0": "text"},
                "ExpressionAttributeValues": {":v0": {"S": "hi"}},
                "ReturnConsumedCapacity": "TOTAL",
                "ReturnValues": "ALL_NEW",
            },
        )
    ]


# --- get ------------------------------------------------------------------------------------


def test_get_sends_the_key_and_returns_an_instance_with_its_capacity() -> None:
    fake = FakeDynamo(
        ok(Item=stored(), ConsumedCapacity={"TableName": "payments", "CapacityUnits": 0.5})
    )
    db = make_db(fake)
    p = db.get(Payment, merchant_id="m1", payment_id="p1", consistent=True)
    assert fake.sent == [
        (
            "GetItem",
            {
                "TableName": "payments",
                "Key": KEY,
                "ReturnConsumedCapacity": "TOTAL",
                "ConsistentRead": True,
            },
        )
    ]
    assert (p.amount, p.version) == (100, 3)
    assert consumed_capacity(p) == Capacity(read=0.5, total=0.5, by_table={"payments": 0.5})
    assert db.get(key(Payment, merchant_id="m1", payment_id="p1")) == p


def test_get_of_a_missing_item_raises_not_found_naming_model_and_key() -> None:
    fake = FakeDynamo(ok())
    with pytest.raises(NotFound) as info:
        make_db(fake).get(Payment, merchant_id="m1", payment_id="nope")
    assert isinstance(info.value, LookupError)
    assert str(info.value) == (
        "Payment(merchant_id='m1', payment_id='nope') not found in table payments"
    )


def test_get_with_a_projection_returns_a_partial_instance() -> None:
    fake = FakeDynamo(ok(Item={**KEY, "amount": {"N": "100"}, "version": {"N": "3"}}))
    p = make_db(fake).get(Payment, merchant_id="m1", payment_id="p1", projection=[Payment.amount])
    body = fake.last
    assert body["ProjectionExpression"] == "#n0, #n1, #n2, #n3"
    assert body["ExpressionAttributeNames"] == {
        "#n0": "amount",
        "#n1": "merchant_id",
        "#n2": "payment_id",
        "#n3": "version",
    }
    assert (p.amount, p.version) == (100, 3)
    with pytest.raises(AttributeError, match=r"Payment\.note is not set"):
        _ = p.note
    p.amount = 1
    fake.answers = [ok(Attributes=stored(amount={"N": "1"}))]
    make_db(fake).save(p)
    assert fake.last["UpdateExpression"] == "SET #n2 = :v1, #n3 = :v2, #n1 = :v3"
    assert fake.last["ExpressionAttributeNames"]["#n2"] == "amount"


def test_save_of_a_partial_instance_leaves_unloaded_required_fields_alone() -> None:
    fake = FakeDynamo(ok(Attributes=stored()))
    p = Payment.from_item({**KEY, "note": {"S": "a"}, "version": {"N": "3"}})
    del p.__dict__["amount"]  # as get(projection=[Payment.note]) returns it
    p.note = "b"
    make_db(fake).save(p)
    assert fake.last["ExpressionAttributeNames"] == {
        "#n0": "merchant_id",
        "#n1": "version",
        "#n2": "note",
        "#n3": "updated_at",
    }


def test_save_refuses_none_in_a_field_that_is_not_optional() -> None:
    p = loaded()
    p.amount = None  # type: ignore[assignment]
    with pytest.raises(ValidationError, match=r"Payment\.amount: is None but the field is not"):
        make_db(FakeDynamo()).save(p)


def test_get_rejects_bad_keys_before_sending() -> None:
    fake = FakeDynamo()
    db = make_db(fake)
    with pytest.raises(MissingPrimaryKey, match=r"Payment\.payment_id"):
        db.get(Payment, merchant_id="m1")
    with pytest.raises(ValidationError, match="unknown amount"):
        db.get(Payment, merchant_id="m1", payment_id="p1", amount=3)
    with pytest.raises(ValidationError, match="not both"):
        db.get(key(Note, note_id="n"), note_id="n")
    assert fake.sent == []


# --- update ---------------------------------------------------------------------------------


def test_update_of_an_instance_checks_version_and_existence_and_refreshes_it() -> None:
    answer = stored(amount={"N": "150"}, version={"N": "4"}, updated_at={"S": S0})
    fake = FakeDynamo(ok(Attributes=answer, **WRITE_1))
    p = loaded()
    out = make_db(fake).update(p, Payment.amount.add(50), condition=Payment.amount < 1000)
    assert out is p
    assert fake.sent == [
        (
            "UpdateItem",
            {
                "TableName": "payments",
                "Key": KEY,
                "ConditionExpression": "attribute_exists(#n0) AND #n1 = :v0 AND #n2 < :v1",
                "UpdateExpression": "SET #n3 = :v2, #n1 = :v3 ADD #n2 :v4",
                "ExpressionAttributeNames": {
                    "#n0": "merchant_id",
                    "#n1": "version",
                    "#n2": "amount",
                    "#n3": "updated_at",
                },
                "ExpressionAttributeValues": {
                    ":v0": {"N": "3"},
                    ":v1": {"N": "1000"},
                    ":v2": {"S": S0},
                    ":v3": {"N": "4"},
                    ":v4": {"N": "50"},
                },
                "ReturnConsumedCapacity": "TOTAL",
                "ReturnValues": "ALL_NEW",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        )
    ]
    assert (p.amount, p.version, p.updated_at) == (150, 4, T0)
    assert consumed_capacity(p) is not None


def test_update_by_key_increments_the_version_without_checking_it() -> None:
    answer = stored(version={"N": "8"}, note={"S": "x"})
    write = {"ConsumedCapacity": [{"TableName": "payments", "CapacityUnits": 2.0}]}
    read = {"ConsumedCapacity": {"TableName": "payments", "CapacityUnits": 1.0}}
    fake = FakeDynamo(ok(**write), ok(Item=answer, **read))
    k = key(Payment, merchant_id="m1", payment_id="p1")
    out = make_db(fake).update(k, Payment.note.set("x"))
    # ADD 1 to the version is not idempotent: a one-action tokened transaction, then a
    # consistent read for the item to return.
    (tx_op, tx), (get_op, get) = fake.sent
    assert (tx_op, get_op) == ("TransactWriteItems", "GetItem")
    assert tx["ClientRequestToken"]
    ((entry,),) = [list(i.values()) for i in tx["TransactItems"]]
    assert entry["ConditionExpression"] == "attribute_exists(#n0)"
    assert entry["UpdateExpression"] == "SET #n1 = :v0, #n2 = :v1 ADD #n3 :v2"
    assert entry["ExpressionAttributeNames"] == {
        "#n0": "merchant_id",
        "#n1": "note",
        "#n2": "updated_at",
        "#n3": "version",
    }
    assert entry["ExpressionAttributeValues"][":v2"] == {"N": "1"}
    assert get == {
        "TableName": "payments",
        "Key": KEY,
        "ConsistentRead": True,
        "ReturnConsumedCapacity": "TOTAL",
    }
    assert isinstance(out, Payment)
    assert (out.note, out.version) == ("x", 8)
    assert consumed_capacity(out) == consumed_capacity(k)
    assert consumed_capacity(k) == Capacity(
        read=1.0, write=2.0, total=3.0, by_table={"payments": 3.0}
    )


def test_update_of_a_missing_item_raises_not_found() -> None:
    fake = FakeDynamo(
        fail(
            "TransactionCanceledException",
            "Transaction cancelled",
            CancellationReasons=[{"Code": "ConditionalCheckFailed", "Message": "failed"}],
        )
    )
    with pytest.raises(NotFound, match=r"Payment\(merchant_id='m1', payment_id='p1'\) not found"):
        make_db(fake).update(key(Payment, merchant_id="m1", payment_id="p1"), Payment.amount.add(1))


def test_update_with_a_stale_version_raises_version_conflict() -> None:
    fake = FakeDynamo(checked_failed(stored(version={"N": "9"})))
    with pytest.raises(VersionConflict, match="expected version 3, found version 9"):
        make_db(fake).update(loaded(), Payment.amount.add(1))


def test_update_whose_condition_fails_raises_condition_failed_with_the_item() -> None:
    fake = FakeDynamo(checked_failed(stored()))
    with pytest.raises(ConditionFailed) as info:
        make_db(fake).update(loaded(), Payment.amount.add(1), condition=Payment.amount > 500)
    assert type(info.value) is ConditionFailed
    assert str(info.value) == (
        "Payment(merchant_id='m1', payment_id='p1'): amount > <N> failed (the item exists)"
    )
    assert info.value.item == stored()


def test_update_refuses_key_attributes_and_the_checked_version_before_sending() -> None:
    fake = FakeDynamo()
    db = make_db(fake)
    with pytest.raises(ValidationError, match=r"Payment\.payment_id is part of the primary key"):
        db.update(loaded(), Payment.payment_id.set("p2"))
    with pytest.raises(ValidationError, match=r"Payment\.version is the version field"):
        db.update(loaded(), Payment.version.set(1))
    with pytest.raises(InvalidOperator, match="expected an update action"):
        db.update(loaded(), Payment.amount > 1)  # type: ignore[arg-type]
    assert fake.sent == []


def test_update_may_write_the_version_itself_without_the_check() -> None:
    fake = FakeDynamo(ok(Attributes=stored(version={"N": "1"})))
    make_db(fake).update(loaded(), Payment.version.set(1), check_version=False)
    body = fake.last
    assert body["ConditionExpression"] == "attribute_exists(#n0)"
    assert body["UpdateExpression"] == "SET #n1 = :v0, #n2 = :v1"
    assert body["ExpressionAttributeNames"]["#n1"] == "version"


def test_update_by_key_without_attributes_in_the_answer_is_a_protocol_error() -> None:
    fake = FakeDynamo(ok())
    with pytest.raises(ProtocolError, match="without the Attributes"):
        make_db(fake).update(key(Note, note_id="n"), Note.text.set("x"))


# --- save -----------------------------------------------------------------------------------


def test_save_sends_only_the_changes_and_keeps_undeclared_attributes() -> None:
    answer = stored(version={"N": "4"}, note={"S": "hello"}, updated_at={"S": S0})
    fake = FakeDynamo(ok(Attributes=answer))
    p = loaded(note={"S": "old"}, expires_at={"N": "1700000000"})
    p.note = "hello"
    p.expires_at = None
    make_db(fake).save(p)
    assert fake.sent == [
        (
            "UpdateItem",
            {
                "TableName": "payments",
                "Key": KEY,
                "ConditionExpression": "attribute_exists(#n0) AND #n1 = :v0",
                "UpdateExpression": "SET #n2 = :v1, #n3 = :v2, #n1 = :v3 REMOVE #n4",
                "ExpressionAttributeNames": {
                    "#n0": "merchant_id",
                    "#n1": "version",
                    "#n2": "note",
                    "#n3": "updated_at",
                    "#n4": "expires_at",
                },
                "ExpressionAttributeValues": {
                    ":v0": {"N": "3"},
                    ":v1": {"S": "hello"},
                    ":v2": {"S": S0},
                    ":v3": {"N": "4"},
                },
                "ReturnConsumedCapacity": "TOTAL",
                "ReturnValues": "ALL_NEW",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        )
    ]
    assert p.version == 4
    assert Payment.__meta__.extras(p) == {"other_team": {"S": "kept"}}


def test_save_with_nothing_changed_sends_nothing() -> None:
    fake = FakeDynamo()
    p = loaded()
    assert make_db(fake).save(p, condition=Payment.amount > 0) is p
    assert fake.sent == []
    assert consumed_capacity(p) == Capacity()


def test_save_of_a_new_instance_creates_it() -> None:
    fake = FakeDynamo(ok())
    db = make_db(fake)
    n = Note(note_id="n1", text="a")
    db.save(n)
    assert fake.sent[0][0] == "PutItem"
    assert fake.last["ConditionExpression"] == "attribute_not_exists(#n0)"
    n.text = "b"
    db.save(n)
    assert fake.sent[1][0] == "UpdateItem"
    assert fake.last["UpdateExpression"] == "SET #n1 = :v0"


def test_save_of_a_deleted_item_raises_not_found() -> None:
    fake = FakeDynamo(checked_failed(None))
    p = loaded()
    p.amount = 1
    with pytest.raises(NotFound):
        make_db(fake).save(p)


# --- delete ---------------------------------------------------------------------------------


def test_delete_of_an_instance_checks_its_version_but_tolerates_a_missing_item() -> None:
    fake = FakeDynamo(ok(**WRITE_1))
    p = loaded()
    assert make_db(fake).delete(p, condition=Payment.amount < 500) is None  # type: ignore[func-returns-value]
    # A conditional delete goes as a one-action tokened transaction (exactly once: a lost
    # answer is re-sent with the same token, which DynamoDB deduplicates).
    ((operation, body),) = fake.sent
    assert operation == "TransactWriteItems"
    assert len(body.pop("ClientRequestToken")) == 36
    assert body == {
        "TransactItems": [
            {
                "Delete": {
                    "TableName": "payments",
                    "Key": KEY,
                    "ConditionExpression": "(attribute_not_exists(#n0) OR #n1 = :v0) AND #n2 < :v1",
                    "ExpressionAttributeNames": {
                        "#n0": "merchant_id",
                        "#n1": "version",
                        "#n2": "amount",
                    },
                    "ExpressionAttributeValues": {":v0": {"N": "3"}, ":v1": {"N": "500"}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ],
        "ReturnConsumedCapacity": "TOTAL",
    }
    assert Payment.__meta__.loaded_item(p) is None  # a later save() creates it again
    assert consumed_capacity(p) is not None


def test_delete_by_key_or_without_check_sends_no_condition() -> None:
    fake = FakeDynamo(ok())
    db = make_db(fake)
    k = key(Payment, merchant_id="m1", payment_id="p1")
    db.delete(k)
    db.delete(loaded(), check_version=False)
    expected = {"TableName": "payments", "Key": KEY, "ReturnConsumedCapacity": "TOTAL"}
    assert fake.sent == [("DeleteItem", expected), ("DeleteItem", expected)]
    assert consumed_capacity(k) == Capacity()


def test_delete_with_a_stale_version_raises_version_conflict() -> None:
    fake = FakeDynamo(checked_failed(stored(version={"N": "4"})))
    with pytest.raises(VersionConflict, match="expected version 3, found version 4"):
        make_db(fake).delete(loaded())


def test_writes_need_a_model_instance_or_a_key() -> None:
    db = make_db(FakeDynamo())
    with pytest.raises(ConfigurationError, match=r"expected a model instance or a dynamorm\.key"):
        db.delete(Payment)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="needs a Model class"):
        Key(dict, {})  # type: ignore[type-var]
