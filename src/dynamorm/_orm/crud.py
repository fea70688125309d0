"""DB operations: create, put, get, update, save, delete."""

from __future__ import annotations

from _weakref import ref  # weakref.ref, without loading weakref
from collections.abc import Iterable, Mapping, Sequence

from dynamorm._core.errors import NotFound, ProtocolError, ValidationError
from dynamorm._core.steps import Call
from dynamorm._io.drive import drive
from dynamorm._orm.base import DBBase
from dynamorm._orm.results import Capacity

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from typing import Any, Never

    from dynamorm._core.expressions import Condition, Path, UpdateAction
    from dynamorm._core.steps import Blocking, Flow
    from dynamorm._io.client import Client
    from dynamorm._orm.keys import Key, M
    from dynamorm._orm.meta import Item, ModelMeta
    from dynamorm._orm.model import Model
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


NOTHING: AbstractContextManager[None] = _Nothing()


def writing(db: DBBase, meta: ModelMeta, objs: Iterable[Any] = ()) -> AbstractContextManager[Any]:
    """``sealed.writing``, loaded only for a model with encrypted fields."""
    if not meta.encrypted:
        return NOTHING
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
        return NOTHING
    from dynamorm._orm import sealed

    return sealed.reading(db, meta, items, best_effort=best_effort)


def opening(
    db: DBBase,
    meta: ModelMeta,
    items: Iterable[Mapping[str, Any] | None],
    *,
    best_effort: bool = False,
) -> Blocking:
    """The step that opens the data keys of ``items`` (a model with encrypted fields): its
    result is the ``reading`` scope to decode them in."""
    from dynamorm._core.steps import Blocking

    return Blocking(lambda: reading(db, meta, items, best_effort=best_effort))


def sealing(db: DBBase, meta: ModelMeta, objs: Iterable[Any] = ()) -> Blocking:
    """The step that takes a data key to encode ``objs`` of a model with encrypted fields:
    its result is the ``writing`` scope to plan the write in."""
    from dynamorm._core.steps import Blocking

    return Blocking(lambda: writing(db, meta, objs))


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


def create_flow(db: DBBase, obj: M, condition: Condition | None) -> Flow[M]:
    """``db.create``: plan the write (with a data key first for encrypted fields) and send it."""
    from dynamorm._orm.writes import plan_create, resolve

    meta, _, _ = resolve(obj)
    with (yield sealing(db, meta)) if meta.encrypted else NOTHING:
        plan = plan_create(meta, db._table(meta), obj, db._write_time(meta), condition=condition)
    yield from send_flow(db, plan)
    return obj


def put_flow(db: DBBase, obj: M, condition: Condition | None, check_version: bool) -> Flow[M]:
    """``db.put``."""
    from dynamorm._orm.writes import plan_put, resolve

    meta, _, _ = resolve(obj)
    with (yield sealing(db, meta)) if meta.encrypted else NOTHING:
        plan = plan_put(
            meta,
            db._table(meta),
            obj,
            db._write_time(meta),
            condition=condition,
            check_version=check_version,
        )
    yield from send_flow(db, plan)
    return obj


def get_request(
    db: DBBase,
    model: type[M] | Key[M],
    args: tuple[Any, ...],
    key: dict[str, Any],
    *,
    consistent: bool,
    projection: Sequence[Path[Any]] | None,
) -> tuple[Key[M], dict[str, Any], set[str] | None]:
    """``db.get``'s target key, GetItem payload and (with a projection) the attributes read."""
    from dynamorm._orm.keys import Key, positional_key_error

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
    payload: dict[str, Any] = {
        "TableName": db._table(meta),
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
    return target, payload, wanted


def get_item(response: dict[str, Any], target: Key[Any], payload: dict[str, Any]) -> Item:
    """The item of a GetItem response; ``NotFound`` without one."""
    item: Item | None = response.get("Item")
    if item is None:
        from dynamorm._orm.keys import describe

        raise NotFound(
            f"{describe(target.meta, target.item)} not found in table {payload['TableName']}"
        )
    return item


def got(db: DBBase, target: Key[M], response: dict[str, Any], obj: M, wanted: set[str] | None) -> M:
    """Account a GetItem and finish its decoded instance (a projection's other fields unset)."""
    capacity = db._account(response, "read", "GetItem")
    if wanted is not None:
        values = obj.__dict__
        for info in target.meta.fields.values():
            if info.stored not in wanted:
                values.pop(info.name, None)
    _record(obj, capacity)
    return obj


def get_flow(
    db: DBBase, target: Key[M], payload: dict[str, Any], wanted: set[str] | None
) -> Flow[M]:
    """``db.get``: one GetItem, decoded (its data keys opened first for encrypted fields)."""
    meta = target.meta
    response = yield Call("GetItem", payload)
    item = get_item(response, target, payload)
    with (yield opening(db, meta, (item,))) if meta.encrypted else NOTHING:
        obj: M = meta.from_item(item)
    return got(db, target, response, obj, wanted)


def update_flow(
    db: DBBase,
    target: M | Key[M],
    actions: tuple[UpdateAction, ...],
    condition: Condition | None,
    check_version: bool,
) -> Flow[M]:
    """``db.update``: the stored item comes back (read back after a transaction)."""
    from dynamorm._orm.writes import plan_update, resolve

    meta, obj, _ = resolve(target)
    with (yield sealing(db, meta, () if obj is None else (obj,))) if meta.encrypted else NOTHING:
        plan = plan_update(
            meta,
            db._table(meta),
            target,
            actions,
            db._write_time(meta),
            condition=condition,
            check_version=check_version,
        )
    response, capacity = yield from send_flow(db, plan)
    if obj is not None:
        done: M = obj
        return done
    item = response.get("Attributes")
    if not isinstance(item, dict):
        raise ProtocolError("UpdateItem answered without the Attributes it was asked for")
    with (yield opening(db, meta, (item,))) if meta.encrypted else NOTHING:
        result: M = meta.from_item(item)
    _record(result, capacity)
    return result


def save_flow(db: DBBase, obj: M, condition: Condition | None) -> Flow[M]:
    """``db.save``: the changes only; nothing changed, no request."""
    from dynamorm._orm.writes import plan_save, resolve

    meta, _, _ = resolve(obj)
    with (yield sealing(db, meta, (obj,))) if meta.encrypted else NOTHING:
        plan = plan_save(meta, db._table(meta), obj, db._write_time(meta), condition=condition)
    if plan is None:
        _record(obj, Capacity())
    else:
        yield from send_flow(db, plan)
    return obj


def delete_flow(
    db: DBBase, target: Model | Key[Any], condition: Condition | None, check_version: bool
) -> Flow[None]:
    """``db.delete``."""
    from dynamorm._orm.writes import plan_delete, resolve

    meta, _, _ = resolve(target)
    plan = plan_delete(
        meta, db._table(meta), target, condition=condition, check_version=check_version
    )
    yield from send_flow(db, plan)


def send_flow(db: DBBase, plan: WritePlan) -> Flow[tuple[dict[str, Any], Capacity]]:
    """Send a single write exactly once (see ``exactly_once``): features extend the plan
    first (extra actions make it one tokened TransactWriteItems), then a failed condition
    maps to its error, the instance is updated and the capacity recorded."""
    from dynamorm._orm.exactly_once import send_plan
    from dynamorm._orm.writes import extend_plan

    if plan.meta.extenders:
        yield from extend_plan(plan, db)
    response, capacity = yield from send_plan(db, plan)
    _record(plan.target, capacity)
    return response, capacity


class CrudMixin(DBBase):
    """The create, put, get, update, save, delete methods of ``DB`` (each drives its flow)."""

    client: Client

    def create(self, obj: M, *, condition: Condition | None = None) -> M:
        """Write a new item; an existing item with the same key raises ``AlreadyExists``
        (carrying it) and is never overwritten. Stamps ``created_at``/``updated_at``; the
        version is written as the instance's (the field's default for a new instance)."""
        return drive(create_flow(self, obj, condition), self.client)

    def put(self, obj: M, *, condition: Condition | None = None, check_version: bool = True) -> M:
        """Create or replace the item's declared fields (an upsert). A stored ``created_at``
        is kept, undeclared attributes are left alone. With a version field, the stored
        version must be the instance's (for an instance never loaded or written: no item may
        exist), else ``VersionConflict``; ``check_version=False`` skips that check."""
        return drive(put_flow(self, obj, condition, check_version), self.client)

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
        target, payload, wanted = get_request(
            self, model, args, key, consistent=consistent, projection=projection
        )
        meta = target.meta
        if meta.encrypted:
            return drive(get_flow(self, target, payload, wanted), self.client)
        # get_flow without its generator (the hot path: no key to open between the steps)
        response = self.client.call("GetItem", payload)
        obj: M = meta.from_item(get_item(response, target, payload))
        return got(self, target, response, obj, wanted)

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
        return drive(update_flow(self, target, actions, condition, check_version), self.client)

    def save(self, obj: M, *, condition: Condition | None = None) -> M:
        """Write only what changed since the instance was loaded or last written (``SET`` and
        ``REMOVE``; undeclared attributes are kept). A never-written instance is created.
        Nothing changed: no request (and no new ``updated_at``/version)."""
        return drive(save_flow(self, obj, condition), self.client)

    def delete(
        self,
        target: M | Key[M],
        *,
        condition: Condition | None = None,
        check_version: bool = True,
    ) -> None:
        """Delete the item. An instance's version is checked (``VersionConflict`` if it
        changed; an item that is already gone is no error) unless ``check_version=False``."""
        drive(delete_flow(self, target, condition, check_version), self.client)
