"""Loaded state: undeclared attributes survive a round trip; changes since load are tracked."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dynamorm._core.errors import ValidationError
from dynamorm._orm.model import Attr, Model, field


class Profile(Model):
    nickname: Attr[str]
    extra_note: Attr[str | None] = field(default=None)


class Account(Model, table="accounts"):
    account_id: Attr[str] = field(pk=True)
    balance: Attr[Decimal] = field(default=Decimal(0))
    owner: Attr[str] = field(default="")
    tags: Attr[set[str]] = field(default_factory=set)
    profile: Attr[Profile | None] = field(default=None)
    note: Attr[str | None] = field(default=None)
    version: Attr[int] = field(version=True)


STORED = {
    "account_id": {"S": "a1"},
    "balance": {"N": "10.50"},
    "owner": {"S": "ann"},
    "tags": {"SS": ["x", "y"]},
    "note": {"S": "hello"},
    "version": {"N": "3"},
    "legacy_flag": {"BOOL": True},
    "GSI1PK": {"S": "TENANT#9"},
    "profile": {"M": {"nickname": {"S": "an"}, "since": {"N": "2019"}}},
}


def test_undeclared_attributes_are_kept_on_write_back() -> None:
    account = Account.from_item(STORED)
    account.balance = Decimal("11")
    item = account.to_item()
    assert item["legacy_flag"] == {"BOOL": True}
    assert item["GSI1PK"] == {"S": "TENANT#9"}
    assert item["profile"] == {"M": {"nickname": {"S": "an"}, "since": {"N": "2019"}}}
    assert item["balance"] == {"N": "11"}
    assert Account.__meta__.extras(account) == {
        "legacy_flag": {"BOOL": True},
        "GSI1PK": {"S": "TENANT#9"},
    }


def test_new_instances_have_no_extras_and_no_loaded_item() -> None:
    account = Account(account_id="a1")
    assert Account.__meta__.extras(account) == {}
    assert Account.__meta__.loaded_item(account) is None


def test_nothing_changed_right_after_load() -> None:
    account = Account.from_item(STORED)
    meta = Account.__meta__
    assert meta.changed(account) == []
    assert meta.diff(account) == ({}, [])


def test_assignments_and_in_place_mutations_are_changes() -> None:
    account = Account.from_item(STORED)
    account.owner = "bob"
    account.tags.add("z")
    assert account.profile is not None
    account.profile.nickname = "annie"
    meta = Account.__meta__
    assert meta.changed(account) == ["owner", "tags", "profile"]
    sets, removes = meta.diff(account)
    assert sets["owner"] == {"S": "bob"}
    assert sorted(sets["tags"]["SS"]) == ["x", "y", "z"]
    assert sets["profile"] == {"M": {"since": {"N": "2019"}, "nickname": {"S": "annie"}}}
    assert removes == []


def test_equal_values_are_not_changes() -> None:
    account = Account.from_item(STORED)
    account.balance = Decimal("10.5")
    account.tags = {"y", "x"}
    assert Account.__meta__.changed(account) == []


def test_clearing_a_field_removes_the_attribute() -> None:
    account = Account.from_item(STORED)
    account.note = None
    account.tags = set()
    sets, removes = Account.__meta__.diff(account)
    assert sets == {}
    assert removes == ["tags", "note"]


def test_key_attributes_never_appear_in_a_diff() -> None:
    account = Account.from_item(STORED)
    account.account_id = "other"
    assert Account.__meta__.changed(account) == ["account_id"]
    assert Account.__meta__.diff(account) == ({}, [])


def test_partial_items_leave_unloaded_fields_alone() -> None:
    account = Account.from_item({"account_id": {"S": "a1"}, "owner": {"S": "ann"}})
    assert account.balance == Decimal(0)
    account.owner = "bob"
    assert Account.__meta__.diff(account) == ({"owner": {"S": "bob"}}, [])


def test_diff_works_on_projections_missing_required_fields() -> None:
    class Ledger(Model, table="ledger"):
        key: Attr[str] = field(pk=True)
        owner: Attr[str]
        total: Attr[int]

    ledger = Ledger.from_item({"key": {"S": "k"}, "total": {"N": "1"}})
    ledger.total = 2
    assert Ledger.__meta__.diff(ledger) == ({"total": {"N": "2"}}, [])
    ledger.total = None  # type: ignore[assignment]
    with pytest.raises(ValidationError, match=r"^Ledger.total: is None but the field is not"):
        Ledger.__meta__.diff(ledger)


def test_a_new_instance_is_all_changes() -> None:
    account = Account(account_id="a1", owner="ann")
    assert Account.__meta__.changed(account) == [
        "account_id",
        "balance",
        "owner",
        "tags",
        "profile",
        "note",
        "version",
    ]


def test_mark_saved_resets_the_baseline() -> None:
    meta = Account.__meta__
    account = Account.from_item(STORED)
    account.owner = "bob"
    item = account.to_item()
    meta.mark_saved(account, item)
    assert meta.changed(account) == []
    assert meta.loaded_item(account) is item
    assert meta.extras(account)["GSI1PK"] == {"S": "TENANT#9"}
