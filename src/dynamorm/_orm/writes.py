"""Write builders shared by single calls, transactions and batches: lifecycle stamping,
version conditions, key conditions and request bodies (pure: no I/O).

**The write-plan seam.** Every ``create``/``put``/``update``/``save``/``delete`` (single call
or inside ``db.transaction()``) is first planned as a :class:`WritePlan`: its main action plus
``plan.extra``, a list of :class:`ExtraAction` that must commit with it. Features add to a plan
through *plan extenders*: objects with ``extend(plan, db)`` listed in ``ModelMeta.extenders``
(set when the model class is compiled; a model without them pays nothing). An extender may

* append an :class:`ExtraAction` (``Put``/``Update``/``Delete``/``ConditionCheck`` on any
  table), with ``explain(item)`` mapping its failed condition (DynamoDB's ALL_OLD item, or
  None) to a typed error;
* AND a condition into the main action with :meth:`WritePlan.require`.

``extend_plan`` runs the extenders (a flow: a read an extender needs is one of its steps);
``DB`` runs it before sending a single write and ``Transaction`` before adding an action.
A plan with extra actions is sent as one TransactWriteItems carrying a ClientRequestToken
(DynamoDB deduplicates a retried commit); inside a transaction its actions join the
transaction's and count towards the 100. A failed commit is mapped per action: the main
action by :meth:`WritePlan.failure`, an extra one by its ``explain``. Batch writes cannot be
atomic, so models with extenders refuse them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from dynamorm._core._compile import build_expressions  # (not the expressions facade)
from dynamorm._core._conditions import Condition, Path
from dynamorm._core._operands import Value
from dynamorm._core._update import UpdateAction
from dynamorm._core.errors import (
    AlreadyExists,
    ConditionFailed,
    ConfigurationError,
    DynamORMError,
    EncryptionNotConfigured,
    InvalidOperator,
    NotFound,
    ServiceError,
    ValidationError,
    VersionConflict,
)
from dynamorm._orm.keys import Key, describe
from dynamorm._orm.meta import AV, MISSING, FieldInfo, Item, ModelMeta
from dynamorm._orm.versioning import Expect, expect_for, own_version

if TYPE_CHECKING:
    from datetime import datetime

    from dynamorm._core.steps import Flow
    from dynamorm._orm.base import DBBase


def stamp_for_batch_put(
    meta: ModelMeta, obj: Any, now: datetime, *, check_version: bool = True
) -> tuple[Item, dict[str, Any]]:
    """The item a batch put writes for ``obj``, and the lifecycle role values stamped in it.

    ``created_at`` keeps the instance's value (else ``now``), ``updated_at`` is ``now``. A
    versioned model raises ``ValidationError`` unless ``check_version=False`` (BatchWriteItem
    cannot be conditioned); then the version is written as the loaded version + 1, or as the
    instance's (default) version for an instance that was never loaded or written. ``obj``
    itself changes only once the write succeeded (:func:`batch_put_written`), so a put that
    is queued again after a failed batch is stamped the same way.
    """
    if meta.version is not None and check_version:
        raise ValidationError(
            f"{meta.name} has a version field ({meta.version.name}) and BatchWriteItem cannot "
            "check it; write it with db.put() or a transaction, or pass check_version=False "
            "to overwrite without the check",
            path=meta.version.where,
        )
    stamps = _new_item_stamps(meta, obj, now, bump=True)
    item = meta.to_item(obj)
    _overlay(meta, item, stamps)
    return item, stamps


def batch_put_written(meta: ModelMeta, obj: Any, item: Item, stamps: dict[str, Any]) -> None:
    """Record a successful batch put: the stamped roles land on ``obj``, ``item`` is stored."""
    _apply(meta, obj, stamps, item)
    meta.mark_saved(obj, item)


def _new_item_stamps(meta: ModelMeta, obj: Any, now: datetime, *, bump: bool) -> dict[str, Any]:
    """Role values for a write of the whole item: created_at kept or now, updated_at now,
    version as loaded + 1 (``bump`` and a loaded instance) or the instance's own."""
    values = obj.__dict__
    stamps: dict[str, Any] = {}
    if meta.created_at is not None:
        created = values.get(meta.created_at.name, MISSING)
        stamps[meta.created_at.name] = now if created is MISSING or created is None else created
    if meta.updated_at is not None:
        stamps[meta.updated_at.name] = now
    if meta.version is not None:
        stamps[meta.version.name] = _next_version(meta, obj) if bump else own_version(meta, obj)
    return stamps


def _next_version(meta: ModelMeta, obj: Any) -> int:
    own = own_version(meta, obj)
    return own if meta.loaded_item(obj) is None else own + 1


def _overlay(meta: ModelMeta, item: Item, stamps: dict[str, Any]) -> None:
    for name, value in stamps.items():
        info = meta.fields[name]
        item[info.stored] = info.encode(value)


def _apply(meta: ModelMeta, obj: Any, stamps: dict[str, Any], item: Item) -> None:
    """Set the stamped role values on ``obj``; a ttl takes its stored (whole-second) value."""
    values = obj.__dict__
    values.update(stamps)
    ttl = meta.ttl
    if ttl is not None and ttl.stored in item:
        values[ttl.name] = ttl.decode(item[ttl.stored])


# --- planned writes -------------------------------------------------------------------------

WriteKind = Literal["create", "put", "update", "save", "delete", "check"]
_OPERATIONS: dict[str, tuple[str, str]] = {  # kind -> (single-call operation, transaction entry)
    "create": ("PutItem", "Put"),
    "put": ("UpdateItem", "Update"),
    "update": ("UpdateItem", "Update"),
    "save": ("UpdateItem", "Update"),
    "delete": ("DeleteItem", "Delete"),
    "check": ("", "ConditionCheck"),
}


class WritePlan:
    """One write, ready to send as a single call (:meth:`request`) or as a TransactWriteItems
    entry (:meth:`transact_item`), and what to do with the instance once it succeeded."""

    __slots__ = (
        "actions",
        "body",
        "condition",
        "expect",
        "extra",
        "guard",
        "item",
        "kind",
        "meta",
        "needs_item",
        "obj",
        "replayable",
        "stamps",
        "target",
        "unknown",
    )

    def __init__(
        self,
        kind: WriteKind,
        meta: ModelMeta,
        target: Any,
        body: dict[str, Any],
        *,
        obj: Any = None,
        condition: Condition | None = None,
        expect: Expect | None = None,
        needs_item: bool = False,
        stamps: dict[str, Any] | None = None,
        item: Item | None = None,
        unknown: tuple[str, ...] = (),
        guard: Condition | None = None,
        actions: list[UpdateAction] | None = None,
        replayable: bool = True,
    ) -> None:
        if meta.encrypted:
            from dynamorm._orm.sealed import refuse_encrypted

            refuse_encrypted(meta, condition, "a write condition")
        self.kind: WriteKind = kind
        self.meta = meta
        self.target = target
        self.obj = obj
        self.body = body
        self.condition = condition
        self.expect = expect
        self.needs_item = needs_item
        self.stamps = stamps or {}
        self.item = item
        self.unknown = unknown
        self.guard = guard
        self.actions = actions
        self.extra: list[ExtraAction] = []
        self.replayable = replayable
        """False when sending it twice could apply it twice (see ``_orm/exactly_once.py``)."""

    def require(self, condition: Condition) -> None:
        """AND ``condition`` into the main action's condition (rebuilding its expressions)."""
        self.guard = _and(self.guard, condition)
        body = {k: v for k, v in self.body.items() if k not in _EXPRESSION_FIELDS}
        body.update(_expressions(self.guard, self.actions))
        self.body = body

    def entries(self) -> list[dict[str, Any]]:
        """The TransactWriteItems entries of this write: the main action, then the extra ones."""
        return [self.transact_item(), *(extra.transact_item() for extra in self.extra)]

    @property
    def operation(self) -> str:
        """The single-call operation: PutItem, UpdateItem or DeleteItem."""
        return _OPERATIONS[self.kind][0]

    @property
    def key(self) -> Item:
        """The primary key written."""
        if "Key" in self.body:
            key: Item = self.body["Key"]
            return key
        return {f.stored: self.body["Item"][f.stored] for f in self.meta.key_fields}

    def describe(self) -> str:
        """``Payment(merchant_id='m1', payment_id='p1')``."""
        return describe(self.meta, self.key)

    def request(self) -> dict[str, Any]:
        """The payload of the single call (capacity, ALL_NEW and ALL_OLD on failure asked for)."""
        payload = dict(self.body)
        payload["ReturnConsumedCapacity"] = capacity_detail((self.meta,))
        if self.operation == "UpdateItem":
            payload["ReturnValues"] = "ALL_NEW"
        if "ConditionExpression" in payload:
            payload["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return payload

    def transact_item(self) -> dict[str, Any]:
        """The TransactWriteItems entry (``{"Put": {...}}``, ``{"Update": {...}}``...)."""
        body = dict(self.body)
        if "ConditionExpression" in body:
            body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {_OPERATIONS[self.kind][1]: body}

    def failure(self, item: Item | None, cause: ServiceError | None = None) -> DynamORMError:
        """The error for a failed condition, given the stored item DynamoDB returned."""
        where = self.describe()
        common: dict[str, Any] = {}
        if cause is not None:
            common = {
                "type_name": cause.type_name,
                "status": cause.status,
                "request_id": cause.request_id,
                "operation": cause.operation,
                "response": cause.response,
            }
        current = _decode(self.meta, item)
        if self.kind == "create" and item is not None:
            replace = (
                "put() replaces it"
                if self.meta.version is None
                else "to replace it, put() an instance loaded with get(), or "
                "put(obj, check_version=False)"
            )
            return AlreadyExists(
                f"{where} already exists; create() never overwrites ({replace})",
                item=item,
                current=current,
                **common,
            )
        if self.needs_item and item is None:
            return NotFound(f"{where} not found; {self.kind}() changes an existing item only")
        reason = None if self.expect is None else self.expect.mismatch(self.meta, item)
        if reason is not None:
            return VersionConflict(
                f"{where}: version conflict: {reason}; reload the item and retry",
                item=item,
                current=current,
                **common,
            )
        shown = "condition" if self.condition is None else self.condition.describe()
        state = "the item does not exist" if item is None else "the item exists"
        return ConditionFailed(
            f"{where}: {shown} failed ({state})", item=item, current=current, **common
        )

    def succeeded(self, new_item: Item | None = None) -> None:
        """Bring the instance up to date after the write: from ``new_item`` (ALL_NEW) when
        DynamoDB returned it, else from what was sent."""
        obj = self.obj
        if obj is None:
            return
        meta = self.meta
        if self.kind == "delete":
            obj._dm_src = None
            return
        if new_item is not None:
            fresh = meta.from_item(new_item)
            values = obj.__dict__
            values.clear()
            values.update(fresh.__dict__)
            meta.mark_saved(obj, new_item)
            return
        if self.item is None:
            return
        _apply(meta, obj, self.stamps, self.item)
        for name in self.unknown:
            obj.__dict__.pop(name, None)
        meta.mark_saved(obj, self.item)


def capacity_detail(metas: Sequence[ModelMeta]) -> str:
    """``INDEXES`` when a written model has secondary indexes or is audited (the audit table
    has two), so index writes are reported per index and ``db.costs`` can show them; else
    ``TOTAL``."""
    return "INDEXES" if any(meta.indexes or meta.audit for meta in metas) else "TOTAL"


def resolve(target: Any) -> tuple[ModelMeta, Any, Item]:
    """``(meta, instance or None, encoded key)`` of a model instance or a :class:`Key`."""
    if isinstance(target, Key):
        return target.meta, None, target.item
    meta = getattr(target, "__meta__", None)
    if not isinstance(meta, ModelMeta) or isinstance(target, type):
        raise ConfigurationError(
            f"expected a model instance or a dynamorm.key(...), got {target!r}"
        )
    meta.require_table()
    return meta, target, meta.key(target)


def plan_create(
    meta: ModelMeta, table: str, obj: Any, now: datetime, *, condition: Condition | None
) -> WritePlan:
    """PutItem guarded by ``attribute_not_exists(pk)``: never overwrites."""
    assert meta.pk is not None
    stamps = _new_item_stamps(meta, obj, now, bump=False)
    item = meta.to_item(obj)
    _overlay(meta, item, stamps)
    guard = _and(Path(meta.pk.stored).not_exists(), condition)
    body = {"TableName": table, "Item": item, **build_expressions(condition=guard)}
    return WritePlan(
        "create",
        meta,
        obj,
        body,
        obj=obj,
        condition=condition,
        stamps=stamps,
        item=item,
        guard=guard,
    )


def plan_put(
    meta: ModelMeta,
    table: str,
    obj: Any,
    now: datetime,
    *,
    condition: Condition | None,
    check_version: bool,
) -> WritePlan:
    """An upsert of every declared field as one UpdateItem (``SET``/``REMOVE``), so that a
    stored ``created_at`` is kept and undeclared attributes are left alone."""
    item = meta.to_item(obj)
    values = obj.__dict__
    actions: list[UpdateAction] = []
    for info in meta.fields.values():
        if info.key or info.role in _STAMPED:
            continue
        av = item.get(info.stored)
        if av is not None:
            actions.append(_set(info, values.get(info.name), av))
        elif values.get(info.name, MISSING) is not MISSING:
            actions.append(_path(info).remove())
    checked = check_version and meta.version is not None
    expect = expect_for(meta, obj, put=True) if checked else None
    if expect is not None:
        stamps = _new_item_stamps(meta, obj, now, bump=not expect.absent)
    else:
        stamps = _new_item_stamps(meta, obj, now, bump=True)
    for name, value in stamps.items():
        info = meta.fields[name]
        if info.role == "created_at":
            actions.append(_path(info).if_not_exists(value))
        else:
            actions.append(_path(info).set(value))
    guard = _and(expect.condition(meta) if expect else None, condition)
    _overlay(meta, item, stamps)
    body = {"TableName": table, "Key": meta.key(obj), **_expressions(guard, actions)}
    return WritePlan(
        "put",
        meta,
        obj,
        body,
        obj=obj,
        condition=condition,
        expect=expect,
        stamps=stamps,
        item=item,
        guard=guard,
        actions=actions,
    )


def plan_update(
    meta: ModelMeta,
    table: str,
    target: Any,
    actions: Sequence[UpdateAction],
    now: datetime,
    *,
    condition: Condition | None,
    check_version: bool,
) -> WritePlan:
    """UpdateItem with the caller's actions, ``updated_at`` and the version increment, on an
    existing item only (``attribute_exists(pk)``)."""
    assert meta.pk is not None
    _, obj, key_item = resolve(target)
    written = _check_actions(meta, actions, check_version)
    if meta.encrypted:
        from dynamorm._orm.sealed import seal_actions

        actions = seal_actions(meta, actions)
    actions = list(actions)
    stamps: dict[str, Any] = {}
    if meta.updated_at is not None and meta.updated_at.stored not in written:
        stamps[meta.updated_at.name] = now
        actions.append(_path(meta.updated_at).set(now))
    expect = None
    if meta.version is not None and meta.version.stored not in written:
        if obj is not None and check_version:
            expect = expect_for(meta, obj)
            stamps[meta.version.name] = own_version(meta, obj) + 1
            actions.append(_path(meta.version).set(stamps[meta.version.name]))
        else:
            actions.append(_path(meta.version).add(1))
    guard = _and(Path(meta.pk.stored).exists(), expect.condition(meta) if expect else None)
    guard = _and(guard, condition)
    body = {"TableName": table, "Key": key_item, **_expressions(guard, actions)}
    item = None
    unknown: tuple[str, ...] = ()
    if obj is not None:  # what a transaction knows afterwards: the written attributes are not
        unknown = tuple(  # returned, so they become unset on the instance
            info.name
            for info in meta.fields.values()
            if info.stored in written or (info is meta.version and info.name not in stamps)
        )
        dropped = written | {meta.fields[name].stored for name in unknown}
        patched = _patched(meta, obj, stamps, {}, set())
        item = {k: v for k, v in patched.items() if k not in dropped}
    return WritePlan(
        "update",
        meta,
        target,
        body,
        obj=obj,
        condition=condition,
        expect=expect,
        needs_item=True,
        stamps=stamps,
        item=item,
        unknown=unknown,
        guard=guard,
        actions=actions,
        replayable=expect is not None or all(a.idempotent for a in actions),
    )


def plan_save(
    meta: ModelMeta, table: str, obj: Any, now: datetime, *, condition: Condition | None
) -> WritePlan | None:
    """The changes since load as one UpdateItem (``SET``/``REMOVE``); a never-written instance
    is created; None when nothing changed."""
    assert meta.pk is not None
    if meta.loaded_item(obj) is None:
        return plan_create(meta, table, obj, now, condition=condition)
    sets, removes = _changes(meta, obj)
    if not sets and not removes:
        return None
    values = obj.__dict__
    actions: list[UpdateAction] = []
    for stored, av in sets.items():
        info = meta.by_stored[stored]
        actions.append(_set(info, values.get(info.name), av))
    actions += [_path(meta.by_stored[stored]).remove() for stored in removes]
    stamps: dict[str, Any] = {}
    if meta.updated_at is not None:
        stamps[meta.updated_at.name] = now
        actions.append(_path(meta.updated_at).set(now))
    expect = None
    if meta.version is not None:
        expect = expect_for(meta, obj)
        stamps[meta.version.name] = own_version(meta, obj) + 1
        actions.append(_path(meta.version).set(stamps[meta.version.name]))
    guard = _and(Path(meta.pk.stored).exists(), expect.condition(meta) if expect else None)
    guard = _and(guard, condition)
    body = {"TableName": table, "Key": meta.key(obj), **_expressions(guard, actions)}
    return WritePlan(
        "save",
        meta,
        obj,
        body,
        obj=obj,
        condition=condition,
        expect=expect,
        needs_item=True,
        stamps=stamps,
        item=_patched(meta, obj, stamps, sets, set(removes)),
        guard=guard,
        actions=actions,
    )


def plan_delete(
    meta: ModelMeta, table: str, target: Any, *, condition: Condition | None, check_version: bool
) -> WritePlan:
    """DeleteItem; an instance's version is checked (a missing item is no conflict)."""
    _, obj, key_item = resolve(target)
    expect = None
    if obj is not None and check_version and meta.version is not None:
        expect = expect_for(meta, obj)
        expect.missing_ok = True
    guard = _and(expect.condition(meta) if expect else None, condition)
    body = {"TableName": table, "Key": key_item, **_expressions(guard, None)}
    return WritePlan(
        "delete", meta, target, body, obj=obj, condition=condition, expect=expect, guard=guard
    )


def plan_check(
    meta: ModelMeta, table: str, target: Any, *, condition: Condition | None, check_version: bool
) -> WritePlan:
    """A transaction's ConditionCheck: ``condition`` and, for an instance, its version."""
    _, obj, key_item = resolve(target)
    expect = None
    if obj is not None and check_version and meta.version is not None:
        expect = expect_for(meta, obj)
    guard = _and(expect.condition(meta) if expect else None, condition)
    if guard is None:
        raise ValidationError(
            f"check({describe(meta, key_item)}) needs a condition (or a versioned instance)",
            path=meta.name,
        )
    body = {"TableName": table, "Key": key_item, **build_expressions(condition=guard)}
    return WritePlan("check", meta, target, body, condition=condition, expect=expect, guard=guard)


# --- the seam features plug into ------------------------------------------------------------

ExtraOperation = Literal["Put", "Update", "Delete", "ConditionCheck"]


class ExtraAction:
    """One more action a feature adds to a write (a unique sentinel, an audit record...).

    ``op`` is the TransactWriteItems entry type, ``body`` its content (TableName, Key or Item,
    expressions), ``key`` the item's primary key (one action per item in a transaction),
    ``label`` names it in messages (``"unique Customer.email"``), ``explain(item)`` turns its
    failed condition into an error (``item``: the stored item DynamoDB returned, or None).
    """

    __slots__ = ("body", "explain", "key", "label", "op")

    def __init__(
        self,
        op: ExtraOperation,
        body: dict[str, Any],
        *,
        key: Item,
        label: str,
        explain: Callable[[Item | None], DynamORMError] | None = None,
    ) -> None:
        self.op: ExtraOperation = op
        self.body = body
        self.key = key
        self.label = label
        self.explain = explain

    @property
    def item(self) -> Item | None:
        """The item a Put writes (counted in the transaction's 4 MB), else None."""
        item: Item | None = self.body.get("Item")
        return item

    def transact_item(self) -> dict[str, Any]:
        """The TransactWriteItems entry (ALL_OLD asked for when it has a condition)."""
        body = dict(self.body)
        if "ConditionExpression" in body:
            body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {self.op: body}

    def failure(self, item: Item | None) -> DynamORMError:
        """The error for this action's failed condition."""
        if self.explain is not None:
            return self.explain(item)
        state = "the item does not exist" if item is None else "the item exists"
        return ConditionFailed(f"{self.label}: condition failed ({state})", item=item)

    def __repr__(self) -> str:
        return f"ExtraAction({self.op} {self.label})"


class PlanExtender(Protocol):
    """A feature's hook on every write of a model (listed in ``ModelMeta.extenders``);
    ``batch_refusal`` says why batch writes of the model are refused."""

    batch_refusal: str

    def extend(self, plan: WritePlan, db: DBBase) -> Flow[None] | None:
        """Add actions or conditions to ``plan``; return a flow when that needs a read (it
        may read, never write)."""


def extend_plan(plan: WritePlan, db: DBBase) -> Flow[WritePlan]:
    """Run the model's plan extenders on ``plan`` (once); the flow returns the plan."""
    for extender in plan.meta.extenders:
        reads = extender.extend(plan, db)
        if reads is not None:
            yield from reads
    return plan


def refuse_batch(meta: ModelMeta) -> None:
    """Batch writes cannot be atomic: a model whose writes add actions refuses them."""
    if meta.extenders:
        reasons = "; ".join(ext.batch_refusal for ext in meta.extenders)
        raise ValidationError(
            f"{meta.name} cannot be written in a batch ({reasons}); BatchWriteItem cannot be "
            "atomic, so use db.create/put/delete or db.transaction() instead",
            path=meta.name,
        )


# --- helpers --------------------------------------------------------------------------------

_EXPRESSION_FIELDS = frozenset(
    {
        "ConditionExpression",
        "UpdateExpression",
        "ExpressionAttributeNames",
        "ExpressionAttributeValues",
    }
)
_STAMPED = ("version", "created_at", "updated_at")


def _path(info: FieldInfo) -> Path[Any]:
    return Path(info.stored, encoder=info.encode_operand)


def _set(info: FieldInfo, value: Any, av: AV) -> UpdateAction:
    """``SET attr = :v`` with the value already encoded (an encrypted one never shown)."""
    if info.spec.encrypted:
        from dynamorm._core.envelope import HIDDEN

        value = HIDDEN
    return UpdateAction("set", _path(info), Value(value, av))


def _and(left: Condition | None, right: Condition | None) -> Condition | None:
    if left is None:
        return right
    return left if right is None else left & right


def _expressions(condition: Condition | None, actions: list[UpdateAction] | None) -> dict[str, Any]:
    return build_expressions(condition=condition, update=actions or None)


def _check_actions(
    meta: ModelMeta, actions: Sequence[UpdateAction], check_version: bool
) -> set[str]:
    """Refuse writes to key attributes (and to the version while it is checked); return the
    top-level attributes the actions write."""
    written: set[str] = set()
    for action in actions:
        if not isinstance(action, UpdateAction):
            raise InvalidOperator(
                f"expected an update action such as Model.attr.set(value), got {action!r}"
            )
        name = action.path.name
        info = meta.by_stored.get(name)
        if info is not None and info.key is not None:
            raise ValidationError(
                f"{info.where} is part of the primary key and cannot be updated "
                "(delete the item and create a new one)",
                path=info.where,
            )
        if info is not None and info is meta.version and check_version:
            raise ValidationError(
                f"{info.where} is the version field, incremented by the library; pass "
                "check_version=False to write it yourself",
                path=info.where,
            )
        operand = action.operand
        if info and info.indexes and isinstance(operand, Value) and len(action.path.elements) == 1:
            meta.check_index_value(info, operand.av)  # an index key written by SET
        written.add(name)
    return written


def _changes(meta: ModelMeta, obj: Any) -> tuple[Item, list[str]]:
    """What changed since load (``meta.diff``), less the roles the library writes itself."""
    sets, removes = meta.diff(obj)
    own = {info.stored for info in (meta.version, meta.updated_at) if info is not None}
    return (
        {name: av for name, av in sets.items() if name not in own},
        [name for name in removes if name not in own],
    )


def _patched(
    meta: ModelMeta, obj: Any, stamps: dict[str, Any], sets: Item, removes: set[str]
) -> Item:
    """The stored item after a write of ``sets``/``removes``/``stamps`` to the loaded one."""
    item = dict(meta.loaded_item(obj) or {})
    item.update(sets)
    for name in removes:
        item.pop(name, None)
    _overlay(meta, item, stamps)
    return item


def _decode(meta: ModelMeta, item: Item | None) -> Any:
    if item is None:
        return None
    try:
        return meta.from_item(item)
    except (ValidationError, EncryptionNotConfigured):  # keys not at hand: no decoded copy
        return None
