"""Stream-based audit on DynamoDB Local: real stream records become audit records, a replayed
batch writes no duplicates, and the trail reads back by item, actor and time, and exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dynamorm import DB, ConfigurationError
from dynamorm._features.audit import Audit, AuditRecord
from dynamorm._features.audit_stream import audit_stream
from dynamorm._orm.keys import key
from dynamorm._orm.meta import Attr
from dynamorm._orm.model import Model, field
from dynamorm._runtime.streams import StreamRecord
from tests.integration.test_streams_local import Payment, lambda_event, write_history

pytestmark = pytest.mark.integration


class Ledger(AuditRecord, table="ledger_audit"):
    """Records kept apart from the default audit table."""


@pytest.fixture
def event(db: DB) -> dict[str, Any]:
    db.ensure_tables(AuditRecord, Ledger)
    table = write_history(db, "NEW_AND_OLD_IMAGES")
    return lambda_event(db, table, expected=3)


def test_stream_records_become_audit_records_and_a_replay_writes_no_duplicates(
    db: DB, event: dict[str, Any]
) -> None:
    first = audit_stream(db, event, Payment, actor="ledger-service")
    assert (first.written, first.duplicates) == (3, 0)
    replay = audit_stream(db, event, Payment, actor="ledger-service")
    assert (replay.written, replay.duplicates) == (0, 3)
    history = list(db.audit_history(key(Payment, merchant_id="m1", payment_id="p1")))
    assert [r.operation for r in history] == ["delete", "update", "create"]
    assert all(r.source == "stream" and r.exact and r.actor == "ledger-service" for r in history)
    deleted, settled, created = history
    assert created.changes == {"amount": {"new": 1200}, "status": {"new": "pending"}}
    assert settled.changes == {"status": {"old": "pending", "new": "settled"}}
    assert deleted.changes == {"amount": {"old": 1200}, "status": {"old": "settled"}}
    assert created.key == {"merchant_id": "m1", "payment_id": "p1"}
    assert created.item_table == "payments"
    assert len(db.scan(AuditRecord).all()) == 3


def test_the_actor_can_come_from_the_record_and_records_can_go_to_another_table(
    db: DB, event: dict[str, Any]
) -> None:
    def actor(record: StreamRecord[Any]) -> str | None:
        return "writer" if record.event_name == "INSERT" else None

    result = audit_stream(
        db, event, Payment, actor=actor, options=Audit(record=Ledger, exclude=("amount",))
    )
    assert result.written == 3
    assert db.scan(AuditRecord).all() == []
    history = db.audit_history(key(Payment, merchant_id="m1", payment_id="p1"), record=Ledger)
    found = history.all()
    assert [r.actor for r in found] == ["unknown", "unknown", "writer"]
    assert all("amount" not in r.changes for r in found)


def test_history_pages_with_cursors_newest_first(db: DB, event: dict[str, Any]) -> None:
    audit_stream(db, event, Payment)
    query = db.audit_history(key(Payment, merchant_id="m1", payment_id="p1"))
    first = query.page(limit=2)
    assert [r.operation for r in first.items] == ["delete", "update"]
    assert first.cursor is not None
    rest = query.page(limit=2, cursor=first.cursor)
    assert [r.operation for r in rest.items] == ["create"]


def test_by_actor_by_time_range_and_exports(db: DB, event: dict[str, Any]) -> None:
    audit_stream(db, event, Payment, actor="ledger-service")
    records = db.audit_history(key(Payment, merchant_id="m1", payment_id="p1")).all()
    at = records[0].at
    assert [r.record_id for r in db.audit_by_actor("ledger-service")] == [
        r.record_id for r in records
    ]
    assert db.audit_by_actor("someone-else").all() == []
    since, until = at - timedelta(days=1), at + timedelta(seconds=1)
    assert [r.record_id for r in db.audit_between(since, until)] == [
        r.record_id for r in reversed(records)
    ]
    assert list(db.audit_between(at + timedelta(seconds=2), at + timedelta(days=3))) == []
    out = io.StringIO()
    assert db.audit_export(out, since, until) == 3
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [row["operation"] for row in rows] == ["create", "update", "delete"]
    assert rows[1]["changes"] == {"status": {"old": "pending", "new": "settled"}}
    table = io.StringIO()
    assert db.audit_export(table, since, until, format="csv") == 3
    parsed = list(csv.DictReader(io.StringIO(table.getvalue())))
    assert [row["actor"] for row in parsed] == ["ledger-service"] * 3
    assert json.loads(parsed[0]["key"]) == {"merchant_id": "m1", "payment_id": "p1"}


def test_stream_audit_refuses_an_audited_model_and_other_view_types(db: DB) -> None:
    class Audited(Model, table="payments", audit=True):
        merchant_id: Attr[str] = field(pk=True)
        payment_id: Attr[str] = field(sk=True)

    with pytest.raises(ConfigurationError, match="twice"):
        audit_stream(db, {"Records": []}, Audited)
    db.ensure_tables(AuditRecord)
    table = write_history(db, "NEW_IMAGE")
    event = lambda_event(db, table, expected=3)
    with pytest.raises(Exception, match="NEW_AND_OLD_IMAGES"):
        audit_stream(db, event, Payment)
    assert db.scan(AuditRecord).all() == []


def test_time_bounds_must_be_aware() -> None:
    from dynamorm._features.audit_query import _bounds

    with pytest.raises(Exception, match="aware"):
        _bounds(datetime(2026, 1, 1), None)
    assert _bounds(None, None) is None
    bounds = _bounds(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    assert bounds is not None
    assert bounds[0] < bounds[1]
