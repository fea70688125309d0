"""Drift between models and tables on DynamoDB Local: key and index key types, projections,
billing, stream, TTL; a new GSI on a retyped attribute; progress while waiting."""

from __future__ import annotations

from datetime import datetime

import pytest

from dynamorm import DB, AttributeTypeConflict, ConfigurationError, WaitProgress
from dynamorm._orm.model import GSI, Attr, Model, field

pytestmark = pytest.mark.integration


class Order(Model, table="orders"):
    account: Attr[str] = field(pk=True)
    number: Attr[str] = field(sk=True)
    status: Attr[str] = field(default="new", index=GSI("by-status", pk=True))


class OrderNumberIsInt(Model, table="orders"):
    """The sort key's type changed: S -> N."""

    account: Attr[str] = field(pk=True)
    number: Attr[int] = field(sk=True)
    status: Attr[str] = field(default="new", index=GSI("by-status", pk=True))


class OrderStatusIsInt(Model, table="orders"):
    """The GSI key's type changed: S -> N."""

    account: Attr[str] = field(pk=True)
    number: Attr[str] = field(sk=True)
    status: Attr[int] = field(default=0, index=GSI("by-status", pk=True))


class OrderKeysOnly(Model, table="orders"):
    """The GSI's projection changed: ALL -> KEYS_ONLY."""

    account: Attr[str] = field(pk=True)
    number: Attr[str] = field(sk=True)
    status: Attr[str] = field(
        default="new", index=GSI("by-status", pk=True, projection="KEYS_ONLY")
    )


class OrderNewGsiOnRetypedKey(Model, table="orders"):
    """A new GSI keyed on the sort key, whose type changed: cannot be added."""

    account: Attr[str] = field(pk=True)
    number: Attr[int] = field(sk=True, index=GSI("by-number", pk=True))
    status: Attr[str] = field(default="new", index=GSI("by-status", pk=True))


class OrderWithExpiry(Model, table="orders"):
    """Adds a GSI and a TTL field: both fixable by ensure_tables."""

    account: Attr[str] = field(pk=True)
    number: Attr[str] = field(sk=True)
    status: Attr[str] = field(default="new", index=GSI("by-status", pk=True))
    shop: Attr[str] = field(default="", index=GSI("by-shop", pk=True))
    expires_at: Attr[datetime | None] = field(ttl=True, default=None)


def test_a_key_type_change_is_drift_not_in_sync(db: DB) -> None:
    db.ensure_tables(Order)
    (diff,) = db.diff_tables(OrderNumberIsInt)
    assert diff.drift == [
        "table key attribute 'number' is S on the table, N in the model (OrderNumberIsInt.number)"
    ]
    (ensured,) = db.ensure_tables(OrderNumberIsInt)
    assert not ensured.in_sync
    assert ensured.drift == diff.drift
    assert ensured.format().splitlines() == [
        f"{db.table_prefix}orders (OrderNumberIsInt): DRIFT (1)",
        f"  - {diff.drift[0]}",
    ]


def test_index_key_type_and_projection_changes_are_drift(db: DB) -> None:
    db.ensure_tables(Order)
    assert db.diff_tables(Order)[0].in_sync
    assert db.diff_tables(OrderStatusIsInt)[0].drift == [
        "GSI 'by-status' key attribute 'status' is S on the table, N in the model "
        "(OrderStatusIsInt.status)"
    ]
    assert db.diff_tables(OrderKeysOnly)[0].drift == [
        "GSI 'by-status' projection is ALL, the model wants KEYS_ONLY (an index's projection "
        "cannot change: drop and re-add the index)"
    ]


def test_a_new_gsi_on_a_retyped_attribute_is_a_typed_error_before_any_change(db: DB) -> None:
    db.ensure_tables(Order)
    before = db.describe_table(Order)
    with pytest.raises(AttributeTypeConflict) as info:
        db.ensure_tables(OrderNewGsiOnRetypedKey)
    error = info.value
    assert isinstance(error, ConfigurationError)
    assert (error.index, error.attribute, error.table_type, error.model_type) == (
        "by-number",
        "number",
        "S",
        "N",
    )
    assert error.table == db.table_name("orders")
    assert error.code == "ErrAttributeTypeConflict"
    after = db.describe_table(Order)
    assert after["GlobalSecondaryIndexes"] == before["GlobalSecondaryIndexes"]
    assert "cannot be added" in db.diff_tables(OrderNewGsiOnRetypedKey)[0].drift[1]


def test_billing_and_stream_are_compared_when_expected(db: DB) -> None:
    db.create_table(Order, stream="NEW_IMAGE")
    assert db.diff_tables(Order, billing="PAY_PER_REQUEST", stream="NEW_IMAGE")[0].in_sync
    (report,) = db.diff_tables(Order, billing="PROVISIONED", stream="NEW_AND_OLD_IMAGES")
    assert report.drift == [
        "billing is PAY_PER_REQUEST, expected PROVISIONED",
        "stream is NEW_IMAGE, expected NEW_AND_OLD_IMAGES",
    ]
    assert db.diff_tables(Order, stream="off")[0].drift == ["stream is NEW_IMAGE, expected off"]
    with pytest.raises(ConfigurationError, match="stream must be"):
        db.diff_tables(Order, stream="ALL")  # type: ignore[arg-type]


def test_missing_gsi_and_ttl_are_drift_for_diff_and_fixed_by_ensure(db: DB) -> None:
    db.ensure_tables(Order)
    (diff,) = db.diff_tables(OrderWithExpiry)
    assert diff.drift == [
        "GSI 'by-shop' is missing",
        "TTL is off; the model expires items by 'expires_at'",
    ]
    seen: list[WaitProgress] = []
    (ensured,) = db.ensure_tables(OrderWithExpiry, progress=seen.append)
    assert (ensured.added_indexes, ensured.ttl_enabled, ensured.in_sync) == (
        ["by-shop"],
        True,
        True,
    )
    assert seen[-1].done
    assert (seen[-1].table, seen[-1].index_name, seen[-1].status) == (
        db.table_name("orders"),
        "by-shop",
        "ACTIVE",
    )
    assert db.diff_tables(OrderWithExpiry)[0].in_sync
    # the other way round: TTL on the table, no ttl field in the model
    assert db.diff_tables(Order)[0].drift == [
        "TTL is on ('expires_at'); the model has no ttl field"
    ]


def test_a_missing_table_is_reported_and_progress_follows_create_and_delete(db: DB) -> None:
    (missing,) = db.diff_tables(Order)
    assert (missing.exists, missing.in_sync, missing.drift) == (
        False,
        False,
        ["the table does not exist"],
    )
    assert (
        missing.format()
        == f"{db.table_prefix}orders (Order): MISSING\n  - the table does not exist"
    )
    seen: list[WaitProgress] = []
    db.create_table(Order, progress=seen.append)
    assert seen[-1].done
    assert seen[-1].status == "ACTIVE"
    assert all(not event.done for event in seen[:-1])
    gone: list[WaitProgress] = []
    db.delete_table(Order, progress=gone.append)
    assert (gone[-1].status, gone[-1].done) == ("GONE", True)
