"""Transactions: ``db.transaction()`` (TransactWriteItems) and ``db.transact_get``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dynamorm._core.codec import item_size
from dynamorm._core.errors import (
    CanceledAction,
    TransactionCanceled,
    ValidationError,
)
from dynamorm._core.expressions import Condition, UpdateAction
from dynamorm._core.steps import Blocking, Call
from dynamorm._io.drive import drive
from dynamorm._orm.base import DBBase
from dynamorm._orm.crud import NOTHING, opening, sealing
from dynamorm._orm.keys import Key, describe, freeze_key
from dynamorm._orm.meta import ModelMeta
from dynamorm._orm.results import Capacity
from dynamorm._orm.sealed import reading
from dynamorm._orm.writes import (
    WritePlan,
    capacity_detail,
    extend_plan,
    plan_check,
    plan_create,
    plan_delete,
    plan_put,
    plan_save,
    plan_update,
    resolve,
)

if TYPE_CHECKING:
    from dynamorm._core.steps import Flow
    from dynamorm._orm.model import Model

MAX_TRANSACTION_ACTIONS = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
"""DynamoDB limits the aggregate size of a transaction's items to 4 MB."""
"""DynamoDB's limit on the actions of one TransactWriteItems or TransactGetItems request."""

T = TypeVar("T")


class ItemList(list[T], Generic[T]):
    """A list of results that also carries the ``consumed`` capacity of the request."""

    consumed: Capacity

    def __init__(self, items: Sequence[T], consumed: Capacity) -> None:
        super().__init__(items)
        self.consumed = consumed


class TransactionBase:
    """What ``Transaction`` and ``AsyncTransaction`` share: the actions (each a flow, as
    adding one may read for a feature), their checks, and the commit flow."""

    _db: DBBase

    def __init__(self, db: DBBase, token: str | None = None) -> None:
        self._db = db
        if token is None:
            from dynamorm._core.ids import random_uuid

            token = random_uuid()
        elif not isinstance(token, str) or not 1 <= len(token) <= 36:
            raise ValidationError(
                f"a transaction token is a str of 1 to 36 characters, got {token!r}"
            )
        self.token = token
        self._now = db.clock()
        self._plans: list[WritePlan] = []
        self._actions = 0
        self._keys: set[tuple[str, Any]] = set()
        self._size = 0
        self._state = "open"
        self.consumed: Capacity | None = None

    def __len__(self) -> int:
        """The number of actions (a write's unique sentinels and audit records included)."""
        return self._actions

    def __repr__(self) -> str:
        return f"Transaction({self._actions} actions, {self._state}, token={self.token!r})"

    # --- internals --------------------------------------------------------------------------

    def _meta(self, target: object) -> ModelMeta:
        if self._state != "open":
            raise ValidationError(f"this transaction is {self._state}; start a new one")
        meta, _, _ = resolve(target)
        return meta

    def _table(self, meta: ModelMeta) -> str:
        return self._db._table(meta)

    # The flows behind the methods (an AsyncTransaction drives the same ones).

    def _create(self, obj: Model, condition: Condition | None) -> Flow[None]:
        meta = self._meta(obj)
        with (yield sealing(self._db, meta)) if meta.encrypted else NOTHING:
            plan = plan_create(meta, self._table(meta), obj, self._now, condition=condition)
        yield from self._add(plan)

    def _put(self, obj: Model, condition: Condition | None, check_version: bool) -> Flow[None]:
        meta = self._meta(obj)
        with (yield sealing(self._db, meta)) if meta.encrypted else NOTHING:
            plan = plan_put(
                meta,
                self._table(meta),
                obj,
                self._now,
                condition=condition,
                check_version=check_version,
            )
        yield from self._add(plan)

    def _update(
        self,
        target: Model | Key[Any],
        actions: tuple[UpdateAction, ...],
        condition: Condition | None,
        check_version: bool,
    ) -> Flow[None]:
        meta = self._meta(target)
        objs = () if isinstance(target, Key) else (target,)
        with (yield sealing(self._db, meta, objs)) if meta.encrypted else NOTHING:
            plan = plan_update(
                meta,
                self._table(meta),
                target,
                actions,
                self._now,
                condition=condition,
                check_version=check_version,
            )
        yield from self._add(plan)

    def _save(self, obj: Model, condition: Condition | None) -> Flow[None]:
        meta = self._meta(obj)
        with (yield sealing(self._db, meta, (obj,))) if meta.encrypted else NOTHING:
            plan = plan_save(meta, self._table(meta), obj, self._now, condition=condition)
        if plan is not None:
            yield from self._add(plan)

    def _delete(
        self, target: Model | Key[Any], condition: Condition | None, check_version: bool
    ) -> Flow[None]:
        meta = self._meta(target)
        plan = plan_delete(
            meta, self._table(meta), target, condition=condition, check_version=check_version
        )
        yield from self._add(plan)

    def _check(
        self, target: Model | Key[Any], condition: Condition | None, check_version: bool
    ) -> Flow[None]:
        meta = self._meta(target)
        plan = plan_check(
            meta, self._table(meta), target, condition=condition, check_version=check_version
        )
        yield from self._add(plan)

    def _add(self, plan: WritePlan) -> Flow[None]:
        if plan.meta.extenders:
            yield from extend_plan(plan, self._db)
        count = 1 + len(plan.extra)
        if self._actions + count > MAX_TRANSACTION_ACTIONS:
            where = f"would be action {self._actions + 1}"
            if count > 1:
                more = f"{count - 1} more action{'s' if count > 2 else ''}"
                where = f"(with {more}) would bring it to {self._actions + count}"
            raise ValidationError(
                f"a transaction holds at most {MAX_TRANSACTION_ACTIONS} actions; "
                f"{plan.kind}({plan.describe()}) {where} (nothing was sent; split the work "
                "into transactions yourself if atomicity across them is not needed)"
            )
        identities = [(plan.body["TableName"], freeze_key(plan.key), plan.describe())]
        identities += [(x.body["TableName"], freeze_key(x.key), x.label) for x in plan.extra]
        seen = set(self._keys)
        for table, frozen, label in identities:
            if (table, frozen) in seen:
                raise ValidationError(
                    f"{label} already has an action in this transaction; DynamoDB allows one "
                    "action per item (combine them into one update)"
                )
            seen.add((table, frozen))
        items = [plan.item, *(x.item for x in plan.extra)]
        size = sum(item_size(item) for item in items if item is not None)
        if self._size + size > MAX_TRANSACTION_BYTES:
            raise ValidationError(
                f"{plan.kind}({plan.describe()}) would bring this transaction's items to "
                f"{self._size + size:,} bytes, over DynamoDB's {MAX_TRANSACTION_BYTES:,}-byte "
                "limit (nothing was sent)"
            )
        self._size += size
        self._keys = seen
        self._actions += count
        self._plans.append(plan)

    def _exit(self, exc_type: type[BaseException] | None) -> Flow[None]:
        """The end of the ``with`` block: the commit, unless the block raised (then the
        transaction is abandoned and nothing is sent)."""
        if exc_type is not None:
            self._state = "abandoned"
            return
        plans = self._plans
        if not plans:
            self._state = "committed"
            return
        self._state = "failed"  # until DynamoDB confirms the commit
        payload = {
            "TransactItems": [entry for plan in plans for entry in plan.entries()],
            "ClientRequestToken": self.token,
            "ReturnConsumedCapacity": capacity_detail([plan.meta for plan in plans]),
        }
        try:
            response = yield Call("TransactWriteItems", payload)
        except TransactionCanceled as exc:
            self._state = "canceled"
            raise (yield from explain_canceled(exc, plans, self._db)) from None
        self._state = "committed"
        self.consumed = self._db._account(response, "write", "TransactWriteItems")
        for plan in plans:
            plan.succeeded()


class Transaction(TransactionBase):
    """Writes committed together, atomically, when the ``with`` block exits without an error.

    Up to 100 actions across tables, one per item; a mistake (the 101st action, a second
    action on the same item, an invalid value) raises where the action is added, before
    anything is sent. The commit carries a ClientRequestToken, so its retries (transaction
    conflicts, throttling, lost responses) are applied at most once. After the commit the
    instances get their new ``updated_at``/``created_at``/version; ``consumed`` holds the
    capacity used.
    """

    def create(self, obj: Model, *, condition: Condition | None = None) -> None:
        """Add a conditional create (fails the transaction if the item exists)."""
        drive(self._create(obj, condition), self._db.client)

    def put(
        self, obj: Model, *, condition: Condition | None = None, check_version: bool = True
    ) -> None:
        """Add an upsert of the instance's declared fields (as ``db.put``)."""
        drive(self._put(obj, condition, check_version), self._db.client)

    def update(
        self,
        target: Model | Key[Any],
        *actions: UpdateAction,
        condition: Condition | None = None,
        check_version: bool = True,
    ) -> None:
        """Add an update of an existing item (as ``db.update``). DynamoDB returns no values in
        a transaction, so on an instance the attributes the actions wrote become unset."""
        drive(self._update(target, actions, condition, check_version), self._db.client)

    def save(self, obj: Model, *, condition: Condition | None = None) -> None:
        """Add the instance's changes (as ``db.save``); nothing is added if nothing changed."""
        drive(self._save(obj, condition), self._db.client)

    def delete(
        self,
        target: Model | Key[Any],
        *,
        condition: Condition | None = None,
        check_version: bool = True,
    ) -> None:
        """Add a delete (as ``db.delete``)."""
        drive(self._delete(target, condition, check_version), self._db.client)

    def check(
        self,
        target: Model | Key[Any],
        condition: Condition | None = None,
        *,
        check_version: bool = True,
    ) -> None:
        """Add a condition on an item that is not written; on an instance its version is
        checked too (unless ``check_version=False``)."""
        drive(self._check(target, condition, check_version), self._db.client)

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        drive(self._exit(exc_type), self._db.client)


def explain_canceled(
    exc: TransactionCanceled, plans: list[WritePlan], db: DBBase | None = None
) -> Flow[TransactionCanceled]:
    """Map the cancellation reasons to the actions (a write's extra actions included); ``db``
    opens the data keys of encrypted fields in the items returned (when it can)."""
    lines = []
    slots = [(plan, extra) for plan in plans for extra in (None, *plan.extra)]
    for index, ((plan, extra), reason) in enumerate(zip(slots, exc.reasons, strict=False)):
        code = str(reason.get("Code") or "None")
        if code == "None":
            continue
        item = reason.get("Item")
        message = str(reason.get("Message") or "")
        error = None
        if code == "ConditionalCheckFailed":
            if extra is None:
                scope = NOTHING
                if plan.meta.encrypted:
                    scope = yield Blocking(
                        lambda: reading(db, plan.meta, (item,), best_effort=True)  # noqa: B023
                    )
                with scope:
                    error = plan.failure(item)
            else:
                error = extra.failure(item)
        kind = plan.kind if extra is None else f"{plan.kind}: {extra.label}"
        exc.failures.append(
            CanceledAction(
                index, kind, plan.target, code=code, message=message, item=item, error=error
            )
        )
        if error is not None:
            lines.append(f"action {index} ({kind}): {type(error).__name__}: {error}")
        else:
            what = plan.describe() if extra is None else ""
            detail = f"{code}: {message}" if message else code
            lines.append(f"action {index} ({kind}{' ' + what if what else ''}): {detail}")
    if lines:
        exc.message = f"transaction canceled: {'; '.join(lines)}"
        exc.args = (exc.message,)
    return exc


def transact_get(
    db: DBBase, targets: Sequence[Key[Any] | Model | tuple[type[Model], Mapping[str, Any]]]
) -> Flow[ItemList[Any]]:
    """``db.transact_get`` (see :meth:`DB.transact_get`)."""
    keys = [_as_key(t) for t in targets]
    if not 1 <= len(keys) <= MAX_TRANSACTION_ACTIONS:
        raise ValidationError(
            f"transact_get() takes 1 to {MAX_TRANSACTION_ACTIONS} keys, got {len(keys)}"
        )
    seen: set[tuple[str, Any]] = set()
    entries = []
    for meta, key_item in keys:
        table = db._table(meta)
        identity = (table, freeze_key(key_item))
        if identity in seen:
            raise ValidationError(
                f"{describe(meta, key_item)} is listed twice; DynamoDB allows one read "
                "per item in a transaction"
            )
        seen.add(identity)
        entries.append({"Get": {"TableName": table, "Key": key_item}})
    response = yield Call(
        "TransactGetItems", {"TransactItems": entries, "ReturnConsumedCapacity": "TOTAL"}
    )
    capacity = db._account(response, "read", "TransactGetItems")
    out: list[Any] = []
    for (meta, _), result in zip(keys, response.get("Responses", []), strict=True):
        item = result.get("Item")
        if item is None:
            out.append(None)
            continue
        with (yield opening(db, meta, (item,))) if meta.encrypted else NOTHING:
            out.append(meta.from_item(item))
    return ItemList(out, capacity)


def _as_key(target: object) -> tuple[ModelMeta, Any]:
    if isinstance(target, tuple):
        if len(target) != 2 or not isinstance(target[1], Mapping):
            raise ValidationError(
                f"a transact_get() target is a key, an instance or (Model, {{key values}}), "
                f"got {target!r}"
            )
        target = Key(target[0], target[1])
    meta, _, key_item = resolve(target)
    return meta, key_item
