"""DB operations: create, put, get, update, save, delete."""

from __future__ import annotations

from _weakref import ref  # weakref.ref, without loading weakref
from collections.abc import Iterable, Mapping, Sequence

from dynamorm._core.errors import NotFound, ProtocolError, ValidationError
from dynamorm._orm.base import DBBase
from dynamorm._orm.results import Capacity

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from typing import Any, Never

    from dynamorm._core.expressions import Condition, Path, UpdateAction
    from dynamorm._orm.keys import Key, M
    from dynamorm._orm.meta import ModelMeta
    from dynamorm._orm.writes import WritePlan


# The write planner, the expression compiler and the encryption scopes load with the first
# write (or projection, or model with encrypted fields): building a DB and reading a plain
# item does not import them.
class _Nothing:
    """``contextlib.nullcontext()`` without importing contextlib on a cold start."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NOTHING: AbstractContextManager[None] = _Nothing()


def writing(db: DBBase, meta: ModelMeta, objs: Iterable[Any] = ()) -> AbstractContextManager[Any]:
    """``sealed.writing``, loaded only for a model with encrypted fields."""
    if not meta.encrypted:
        return _NOTHING
    from dynamorm._orm import sealed

    return sealed.writing(db, meta, objs)


def reading(
    db: DBBase,
    meta: ModelMeta,
    items: Iterable[Mapping[str, Any] | None],
    *,
    best_effort: bool = False,
) -> AbstractContextManager[Any]:
    """``sealed.reading``, loaded only for a model with encrypted fields."""
    if not meta.encrypted:
        return _NOTHING
    from dynamorm._orm import sealed

    return sealed.reading(db, meta, items, best_effort=best_effort)


_capacities: dict[int, tuple[ref[Any], Capacity]] = {}


def consumed_capacity(obj: object) -> Capacity | None:
    """The capacity consumed by the last ``get``/``create``/``put``/``update``/``save``/
    ``delete`` call that returned or was given ``obj`` (an instance or a key); None if none."""
    entry = _capacities.get(id(obj))
    if entry is None or entry[0]() is not obj:
        return None
    return entry[1]


def _record(obj: object, capacity: Capacity) -> None:
    oid = id(obj)

    def forget(_: object) -> None:
        _capacities.pop(oid, None)

    _capacities[oid] = (ref(obj, forget), capacity)


class CrudMixin(DBBase):
    """The create, put, get, update, save, delete methods of ``DB``."""

    def create(self, obj: M, *, condition: Condition | None = None) -> M:
        """Write a new item; an existing item with the same key raises ``AlreadyExists``
        (carrying it) and is never overwritten. Stamps ``created_at``/``updated_at``; the
        version is written as the instance's (the field's default for a new instance)."""
        from dynamorm._orm.writes import plan_create, resolve

        meta, _, _ = resolve(obj)
        with writing(self, meta):
            plan = plan_create(
                meta, self._table(meta), obj, self._write_time(meta), condition=condition
            )
        self._send(plan)
        return obj

    def put(self, obj: M, *, condition: Condition | None = None, check_version: bool = True) -> M:
        """Create or replace the item's declared fields (an upsert). A stored ``created_at``
        is kept, undeclared attributes are left alone. With a version field, the stored
        version must be the instance's (for an instance never loaded or written: no item may
        exist), else ``VersionConflict``; ``check_version=False`` skips that check."""
        from dynamorm._orm.writes import plan_put, resolve

        meta, _, _ = resolve(obj)
        with writing(self, meta):
            plan = plan_put(
                meta,
                self._table(meta),
                obj,
                self._write_time(meta),
                condition=condition,
                check_version=check_version,
            )
        self._send(plan)
        return obj

    def get(
        self,
        model: type[M] | Key[M],
        *args: Never,
        consistent: bool = False,
        projection: Sequence[Path[Any]] | None = None,
        **key: Any,
    ) -> M:
        """The item with the given key (keyword values, or a ``dynamorm.key(...)``); raises
        ``NotFound``. ``projection`` reads only those attributes (plus the key and version):
        the other fields of the returned instance are unset (reading one raises
        AttributeError) and ``save()`` leaves them alone."""
        from dynamorm._orm.keys import Key, describe, positional_key_error

        if args:
            raise positional_key_error("db.get", model, args)
        if isinstance(model, Key):
            if key:
                raise ValidationError(
                    f"get() takes a Key or key values, not both (got {', '.join(key)})"
                )
            target = model
        else:
            target = Key(model, key)
        meta = target.meta
        table = self._table(meta)
        payload: dict[str, Any] = {
            "TableName": table,
            "Key": target.item,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if consistent:
            payload["ConsistentRead"] = True
        wanted: set[str] | None = None
        if projection is not None:
            always = [f for f in (*meta.key_fields, meta.version) if f is not None]
            from dynamorm._core.expressions import Path, build_expressions

            paths = [*projection, *(Path(f.stored) for f in always)]
            payload.update(build_expressions(projection=paths))
            wanted = {p.name for p in paths}
        response = self.client.call("GetItem", payload)
        capacity = self._account(response, "read", "GetItem")
        item = response.get("Item")
        if item is None:
            raise NotFound(f"{describe(meta, target.item)} not found in table {table}")
        with reading(self, meta, (item,)):
            obj: M = meta.from_item(item)
        if wanted is not None:
            values = obj.__dict__
            for info in meta.fields.values():
                if info.stored not in wanted:
                    values.pop(info.name, None)
        _record(obj, capacity)
        return obj

    def update(
        self,
        target: M | Key[M],
        *actions: UpdateAction,
        condition: Condition | None = None,
        check_version: bool = True,
    ) -> M:
        """Apply update actions to an existing item (``NotFound`` if there is none) and return
        it as stored afterwards. An instance is refreshed in place and returned; for a key, a
        new instance is. ``updated_at`` is stamped and the version incremented; an instance's
        version is checked unless ``check_version=False``. Key attributes cannot be updated."""
        from dynamorm._orm.writes import plan_update, resolve

        meta, obj, _ = resolve(target)
        with writing(self, meta, () if obj is None else (obj,)):
            plan = plan_update(
                meta,
                self._table(meta),
                target,
                actions,
                self._write_time(meta),
                condition=condition,
                check_version=check_version,
            )
        response, capacity = self._send(plan)
        if obj is not None:
            result: M = obj
        else:
            item = response.get("Attributes")
            if not isinstance(item, dict):
                raise ProtocolError("UpdateItem answered without the Attributes it was asked for")
            with reading(self, meta, (item,)):
                result = meta.from_item(item)
            _record(result, capacity)
        return result

    def save(self, obj: M, *, condition: Condition | None = None) -> M:
        """Write only what changed since the instance was loaded or last written (``SET`` and
        ``REMOVE``; undeclared attributes are kept). A never-written instance is created.
        Nothing changed: no request (and no new ``updated_at``/version)."""
        from dynamorm._orm.writes import plan_save, resolve

        meta, _, _ = resolve(obj)
        with writing(self, meta, (obj,)):
            plan = plan_save(
                meta, self._table(meta), obj, self._write_time(meta), condition=condition
            )
        if plan is None:
            _record(obj, Capacity())
        else:
            self._send(plan)
        return obj

    def delete(
        self,
        target: M | Key[M],
        *,
        condition: Condition | None = None,
        check_version: bool = True,
    ) -> None:
        """Delete the item. An instance's version is checked (``VersionConflict`` if it
        changed; an item that is already gone is no error) unless ``check_version=False``."""
        from dynamorm._orm.writes import plan_delete, resolve

        meta, _, _ = resolve(target)
        plan = plan_delete(
            meta,
            self._table(meta),
            target,
            condition=condition,
            check_version=check_version,
        )
        self._send(plan)

    def _send(self, plan: WritePlan) -> tuple[dict[str, Any], Capacity]:
        """Send a single write exactly once (see ``exactly_once``): features extend the plan
        first (extra actions make it one tokened TransactWriteItems), then a failed condition
        maps to its error, the instance is updated and the capacity recorded."""
        from dynamorm._orm.exactly_once import send_plan
        from dynamorm._orm.writes import extend_plan

        extend_plan(plan, self)
        response, capacity = send_plan(self, plan)
        _record(plan.target, capacity)
        return response, capacity
