"""One table, two libraries: PynamoDB 6.1 and DynamORM read and write the same items during a
migration (PynamoDB's datetime format, versions starting at 1), on DynamoDB Local."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.models import Model as PynamoModel

from dynamorm import DB, PYNAMODB_DATETIME, Attr, Model, VersionConflict, field
from dynamorm.local import LOCAL_CREDENTIALS

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    version: Attr[int] = field(version=True, default=1)  # PynamoDB's first save writes 1
    created_at: Attr[datetime] = field(created_at=True, converter=PYNAMODB_DATETIME)
    updated_at: Attr[datetime] = field(updated_at=True, converter=PYNAMODB_DATETIME)


class PlainPayment(Model, table="payments"):
    """The same table without the compatibility options (DynamORM's own formats)."""

    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    version: Attr[int] = field(version=True)
    created_at: Attr[datetime] = field(created_at=True)
    updated_at: Attr[datetime] = field(updated_at=True)


def pynamodb_model(db: DB) -> Any:
    class PPayment(PynamoModel):
        class Meta:
            table_name = db.table_name("payments")
            host = db.client.endpoint.url
            region = db.region
            aws_access_key_id, aws_secret_access_key = LOCAL_CREDENTIALS

        merchant_id = UnicodeAttribute(hash_key=True)
        payment_id = UnicodeAttribute(range_key=True)
        amount = NumberAttribute(default=0)
        created_at = UTCDateTimeAttribute()
        updated_at = UTCDateTimeAttribute()
        version = VersionAttribute()

    return PPayment


@pytest.fixture
def shared(db: DB) -> tuple[DB, Any]:
    db.create_table(Payment)
    ticks = iter(range(10**6))
    db.clock = lambda: T0 + timedelta(seconds=next(ticks))
    return db, pynamodb_model(db)


def test_items_move_back_and_forth_between_pynamodb_and_dynamorm(shared: tuple[DB, Any]) -> None:
    db, PPayment = shared
    PPayment("m1", "p1", amount=100, created_at=T0, updated_at=T0).save()

    ours = db.get(Payment, merchant_id="m1", payment_id="p1")
    assert (ours.amount, ours.version, ours.created_at, ours.updated_at) == (100, 1, T0, T0)
    db.update(ours, Payment.amount.add(5))
    assert ours.version == 2

    theirs = PPayment.get("m1", "p1", consistent_read=True)  # parses our timestamps
    assert (theirs.amount, theirs.version, theirs.created_at) == (105, 2, T0)
    assert theirs.updated_at == ours.updated_at
    theirs.amount = 110
    theirs.save()  # conditioned on version 2, as PynamoDB does
    assert theirs.version == 3

    created = db.create(Payment(merchant_id="m1", payment_id="p2", amount=7))
    assert created.version == 1
    again = PPayment.get("m1", "p2", consistent_read=True)
    assert (again.version, again.created_at) == (1, created.created_at)
    again.save()  # PynamoDB expects version 1: the versions agree
    assert again.version == 2


def test_a_stale_write_conflicts_whichever_library_wrote_last(shared: tuple[DB, Any]) -> None:
    db, PPayment = shared
    PPayment("m1", "p1", amount=1, created_at=T0, updated_at=T0).save()
    stale = db.get(Payment, merchant_id="m1", payment_id="p1")
    theirs = PPayment.get("m1", "p1", consistent_read=True)
    theirs.amount = 2
    theirs.save()
    stale.amount = 3
    with pytest.raises(VersionConflict) as info:
        db.save(stale)
    current = info.value.current_as(Payment)
    assert current is not None
    assert (current.amount, current.version) == (2, 2)


def test_without_the_options_pynamodb_cannot_read_the_timestamps(db: DB) -> None:
    db.create_table(PlainPayment)
    db.clock = lambda: T0
    db.create(PlainPayment(merchant_id="m1", payment_id="p1"))
    with pytest.raises(ValueError, match="does not match format"):
        pynamodb_model(db).get("m1", "p1", consistent_read=True)
