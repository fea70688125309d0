"""Unique constraints (sentinel items in the same transaction) against DynamoDB Local."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dynamorm import DB
from dynamorm._core.errors import (
    AlreadyExists,
    ConditionFailed,
    InvalidModel,
    TransactionCanceled,
    UniqueViolation,
    ValidationError,
)
from dynamorm._orm.keys import key
from dynamorm._orm.model import Attr, Model, field

pytestmark = [pytest.mark.integration, pytest.mark.sync_and_async]


class Customer(Model, table="customers"):
    customer_id: Attr[str] = field(pk=True)
    email: Attr[str] = field(unique=True)
    phone: Attr[str | None] = field(default=None, unique=True)
    name: Attr[str] = field(default="")
    version: Attr[int] = field(version=True)


class Charge(Model, table="charges", unique=[("merchant_id", "reference")]):
    merchant_id: Attr[str] = field(pk=True)
    charge_id: Attr[str] = field(sk=True)
    reference: Attr[str]
    amount: Attr[int] = field(default=0)


@pytest.fixture
def udb(db: DB) -> DB:
    db.create_table(Customer)
    db.create_table(Charge)
    return db


def sentinels(db: DB, model: type[Model]) -> list[dict[str, Any]]:
    """Every sentinel item in the model's table (raw scan)."""
    table = db.table_name(model.__meta__.require_table())
    items: list[dict[str, Any]] = db.client.call("Scan", {"TableName": table})["Items"]
    return sorted((i for i in items if "_dm_unique" in i), key=str)


def held(db: DB, model: type[Model]) -> set[str]:
    return {next(iter(s.values()))["S"] for s in sentinels(db, model)}


def test_a_clash_on_create_raises_unique_violation_naming_field_value_and_holder(udb: DB) -> None:
    udb.create(Customer(customer_id="c1", email="a@x.com"))
    with pytest.raises(UniqueViolation) as caught:
        udb.create(Customer(customer_id="c2", email="a@x.com"))
    error = caught.value
    assert isinstance(error, ConditionFailed)
    assert (error.field, error.value, error.holder_key) == (
        "email",
        "a@x.com",
        {"customer_id": "c1"},
    )
    assert "Customer.email: the value is already taken by Customer(customer_id='c1')" in str(error)
    assert "a@x.com" not in str(error)
    assert [c.customer_id for c in udb.scan(Customer)] == ["c1"]
    assert held(udb, Customer) == {"#unique#email=a@x.com"}


def test_create_of_an_existing_key_is_still_already_exists(udb: DB) -> None:
    udb.create(Customer(customer_id="c1", email="a@x.com"))
    with pytest.raises(AlreadyExists):
        udb.create(Customer(customer_id="c1", email="b@x.com"))
    assert held(udb, Customer) == {"#unique#email=a@x.com"}


def test_save_update_and_put_move_the_sentinel_and_delete_releases_it(udb: DB) -> None:
    c1 = udb.create(Customer(customer_id="c1", email="a@x.com", phone="+1"))
    c1.email = "b@x.com"
    udb.save(c1)
    assert held(udb, Customer) == {"#unique#email=b@x.com", "#unique#phone=+1"}
    udb.create(Customer(customer_id="c2", email="a@x.com"))  # the old value is free again
    udb.update(c1, Customer.email.set("c@x.com"), Customer.phone.remove())
    assert (c1.email, c1.phone, c1.version) == ("c@x.com", None, 2)
    assert held(udb, Customer) == {"#unique#email=a@x.com", "#unique#email=c@x.com"}
    by_key = udb.update(key(Customer, customer_id="c1"), Customer.email.set("d@x.com"))
    assert by_key.email == "d@x.com"
    fresh = udb.get(Customer, customer_id="c1")
    fresh.email = "e@x.com"
    udb.put(fresh)
    assert held(udb, Customer) == {"#unique#email=a@x.com", "#unique#email=e@x.com"}
    udb.delete(fresh)
    udb.delete(key(Customer, customer_id="c2"))
    assert held(udb, Customer) == set()
    assert udb.scan(Customer).all() == []


def test_changing_to_a_taken_value_fails_and_changes_nothing(udb: DB) -> None:
    udb.create(Customer(customer_id="c1", email="a@x.com"))
    c2 = udb.create(Customer(customer_id="c2", email="b@x.com"))
    c2.email = "a@x.com"
    with pytest.raises(UniqueViolation) as caught:
        udb.save(c2)
    assert caught.value.holder_key == {"customer_id": "c1"}
    with pytest.raises(UniqueViolation):
        udb.update(key(Customer, customer_id="c2"), Customer.email.set("a@x.com"))
    assert udb.get(Customer, customer_id="c2").email == "b@x.com"
    assert held(udb, Customer) == {"#unique#email=a@x.com", "#unique#email=b@x.com"}


def test_a_put_of_a_never_loaded_instance_cannot_orphan_the_stored_value(udb: DB) -> None:
    udb.create(Customer(customer_id="c1", email="a@x.com"))
    with pytest.raises(ConditionFailed):
        udb.put(Customer(customer_id="c1", email="z@x.com"), check_version=False)
    assert held(udb, Customer) == {"#unique#email=a@x.com"}
    udb.put(Customer(customer_id="c1", email="a@x.com", name="n"), check_version=False)
    assert udb.get(Customer, customer_id="c1").name == "n"


def test_put_backfills_sentinels_of_items_written_before_the_constraint(udb: DB) -> None:
    table = udb.table_name("customers")
    for cid in ("c1", "c2"):
        udb.client.call(
            "PutItem",
            {
                "TableName": table,
                "Item": {
                    "customer_id": {"S": cid},
                    "email": {"S": "dup@x.com"},
                    "version": {"N": "0"},
                },
            },
        )
    first, second = sorted(udb.scan(Customer), key=lambda c: c.customer_id)
    udb.put(first)
    with pytest.raises(UniqueViolation) as caught:
        udb.put(second)
    assert caught.value.holder_key == {"customer_id": "c1"}
    assert held(udb, Customer) == {"#unique#email=dup@x.com"}


def test_sentinels_never_show_in_queries_scans_or_counts(udb: DB) -> None:
    udb.create(Charge(merchant_id="m1", charge_id="ch1", reference="r1"))
    udb.create(Charge(merchant_id="m1", charge_id="ch2", reference="r2"))
    assert len(sentinels(udb, Charge)) == 2
    assert [c.charge_id for c in udb.scan(Charge)] == ["ch1", "ch2"]
    assert udb.scan(Charge).count() == 2
    assert udb.query(Charge).where(Charge.merchant_id == "m1").count() == 2
    assert len(udb.scan(Charge).filter(Charge.amount == 0).page(limit=10).items) == 2


def test_composite_uniqueness_is_per_merchant(udb: DB) -> None:
    udb.create(Charge(merchant_id="m1", charge_id="ch1", reference="r1"))
    udb.create(Charge(merchant_id="m2", charge_id="ch1", reference="r1"))
    with pytest.raises(UniqueViolation) as caught:
        udb.create(Charge(merchant_id="m1", charge_id="ch9", reference="r1"))
    assert caught.value.field == "merchant_id+reference"
    assert caught.value.value == ("m1", "r1")
    assert caught.value.holder_key == {"merchant_id": "m1", "charge_id": "ch1"}


def test_none_holds_nothing(udb: DB) -> None:
    udb.create(Customer(customer_id="c1", email="a@x.com"))
    udb.create(Customer(customer_id="c2", email="b@x.com"))
    assert held(udb, Customer) == {"#unique#email=a@x.com", "#unique#email=b@x.com"}


def test_in_a_transaction_sentinels_count_and_a_clash_cancels_everything(udb: DB) -> None:
    udb.create(Customer(customer_id="c0", email="taken@x.com"))
    with udb.transaction() as tx:
        tx.create(Customer(customer_id="c1", email="a@x.com", phone="+1"))
        tx.create(Charge(merchant_id="m1", charge_id="ch1", reference="r1"))
        assert len(tx) == 5
    assert held(udb, Customer) == {
        "#unique#email=a@x.com",
        "#unique#email=taken@x.com",
        "#unique#phone=+1",
    }

    def clash() -> None:
        with udb.transaction() as tx:
            tx.create(Charge(merchant_id="m1", charge_id="ch2", reference="r2"))
            tx.create(Customer(customer_id="c2", email="taken@x.com"))

    with pytest.raises(TransactionCanceled) as caught:
        clash()
    errors = [f.error for f in caught.value.failures]
    assert len(errors) == 1
    assert isinstance(errors[0], UniqueViolation)
    assert errors[0].holder_key == {"customer_id": "c0"}
    assert [c.charge_id for c in udb.scan(Charge)] == ["ch1"]


def test_a_transaction_refuses_two_writes_of_one_unique_value_before_sending(udb: DB) -> None:
    def twice() -> None:
        with udb.transaction() as tx:
            tx.create(Customer(customer_id="c1", email="a@x.com"))
            tx.create(Customer(customer_id="c2", email="a@x.com"))

    with pytest.raises(ValidationError, match=r"unique Customer\.email already has an action"):
        twice()


def test_the_101st_action_counts_sentinels(udb: DB) -> None:
    tx = udb.transaction()
    for i in range(50):
        tx.create(Customer(customer_id=f"c{i}", email=f"{i}@x.com"))
    assert len(tx) == 100
    with pytest.raises(ValidationError, match=r"\(with 1 more action\) would bring it to 102"):
        tx.create(Customer(customer_id="c50", email="50@x.com"))


def test_batch_writes_of_unique_models_are_refused_before_sending(udb: DB) -> None:
    with pytest.raises(ValidationError, match="cannot be written in a batch"):
        udb.batch_write().put(Customer(customer_id="c1", email="a@x.com"))
    with pytest.raises(ValidationError, match="cannot be written in a batch"):
        udb.batch_write().delete(key(Customer, customer_id="c1"))
    assert udb.scan(Customer).all() == []
    assert sentinels(udb, Customer) == []


def test_reserved_partition_keys_and_bad_declarations_are_refused(udb: DB) -> None:
    with pytest.raises(ValidationError, match="reserved"):
        udb.create(Customer(customer_id="#unique#email=a@x.com", email="a@x.com"))
    with pytest.raises(InvalidModel, match="string partition key"):

        class ByNumber(Model, table="n"):
            n: Attr[int] = field(pk=True)
            email: Attr[str] = field(unique=True)

    with pytest.raises(InvalidModel, match="unknown field"):

        class Typo(Model, table="t", unique=[("id", "emial")]):
            id: Attr[str] = field(pk=True)
            email: Attr[str]


def test_16_threads_creating_one_value_yield_one_winner(udb: DB) -> None:
    barrier = threading.Barrier(16)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait()
        try:
            udb.create(Customer(customer_id=f"c{i}", email="race@x.com"))
            outcome = "won"
        except UniqueViolation:
            outcome = "lost"
        except TransactionCanceled as exc:  # a conflict that outlived the retries
            outcome = f"canceled {exc.reasons}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1, outcomes
    assert len(udb.scan(Customer).all()) == 1
    assert held(udb, Customer) == {"#unique#email=race@x.com"}
