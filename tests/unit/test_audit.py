"""Audit records of planned writes (pure: no I/O): what each write records, actors, options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dynamorm import DB, InvalidModel, ValidationError
from dynamorm._features.audit import (
    UNKNOWN_ACTOR,
    Audit,
    AuditRecord,
    actor_context,
    current_actor,
    plan_record,
    target_of,
)
from dynamorm._orm.keys import key
from dynamorm._orm.meta import Attr
from dynamorm._orm.model import Model, field
from dynamorm._orm.writes import plan_create, plan_delete, plan_put, plan_save, plan_update
from dynamorm._runtime.aws_lambda import LocalContext

T0 = datetime(2026, 12, 1, 13, 5, 7, 123456, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


class Payment(Model, table="payments", audit=Audit(exclude=("raw",))):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    status: Attr[str] = field(default="pending")
    tags: Attr[set[str]] = field(default_factory=set)
    raw: Attr[str] = field(default="")
    version: Attr[int] = field(version=True)
    updated_at: Attr[datetime] = field(updated_at=True)


class Note(Model, table="notes", audit=True):
    note_id: Attr[str] = field(pk=True)
    text: Attr[str] = field(default="")


def make_db() -> DB:
    return DB(region="us-east-1", endpoint_url="http://127.0.0.1:9", credentials=("a", "b"))


def stored(**over: Any) -> Payment:
    """A Payment as loaded from the table at version 3."""
    item = {
        "merchant_id": {"S": "m1"},
        "payment_id": {"S": "p1"},
        "amount": {"N": "100"},
        "status": {"S": "pending"},
        "tags": {"SS": ["a"]},
        "raw": {"S": "secret-ish"},
        "version": {"N": "3"},
        "updated_at": {"S": "2026-11-30T00:00:00.000000Z"},
    }
    item.update(over)
    return Payment.from_item(item)


@pytest.fixture(autouse=True)
def _no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)


# --- declaring ------------------------------------------------------------------------------


def test_audit_declarations_normalise_to_options_and_are_inherited() -> None:
    class Ledger(AuditRecord, table="ledger"):
        pass

    class ToLedger(Model, table="x", audit=Ledger):
        x_id: Attr[str] = field(pk=True)

    class Child(ToLedger):
        pass

    class Off(ToLedger, audit=False):
        pass

    assert Note.__meta__.audit is not None
    assert Note.__meta__.audit.record is AuditRecord
    assert ToLedger.__meta__.audit is not None
    assert ToLedger.__meta__.audit.record is Ledger
    assert Child.__meta__.audit is ToLedger.__meta__.audit
    assert Off.__meta__.audit is None
    assert Payment.__meta__.audit is not None
    assert Payment.__meta__.audit.exclude == {"raw"}


@pytest.mark.parametrize(
    ("audit", "message"),
    [
        (Audit(exclude=("nope",)), "unknown fields: nope"),
        ("yes", "audit= takes True"),
    ],
)
def test_bad_audit_declarations_are_refused_at_class_creation(audit: Any, message: str) -> None:
    with pytest.raises(InvalidModel, match=message):

        class Bad(Model, table="bad", audit=audit):
            bad_id: Attr[str] = field(pk=True)


def test_audit_needs_a_table_and_records_are_not_audited() -> None:
    with pytest.raises(InvalidModel, match="needs a model with a table"):

        class Doc(Model, audit=True):
            text: Attr[str] = field(default="")

    with pytest.raises(InvalidModel, match="not audited"):

        class Meta(AuditRecord, table="meta", audit=True):
            pass

    with pytest.raises(InvalidModel, match="retention"):
        Audit(retention=timedelta(0))


# --- actors ---------------------------------------------------------------------------------


def test_the_actor_comes_from_the_view_then_the_context_then_is_explicitly_unknown() -> None:
    db = make_db()
    plan = plan_create(Note.__meta__, "notes", Note(note_id="n1"), T0, condition=None)
    assert plan_record(plan, db, T0).actor == UNKNOWN_ACTOR
    context = LocalContext()
    with actor_context("ops-7", context=context):
        assert current_actor() == "ops-7"
        record = plan_record(plan, db, T0)
        assert (record.actor, record.request_id) == ("ops-7", context.aws_request_id)
        viewed = plan_record(plan, db.with_actor("user-42", request_id="r-1"), T0)
        assert (viewed.actor, viewed.request_id) == ("user-42", "r-1")
        deadline_view = db.with_actor("user-42").with_deadline(30)
        assert plan_record(plan, deadline_view, T0).actor == "user-42"
    assert current_actor() is None


def test_require_actor_refuses_a_write_without_one_and_actors_are_never_empty() -> None:
    class Strict(Model, table="strict", audit=Audit(require_actor=True)):
        strict_id: Attr[str] = field(pk=True)

    plan = plan_create(Strict.__meta__, "strict", Strict(strict_id="s"), T0, condition=None)
    with pytest.raises(ValidationError, match="require_actor"):
        plan_record(plan, make_db(), T0)
    assert plan_record(plan, make_db().with_actor("a"), T0).actor == "a"
    with pytest.raises(ValidationError, match="non-empty"):
        make_db().with_actor(" ")


def test_the_trace_id_comes_from_the_lambda_trace_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    plan = plan_create(Note.__meta__, "notes", Note(note_id="n1"), T0, condition=None)
    assert plan_record(plan, make_db(), T0).trace_id == "1-5759e988-bd862e3fe1be46a994272793"


# --- what each write records ----------------------------------------------------------------


def test_a_create_records_every_audited_field_as_new() -> None:
    p = Payment(merchant_id="m1", payment_id="p1", amount=5, tags={"x"}, raw="r")
    plan = plan_create(Payment.__meta__, "payments", p, T0, condition=None)
    record = plan_record(plan, make_db(), T0)
    assert record.operation == "create"
    assert record.changes == {
        "amount": {"new": 5},
        "status": {"new": "pending"},
        "tags": {"new": {"x"}},
    }
    assert (record.version_before, record.version_after, record.exact) == (None, 0, True)
    assert record.target == 'payments#["m1","p1"]'
    assert record.key == {"merchant_id": "m1", "payment_id": "p1"}
    assert record.record_id.startswith("2026-12-01T13:05:07.123456Z#")
    assert (record.day, record.at, record.source) == ("2026-12-01", T0, "library")
    assert record.expires_at is None


def test_a_save_of_a_loaded_versioned_instance_records_exact_old_and_new_values() -> None:
    p = stored()
    p.amount = 150
    p.status = "settled"
    plan = plan_save(Payment.__meta__, "payments", p, T1, condition=None)
    assert plan is not None
    record = plan_record(plan, make_db(), T1)
    assert record.changes == {
        "amount": {"old": 100, "new": 150},
        "status": {"old": "pending", "new": "settled"},
    }
    assert (record.version_before, record.version_after, record.exact) == (3, 4, True)


def test_a_put_without_a_loaded_item_records_new_values_and_says_old_is_unknown() -> None:
    note = Note(note_id="n1", text="hello")
    plan = plan_put(Note.__meta__, "notes", note, T0, condition=None, check_version=True)
    record = plan_record(plan, make_db(), T0)
    assert record.changes == {"text": {"new": "hello"}}
    assert record.exact is False
    p = stored()
    p.amount = 1
    versioned = plan_put(Payment.__meta__, "payments", p, T0, condition=None, check_version=True)
    record = plan_record(versioned, make_db(), T0)
    assert record.changes == {"amount": {"old": 100, "new": 1}}
    assert (record.exact, record.version_before, record.version_after) == (True, 3, 4)


def test_an_update_records_each_action_and_the_value_it_leaves() -> None:
    p = stored()
    actions = [
        Payment.amount.add(25),
        Payment.status.set("settled"),
        Payment.tags.add({"b"}),
        Payment.raw.set("never shown"),
    ]
    plan = plan_update(
        Payment.__meta__, "payments", p, actions, T1, condition=None, check_version=True
    )
    record = plan_record(plan, make_db(), T1)
    assert record.changes == {
        "amount": {"action": "add", "value": 25, "old": 100, "new": 125},
        "status": {"action": "set", "value": "settled", "old": "pending", "new": "settled"},
        "tags": {"action": "add", "value": {"b"}, "old": {"a"}, "new": {"a", "b"}},
    }
    assert (record.exact, record.version_before, record.version_after) == (True, 3, 4)


def test_an_update_by_key_records_the_actions_without_old_values() -> None:
    target = key(Payment, merchant_id="m1", payment_id="p1")
    plan = plan_update(
        Payment.__meta__,
        "payments",
        target,
        [Payment.amount.add(1), Payment.status.remove()],
        T1,
        condition=None,
        check_version=True,
    )
    record = plan_record(plan, make_db(), T1)
    assert record.changes == {
        "amount": {"action": "add", "value": 1},
        "status": {"action": "remove"},
    }
    assert (record.exact, record.version_before, record.version_after) == (False, None, None)


def test_a_delete_records_the_old_values_of_a_loaded_instance_only() -> None:
    plan = plan_delete(Payment.__meta__, "payments", stored(), condition=None, check_version=True)
    record = plan_record(plan, make_db(), T1)
    assert record.changes == {
        "amount": {"old": 100},
        "status": {"old": "pending"},
        "tags": {"old": {"a"}},
    }
    assert (record.exact, record.version_before, record.version_after) == (True, 3, None)
    by_key = plan_delete(
        Note.__meta__, "notes", key(Note, note_id="n"), condition=None, check_version=True
    )
    record = plan_record(by_key, make_db(), T1)
    assert (record.changes, record.exact) == ({}, False)


def test_encrypted_fields_are_recorded_as_changed_without_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    info = Payment.__meta__.fields["status"]
    monkeypatch.setattr(info.spec, "encrypted", True)
    p = stored()
    p.status = "4111 1111 1111 1111"
    plan = plan_save(Payment.__meta__, "payments", p, T1, condition=None)
    assert plan is not None
    record = plan_record(plan, make_db(), T1)
    assert record.changes == {"status": {"changed": True, "encrypted": True}}
    assert "4111" not in repr(record.to_item())
    update = plan_update(
        Payment.__meta__,
        "payments",
        stored(),
        [Payment.status.set("4111")],
        T1,
        condition=None,
        check_version=True,
    )
    assert plan_record(update, make_db(), T1).changes == {
        "status": {"action": "set", "changed": True, "encrypted": True}
    }


def test_retention_sets_the_record_ttl() -> None:
    class Kept(Model, table="kept", audit=Audit(retention=timedelta(days=400))):
        kept_id: Attr[str] = field(pk=True)

    plan = plan_create(Kept.__meta__, "kept", Kept(kept_id="k"), T0, condition=None)
    assert plan_record(plan, make_db(), T0).expires_at == T0 + timedelta(days=400)


def test_targets_normalise_numbers_and_hash_very_long_keys() -> None:
    class Counter(Model, table="counters"):
        counter_id: Attr[int] = field(pk=True)

    meta = Counter.__meta__
    assert target_of("counters", {"counter_id": {"N": "1.0"}}, meta) == 'counters#["1"]'
    assert target_of("counters", {"counter_id": {"N": "100"}}, meta) == 'counters#["100"]'
    long_key = {"note_id": {"S": "x" * 2000}}
    assert target_of("notes", long_key, Note.__meta__).startswith("notes#sha256:")


def test_an_audit_record_over_400_kb_is_refused_before_anything_is_sent() -> None:
    from tests.unit.test_crud import FakeDynamo
    from tests.unit.test_crud import make_db as fake_db

    class Doc(Model, table="docs", audit=True):
        doc_id: Attr[str] = field(pk=True)
        body: Attr[str] = field(default="")

    fake = FakeDynamo()
    db = fake_db(fake)
    doc = Doc.from_item({"doc_id": {"S": "d"}, "body": {"S": "x" * 250_000}})
    doc.body = "y" * 250_000  # old and new: 500 KB of changes
    with pytest.raises(ValidationError, match=r"save\(Doc\(doc_id='d'\)\).*Audit\(exclude"):
        db.save(doc)
    assert fake.sent == []
