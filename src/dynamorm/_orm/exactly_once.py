"""Sending one planned single-item write exactly once, even when its answer is lost.

The client never sends a PutItem/UpdateItem/DeleteItem again after a failure that may have
reached DynamoDB (a reset or timeout after sending, a 5xx, an unreadable 200) unless it is
given a form that cannot apply twice. This module gives each write that form:

- **Write token** (create, put, save, and updates whose actions are idempotent or whose
  version is checked): the write also sets the attribute ``_dm_tok`` to a fresh random token
  (12 characters; a version-checked write of a loaded instance keeps the two previous tokens
  after it, space separated). After an ambiguous failure it is re-sent with the extra
  condition ``NOT contains(_dm_tok, :token)`` and ``ReturnValuesOnConditionCheckFailure=ALL_OLD``:
  if the first send landed, the re-send fails and the stored item, carrying the token, proves
  it, so the call succeeds with that item. A stored item without the token is decided from the
  version where it can be (a conflict within the token history is a real conflict); otherwise
  the call raises ``OutcomeUnknown``.
- **Tokened transaction** (updates that accumulate, ``ADD``/increment/append, without a
  version check; deletes with a condition): sent as a one-action TransactWriteItems with a
  ClientRequestToken, which DynamoDB itself deduplicates for 10 minutes, then read back with a
  consistent GetItem (an update returns the stored item).
- A delete without a condition is idempotent and is simply sent again.

A plan that features extended with extra actions (unique sentinels, audit records) goes as
one tokened TransactWriteItems too. ``db.transaction()`` carries its own token.
"""

from __future__ import annotations

import binascii
import os
from typing import TYPE_CHECKING, Any

from dynamorm._core.errors import (
    ConditionFailed,
    NotFound,
    OutcomeUnknown,
    TransactionCanceled,
)
from dynamorm._core.steps import Call
from dynamorm._io.client import Replay
from dynamorm._orm.crud import NOTHING, opening
from dynamorm._orm.keys import describe
from dynamorm._orm.meta import TOKEN_ATTRIBUTE
from dynamorm._orm.versioning import stored_version
from dynamorm._orm.writes import capacity_detail

if TYPE_CHECKING:
    from dynamorm._core.steps import Flow
    from dynamorm._orm.base import DBBase
    from dynamorm._orm.meta import Item
    from dynamorm._orm.results import Capacity
    from dynamorm._orm.writes import WritePlan

HISTORY = 3
"""Tokens a version-checked write keeps: its own and the two before it."""

_NAME = "#dm_tok"
_VALUE = ":dm_tok"
_MINE = ":dm_mine"


def send_plan(db: DBBase, plan: WritePlan) -> Flow[tuple[dict[str, Any], Capacity]]:
    """Send a single-item write plan exactly once; update its instance; the flow returns the
    response (with ``Attributes`` for an update) and the capacity consumed."""
    if plan.extra or not plan.replayable or (plan.kind == "delete" and plan.condition is not None):
        return _send_transaction(db, plan)
    return _send_single(db, plan, None if plan.kind == "delete" else new_token())


def new_token() -> str:
    """A fresh write token: 72 random bits as 12 URL-safe characters."""
    return binascii.b2a_base64(os.urandom(9), newline=False).decode().translate(_URL_SAFE)


_URL_SAFE = str.maketrans("+/", "-_")


def _send_single(
    db: DBBase, plan: WritePlan, token: str | None
) -> Flow[tuple[dict[str, Any], Capacity]]:
    payload = plan.request()
    if token is None:
        replay = Replay(lambda: payload)
    else:
        value = _history(plan, token)
        _stamp(payload, value)
        if plan.kind == "create" and plan.item is not None:
            plan.item[TOKEN_ATTRIBUTE] = {"S": value}  # what is stored once it succeeds
        replay = Replay(lambda: _guarded(payload, token))
    meta = plan.meta
    try:
        response = yield Call(plan.operation, payload, replay=replay)
    except OutcomeUnknown as exc:
        exc.key = _key_values(plan)  # by field name (the client knows only the raw key)
        raise
    except ConditionFailed as exc:
        item = exc.item
        scope = (yield opening(db, meta, (item,), best_effort=True)) if meta.encrypted else NOTHING
        if not replay.sent:
            with scope:
                raise plan.failure(item, exc) from None
        if token is None or not _landed(item, token):
            with scope:
                raise _undecided(plan, item, exc) from None
        assert item is not None
        response = {"Attributes": item}  # the stored item: what a normal return would give
        if meta.encrypted:
            scope = yield opening(db, meta, (item,))
        with scope:
            plan.succeeded(None if plan.kind == "create" else item)
        return response, db._account(response, "write", plan.operation)
    capacity = db._account(response, "write", plan.operation)
    new_item = response.get("Attributes")
    with (yield opening(db, meta, (new_item,))) if meta.encrypted else NOTHING:
        plan.succeeded(new_item)
    return response, capacity


def _history(plan: WritePlan, token: str) -> str:
    """The token attribute to write: the token, then (for a version-checked write of a loaded
    instance, whose stored tokens are known) the ones before it."""
    expect = plan.expect
    if expect is None or expect.absent or plan.obj is None:
        return token
    loaded = plan.meta.loaded_item(plan.obj) or {}
    before = loaded.get(TOKEN_ATTRIBUTE, {}).get("S")
    if not isinstance(before, str):
        return token
    return " ".join([token, *before.split()[: HISTORY - 1]])


def _stamp(payload: dict[str, Any], value: str) -> None:
    """Add the token attribute to a PutItem item or an UpdateItem's SET clause."""
    if "Item" in payload:
        payload["Item"] = {**payload["Item"], TOKEN_ATTRIBUTE: {"S": value}}
        return
    expression = payload["UpdateExpression"]
    if expression.startswith("SET "):
        expression = f"SET {_NAME} = {_VALUE}, {expression[4:]}"
    else:
        expression = f"SET {_NAME} = {_VALUE} {expression}"
    payload["UpdateExpression"] = expression
    payload["ExpressionAttributeNames"] = {
        **payload.get("ExpressionAttributeNames", {}),
        _NAME: TOKEN_ATTRIBUTE,
    }
    payload["ExpressionAttributeValues"] = {
        **payload.get("ExpressionAttributeValues", {}),
        _VALUE: {"S": value},
    }


def _guarded(payload: dict[str, Any], token: str) -> dict[str, Any]:
    """The re-send form: the same write, refused by DynamoDB if this token is stored."""
    guarded = dict(payload)
    unseen = f"(attribute_not_exists({_NAME}) OR NOT contains({_NAME}, {_MINE}))"
    condition = payload.get("ConditionExpression")
    guarded["ConditionExpression"] = unseen if condition is None else f"({condition}) AND {unseen}"
    guarded["ExpressionAttributeNames"] = {
        **payload.get("ExpressionAttributeNames", {}),
        _NAME: TOKEN_ATTRIBUTE,
    }
    guarded["ExpressionAttributeValues"] = {
        **payload.get("ExpressionAttributeValues", {}),
        _MINE: {"S": token},
    }
    guarded["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return guarded


def _landed(item: Item | None, token: str) -> bool:
    """True if the stored ``item`` carries ``token``: this call's write was applied."""
    if item is None:
        return False
    stored = item.get(TOKEN_ATTRIBUTE, {}).get("S")
    return isinstance(stored, str) and token in stored.split()


def _undecided(plan: WritePlan, item: Item | None, cause: ConditionFailed) -> Exception:
    """A re-send's condition failed and the stored item does not carry this call's token:
    the real error when the stored item proves the first send was not applied, else
    ``OutcomeUnknown``."""
    meta = plan.meta
    expect = plan.expect
    if item is not None and expect is not None and not expect.absent and plan.kind != "delete":
        found = stored_version(meta, item)
        # Each later write of the item adds 1 to the version and keeps HISTORY tokens: had
        # this write been applied, its token would still be there.
        if found is not None and expect.version is not None and found - expect.version <= HISTORY:
            return plan.failure(item, cause)
    created = meta.created_at
    if item is not None and plan.kind == "create" and created is not None:
        mine = plan.stamps.get(created.name)
        if mine is not None and item.get(created.stored) != created.encode(mine):
            return plan.failure(item, cause)  # created by someone else: created_at is kept
    error = OutcomeUnknown(
        f"{plan.kind}({plan.describe()}): no definitive answer came back and the stored item "
        "cannot prove whether this write was applied (another write changed it since); the "
        "write may or may not have been applied: read the item before writing again",
        operation=plan.operation,
        key=_key_values(plan),
        last_error=cause,
    )
    error.attempts = cause.attempts
    return error


def _send_transaction(db: DBBase, plan: WritePlan) -> Flow[tuple[dict[str, Any], Capacity]]:
    """The write (and the extra actions features added to it) as one TransactWriteItems with
    a ClientRequestToken, so DynamoDB deduplicates its re-sends. A failed condition raises the
    error its action maps it to (the main action's first). An ``update`` reads the item back
    (consistent) to return and refresh it, as a transaction returns no values."""
    from dynamorm._core.ids import random_uuid
    from dynamorm._orm.transaction import explain_canceled

    payload = {
        "TransactItems": plan.entries(),
        "ClientRequestToken": random_uuid(),
        "ReturnConsumedCapacity": capacity_detail((plan.meta,)),
    }
    meta = plan.meta
    try:
        response = yield Call("TransactWriteItems", payload)
    except TransactionCanceled as exc:
        explained = yield from explain_canceled(exc, [plan], db)
        for failure in explained.failures:
            if failure.error is not None:
                raise failure.error from explained
        raise explained from None
    capacity = db._account(response, "write", "TransactWriteItems")
    if plan.kind != "update":
        plan.succeeded()
        return response, capacity
    read = yield Call(
        "GetItem",
        {
            "TableName": plan.body["TableName"],
            "Key": plan.key,
            "ConsistentRead": True,
            "ReturnConsumedCapacity": "TOTAL",
        },
    )
    capacity = capacity + db._account(read, "read", "GetItem")
    item = read.get("Item")
    if item is None:
        raise NotFound(
            f"{plan.describe()} was updated, then deleted before it could be read back "
            "(the update was applied)"
        )
    with (yield opening(db, meta, (item,))) if meta.encrypted else NOTHING:
        plan.succeeded(item)
    return {**response, "Attributes": item}, capacity


def _key_values(plan: WritePlan) -> dict[str, Any]:
    meta = plan.meta
    try:
        return {f.name: f.decode(plan.key[f.stored]) for f in meta.key_fields}
    except (KeyError, ValueError):
        return {"key": describe(meta, plan.key)}
