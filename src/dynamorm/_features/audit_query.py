"""Reading the audit trail: one item's history, an actor's records, a time range, exports."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

from dynamorm._core.errors import ConfigurationError, ValidationError
from dynamorm._features.audit import AuditRecord, target_of
from dynamorm._orm.keys import Key

if TYPE_CHECKING:
    from dynamorm._orm.base import DBBase
    from dynamorm._orm.query import Query, QueryBuilder

Format = Literal["jsonl", "csv"]
Q = TypeVar("Q", bound="QueryBuilder[AuditRecord]")
COLUMNS = (
    "record_id",
    "at",
    "actor",
    "operation",
    "item_table",
    "key",
    "version_before",
    "version_after",
    "exact",
    "changes",
    "request_id",
    "trace_id",
    "partner",
    "source",
)
"""The fields an export writes, in order (``key`` and ``changes`` as JSON in CSV)."""


def _record_model(record: type[AuditRecord] | None) -> type[AuditRecord]:
    if record is None:
        return AuditRecord
    if not (isinstance(record, type) and issubclass(record, AuditRecord)):
        raise ConfigurationError(f"record= takes an AuditRecord subclass, got {record!r}")
    return record


def _bounds(since: datetime | None, until: datetime | None) -> tuple[str, str] | None:
    if since is None and until is None:
        return None
    low = "" if since is None else _stamp(since)
    high = "9999" if until is None else _stamp(until) + "\uffff"
    if low > high:
        raise ValidationError(f"since ({since}) is after until ({until})")
    return low, high


def _stamp(at: datetime) -> str:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise ValidationError(f"audit times are aware datetimes (UTC), got {at!r}")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def history(
    db: DBBase,
    target: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    record: type[AuditRecord] | None = None,
    reader: Callable[[type[AuditRecord]], Q],
) -> Q:
    """The records of one item (an instance or a ``dynamorm.key(...)``), newest first, from
    ``record``'s table (default: the model's ``Audit(record=...)``, else ``AuditRecord``);
    ``reader`` is the DB's ``query`` (a ``Query`` or an ``AsyncQuery``)."""
    if isinstance(target, Key):
        meta, key_item = target.meta, target.item
    else:
        meta = db._meta(target)
        key_item = meta.key(target)
    if record is None and meta.audit is not None:
        record = meta.audit.record
    model = _record_model(record)
    query = (
        reader(model)
        .where(model.target == target_of(meta.require_table(), key_item, meta))
        .reverse()
    )
    bounds = _bounds(since, until)
    if bounds is not None:
        query = query.where(model.record_id.between(*bounds))
    return query


def by_actor(
    actor: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    record: type[AuditRecord] | None = None,
    reader: Callable[[type[AuditRecord]], Q],
) -> Q:
    """An actor's records (index ``by-actor``), newest first."""
    model = _record_model(record)
    query = reader(model).index("by-actor").where(model.actor == actor).reverse()
    bounds = _bounds(since, until)
    if bounds is not None:
        query = query.where(model.record_id.between(*bounds))
    return query


def days(
    reader: Callable[[type[AuditRecord]], Q],
    since: datetime,
    until: datetime,
    *,
    record: type[AuditRecord] | None = None,
) -> Iterator[Q]:
    """The queries of ``between`` (index ``by-time``), one per UTC day, oldest first."""
    model = _record_model(record)
    bounds = _bounds(since, until)
    assert bounds is not None
    day = since.astimezone(UTC).date()
    last = until.astimezone(UTC).date()
    while day <= last:
        yield (
            reader(model)
            .index("by-time")
            .where((model.day == day.isoformat()) & model.record_id.between(*bounds))
        )
        day += timedelta(days=1)


def between(
    reader: Callable[[type[AuditRecord]], Query[AuditRecord]],
    since: datetime,
    until: datetime,
    *,
    record: type[AuditRecord] | None = None,
) -> Iterator[AuditRecord]:
    """Every record from ``since`` to ``until`` (index ``by-time``, one query per UTC day),
    oldest first, read page by page."""
    for query in days(reader, since, until, record=record):
        yield from query


class Exporter:
    """Writes records to ``out`` as JSON Lines or CSV (with a header), one at a time."""

    def __init__(self, out: IO[str], format: Format) -> None:
        if format not in ("jsonl", "csv"):
            raise ValidationError(f"format must be 'jsonl' or 'csv', got {format!r}")
        self.out = out
        self.count = 0
        self.csv: Any = None
        if format == "csv":
            import csv

            self.csv = csv.writer(out)
            self.csv.writerow(COLUMNS)

    def write(self, found: AuditRecord) -> None:
        """Write one record."""
        values = row(found)
        if self.csv is None:
            self.out.write(json.dumps(values, default=_json, separators=(",", ":")) + "\n")
        else:
            self.csv.writerow([_cell(values[name]) for name in COLUMNS])
        self.count += 1


def export(
    reader: Callable[[type[AuditRecord]], Query[AuditRecord]],
    out: IO[str],
    since: datetime,
    until: datetime,
    *,
    format: Format = "jsonl",
    record: type[AuditRecord] | None = None,
) -> int:
    """Write the records from ``since`` to ``until`` to ``out`` as JSON Lines or CSV (with a
    header), streaming page by page; return how many were written."""
    exporter = Exporter(out, format)
    for found in between(reader, since, until, record=record):
        exporter.write(found)
    return exporter.count


def row(found: AuditRecord) -> dict[str, Any]:
    """A record as a plain dict of the export columns."""
    values = found.__dict__
    out = {name: values.get(name) for name in COLUMNS}
    out["at"] = found.at.astimezone(UTC).isoformat()
    return out


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json, separators=(",", ":"), sort_keys=True)
    return str(value)
