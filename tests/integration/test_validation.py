"""The input checks match DynamoDB's own rules: what the engine refuses (sent raw through the
client) the library refuses before sending, and what the engine accepts the library sends."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dynamorm import DB
from dynamorm._core.errors import RequestValidationFailed, ValidationError
from dynamorm._orm.keys import key
from dynamorm._orm.model import GSI, Attr, Model, field

pytestmark = [pytest.mark.integration, pytest.mark.sync_and_async]


class Box(Model, table="boxes"):
    box_id: Attr[str] = field(pk=True)
    slot: Attr[int] = field(sk=True)
    group: Attr[str | None] = field(default=None, index=GSI("by-group", pk=True))
    label: Attr[str | None] = field(default=None, index=GSI("by-group", sk=True))
    content: Attr[Any] = field(default=None)
    amount: Attr[Decimal] = field(default=Decimal(0))


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": value}
    return value


def _raw_put(db: DB, item: dict[str, Any]) -> None:
    db.client.call("PutItem", {"TableName": db.table_name("boxes"), "Item": item})


@pytest.fixture
def boxes(db: DB) -> DB:
    db.create_table(Box)
    return db


def test_nesting_limit_is_the_engines(boxes: DB) -> None:
    boxes.create(Box(box_id="b", slot=31, content=_nested(31)))
    assert boxes.get(Box, box_id="b", slot=31).content == _nested(31)
    with pytest.raises(ValidationError, match="nests more than 31 maps/lists"):
        boxes.create(Box(box_id="b", slot=32, content=_nested(32)))
    too_deep = Box(box_id="b", slot=32).to_item()
    too_deep["content"] = {
        "M": {"k": Box(box_id="x", slot=1, content=_nested(31)).to_item()["content"]}
    }
    with pytest.raises(RequestValidationFailed, match="Nesting Levels"):
        _raw_put(boxes, too_deep)


def test_empty_map_keys_are_refused_like_the_engine(boxes: DB) -> None:
    item = {"box_id": {"S": "b"}, "slot": {"N": "1"}, "content": {"M": {"": {"S": "x"}}}}
    with pytest.raises(RequestValidationFailed):
        _raw_put(boxes, item)
    with pytest.raises(ValidationError, match="map keys cannot be empty"):
        boxes.create(Box(box_id="b", slot=1, content={"": "x"}))


def test_index_sort_key_limit_is_the_engines(boxes: DB) -> None:
    boxes.create(Box(box_id="b", slot=1, group="g", label="x" * 1024))
    item = {
        "box_id": {"S": "b"},
        "slot": {"N": "2"},
        "group": {"S": "g"},
        "label": {"S": "x" * 1025},
    }
    with pytest.raises(RequestValidationFailed):
        _raw_put(boxes, item)
    with pytest.raises(ValidationError, match="1024-byte sort key limit of index 'by-group'"):
        boxes.create(Box(box_id="b", slot=2, group="g", label="x" * 1025))
    with pytest.raises(ValidationError, match="1024-byte sort key limit"):
        boxes.update(key(Box, box_id="b", slot=1), Box.label.set("y" * 1025))


def test_between_bounds_are_checked_like_the_engine(boxes: DB) -> None:
    payload = {
        "TableName": boxes.table_name("boxes"),
        "KeyConditionExpression": "box_id = :b AND slot BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {":b": {"S": "b"}, ":lo": {"N": "10"}, ":hi": {"N": "9"}},
    }
    with pytest.raises(RequestValidationFailed):
        boxes.client.call("Query", payload)
    where = (Box.box_id == "b") & Box.slot.between(10, 9)
    with pytest.raises(ValidationError, match="lower bound above its upper bound"):
        boxes.query(Box).where(where).all()
    assert boxes.query(Box).where((Box.box_id == "b") & Box.slot.between(9, 10)).all() == []


def test_numbers_name_one_item_in_transactions(boxes: DB) -> None:
    class Account(Model, table="accounts"):
        account_id: Attr[Decimal] = field(pk=True)
        n: Attr[int] = field(default=0)

    boxes.create_table(Account)
    table = boxes.table_name("accounts")
    for text in ("1", "1.0", "1.00"):  # the engine stores one item for all three
        boxes.client.call("PutItem", {"TableName": table, "Item": {"account_id": {"N": text}}})
    assert boxes.client.call("Scan", {"TableName": table})["Count"] == 1
    tx = boxes.transaction()
    tx.create(Account(account_id=Decimal("1")))
    with pytest.raises(ValidationError, match="already has an action"):
        tx.check(key(Account, account_id=Decimal("1.0")), Account.n == 0)
