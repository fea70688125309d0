"""Transactions and transact_get: request shapes, limits, retries, cancellation mapping."""

from __future__ import annotations

from typing import Any

import pytest

from dynamorm._core.errors import (
    AlreadyExists,
    ConditionFailed,
    NotFound,
    RequestValidationFailed,
    TransactionCanceled,
    ValidationError,
    VersionConflict,
)
from dynamorm._orm.keys import key
from dynamorm._orm.results import Capacity
from dynamorm._orm.transaction import MAX_TRANSACTION_ACTIONS
from tests.unit.test_crud import (
    KEY,
    S0,
    FakeDynamo,
    Note,
    Payment,
    fail,
    loaded,
    make_db,
    ok,
    stored,
)

TX_CAPACITY = {
    "ConsumedCapacity": [
        {"TableName": "payments", "CapacityUnits": 4.0},
        {"TableName": "notes", "CapacityUnits": 2.0},
    ]
}


def canceled(
    *codes: str, items: dict[int, dict[str, Any]] | None = None
) -> tuple[int, dict[str, Any]]:
    reasons: list[dict[str, Any]] = []
    for index, code in enumerate(codes):
        reason: dict[str, Any] = {"Code": code}
        if code != "None":
            reason["Message"] = f"{code} happened"
        if items and index in items:
            reason["Item"] = items[index]
        reasons.append(reason)
    return fail(
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons "
        f"[{', '.join(codes)}]",
        CancellationReasons=reasons,
    )


def test_a_transaction_sends_every_action_in_one_request_on_exit() -> None:
    fake = FakeDynamo(ok(**TX_CAPACITY))
    db = make_db(fake)
    created = Payment(merchant_id="m1", payment_id="p2", amount=5)
    updated = loaded()
    gone = Note(note_id="n1")
    with db.transaction(token="tok-1") as tx:
        tx.create(created)
        tx.update(updated, Payment.amount.add(1))
        tx.delete(gone)
        tx.check(key(Note, note_id="n2"), Note.text == "ok")
        assert len(tx) == 4
        assert fake.sent == []
    assert fake.sent == [
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {
                        "Put": {
                            "TableName": "payments",
                            "Item": {
                                "merchant_id": {"S": "m1"},
                                "payment_id": {"S": "p2"},
                                "amount": {"N": "5"},
                                "version": {"N": "0"},
                                "created_at": {"S": S0},
                                "updated_at": {"S": S0},
                            },
                            "ConditionExpression": "attribute_not_exists(#n0)",
                            "ExpressionAttributeNames": {"#n0": "merchant_id"},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Update": {
                            "TableName": "payments",
                            "Key": KEY,
                            "ConditionExpression": "attribute_exists(#n0) AND #n1 = :v0",
                            "UpdateExpression": "SET #n2 = :v1, #n1 = :v2 ADD #n3 :v3",
                            "ExpressionAttributeNames": {
                                "#n0": "merchant_id",
                                "#n1": "version",
                                "#n2": "updated_at",
                                "#n3": "amount",
                            },
                            "ExpressionAttributeValues": {
                                ":v0": {"N": "3"},
                                ":v1": {"S": S0},
                                ":v2": {"N": "4"},
                                ":v3": {"N": "1"},
                            },
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {"Delete": {"TableName": "notes", "Key": {"note_id": {"S": "n1"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": "notes",
                            "Key": {"note_id": {"S": "n2"}},
                            "ConditionExpression": "#n0 = :v0",
                            "ExpressionAttributeNames": {"#n0": "text"},
                            "ExpressionAttributeValues": {":v0": {"S": "ok"}},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                ],
                "ClientRequestToken": "tok-1",
                "ReturnConsumedCapacity": "TOTAL",
            },
        )
    ]
    assert tx.consumed == Capacity(write=6.0, total=6.0, by_table={"payments": 4.0, "notes": 2.0})
    assert db.consumed == tx.consumed


def test_lifecycle_values_reach_the_instances_only_after_the_commit() -> None:
    fake = FakeDynamo(ok())
    db = make_db(fake)
    new = Payment(merchant_id="m1", payment_id="p2")
    old = loaded()
    with db.transaction() as tx:
        tx.create(new)
        tx.put(old)
        assert "created_at" not in new.__dict__
        assert old.version == 3
    assert (new.version, new.created_at.isoformat()) == (0, "2024-01-02T03:04:05.123456+00:00")
    assert old.version == 4
    assert Payment.__meta__.changed(new) == []
    assert Payment.__meta__.changed(old) == []


def test_a_tx_update_unsets_the_attributes_its_actions_wrote() -> None:
    fake = FakeDynamo(ok())
    p = loaded(note={"S": "x"})
    with make_db(fake).transaction() as tx:
        tx.update(p, Payment.amount.add(5))
    assert (p.version, p.note) == (4, "x")
    with pytest.raises(AttributeError, match=r"Payment\.amount is not set"):
        _ = p.amount
    db = make_db(fake)
    db.save(p)
    assert len(fake.sent) == 1  # nothing changed since the commit
    p.note = "y"
    db.save(p)
    assert fake.last["UpdateExpression"] == "SET #n2 = :v1, #n3 = :v2, #n1 = :v3"
    assert fake.last["ExpressionAttributeNames"]["#n2"] == "note"
    assert fake.last["ExpressionAttributeValues"][":v0"] == {"N": "4"}


def test_an_exception_in_the_block_sends_nothing() -> None:
    fake = FakeDynamo(ok())
    p = loaded()
    tx = make_db(fake).transaction()

    def block() -> None:
        with tx:
            tx.put(p)
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError):
        block()
    assert fake.sent == []
    assert p.version == 3
    with pytest.raises(ValidationError, match="this transaction is abandoned"):
        tx.put(p)


def test_the_101st_action_raises_before_anything_is_sent() -> None:
    fake = FakeDynamo(ok())

    def block() -> None:
        with make_db(fake).transaction() as tx:
            for i in range(MAX_TRANSACTION_ACTIONS + 1):
                tx.create(Note(note_id=f"n{i}"))

    with pytest.raises(ValidationError) as info:
        block()
    assert str(info.value) == (
        "a transaction holds at most 100 actions; create(Note(note_id='n100')) would be "
        "action 101 (nothing was sent; split the work into transactions yourself if "
        "atomicity across them is not needed)"
    )
    assert fake.sent == []


def test_items_over_4_mb_in_all_raise_before_anything_is_sent() -> None:
    fake = FakeDynamo(ok())

    def block() -> None:
        with make_db(fake).transaction() as tx:
            for i in range(20):  # 20 x ~300 KB: the 14th passes 4 MB
                tx.create(Note(note_id=f"n{i}", text="x" * 300_000))

    with pytest.raises(
        ValidationError, match=r"create\(Note\(note_id='n13'\)\) would bring"
    ) as info:
        block()
    assert "over DynamoDB's 4,194,304-byte limit (nothing was sent)" in str(info.value)
    assert fake.sent == []


def test_a_second_action_on_the_same_item_is_refused() -> None:
    fake = FakeDynamo(ok())
    tx = make_db(fake).transaction()
    tx.update(loaded(), Payment.amount.add(1))
    with pytest.raises(ValidationError) as info:
        tx.check(key(Payment, merchant_id="m1", payment_id="p1"), Payment.amount > 0)
    assert str(info.value) == (
        "Payment(merchant_id='m1', payment_id='p1') already has an action in this "
        "transaction; DynamoDB allows one action per item (combine them into one update)"
    )
    assert fake.sent == []


def test_an_empty_transaction_sends_nothing_and_a_committed_one_is_closed() -> None:
    fake = FakeDynamo(ok())
    with make_db(fake).transaction() as tx:
        pass
    assert fake.sent == []
    with pytest.raises(ValidationError, match="this transaction is committed"):
        tx.create(Note(note_id="late"))


def test_a_check_needs_a_condition_unless_it_checks_a_version() -> None:
    with pytest.raises(ValidationError, match=r"check\(Note\(note_id='n'\)\) needs a condition"):
        make_db(FakeDynamo()).transaction().check(key(Note, note_id="n"))
    fake = FakeDynamo(ok())
    with make_db(fake).transaction() as tx:
        tx.check(loaded())
    (entry,) = fake.last["TransactItems"]
    assert entry["ConditionCheck"]["ConditionExpression"] == "#n0 = :v0"


def test_conflicts_are_retried_with_the_same_client_request_token() -> None:
    fake = FakeDynamo(
        canceled("None", "TransactionConflict"),
        fail("TransactionConflictException", "conflict"),
        canceled("ThrottlingError", "None"),
        ok(),
    )
    p = loaded()
    with make_db(fake).transaction() as tx:
        tx.put(p)
        tx.create(Note(note_id="n"))
    assert [op for op, _ in fake.sent] == ["TransactWriteItems"] * 4
    tokens = {body["ClientRequestToken"] for _, body in fake.sent}
    assert tokens == {tx.token}
    assert len(tx.token) == 36  # a UUID
    assert p.version == 4


def test_retries_are_bounded_by_the_retry_policy() -> None:
    fake = FakeDynamo(canceled("TransactionConflict"))
    tx = make_db(fake).transaction()
    tx.create(Note(note_id="n"))
    with pytest.raises(TransactionCanceled) as info, tx:
        pass
    assert len(fake.sent) == 4
    assert info.value.attempts == 4
    assert [(f.index, f.code, f.error) for f in info.value.failures] == [
        (0, "TransactionConflict", None)
    ]


def test_cancellation_reasons_are_mapped_to_their_actions_and_items() -> None:
    fake = FakeDynamo(
        canceled(
            "None",
            "ConditionalCheckFailed",
            "ConditionalCheckFailed",
            "ConditionalCheckFailed",
            "ConditionalCheckFailed",
            items={1: stored(version={"N": "7"}), 2: {"note_id": {"S": "n1"}}},
        )
    )
    stale = loaded()
    dup = Note(note_id="n1")
    gone = key(Payment, merchant_id="m1", payment_id="gone")
    tx = make_db(fake).transaction()
    tx.create(Note(note_id="fine"))
    tx.put(stale)
    tx.create(dup)
    tx.update(gone, Payment.amount.add(1))
    tx.check(key(Note, note_id="n9"), Note.text == "x")
    with pytest.raises(TransactionCanceled) as info, tx:
        pass
    assert len(fake.sent) == 1  # a failed condition is never retried
    failures = info.value.failures
    assert [(f.index, f.action, f.code) for f in failures] == [
        (1, "put", "ConditionalCheckFailed"),
        (2, "create", "ConditionalCheckFailed"),
        (3, "update", "ConditionalCheckFailed"),
        (4, "check", "ConditionalCheckFailed"),
    ]
    assert failures[0].target is stale
    assert isinstance(failures[0].error, VersionConflict)
    assert failures[0].error.current.version == 7
    assert failures[0].item == stored(version={"N": "7"})
    assert isinstance(failures[1].error, AlreadyExists)
    assert failures[1].target is dup
    assert isinstance(failures[2].error, NotFound)
    assert failures[2].target is gone
    assert type(failures[3].error) is ConditionFailed
    assert str(info.value) == (
        "transaction canceled: action 1 (put): VersionConflict: Payment(merchant_id='m1', "
        "payment_id='p1'): version conflict: expected version 3, found version 7; reload the "
        "item and retry; action 2 (create): AlreadyExists: Note(note_id='n1') already "
        "exists; create() never overwrites (put() replaces it); action 3 (update): NotFound: "
        "Payment(merchant_id='m1', payment_id='gone') not found; update() changes an "
        "existing item only; action 4 (check): ConditionFailed: Note(note_id='n9'): "
        "text = <S> failed (the item does not exist) [table notes,payments, "
        "region us-east-1, endpoint http://127.0.0.1:9]"
    )
    assert stale.version == 3  # nothing applied


# --- transact_get ---------------------------------------------------------------------------


def test_transact_get_reads_keys_instances_and_model_key_pairs_in_order() -> None:
    fake = FakeDynamo(
        ok(
            Responses=[{"Item": stored()}, {}, {"Item": {"note_id": {"S": "n1"}}}],
            ConsumedCapacity=[{"TableName": "payments", "CapacityUnits": 4.0}],
        )
    )
    got = make_db(fake).transact_get(
        [
            key(Payment, merchant_id="m1", payment_id="p1"),
            (Payment, {"merchant_id": "m1", "payment_id": "nope"}),
            Note(note_id="n1"),
        ]
    )
    assert fake.sent == [
        (
            "TransactGetItems",
            {
                "TransactItems": [
                    {"Get": {"TableName": "payments", "Key": KEY}},
                    {
                        "Get": {
                            "TableName": "payments",
                            "Key": {"merchant_id": {"S": "m1"}, "payment_id": {"S": "nope"}},
                        }
                    },
                    {"Get": {"TableName": "notes", "Key": {"note_id": {"S": "n1"}}}},
                ],
                "ReturnConsumedCapacity": "TOTAL",
            },
        )
    ]
    assert [type(x).__name__ for x in got] == ["Payment", "NoneType", "Note"]
    assert got[0] == loaded()
    assert got.consumed == Capacity(read=4.0, total=4.0, by_table={"payments": 4.0})


def test_transact_get_limits_are_checked_before_sending() -> None:
    fake = FakeDynamo()
    db = make_db(fake)
    with pytest.raises(ValidationError, match="takes 1 to 100 keys, got 101"):
        db.transact_get([key(Note, note_id=str(i)) for i in range(101)])
    with pytest.raises(ValidationError, match="takes 1 to 100 keys, got 0"):
        db.transact_get([])
    with pytest.raises(ValidationError, match=r"Note\(note_id='a'\) is listed twice"):
        db.transact_get([key(Note, note_id="a"), Note(note_id="a")])
    with pytest.raises(ValidationError, match="a transact_get"):
        db.transact_get([(Note, "a")])  # type: ignore[arg-type]
    assert fake.sent == []


def test_a_client_request_token_must_fit_dynamodb_limits() -> None:
    db = make_db(FakeDynamo())
    for bad in ("", "x" * 37):
        with pytest.raises(ValidationError, match="a transaction token is a str of 1 to 36"):
            db.transaction(token=bad)
    assert db.transaction(token="x" * 36).token == "x" * 36


def test_a_commit_that_fails_otherwise_leaves_the_instances_alone() -> None:
    fake = FakeDynamo(fail("ValidationException", "Transaction request cannot include ..."))
    p = loaded()
    tx = make_db(fake).transaction()
    tx.put(p)
    with pytest.raises(RequestValidationFailed, match="cannot include"), tx:
        pass
    assert p.version == 3
    assert "failed" in repr(tx)
