"""create/put/get/update/save/delete against DynamoDB Local over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import pytest

from dynamorm import DB
from dynamorm._core.errors import (
    AlreadyExists,
    ConditionFailed,
    NotFound,
    VersionConflict,
)
from dynamorm._core.expressions import Path
from dynamorm._orm.crud import consumed_capacity
from dynamorm._orm.keys import key
from dynamorm._orm.model import Attr, Model, field

pytestmark = [pytest.mark.integration, pytest.mark.sync_and_async]

T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    status: Attr[str] = field(default="pending")
    note: Attr[str | None] = field(default=None)
    version: Attr[int] = field(version=True)
    created_at: Attr[datetime] = field(created_at=True)
    updated_at: Attr[datetime] = field(updated_at=True)
    expires_at: Attr[datetime | None] = field(ttl=True, default=None)


class Note(Model, table="notes"):
    note_id: Attr[str] = field(pk=True)
    text: Attr[str] = field(default="")


def ticking(start: datetime = T0) -> Callable[[], datetime]:
    """A clock that moves one second per reading."""
    ticks = iter(range(10**6))
    return lambda: start + timedelta(seconds=next(ticks))


@pytest.fixture
def pdb(db: DB) -> DB:
    db.create_table(Payment)
    db.create_table(Note)
    db.clock = ticking()
    return db


def raw_item(db: DB, table: str, key_item: Mapping[str, object]) -> dict[str, object]:
    response = db.client.call(
        "GetItem", {"TableName": db.table_name(table), "Key": key_item, "ConsistentRead": True}
    )
    item: dict[str, object] = response["Item"]
    return item


KEY = {"merchant_id": {"S": "m1"}, "payment_id": {"S": "p1"}}


def new_payment(**values: object) -> Payment:
    values.setdefault("amount", 100)
    return Payment(merchant_id="m1", payment_id="p1", **values)  # type: ignore[arg-type]


def test_create_twice_raises_already_exists_with_the_current_item(pdb: DB) -> None:
    first = pdb.create(new_payment())
    assert (first.version, first.created_at, first.updated_at) == (0, T0, T0)
    with pytest.raises(AlreadyExists) as info:
        pdb.create(new_payment(status="other"))
    assert isinstance(info.value, ConditionFailed)
    assert info.value.current == first
    assert info.value.item == raw_item(pdb, "payments", KEY)
    assert pdb.get(Payment, merchant_id="m1", payment_id="p1").status == "pending"


def test_get_returns_what_was_written_and_not_found_is_a_lookup_error(pdb: DB) -> None:
    written = pdb.create(new_payment(note="hi", expires_at=T0 + timedelta(days=30)))
    got = pdb.get(Payment, merchant_id="m1", payment_id="p1", consistent=True)
    assert got == written
    capacity = consumed_capacity(got)
    assert capacity is not None
    assert capacity.read > 0
    assert consumed_capacity(written) is not None
    with pytest.raises(LookupError, match=r"Payment\(merchant_id='m1', payment_id='zz'\) not"):
        pdb.get(Payment, merchant_id="m1", payment_id="zz")
    with pytest.raises(NotFound):
        pdb.get(key(Note, note_id="nope"))
    assert pdb.consumed.write >= 1
    assert pdb.consumed.read >= 1


def test_get_with_a_projection_returns_a_partial_instance_that_saves_safely(pdb: DB) -> None:
    pdb.create(new_payment(note="n"))
    part = pdb.get(Payment, merchant_id="m1", payment_id="p1", projection=[Payment.status])
    assert (part.status, part.version) == ("pending", 0)
    with pytest.raises(AttributeError):
        _ = part.amount
    part.status = "settled"
    pdb.save(part)
    full = pdb.get(Payment, merchant_id="m1", payment_id="p1")
    assert (full.status, full.amount, full.note, full.version) == ("settled", 100, "n", 1)


def test_put_keeps_created_at_and_stamps_updated_at_and_the_version(pdb: DB) -> None:
    created = pdb.create(new_payment())
    again = pdb.get(Payment, merchant_id="m1", payment_id="p1")
    again.amount = 5
    pdb.put(again)
    assert again.created_at == T0
    assert again.updated_at > created.updated_at
    assert again.version == 1
    stored = pdb.get(Payment, merchant_id="m1", payment_id="p1")
    assert stored == again
    # an unchecked put of a brand-new instance: created_at is still kept by the table
    fresh = new_payment()
    fresh.created_at = T0 + timedelta(days=9)
    pdb.put(fresh, check_version=False)
    assert fresh.created_at == T0
    assert pdb.get(Payment, merchant_id="m1", payment_id="p1").created_at == T0


def test_put_of_a_new_instance_creates_it_and_never_overwrites_unseen_versions(pdb: DB) -> None:
    p = pdb.put(new_payment())
    assert (p.version, p.created_at) == (0, T0)
    with pytest.raises(VersionConflict) as info:
        pdb.put(new_payment(amount=1))
    assert info.value.current == p


def test_stale_versions_raise_version_conflict_with_the_current_item(pdb: DB) -> None:
    pdb.create(new_payment())
    mine = pdb.get(Payment, merchant_id="m1", payment_id="p1")
    theirs = pdb.get(Payment, merchant_id="m1", payment_id="p1")
    pdb.update(theirs, Payment.amount.add(1))
    assert theirs.version == 1
    for write in (
        lambda: pdb.update(mine, Payment.amount.add(5)),
        lambda: pdb.put(mine),
        lambda: pdb.delete(mine),
    ):
        with pytest.raises(VersionConflict) as info:
            write()
        assert info.value.current == theirs
        assert "expected version 0, found version 1" in str(info.value)
    mine.amount = 7
    with pytest.raises(VersionConflict):
        pdb.save(mine)
    assert pdb.get(Payment, merchant_id="m1", payment_id="p1") == theirs


def test_update_returns_all_new_and_never_restamps_created_at(pdb: DB) -> None:
    p = pdb.create(new_payment())
    out = pdb.update(p, Payment.amount.add(50), Payment.note.set("x"))
    assert out is p
    assert (p.amount, p.note, p.version, p.created_at) == (150, "x", 1, T0)
    assert p.updated_at > T0
    by_key = pdb.update(key(Payment, merchant_id="m1", payment_id="p1"), Payment.note.remove())
    assert (by_key.note, by_key.version, by_key.created_at) == (None, 2, T0)
    assert by_key.updated_at > p.updated_at
    capacity = consumed_capacity(by_key)
    assert capacity is not None
    assert capacity.write >= 1
    with pytest.raises(NotFound):
        pdb.update(key(Payment, merchant_id="m1", payment_id="nope"), Payment.amount.add(1))


def test_save_sends_only_the_diff_and_keeps_attributes_written_by_others(pdb: DB) -> None:
    p = pdb.create(new_payment(note="a"))
    pdb.client.call(
        "UpdateItem",
        {
            "TableName": pdb.table_name("payments"),
            "Key": KEY,
            "UpdateExpression": "SET other_team = :o, amount = :a",
            "ExpressionAttributeValues": {":o": {"S": "theirs"}, ":a": {"N": "999"}},
        },
    )
    p.note = None
    p.status = "settled"
    pdb.save(p)  # unversioned change by the other writer: amount is not in our diff
    item = raw_item(pdb, "payments", KEY)
    assert item["other_team"] == {"S": "theirs"}
    assert item["amount"] == {"N": "999"}
    assert item["status"] == {"S": "settled"}
    assert "note" not in item
    assert p.amount == 999  # refreshed from ALL_NEW
    assert Payment.__meta__.extras(p) == {"other_team": {"S": "theirs"}}
    before = raw_item(pdb, "payments", KEY)
    pdb.save(p)  # nothing changed: no request
    assert raw_item(pdb, "payments", KEY) == before


def test_a_full_put_keeps_undeclared_attributes_too(pdb: DB) -> None:
    pdb.create(Note(note_id="n1", text="a"))
    pdb.client.call(
        "UpdateItem",
        {
            "TableName": pdb.table_name("notes"),
            "Key": {"note_id": {"S": "n1"}},
            "UpdateExpression": "SET extra = :e",
            "ExpressionAttributeValues": {":e": {"N": "1"}},
        },
    )
    pdb.put(Note(note_id="n1", text="b"))
    item = raw_item(pdb, "notes", {"note_id": {"S": "n1"}})
    token = item.pop("_dm_tok")  # the write token of the last write (see docs/failures.md)
    assert item == {"note_id": {"S": "n1"}, "text": {"S": "b"}, "extra": {"N": "1"}}
    assert isinstance(token, dict)
    assert len(token["S"]) == 12


def test_every_write_takes_a_condition(pdb: DB) -> None:
    blocked = Payment.status == "blocked"
    with pytest.raises(ConditionFailed) as info:
        pdb.create(new_payment(), condition=Path("anything").exists())
    assert info.value.item is None
    p = pdb.create(new_payment())
    for write in (
        lambda: pdb.put(p, condition=blocked),
        lambda: pdb.update(p, Payment.amount.add(1), condition=blocked),
        lambda: pdb.delete(p, condition=blocked),
    ):
        with pytest.raises(ConditionFailed) as info:
            write()
        assert type(info.value) is ConditionFailed
        assert info.value.current == p
    p.amount = 1
    with pytest.raises(ConditionFailed, match="status = <S> failed"):
        pdb.save(p, condition=blocked)
    pdb.save(p, condition=Payment.status == "pending")
    pdb.update(p, Payment.amount.add(1), condition=Payment.amount == 1)
    pdb.put(p, condition=Payment.amount == 2)
    pdb.delete(p, condition=Payment.amount == 2)
    with pytest.raises(NotFound):
        pdb.get(Payment, merchant_id="m1", payment_id="p1")


def test_delete_checks_the_version_and_tolerates_an_item_already_gone(pdb: DB) -> None:
    p = pdb.create(new_payment())
    pdb.delete(key(Payment, merchant_id="m1", payment_id="p1"))
    pdb.delete(p)  # already gone: no conflict
    pdb.save(p)  # a deleted instance saves as a create
    assert pdb.get(Payment, merchant_id="m1", payment_id="p1").version == 0
    capacity = consumed_capacity(p)
    assert capacity is not None
    assert capacity.write >= 1
