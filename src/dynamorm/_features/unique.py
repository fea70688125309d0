"""Unique constraints: ``field(unique=True)`` and ``class M(Model, table=..., unique=[...])``.

Each unique value is held by a *sentinel* item in the model's own table, written in the same
TransactWriteItems as the item (see the write-plan seam in :mod:`dynamorm._orm.writes`):

* key: the partition key is ``#unique#<stored names>=<value>`` (``~<sha256 hex>`` instead of
  ``=<value>`` when the value text is over 1 KB); a sort key, if the table has one, is the
  constant ``#unique`` (``0`` for a number sort key, the bytes ``#unique`` for binary). So a
  sentinel sits in a partition of its own: a Query on one of the model's partitions can never
  return it, and items whose partition key starts with ``#unique#`` are refused. The partition
  key must therefore be a string.
* attributes: ``_dm_unique`` (the constraint's stored names: scans and queries of the model add
  ``attribute_not_exists(_dm_unique)`` to their filter, so sentinels never reach the decoder),
  ``_dm_holder`` (the holder's key as canonical JSON, so a clash names the holder from the
  ALL_OLD item DynamoDB returns, with no extra read) and the holder's ttl attribute, if any.

Writes: ``create`` puts the sentinels; ``put`` puts the sentinels of its values (re-asserting
them, which is also how existing data is backfilled) and deletes those of values it replaces;
``save``/``update`` that change a unique value delete the old sentinel and put the new one;
``delete`` deletes them. A sentinel put is conditioned on "absent or already mine", a delete on
"absent or mine", and the item on still holding the values whose sentinels are released, so
concurrent writers cannot leave a value taken twice or a stale sentinel behind. A clash raises
``UniqueViolation``. A ``None`` value (or a composite with a ``None`` part) holds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dynamorm._core._operands import Value
from dynamorm._core.errors import (
    ConditionFailed,
    DynamORMError,
    InvalidModel,
    UniqueViolation,
    ValidationError,
)
from dynamorm._core.expressions import Condition, Path, build_expressions
from dynamorm._core.steps import Call
from dynamorm._orm.keys import describe
from dynamorm._orm.meta import AV, SENTINEL_ATTR, FieldInfo, Item, ModelMeta
from dynamorm._orm.writes import ExtraAction, WritePlan

if TYPE_CHECKING:
    from dynamorm._core.steps import Flow
    from dynamorm._orm.base import DBBase

HOLDER_ATTR = "_dm_holder"
PREFIX = "#unique#"
_MAX_READABLE = 1024
_SORT_KEYS: dict[str, AV] = {"S": {"S": "#unique"}, "N": {"N": "0"}, "B": {"B": "I3VuaXF1ZQ=="}}


class UniqueConstraint:
    """One unique constraint: ``fields`` (one, or several for a composite), ``name``
    (``"email"``, ``"merchant_id+reference"``) and ``tag`` (the stored names, in sentinel keys).
    """

    __slots__ = ("fields", "name", "tag")

    def __init__(self, fields: tuple[FieldInfo, ...]) -> None:
        self.fields = fields
        self.name = "+".join(f.name for f in fields)
        self.tag = ",".join(f.stored for f in fields)

    def values(self, item: Mapping[str, AV] | None) -> tuple[AV, ...] | None:
        """The constraint's values in ``item``; None when a part is absent (nothing held)."""
        if item is None:
            return None
        out = []
        for info in self.fields:
            av = item.get(info.stored)
            if av is None or "NULL" in av:
                return None
            out.append(av)
        return tuple(out)

    def sentinel_key(self, meta: ModelMeta, values: tuple[AV, ...]) -> Item:
        """The sentinel item's primary key for ``values``."""
        assert meta.pk is not None
        parts = [_scalar(av) for av in values]
        text = parts[0] if len(parts) == 1 else json.dumps(parts, separators=(",", ":"))
        if len(text.encode()) > _MAX_READABLE:
            import hashlib

            text = "~" + hashlib.sha256(text.encode()).hexdigest()
        else:
            text = "=" + text
        key: Item = {meta.pk.stored: {"S": PREFIX + self.tag + text}}
        if meta.sk is not None:
            key[meta.sk.stored] = _SORT_KEYS[meta.sk.key_type or "S"]
        return key

    def shown(self, values: tuple[AV, ...]) -> Any:
        """``values`` as Python values (a tuple for a composite constraint)."""
        decoded = tuple(info.decode(av) for info, av in zip(self.fields, values, strict=True))
        return decoded[0] if len(decoded) == 1 else decoded

    def __repr__(self) -> str:
        return f"UniqueConstraint({self.name})"


def _scalar(av: AV) -> str:
    if "N" in av:
        return format(Decimal(av["N"]).normalize(), "f")
    return str(av["S"] if "S" in av else av["B"])


# --- declaration ----------------------------------------------------------------------------


def compile_unique(meta: ModelMeta, declared: Sequence[str | Sequence[str]]) -> None:
    """Check and attach the model's constraints (``field(unique=True)`` and ``unique=[...]``)
    and register the plan extender; raises ``InvalidModel`` naming the problem."""
    groups: list[tuple[str, ...]] = [(f.name,) for f in meta.fields.values() if f.spec.unique]
    if isinstance(declared, str):
        raise InvalidModel(
            f"{meta.name}: unique= takes a list of field names or tuples of them, "
            f"e.g. unique=[({declared!r}, ...)]",
            path=meta.name,
        )
    for entry in declared:
        groups.append((entry,) if isinstance(entry, str) else tuple(entry))
    if not groups:
        return
    if meta.table is None or meta.pk is None:
        raise InvalidModel(
            f"{meta.name}: unique constraints need a model with a table", path=meta.name
        )
    if meta.pk.key_type != "S":
        raise InvalidModel(
            f"{meta.name}: unique constraints need a string partition key (sentinel items "
            f"live in partitions of their own), {meta.pk.name} is not",
            path=meta.pk.where,
        )
    constraints: list[UniqueConstraint] = []
    for group in groups:
        constraint = UniqueConstraint(tuple(_unique_field(meta, name, group) for name in group))
        if len(set(group)) != len(group) or not group:
            raise InvalidModel(f"{meta.name}: unique constraint {group!r} is malformed")
        if group == (meta.pk.name,) or set(group) == {f.name for f in meta.key_fields}:
            raise InvalidModel(
                f"{meta.name}: unique constraint {constraint.name} is the primary key, which "
                "is unique already",
                path=meta.name,
            )
        if any(c.tag == constraint.tag for c in constraints):
            raise InvalidModel(f"{meta.name}: unique {constraint.name} is declared twice")
        constraints.append(constraint)
    meta.unique = tuple(constraints)
    meta.extenders.append(UniqueExtender())


def _unique_field(meta: ModelMeta, name: object, group: tuple[str, ...]) -> FieldInfo:
    info = meta.fields.get(name) if isinstance(name, str) else None
    if info is None:
        raise InvalidModel(f"{meta.name}: unique constraint {group!r} names unknown field {name!r}")
    if info.key_type is None:
        raise InvalidModel(
            f"{info.where}: a unique field must be a str, number or bytes (a scalar), not "
            f"{info.codec.kind}",
            path=info.where,
        )
    if info.spec.encrypted:
        raise InvalidModel(
            f"{info.where}: a unique field cannot be encrypted (its sentinel key would reveal "
            "the value)",
            path=info.where,
        )
    if "#" in info.stored or "," in info.stored:
        raise InvalidModel(f"{info.where}: a unique field's stored name cannot hold '#' or ','")
    return info


# --- the plan extender ----------------------------------------------------------------------


class UniqueExtender:
    """Adds the sentinel puts/deletes (and the conditions that keep them right) to writes."""

    __slots__ = ()

    batch_refusal = "its unique constraints need a transaction with their sentinel items"

    def extend(self, plan: WritePlan, db: DBBase) -> Flow[None]:
        """Plan the sentinel actions of one write (see the module docstring); a flow, as
        replacing a value may need a consistent read of the stored item."""
        kind = plan.kind
        if kind == "check":
            return
        meta = plan.meta
        holder = plan.key
        pk = meta.pk
        assert pk is not None
        if holder[pk.stored].get("S", "").startswith(PREFIX):
            raise ValidationError(
                f"{pk.where} values starting with {PREFIX!r} are reserved for unique sentinels",
                path=pk.where,
            )
        if kind == "create":
            self._changes(plan, None, plan.item, pinned=False)
            return
        if kind == "delete":
            old = yield from self._old(plan, db, meta.unique)
            if old is None:
                plan.require(Path(pk.stored).not_exists())
                return
            self._changes(plan, old, None, pinned=True)
            return
        if kind == "put":
            if meta.loaded_item(plan.obj) is None:
                plan.require(Path(pk.stored).not_exists() | _holds(meta.unique, plan.item))
                self._changes(plan, None, plan.item, pinned=False, reassert=True)
                return
            old = yield from self._old(plan, db, meta.unique)
            self._changes(plan, old, plan.item, pinned=True, reassert=True)
            return
        written = _written(plan)
        touched = tuple(c for c in meta.unique if any(f.stored in written for f in c.fields))
        if not touched:
            return
        old = yield from self._old(plan, db, touched)
        if old is None:
            return  # the item does not exist: the write fails on its own condition
        new = {k: v for k, v in old.items() if k not in written}
        new.update({k: v for k, v in written.items() if v is not None})
        self._changes(plan, old, new, pinned=True, only=touched)

    def _old(
        self, plan: WritePlan, db: DBBase, constraints: tuple[UniqueConstraint, ...]
    ) -> Flow[Item | None]:
        """The stored values being replaced: the loaded item when it has every field of the
        constraints, else a consistent read (None: no item)."""
        loaded = None if plan.obj is None else plan.meta.loaded_item(plan.obj)
        if loaded is not None and all(f.stored in loaded for c in constraints for f in c.fields):
            return loaded
        response = yield Call(
            "GetItem",
            {
                "TableName": plan.body["TableName"],
                "Key": plan.key,
                "ConsistentRead": True,
                "ReturnConsumedCapacity": "TOTAL",
            },
        )
        db._account(response, "read", "GetItem")
        item: Item | None = response.get("Item")
        return item

    def _changes(
        self,
        plan: WritePlan,
        old: Item | None,
        new: Item | None,
        *,
        pinned: bool,
        reassert: bool = False,
        only: tuple[UniqueConstraint, ...] | None = None,
    ) -> None:
        """Sentinel deletes for ``old`` values and puts for ``new`` ones that differ (all of
        ``new``'s with ``reassert``); ``pinned``: the item must still hold ``old``'s values."""
        meta = plan.meta
        table = plan.body["TableName"]
        holder = json.dumps(plan.key, sort_keys=True, separators=(",", ":"))
        constraints = meta.unique if only is None else only
        for constraint in constraints:
            before = constraint.values(old)
            after = constraint.values(new)
            before_key = None if before is None else constraint.sentinel_key(meta, before)
            after_key = None if after is None else constraint.sentinel_key(meta, after)
            if before_key is not None and before_key != after_key:
                plan.extra.append(
                    _release(meta, constraint, table=table, key=before_key, holder=holder)
                )
            if after_key is not None and (reassert or before_key != after_key):
                assert after is not None
                assert new is not None
                plan.extra.append(
                    _take(
                        meta,
                        constraint,
                        table=table,
                        key=after_key,
                        values=after,
                        holder=holder,
                        new=new,
                    )
                )
        if pinned and old is not None:
            assert meta.pk is not None
            plan.require(Path(meta.pk.stored).not_exists() | _holds(constraints, old))


def _written(plan: WritePlan) -> dict[str, AV | None]:
    """Top-level attributes an update/save sets (their new value) or removes (None)."""
    if plan.kind == "save":
        loaded = plan.meta.loaded_item(plan.obj) or {}
        item = plan.item or {}
        out: dict[str, AV | None] = {k: v for k, v in item.items() if loaded.get(k) != v}
        out.update({k: None for k in loaded if k not in item})
        return out
    unique = {f.stored: f for c in plan.meta.unique for f in c.fields}
    written: dict[str, AV | None] = {}
    for action in plan.actions or ():
        name = action.path.name
        info = unique.get(name)
        if info is None:
            continue
        operand = action.operand
        if action.kind == "remove":
            written[name] = None
        elif action.kind == "set" and isinstance(operand, Value):
            written[name] = operand.av
        else:
            raise ValidationError(
                f"{info.where} is unique: update it with .set(value) or .remove(), not "
                f"{action!r} (its sentinel needs the new value)",
                path=info.where,
            )
    return written


def _holds(constraints: Sequence[UniqueConstraint], item: Mapping[str, AV] | None) -> Condition:
    """The stored item holds ``item``'s values of the constraints' fields (absent ones absent)."""
    condition: Condition | None = None
    seen: set[str] = set()
    for constraint in constraints:
        for info in constraint.fields:
            if info.stored in seen:
                continue
            seen.add(info.stored)
            av = None if item is None else item.get(info.stored)
            part = (
                Path(info.stored).not_exists()
                if av is None or "NULL" in av
                else Condition("=", (Path(info.stored), Value(None, av)))
            )
            condition = part if condition is None else condition & part
    assert condition is not None
    return condition


def _mine_or_absent(meta: ModelMeta, holder: str) -> Condition:
    assert meta.pk is not None
    return Path(meta.pk.stored).not_exists() | (Path(HOLDER_ATTR) == holder)


def _take(
    meta: ModelMeta,
    constraint: UniqueConstraint,
    *,
    table: str,
    key: Item,
    values: tuple[AV, ...],
    holder: str,
    new: Item,
) -> ExtraAction:
    item: Item = {**key, SENTINEL_ATTR: {"S": constraint.tag}, HOLDER_ATTR: {"S": holder}}
    if meta.ttl is not None and meta.ttl.stored in new:
        item[meta.ttl.stored] = new[meta.ttl.stored]
    body = {
        "TableName": table,
        "Item": item,
        **build_expressions(condition=_mine_or_absent(meta, holder)),
    }
    shown = constraint.shown(values)

    def explain(stored: Item | None) -> DynamORMError:
        holder_key = _holder_key(meta, stored)
        by = f" by {describe(meta, _key_item(stored))}" if holder_key else ""
        return UniqueViolation(
            f"{meta.name}.{constraint.name}: the value is already taken{by} (the value is in "
            "error.value; messages never echo item values)",
            field=constraint.name,
            value=shown,
            holder_key=holder_key,
            item=stored,
        )

    return ExtraAction(
        "Put", body, key=key, label=f"unique {meta.name}.{constraint.name}", explain=explain
    )


def _release(
    meta: ModelMeta,
    constraint: UniqueConstraint,
    *,
    table: str,
    key: Item,
    holder: str,
) -> ExtraAction:
    body = {
        "TableName": table,
        "Key": key,
        **build_expressions(condition=_mine_or_absent(meta, holder)),
    }

    def explain(stored: Item | None) -> DynamORMError:
        return ConditionFailed(
            f"the sentinel of {meta.name}.{constraint.name} is held by another item: the "
            "stored item changed since it was read; reload it and retry",
            item=stored,
        )

    return ExtraAction(
        "Delete", body, key=key, label=f"unique {meta.name}.{constraint.name}", explain=explain
    )


def _key_item(stored: Item | None) -> Item:
    raw = (stored or {}).get(HOLDER_ATTR, {}).get("S")
    try:
        key = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        key = None
    return key if isinstance(key, dict) else {}


def _holder_key(meta: ModelMeta, stored: Item | None) -> dict[str, Any] | None:
    """The holder's key (attribute name -> value) from a sentinel item, when it has one."""
    key = _key_item(stored)
    out: dict[str, Any] = {}
    for info in meta.key_fields:
        av = key.get(info.stored)
        if av is None:
            return None
        try:
            out[info.name] = info.decode(av)
        except ValidationError:
            return None
    return out
