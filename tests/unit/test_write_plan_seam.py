"""The write-plan seam: a feature's extender adds actions and conditions to every write."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dynamorm._core.errors import (
    AlreadyExists,
    ConditionFailed,
    DynamORMError,
    TransactionCanceled,
    ValidationError,
)
from dynamorm._core.expressions import Path, build_expressions
from dynamorm._orm.base import DBBase
from dynamorm._orm.meta import Item
from dynamorm._orm.model import Attr, Model, field
from dynamorm._orm.writes import ExtraAction, WritePlan
from tests.unit.test_crud import FakeDynamo, fail, make_db, ok


class Doc(Model, table="docs"):
    doc_id: Attr[str] = field(pk=True)
    text: Attr[str] = field(default="")


class Marker(DynamORMError):
    """The error the fake feature maps its failed action to."""


class Journal:
    """A fake feature: every write also puts a journal item, conditioned on it being new."""

    batch_refusal = "each write is journaled"

    def extend(self, plan: WritePlan, db: DBBase) -> None:
        key: Item = {"doc_id": {"S": "journal#" + plan.key["doc_id"]["S"]}}
        body = {
            "TableName": plan.body["TableName"],
            "Item": {**key, "kind": {"S": plan.kind}},
            **build_expressions(condition=Path("doc_id").not_exists()),
        }
        plan.extra.append(
            ExtraAction("Put", body, key=key, label="journal", explain=lambda item: Marker("j"))
        )
        plan.require(Path("text").not_exists() | (Path("text") != "locked"))


@pytest.fixture(autouse=True)
def journaled() -> Iterator[None]:
    Doc.__meta__.extenders.append(Journal())
    yield
    Doc.__meta__.extenders.clear()


def test_an_extended_single_write_is_one_tokened_transaction() -> None:
    fake = FakeDynamo(ok())
    doc = make_db(fake).create(Doc(doc_id="d1", text="hi"))
    assert doc.text == "hi"
    [(operation, payload)] = fake.sent
    assert operation == "TransactWriteItems"
    assert len(payload["ClientRequestToken"]) == 36
    main, extra = payload["TransactItems"]
    assert main["Put"]["ConditionExpression"] == (
        "attribute_not_exists(#n0) AND (attribute_not_exists(#n1) OR #n1 <> :v0)"
    )
    assert main["Put"]["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert extra["Put"]["Item"] == {"doc_id": {"S": "journal#d1"}, "kind": {"S": "create"}}
    assert extra["Put"]["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"


def cancel(*codes: str) -> tuple[int, dict[str, Any]]:
    reasons = [{"Code": c, "Item": {"doc_id": {"S": "d1"}}} for c in codes]
    return fail("TransactionCanceledException", "canceled", CancellationReasons=reasons)


def test_a_failed_extra_action_raises_the_error_its_feature_maps() -> None:
    fake = FakeDynamo(cancel("None", "ConditionalCheckFailed"))
    with pytest.raises(Marker) as caught:
        make_db(fake).create(Doc(doc_id="d1"))
    assert isinstance(caught.value.__cause__, TransactionCanceled)


def test_the_main_action_failure_wins_and_keeps_its_usual_error() -> None:
    fake = FakeDynamo(cancel("ConditionalCheckFailed", "ConditionalCheckFailed"))
    with pytest.raises(AlreadyExists):
        make_db(fake).create(Doc(doc_id="d1"))


def test_a_non_condition_cancellation_stays_a_transaction_canceled() -> None:
    fake = FakeDynamo(cancel("None", "ValidationError"))
    with pytest.raises(TransactionCanceled, match=r"action 1 \(create: journal\)"):
        make_db(fake).create(Doc(doc_id="d1"))


def test_an_update_by_key_reads_the_item_back_after_the_transaction() -> None:
    fake = FakeDynamo(ok(), ok(Item={"doc_id": {"S": "d1"}, "text": {"S": "new"}}))
    from dynamorm._orm.keys import key

    doc = make_db(fake).update(key(Doc, doc_id="d1"), Doc.text.set("new"))
    assert doc.text == "new"
    assert [op for op, _ in fake.sent] == ["TransactWriteItems", "GetItem"]
    assert fake.sent[1][1]["ConsistentRead"] is True


def test_in_a_transaction_extra_actions_join_count_and_map_per_action() -> None:
    fake = FakeDynamo(cancel("None", "None", "None", "ConditionalCheckFailed"))
    db = make_db(fake)
    tx = db.transaction()
    tx.create(Doc(doc_id="d1"))
    tx.put(Doc(doc_id="d2"))
    assert len(tx) == 4
    with pytest.raises(TransactionCanceled) as caught:
        tx.__exit__(None, None, None)
    [failure] = caught.value.failures
    assert (failure.index, failure.action) == (3, "put: journal")
    assert isinstance(failure.error, Marker)
    assert len(fake.sent[0][1]["TransactItems"]) == 4


def test_an_extra_action_on_an_item_already_in_the_transaction_is_refused() -> None:
    fake = FakeDynamo(ok())
    db = make_db(fake)
    tx = db.transaction()
    tx.create(Doc(doc_id="journal#d2"))
    with pytest.raises(ValidationError, match="journal already has an action"):
        tx.put(Doc(doc_id="d2"))  # its journal item is the item written above
    assert fake.sent == []


def test_batch_writes_of_an_extended_model_are_refused() -> None:
    db = make_db(FakeDynamo(ok()))
    with pytest.raises(ValidationError, match=r"Doc cannot be written in a batch \(each write"):
        db.batch_write().put(Doc(doc_id="d1"))


def test_an_extra_action_without_explain_maps_to_condition_failed() -> None:
    action = ExtraAction("Delete", {"TableName": "t", "Key": {}}, key={}, label="x")
    error = action.failure(None)
    assert type(error) is ConditionFailed
    assert str(error) == "x: condition failed (the item does not exist)"
    assert action.transact_item() == {"Delete": {"TableName": "t", "Key": {}}}
