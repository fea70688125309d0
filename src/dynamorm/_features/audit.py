"""Audit trail: ``class Payment(Model, table=..., audit=True)``.

Every write of an audited model carries one more action in the same TransactWriteItems: the
put of an :class:`AuditRecord` (``attribute_not_exists``, never updated by the library). So there
is no change without its record and no record without its change. A record holds the item's
table and key, the operation, the actor, the time, the version before and after, the request
and trace ids and the field-level changes (old -> new; encrypted fields as changed, without
values; excluded fields left out).

The actor is the one named by ``db.with_actor(...)``, else by :func:`actor_context` (set once per
invocation), else the explicit ``"unknown"``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dynamorm._core.codec import decode_value
from dynamorm._core.errors import InvalidModel, ValidationError
from dynamorm._core.expressions import Path, UpdateAction, build_expressions
from dynamorm._orm.meta import AV, GSI, MISSING, Attr, FieldInfo, Item, ModelMeta
from dynamorm._orm.model import Model, field

if TYPE_CHECKING:
    from dynamorm._orm.base import DBBase
    from dynamorm._orm.writes import WritePlan

UNKNOWN_ACTOR = "unknown"
"""The actor of a write made with no actor set (explicit, never empty)."""

MAX_TARGET_BYTES = 1024
"""A record's ``target`` longer than this (very long keys) is replaced by a hash."""

_ROLES = ("version", "created_at", "updated_at")


class AuditRecord(Model, table="audit"):
    """One change to one audited item; the logical table is ``audit`` (the DB's prefix
    applies). Subclass it with another ``table=`` to keep some models' records apart and name
    it in ``Audit(record=...)``.

    ``target`` (partition key) is the item's logical table and key, ``record_id`` (sort key)
    the time of the change and a unique suffix, so a target's records sort by time. Indexes:
    ``by-actor`` (actor, record_id) and ``by-time`` (day, record_id), day as ``YYYY-MM-DD`` UTC.
    ``exact`` is True when the old values are exact (the write was conditioned on the version
    the instance was read at, or they come from a stream's old image).
    """

    target: Attr[str] = field(pk=True)
    record_id: Attr[str] = field(sk=True, index=(GSI("by-actor", sk=True), GSI("by-time", sk=True)))
    item_table: Attr[str]
    key: Attr[dict[str, Any]]
    operation: Attr[str]
    actor: Attr[str] = field(index=GSI("by-actor", pk=True))
    at: Attr[datetime]
    day: Attr[str] = field(index=GSI("by-time", pk=True))
    changes: Attr[dict[str, Any]] = field(default_factory=dict)
    exact: Attr[bool] = field(default=False)
    version_before: Attr[int | None] = field(default=None)
    version_after: Attr[int | None] = field(default=None)
    request_id: Attr[str | None] = field(default=None)
    trace_id: Attr[str | None] = field(default=None)
    partner: Attr[str | None] = field(default=None)
    source: Attr[str] = field(default="library")
    expires_at: Attr[datetime | None] = field(ttl=True, default=None)


class Audit:
    """Audit options: ``audit=Audit(exclude=("notes",), retention=timedelta(days=400))``.

    ``record``: the :class:`AuditRecord` subclass (its table) records go to; ``exclude``: fields
    never named in the changes; ``retention``: records expire (TTL) that long after the change;
    ``require_actor``: a write with no actor raises ``ValidationError`` before anything is sent.
    """

    __slots__ = ("exclude", "record", "require_actor", "retention")

    def __init__(
        self,
        *,
        record: type[AuditRecord] | None = None,
        exclude: Collection[str] = (),
        retention: timedelta | None = None,
        require_actor: bool = False,
    ) -> None:
        if record is not None and not (
            isinstance(record, type) and issubclass(record, AuditRecord)
        ):
            raise InvalidModel(f"Audit(record=...) takes an AuditRecord subclass, got {record!r}")
        if retention is not None and (
            not isinstance(retention, timedelta) or retention <= timedelta(0)
        ):
            raise InvalidModel(f"Audit(retention=...) takes a timedelta > 0, got {retention!r}")
        if isinstance(exclude, str):
            exclude = (exclude,)
        self.record: type[AuditRecord] = record or AuditRecord
        self.exclude: frozenset[str] = frozenset(exclude)
        self.retention: timedelta | None = retention
        self.require_actor: bool = require_actor

    def __repr__(self) -> str:
        return (
            f"Audit(record={self.record.__name__}, exclude={sorted(self.exclude)}, "
            f"retention={self.retention!r}, require_actor={self.require_actor})"
        )


def audit_options(meta: ModelMeta, value: object) -> Audit | None:
    """The :class:`Audit` of a model declared with ``audit=value`` (True, an AuditRecord
    subclass or an ``Audit``); None when the model is not audited."""
    if value is None or value is False:
        return None
    if value is True:
        options = Audit()
    elif isinstance(value, Audit):
        options = value
    elif isinstance(value, type) and issubclass(value, AuditRecord):
        options = Audit(record=value)
    else:
        raise InvalidModel(
            f"{meta.name}: audit= takes True, an AuditRecord subclass or Audit(...), got {value!r}",
            path=meta.name,
        )
    if meta.table is None:
        raise InvalidModel(f"{meta.name}: audit=... needs a model with a table", path=meta.name)
    unknown = sorted(options.exclude - set(meta.fields))
    if unknown:
        raise InvalidModel(
            f"{meta.name}: Audit(exclude=...) names unknown fields: {', '.join(unknown)}",
            path=meta.name,
        )
    if issubclass(meta.model, AuditRecord):
        raise InvalidModel(f"{meta.name}: audit records are not audited", path=meta.name)
    return options


def enable_audit(meta: ModelMeta, value: object) -> None:
    """Audit the writes of ``meta``'s model (``audit=value`` on the class): its options, and
    its extender on the write plan."""
    options = audit_options(meta, value)
    if options is not None:
        meta.audit = options
        meta.extenders.append(AuditExtender())


class AuditExtender:
    """Adds the put of the audit record to every write of an audited model, in the same
    TransactWriteItems (the write-plan seam, :mod:`dynamorm._orm.writes`)."""

    __slots__ = ()

    batch_refusal = "it is audited, and each write records its change in the same transaction"

    def extend(self, plan: WritePlan, db: DBBase) -> None:
        """Plan the audit record of one write; a delete must find the item (no record of a
        change that did not happen)."""
        if plan.kind == "check":
            return
        meta = plan.meta
        options = _options(meta)
        if plan.kind == "delete":
            assert meta.pk is not None
            plan.require(Path(meta.pk.stored).exists())
            plan.needs_item = True
        updated = meta.updated_at
        now = plan.stamps.get(updated.name) if updated is not None else None
        if not isinstance(now, datetime):
            now = db.clock()
        record = plan_record(plan, db, now)
        try:
            entry = record_put(record, db._table(options.record.__meta__))
        except ValidationError as exc:
            raise ValidationError(
                f"{plan.kind}({plan.describe()}): its audit record cannot be written: "
                f"{exc.message}; leave large fields out of the audit with Audit(exclude=...)",
                path=exc.path,
            ) from None
        from dynamorm._orm.writes import ExtraAction

        plan.extra.append(
            ExtraAction(
                "Put",
                entry["Put"],
                key=options.record.__meta__.key(record),
                label=f"audit record of {plan.describe()}",
            )
        )


# --- actor ----------------------------------------------------------------------------------

Actor = tuple[str, str | None]
"""``(actor, request id or None)``."""

_ACTOR: ContextVar[Actor | None] = ContextVar("dynamorm_actor", default=None)


def check_actor(actor: object, request_id: object = None) -> Actor:
    """A validated ``(actor, request_id)``: a non-empty str and an optional str."""
    if not isinstance(actor, str) or not actor.strip():
        raise ValidationError(f"an actor is a non-empty str, got {actor!r}")
    if request_id is not None and not isinstance(request_id, str):
        raise ValidationError(f"request_id must be a str, got {request_id!r}")
    return actor, request_id


@contextmanager
def actor_context(
    actor: str, *, request_id: str | None = None, context: object = None
) -> Iterator[None]:
    """Name the actor of the audited writes made inside the block (on any DB, partner DBs
    included) unless a ``db.with_actor(...)`` view names another. ``request_id`` (or a Lambda
    ``context``'s ``aws_request_id``) is recorded too. Blocks nest."""
    if request_id is None and context is not None:
        found = getattr(context, "aws_request_id", None)
        request_id = found if isinstance(found, str) else None
    token = _ACTOR.set(check_actor(actor, request_id))
    try:
        yield
    finally:
        _ACTOR.reset(token)


def current_actor() -> str | None:
    """The actor set by the innermost :func:`actor_context`, or None."""
    found = _ACTOR.get()
    return None if found is None else found[0]


def resolve_actor(db: DBBase, options: Audit, where: str) -> Actor:
    """The view's actor, else the context's, else ``unknown`` (or an error with
    ``require_actor``)."""
    found: Actor | None = getattr(db, "_actor", None) or _ACTOR.get()
    if found is None:
        if options.require_actor:
            raise ValidationError(
                f"{where} is audited with require_actor=True and no actor is set; use "
                "db.with_actor(...) or actor_context(...)"
            )
        return UNKNOWN_ACTOR, None
    return found


# --- the record of a planned write ----------------------------------------------------------


def target_of(table: str, key: Mapping[str, AV], meta: ModelMeta) -> str:
    """``payments#["m1","p1"]``: the logical table and the key values in key order."""
    parts = [_key_text(key[info.stored]) for info in meta.key_fields]
    text = table + "#" + json.dumps(parts, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_TARGET_BYTES:
        text = f"{table}#sha256:{hashlib.sha256(text.encode()).hexdigest()}"
    return text


def _key_text(av: AV) -> str:
    if "N" in av:  # DynamoDB normalises numbers; so must we, for streams and writes to agree
        return format(Decimal(av["N"]).normalize(), "f")
    return str(av.get("S", av.get("B", "")))


def record_id(at: datetime, suffix: str) -> str:
    """``2026-12-01T13:05:07.123456Z#<suffix>``: sorts by time."""
    return f"{at.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z#{suffix}"


def plan_record(plan: WritePlan, db: DBBase, now: datetime) -> AuditRecord:
    """The audit record of a planned write of an audited model (before it is sent)."""
    meta = plan.meta
    options = _options(meta)
    actor, request_id = resolve_actor(db, options, f"{plan.kind}({plan.describe()})")
    changes, exact, before, after = _plan_changes(plan, db)
    from dynamorm._runtime.context import current_partner

    return build_record(
        options,
        meta,
        plan.key,
        operation=plan.kind,
        actor=actor,
        at=now,
        suffix=os.urandom(8).hex(),
        changes=changes,
        exact=exact,
        before=before,
        after=after,
        request_id=request_id,
        partner=getattr(db, "partner_id", None) or current_partner(),
        source="library",
    )


def record_put(record: AuditRecord, table: str) -> dict[str, Any]:
    """The TransactWriteItems entry that writes ``record`` once (``attribute_not_exists``)."""
    item = record.to_item()
    return {
        "Put": {
            "TableName": table,
            "Item": item,
            **build_expressions(condition=Path("target").not_exists()),
        }
    }


def build_record(
    options: Audit,
    meta: ModelMeta,
    key: Mapping[str, AV],
    *,
    operation: str,
    actor: str,
    at: datetime,
    suffix: str,
    changes: dict[str, Any],
    exact: bool,
    before: int | None,
    after: int | None,
    request_id: str | None,
    partner: str | None,
    source: str,
) -> AuditRecord:
    """An audit record of a change to the item of ``meta`` with primary key ``key``."""
    table = meta.require_table()
    return options.record(
        target=target_of(table, key, meta),
        record_id=record_id(at, suffix),
        item_table=table,
        key={info.name: decode_value(key[info.stored]) for info in meta.key_fields},
        operation=operation,
        actor=actor,
        at=at,
        day=at.strftime("%Y-%m-%d"),
        changes=changes,
        exact=exact,
        version_before=before,
        version_after=after,
        request_id=request_id,
        trace_id=_trace_id(),
        partner=partner,
        source=source,
        expires_at=None if options.retention is None else at + options.retention,
    )


def _options(meta: ModelMeta) -> Audit:
    options = meta.audit
    if options is None:
        raise InvalidModel(f"{meta.name} is not audited", path=meta.name)
    return options


def _trace_id() -> str | None:
    header = os.environ.get("_X_AMZN_TRACE_ID", "")
    for part in header.split(";"):
        if part.startswith("Root="):
            return part[5:]
    return None


def _audited_fields(meta: ModelMeta, options: Audit) -> Iterator[FieldInfo]:
    exclude = options.exclude
    for info in meta.fields.values():
        if info.key is None and info.role not in _ROLES and info.name not in exclude:
            yield info


def _encrypted(info: FieldInfo) -> bool:
    return bool(getattr(info.spec, "encrypted", False))


def item_changes(
    meta: ModelMeta, old: Item | None, new: Item | None, options: Audit
) -> dict[str, Any]:
    """Field-level changes between two stored items (either may be None: created or
    deleted): ``{field: {"old": ..., "new": ...}}``, an absent side left out; encrypted fields
    as ``{"changed": True, "encrypted": True}``."""
    out: dict[str, Any] = {}
    for info in _audited_fields(meta, options):
        before = None if old is None else old.get(info.stored)
        after = None if new is None else new.get(info.stored)
        if before == after:
            continue
        if _encrypted(info):
            out[info.name] = {"changed": True, "encrypted": True}
            continue
        change: dict[str, Any] = {}
        if before is not None:
            change["old"] = decode_value(before)
        if after is not None:
            change["new"] = decode_value(after)
        out[info.name] = change
    return out


def _plan_changes(
    plan: WritePlan, db: DBBase
) -> tuple[dict[str, Any], bool, int | None, int | None]:
    """(changes, exact, version before, version after) of a planned write."""
    meta = plan.meta
    options = _options(meta)
    obj = plan.obj
    loaded = meta.loaded_item(obj) if obj is not None else None
    expect = plan.expect
    version = meta.version
    after = plan.stamps.get(version.name) if version is not None else None
    before = None if expect is None or expect.absent else expect.version
    if plan.kind == "create":
        return item_changes(meta, None, plan.item, options), True, None, after
    if plan.kind in ("put", "save"):
        exact = expect is not None
        if loaded is None and not (expect is not None and expect.absent):
            # what was there before is unknown
            changes = item_changes(meta, None, plan.item, options)
            return changes, False, before, after
        changes = item_changes(meta, loaded, plan.item, options)
        sealed = [n for n in changes if n in meta.fields and _encrypted(meta.fields[n])]
        if loaded is not None and sealed:  # sealed anew on every write: compare plain values
            from dynamorm._orm.sealed import reading

            with reading(db, meta, [loaded], best_effort=True):
                changed = set(meta.changed(obj))
            for name in sealed:
                if name not in changed:
                    del changes[name]
        return changes, exact, before, after
    if plan.kind == "delete":
        if loaded is None:
            return {}, False, None, None
        return item_changes(meta, loaded, None, options), expect is not None, before, None
    actions: tuple[UpdateAction, ...] = getattr(plan, "actions", ())
    changes = {}
    for action in actions:
        entry = _action_change(meta, options, action, loaded)
        if entry is not None:
            changes[entry[0]] = entry[1]
    return changes, expect is not None and loaded is not None, before, after


def _action_change(
    meta: ModelMeta, options: Audit, action: UpdateAction, loaded: Item | None
) -> tuple[str, dict[str, Any]] | None:
    """``(name, {"action": ..., "value": ..., "old": ..., "new": ...})`` of one update action;
    ``new`` only where it follows from the action and a known old value."""
    from dynamorm._core._operands import Value, display_path

    elements = action.path.elements
    info = meta.by_stored.get(str(elements[0]))
    if info is not None and (
        info.name in options.exclude or info.role in _ROLES or info.key is not None
    ):
        return None
    name = info.name if info is not None else str(elements[0])
    if len(elements) > 1:
        name = display_path(elements)
    if info is not None and _encrypted(info):
        return name, {"action": action.kind, "changed": True, "encrypted": True}
    change: dict[str, Any] = {"action": action.kind}
    operand = action.operand
    if isinstance(operand, Value):
        change["value"] = decode_value(operand.av)
    elif operand is not None:
        change["from"] = display_path(operand.elements)
    if len(elements) > 1 or loaded is None:
        return name, change
    old_av = loaded.get(str(elements[0]))
    if old_av is not None:
        change["old"] = decode_value(old_av)
    new = _applied(action.kind, None if old_av is None else change["old"], change.get("value"))
    if new is not MISSING:
        change["new"] = new
    return name, change


def _applied(kind: str, old: Any, value: Any) -> Any:
    """The value an action leaves, from the old value; MISSING when it cannot be known here."""
    if kind == "set" and value is not None:
        return value
    if kind == "remove":
        return None
    if kind == "if_not_exists":
        return value if old is None else old
    if kind in ("add", "increment") and isinstance(value, int | Decimal):
        return (old or 0) + value
    if kind == "decrement" and isinstance(value, int | Decimal) and old is not None:
        return old - value
    if kind == "add" and isinstance(value, set):
        return (old or set()) | value
    if kind == "delete" and isinstance(value, set) and old is not None:
        return (old - value) or None
    if kind == "append" and isinstance(value, list):
        return [*(old or []), *value]
    if kind == "prepend" and isinstance(value, list):
        return [*value, *(old or [])]
    return MISSING
