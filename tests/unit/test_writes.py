"""Lifecycle stamping shared with batch puts, and the version expectations of writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dynamorm._core.errors import ValidationError
from dynamorm._orm.base import utc_now
from dynamorm._orm.versioning import Expect
from dynamorm._orm.writes import batch_put_written, stamp_for_batch_put
from tests.unit.test_crud import S0, T0, Note, Payment, loaded, stored

META = Payment.__meta__


def test_utc_now_is_an_aware_utc_datetime() -> None:
    now = utc_now()
    assert now.tzinfo is UTC
    assert abs(datetime.now(UTC) - now) < timedelta(minutes=1)


def test_a_versioned_model_cannot_be_batch_put_with_its_version_checked() -> None:
    p = Payment(merchant_id="m1", payment_id="p1")
    with pytest.raises(ValidationError) as info:
        stamp_for_batch_put(META, p, T0)
    assert str(info.value) == (
        "Payment has a version field (version) and BatchWriteItem cannot check it; write it "
        "with db.put() or a transaction, or pass check_version=False to overwrite without "
        "the check"
    )
    assert info.value.path == "Payment.version"
    assert "created_at" not in p.__dict__


def test_batch_put_of_a_new_instance_writes_the_default_version_and_stamps() -> None:
    p = Payment(merchant_id="m1", payment_id="p1", amount=5)
    item, stamps = stamp_for_batch_put(META, p, T0, check_version=False)
    assert item == {
        "merchant_id": {"S": "m1"},
        "payment_id": {"S": "p1"},
        "amount": {"N": "5"},
        "version": {"N": "0"},
        "created_at": {"S": S0},
        "updated_at": {"S": S0},
    }
    assert "created_at" not in p.__dict__  # nothing lands on the instance before the write
    assert META.loaded_item(p) is None
    batch_put_written(META, p, item, stamps)
    assert (p.version, p.created_at, p.updated_at) == (0, T0, T0)
    assert META.loaded_item(p) == item


def test_batch_put_of_a_loaded_instance_keeps_created_at_and_bumps_the_version() -> None:
    p = loaded()
    item, stamps = stamp_for_batch_put(META, p, T0, check_version=False)
    assert item["created_at"] == {"S": "2023-05-06T07:08:09.000000Z"}
    assert item["updated_at"] == {"S": S0}
    assert item["version"] == {"N": "4"}
    assert item["other_team"] == {"S": "kept"}  # undeclared attributes are written back
    again, _ = stamp_for_batch_put(META, p, T0, check_version=False)
    assert again["version"] == {"N": "4"}  # queued again after a failed batch: no double bump
    batch_put_written(META, p, item, stamps)
    assert (p.version, p.updated_at) == (4, T0)


def test_batch_put_keeps_a_created_at_set_on_the_instance_and_stores_ttl_in_seconds() -> None:
    p = Payment(merchant_id="m1", payment_id="p1")
    p.created_at = T0 - timedelta(days=2)
    p.expires_at = datetime(2030, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)
    item, stamps = stamp_for_batch_put(META, p, T0, check_version=False)
    assert item["created_at"] == {"S": "2023-12-31T03:04:05.123456Z"}
    assert item["expires_at"] == {"N": "1893456000"}
    batch_put_written(META, p, item, stamps)
    assert p.expires_at == datetime(2030, 1, 1, tzinfo=UTC)


def test_an_unversioned_model_batch_puts_with_the_default_arguments() -> None:
    assert stamp_for_batch_put(Note.__meta__, Note(note_id="n"), T0) == (
        {"note_id": {"S": "n"}, "text": {"S": ""}},
        {},
    )


@pytest.mark.parametrize(
    ("expect", "item", "reason"),
    [
        (Expect(3), stored(), None),
        (Expect(3), stored(version={"N": "4"}), "expected version 3, found version 4"),
        (Expect(3), None, "expected version 3, but the item no longer exists"),
        (Expect(3, missing_ok=True), None, None),
        (Expect(None), stored(version=None), None),
        (Expect(None), stored(), "expected no version attribute, found version 3"),
        (Expect(None, absent=True), None, None),
        (
            Expect(None, absent=True),
            stored(),
            "expected no stored item (this instance was never loaded or written), found version 3",
        ),
    ],
)
def test_version_expectations_explain_a_mismatch(
    expect: Expect, item: dict[str, object] | None, reason: str | None
) -> None:
    assert expect.mismatch(META, item) == reason  # type: ignore[arg-type]


def test_version_expectations_compile_to_conditions() -> None:
    assert repr(Expect(3).condition(META)) == "Condition(version = 3)"
    assert repr(Expect(3, missing_ok=True).condition(META)) == (
        "Condition(attribute_not_exists(merchant_id) OR version = 3)"
    )
    assert repr(Expect(None).condition(META)) == "Condition(attribute_not_exists(version))"
    assert repr(Expect(None, absent=True).condition(META)) == (
        "Condition(attribute_not_exists(merchant_id))"
    )
