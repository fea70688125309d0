"""The audit trail on DynamoDB Local: every write path of an audited model records its change
in the same transaction; failed writes leave no record; actors follow views and partners."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from dynamorm import (
    DB,
    AlreadyExists,
    NotFound,
    TransactionCanceled,
    ValidationError,
    VersionConflict,
    key,
)
from dynamorm._features.audit import Audit, AuditRecord, actor_context
from dynamorm._features.cost_estimate import estimate_cost
from dynamorm._io.events import RequestEvent
from dynamorm._orm.meta import Attr
from dynamorm._orm.model import Model, field
from dynamorm._runtime.accounts import MultiAccount
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB
from tests.integration.test_accounts import StsWatch, make_accounts

pytestmark = [pytest.mark.integration, pytest.mark.sync_and_async]


class Payment(Model, table="payments", audit=True):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    status: Attr[str] = field(default="pending")
    version: Attr[int] = field(version=True)


class Note(Model, table="notes", audit=Audit(exclude=("scratch",))):
    note_id: Attr[str] = field(pk=True)
    text: Attr[str] = field(default="")
    scratch: Attr[str] = field(default="")


class Plain(Model, table="plain"):
    plain_id: Attr[str] = field(pk=True)


P1 = key(Payment, merchant_id="m1", payment_id="p1")


class Operations:
    """A request hook listing the operations sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, event: RequestEvent) -> None:
        self.sent.append(event.operation)


@pytest.fixture
def adb(db: DB) -> DB:
    db.ensure_tables(Payment, Note, Plain, AuditRecord)
    return db


def operations(records: list[AuditRecord]) -> list[str]:
    return [r.operation for r in records]


def test_every_single_write_records_its_change_in_the_same_transaction(adb: DB) -> None:
    sent = Operations()
    adb.client.hooks.append(sent)
    clerk = adb.with_actor("user-42")
    p = clerk.create(Payment(merchant_id="m1", payment_id="p1", amount=1200))
    p.amount = 1150
    clerk.save(p)
    clerk.update(p, Payment.amount.add(-50), Payment.status.set("authorised"))
    assert (p.amount, p.status, p.version) == (1100, "authorised", 2)
    clerk.put(p)  # nothing changed but the version: an upsert is still a write
    clerk.update(P1, Payment.status.set("settled"))
    p = adb.get(Payment, merchant_id="m1", payment_id="p1")
    clerk.delete(p)
    assert sent.sent.count("TransactWriteItems") == 6
    assert not {"PutItem", "UpdateItem", "DeleteItem"} & set(sent.sent)
    history = adb.audit_history(P1).all()
    assert operations(history) == ["delete", "update", "put", "update", "save", "create"]
    assert {r.actor for r in history} == {"user-42"}
    deleted, by_key, _, update, save, create = history
    assert create.changes == {"amount": {"new": 1200}, "status": {"new": "pending"}}
    assert save.changes == {"amount": {"old": 1200, "new": 1150}}
    assert update.changes["amount"] == {"action": "add", "value": -50, "old": 1150, "new": 1100}
    assert by_key.changes == {"status": {"action": "set", "value": "settled"}}
    assert deleted.changes == {"amount": {"old": 1100}, "status": {"old": "settled"}}
    assert [(r.version_before, r.version_after) for r in reversed(history)] == [
        (None, 0),
        (0, 1),
        (1, 2),
        (2, 3),
        (None, None),  # by key: the version is incremented without being read
        (4, None),
    ]
    assert [r.exact for r in reversed(history)] == [True, True, True, True, False, True]


def test_a_versioned_item_history_is_a_chain_without_gaps(adb: DB) -> None:
    p = adb.create(Payment(merchant_id="m1", payment_id="p1"))
    for n in range(5):
        with actor_context(f"worker-{n % 2}"):
            adb.update(p, Payment.amount.add(10))
    history = list(reversed(adb.audit_history(P1).all()))
    assert [r.version_after for r in history] == list(range(6))
    for before, after in itertools.pairwise(history):
        assert after.version_before == before.version_after
        assert after.at >= before.at
    assert history[-1].changes["amount"]["new"] == 50


def test_transaction_actions_each_add_their_record_to_the_same_commit(adb: DB) -> None:
    p = adb.create(Payment(merchant_id="m1", payment_id="p1", amount=10))
    note = adb.create(Note(note_id="n1", text="hi", scratch="tmp"))
    with adb.with_actor("batch-7").transaction() as tx:
        tx.update(p, Payment.status.set("settled"))
        tx.delete(note)
        tx.create(Plain(plain_id="x"))
        tx.create(Note(note_id="n2", text="new", scratch="tmp"))
    assert len(tx) == 7  # four writes, three of them audited
    assert operations(adb.audit_history(P1).all()) == ["update", "create"]
    note_history = adb.audit_history(key(Note, note_id="n1")).all()
    assert operations(note_history) == ["delete", "create"]
    assert note_history[0].actor == "batch-7"
    assert note_history[0].changes == {"text": {"old": "hi"}}  # scratch is excluded
    assert len(adb.scan(AuditRecord).all()) == 5


def test_failed_writes_leave_no_record(adb: DB) -> None:
    p = adb.create(Payment(merchant_id="m1", payment_id="p1"))
    with pytest.raises(AlreadyExists):
        adb.create(Payment(merchant_id="m1", payment_id="p1"))
    stale = adb.get(Payment, merchant_id="m1", payment_id="p1")
    adb.update(p, Payment.amount.set(5))
    stale.amount = 7
    with pytest.raises(VersionConflict):
        adb.save(stale)
    with pytest.raises(NotFound):
        adb.update(key(Payment, merchant_id="m1", payment_id="nope"), Payment.amount.set(1))
    with pytest.raises(NotFound):
        adb.delete(key(Note, note_id="never-written"))
    canceled = adb.transaction()
    canceled.create(Note(note_id="n1", text="would be audited"))
    canceled.check(P1, Payment.amount == 999)
    with pytest.raises(TransactionCanceled):
        canceled.__exit__(None, None, None)
    abandoned = adb.transaction()
    abandoned.create(Note(note_id="n2"))
    abandoned.__exit__(RuntimeError, RuntimeError("the block failed"), None)  # sends nothing
    assert operations(adb.audit_history(P1).all()) == ["update", "create"]
    assert len(adb.scan(AuditRecord).all()) == 2
    assert adb.scan(Note).all() == []


def test_batch_writes_of_audited_models_are_refused_before_sending(adb: DB) -> None:
    with pytest.raises(ValidationError, match="audited"), adb.batch_write() as batch:
        batch.put(Note(note_id="n1"))
    assert adb.scan(Note).all() == []


def test_the_actor_follows_deadline_views_and_is_explicitly_unknown_otherwise(adb: DB) -> None:
    adb.with_actor("user-42").with_deadline(30).create(Note(note_id="a"))
    adb.with_deadline(30).with_actor("user-43").create(Note(note_id="b"))
    with actor_context("job-1", request_id="req-9"):
        adb.with_deadline(30).create(Note(note_id="c"))
    adb.create(Note(note_id="d"))
    found = {r.key["note_id"]: (r.actor, r.request_id) for r in adb.scan(AuditRecord)}
    assert found == {
        "a": ("user-42", None),
        "b": ("user-43", None),
        "c": ("job-1", "req-9"),
        "d": ("unknown", None),
    }
    assert [r.key["note_id"] for r in adb.audit_by_actor("user-42")] == ["a"]


def test_the_estimate_of_an_audited_create_matches_what_dynamodb_local_charges(adb: DB) -> None:
    sample = Payment(merchant_id="m1", payment_id="p1", amount=1200)
    adb.costs.reset()
    adb.create(sample)
    estimate = estimate_cost(Payment, 1, sample=sample)
    measured = adb.costs.write_units
    planned = sum(line.write_units for line in estimate.lines.values())
    assert planned == measured
    assert adb.costs.by_index()[(adb.table_name("audit"), "by-actor")] > 0


def test_records_can_expire_and_go_to_another_table(adb: DB) -> None:
    class Ledger(AuditRecord, table="ledger_audit"):
        pass

    class Entry(Model, table="entries", audit=Audit(record=Ledger, retention=timedelta(days=7))):
        entry_id: Attr[str] = field(pk=True)

    adb.ensure_tables(Entry, Ledger)
    adb.create(Entry(entry_id="e1"))
    (record,) = adb.audit_history(key(Entry, entry_id="e1")).all()
    assert isinstance(record, Ledger)
    assert record.expires_at == record.at.replace(microsecond=0) + timedelta(days=7)
    assert adb.scan(AuditRecord).all() == []


# --- partners -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sts() -> Iterator[LocalDynamoDB]:
    """moto's server, answering STS AssumeRole for the partner DBs."""
    with LocalDynamoDB("moto") as server:
        yield server


@pytest.fixture
def accounts(
    dynamodb_local: LocalDynamoDB, sts: LocalDynamoDB, table_prefix: str
) -> Iterator[MultiAccount]:
    transport = StsWatch(sts.endpoint)
    yield make_accounts(dynamodb_local, sts, transport, table_prefix)
    transport.close()


def test_a_partner_db_records_in_its_own_audit_table_with_the_context_actor(
    accounts: MultiAccount,
) -> None:
    acme = accounts.partner("acme")
    acme.ensure_tables(Note, AuditRecord)
    accounts.base.ensure_tables(AuditRecord)
    with actor_context("settlement-job"):
        acme.with_deadline(30).create(Note(note_id="n1"))
    acme.with_actor("acme-admin").update(key(Note, note_id="n1"), Note.text.set("x"))
    history = acme.audit_history(key(Note, note_id="n1")).all()
    assert [(r.actor, r.partner, r.operation) for r in history] == [
        ("acme-admin", "acme", "update"),
        ("settlement-job", "acme", "create"),
    ]
    assert accounts.base.scan(AuditRecord).all() == []
    by_partner: dict[Any, float] = accounts.base.costs.by_partner()
    assert by_partner["acme"] > 0


class Customer(Model, table="customers", audit=True):
    customer_id: Attr[str] = field(pk=True)
    email: Attr[str] = field(unique=True)


def test_audit_and_unique_sentinels_share_one_transaction(adb: DB) -> None:
    from dynamorm import UniqueViolation

    adb.ensure_tables(Customer)
    adb.create(Customer(customer_id="c1", email="a@example.com"))
    with pytest.raises(UniqueViolation):
        adb.create(Customer(customer_id="c2", email="a@example.com"))
    c1 = adb.get(Customer, customer_id="c1")
    c1.email = "b@example.com"
    adb.save(c1)
    history = adb.audit_history(key(Customer, customer_id="c1")).all()
    assert [r.changes for r in history] == [
        {"email": {"old": "a@example.com", "new": "b@example.com"}},
        {"email": {"new": "a@example.com"}},
    ]
    assert adb.audit_history(key(Customer, customer_id="c2")).all() == []


class Card(Model, table="cards", audit=True):
    card_id: Attr[str] = field(pk=True)
    number: Attr[str] = field(encrypted=True)
    label: Attr[str] = field(default="")
    version: Attr[int] = field(version=True)


def test_encrypted_fields_are_recorded_as_changed_never_with_a_value(
    make_db: Callable[..., DB],
    dynamodb_local: LocalDynamoDB,
    moto_server: LocalDynamoDB,
    kms_key_arn: str,
    table_prefix: str,
) -> None:
    with make_db(
        region=dynamodb_local.region,
        endpoint_url=dynamodb_local.endpoint,
        credentials=LOCAL_CREDENTIALS,
        table_prefix=table_prefix,
        kms_key_arn=kms_key_arn,
        kms_endpoint_url=moto_server.endpoint,
    ) as edb:
        edb.ensure_tables(Card, AuditRecord)
        card = edb.create(Card(card_id="c1", number="4111111111111111", label="work"))
        card.number = "5500005555555559"
        card.label = "home"
        edb.save(card)
        edb.put(edb.get(Card, card_id="c1"))  # sealed anew, but the same number: not a change
        history = edb.audit_history(key(Card, card_id="c1")).all()
        raw = edb.client.call("Scan", {"TableName": edb.table_name("audit")})["Items"]
    assert [r.changes for r in history] == [
        {},
        {"number": {"changed": True, "encrypted": True}, "label": {"old": "work", "new": "home"}},
        {"number": {"changed": True, "encrypted": True}, "label": {"new": "work"}},
    ]
    stored = repr(raw)
    assert "4111" not in stored
    assert "5500" not in stored
