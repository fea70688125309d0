"""The records behind ``@idempotent`` (see ``idempotency``): take the key with one conditional
PutItem, then store the result or release the key, both conditioned on the lock token; a
per-function LRU cache of completed results. Each step is a flow, driven by ``drive`` for a
function and by ``adrive`` for an ``async def``.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from dynamorm._core.errors import (
    ConditionFailed,
    ConfigurationError,
    IdempotencyInProgress,
    IdempotencyPayloadMismatch,
    IdempotencyResultError,
    ProtocolError,
    ValidationError,
)
from dynamorm._core.expressions import Path, build_expressions
from dynamorm._core.steps import Call, Sleep
from dynamorm._features.idempotency import COMPLETED, INPROGRESS, IdempotencyRecord, Settings
from dynamorm._features.idempotency_values import (
    DEFAULT_PAYLOAD,
    Selector,
    _default_payload,
    _digest,
    _select,
    decode_result,
    encode_result,
)
from dynamorm._io.client import Replay
from dynamorm._io.drive import drive
from dynamorm._orm.meta import ModelMeta

if TYPE_CHECKING:
    from dynamorm._core.steps import Flow
    from dynamorm._orm.async_db import AsyncDB
    from dynamorm._orm.db import DB

R = TypeVar("R")

_META: ModelMeta = IdempotencyRecord.__meta__


class _Held:
    """A key this call holds: its record id, lock token and payload hash."""

    __slots__ = ("payload_hash", "record_id", "token")

    def __init__(self, record_id: str, token: str, payload_hash: str | None) -> None:
        self.record_id = record_id
        self.token = token
        self.payload_hash = payload_hash


class _Replay:
    """A completed result to return instead of running the function (encoded)."""

    __slots__ = ("data",)

    def __init__(self, data: str) -> None:
        self.data = data


_Taken = _Held | _Replay


class Guard:
    """The state behind one decorated function: options, the record codec, the local cache."""

    def __init__(
        self,
        db: DB | AsyncDB | Callable[..., DB] | Callable[..., AsyncDB],
        name: str,
        *,
        key: str | Callable[..., Any],
        payload: Selector,
        settings: Settings,
        cache_size: int,
    ) -> None:
        self.db = db
        self.name = name
        self.key = key
        self.payload = payload
        self.settings = settings
        self.cache_size = cache_size
        self.cache: OrderedDict[str, tuple[float, str | None, str]] = OrderedDict()
        self.lock = threading.Lock()

    # --- a call -------------------------------------------------------------------------------

    def call(self, function: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        db = self._db(args, kwargs)
        taken = drive(self._enter(db, args, kwargs), db.client)
        if isinstance(taken, _Replay):
            return decode_result(taken.data)  # type: ignore[no-any-return]
        try:
            result = function(*args, **kwargs)
        except BaseException as exc:
            drive(self._release(db, taken, exc), db.client)
            raise
        drive(self._finish(db, taken, result), db.client)
        return result

    async def acall(
        self,
        function: Callable[..., Awaitable[R]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> R:
        """``call`` for an ``async def`` on an ``AsyncDB``: the same flows, awaited."""
        from dynamorm._io.async_drive import adrive

        db: Any = self._db(args, kwargs)
        taken = await adrive(self._enter(db, args, kwargs), db.client)
        if isinstance(taken, _Replay):
            return decode_result(taken.data)  # type: ignore[no-any-return]
        try:
            result = await function(*args, **kwargs)
        except BaseException as exc:
            await adrive(self._release(db, taken, exc), db.client)
            raise
        await adrive(self._finish(db, taken, result), db.client)
        return result

    def _enter(self, db: DB, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Flow[_Taken]:
        """Take the key for this call, or find the result to replay (cached or stored)."""
        record_id = f"{self.name}#{_digest(_select(self.key, args, kwargs, 'key'))}"
        payload_hash = self._payload_hash(args, kwargs)
        cached = self._cached(db, record_id, payload_hash)
        if cached is not None:
            return _Replay(cached)
        token = os.urandom(16).hex()
        stored = yield from self._acquire(db, record_id, token, payload_hash, args)
        if stored is not None:
            self._remember(record_id, stored)
            return _Replay(stored.data or "")
        return _Held(record_id, token, payload_hash)

    def _finish(self, db: DB, held: _Held, result: Any) -> Flow[None]:
        """Store the result under the key (if the lock is still ours)."""
        try:
            data = encode_result(result)
            record = self._record(
                db, held.record_id, held.token, held.payload_hash, COMPLETED, data=data
            )
            item = _META.to_item(record)
        except ValidationError as exc:
            error = IdempotencyResultError(
                f"{self.name}: the result cannot be stored, so it cannot be replayed: "
                f"{exc.message}; the record was released (a retry runs the function again)"
            )
            yield from self._release(db, held, error)
            raise error from exc
        if (yield from self._complete(db, held.token, item)):
            self._remember(held.record_id, record)

    def _db(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> DB:
        """This call's DB, bounded by the Lambda context's deadline when there is one."""
        db: Any = self.db
        if not hasattr(db, "client"):
            db = db(*args, **kwargs)
            if not hasattr(db, "client"):
                raise ConfigurationError(
                    f"{self.name}: idempotent(db=...) returned a {type(db).__name__}, not a DB"
                )
        if _remaining_millis(args) is not None:
            db = db.with_deadline(args[1])
        chosen: DB = db
        return chosen

    def _payload_hash(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        if self.payload is None:
            return None
        if self.payload is DEFAULT_PAYLOAD:
            value = _default_payload(args, kwargs)
            return None if value is None else _digest(value)
        return _digest(_select(self.payload, args, kwargs, "payload"))

    def _record(
        self,
        db: DB,
        record_id: str,
        token: str,
        payload_hash: str | None,
        status: str,
        *,
        data: str | None = None,
        lock_seconds: float | None = None,
    ) -> IdempotencyRecord:
        now = db.clock()
        until = None
        if lock_seconds is not None:
            until = int((now.timestamp() + lock_seconds) * 1000)
        return IdempotencyRecord(
            id=record_id,
            status=status,
            lock=token,
            expiration=now + timedelta(seconds=self.settings.expires_after),
            in_progress_expiry=until,
            payload_hash=payload_hash,
            data=data,
        )

    def _acquire(
        self, db: DB, record_id: str, token: str, payload_hash: str | None, args: tuple[Any, ...]
    ) -> Flow[IdempotencyRecord | None]:
        """Take the key (None) or return the completed record to replay."""
        deadline = time.monotonic() + self.settings.wait
        delay = 0.02
        while True:
            record = self._record(
                db,
                record_id,
                token,
                payload_hash,
                INPROGRESS,
                lock_seconds=self._lock_seconds(args),
            )
            stored = yield from self._try_put(db, record)
            if stored is None or stored.lock == token:
                return None
            if stored.payload_hash != payload_hash:
                raise IdempotencyPayloadMismatch(
                    f"{self.name}: this idempotency key was first used with a different payload "
                    "(its sha256 differs); use a new key for a new request",
                    key=record_id,
                )
            if stored.status == COMPLETED:
                return stored
            now_ms = db.clock().timestamp() * 1000
            left = max(0.0, ((stored.in_progress_expiry or 0) - now_ms) / 1000)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IdempotencyInProgress(
                    f"{self.name}: a call with this idempotency key is in progress (its lock "
                    f"expires in {left:.1f} s); retry later or pass wait=",
                    key=record_id,
                    expires_in=left,
                )
            yield Sleep(min(delay, remaining, left + 0.001))
            delay = min(delay * 2, 0.5)

    def _lock_seconds(self, args: tuple[Any, ...]) -> float:
        if self.settings.in_progress is not None:
            return self.settings.in_progress
        millis = _remaining_millis(args)
        return 60.0 if millis is None else max(0.0, millis / 1000)

    def _try_put(self, db: DB, record: IdempotencyRecord) -> Flow[IdempotencyRecord | None]:
        """The conditional INPROGRESS write; None when it landed, else the stored record."""
        now = db.clock()
        live = (
            Path[Any]("id").not_exists()
            | (Path[Any]("expiration") < int(now.timestamp()))
            | (
                (Path[Any]("status") == INPROGRESS)
                & (Path[Any]("in_progress_expiry") < int(now.timestamp() * 1000))
            )
        )
        payload = {
            "TableName": db._table(_META),
            "Item": _META.to_item(record),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            "ReturnConsumedCapacity": "TOTAL",
            **build_expressions(condition=live),
        }
        try:
            response = yield Call("PutItem", payload, replay=_resend(payload))
        except ConditionFailed as exc:
            if exc.item is None:  # the condition fails only on a stored record
                raise ProtocolError(
                    "PutItem's condition failed without the ALL_OLD record it was asked for"
                ) from exc
            stored: IdempotencyRecord = _META.from_item(exc.item)
            return stored
        db._account(response, "write", "PutItem")  # priced in db.costs
        return None

    def _complete(self, db: DB, token: str, item: dict[str, Any]) -> Flow[bool]:
        """Store the result if the lock is still ours (True), else log that it was not."""
        payload = {
            "TableName": db._table(_META),
            "Item": item,
            "ReturnConsumedCapacity": "TOTAL",
            **build_expressions(condition=Path[Any]("lock") == token),
        }
        try:
            response = yield Call("PutItem", payload, replay=_resend(payload))
        except ConditionFailed:
            import logging

            logging.getLogger("dynamorm.idempotency").warning(
                "%s: the call finished after its lock expired and another call took the key; "
                "its result was returned but not stored (raise in_progress_expiry)",
                self.name,
            )
            return False
        db._account(response, "write", "PutItem")
        return True

    def _release(self, db: DB, held: _Held, cause: BaseException) -> Flow[None]:
        payload = {
            "TableName": db._table(_META),
            "Key": {"id": {"S": held.record_id}},
            "ReturnConsumedCapacity": "TOTAL",
            **build_expressions(condition=Path[Any]("lock") == held.token),
        }
        try:
            response = yield Call("DeleteItem", payload, replay=_resend(payload))
        except ConditionFailed:
            return  # no longer ours (lock expired and taken over) or already released
        except Exception as exc:
            cause.add_note(f"dynamorm: releasing the idempotency record failed too: {exc!r}")
            return
        db._account(response, "write", "DeleteItem")

    # --- the local cache ----------------------------------------------------------------------

    def _cached(self, db: DB, record_id: str, payload_hash: str | None) -> str | None:
        if not self.cache_size:
            return None
        with self.lock:
            entry = self.cache.get(record_id)
            if entry is None:
                return None
            expires, stored_hash, data = entry
            if expires <= db.clock().timestamp():
                del self.cache[record_id]
                return None
            self.cache.move_to_end(record_id)
        if stored_hash != payload_hash:
            raise IdempotencyPayloadMismatch(
                f"{self.name}: this idempotency key was first used with a different payload "
                "(its sha256 differs); use a new key for a new request",
                key=record_id,
            )
        return data

    def _remember(self, record_id: str, record: IdempotencyRecord) -> None:
        if not self.cache_size or record.data is None:
            return
        with self.lock:
            self.cache[record_id] = (
                record.expiration.timestamp(),
                record.payload_hash,
                record.data,
            )
            self.cache.move_to_end(record_id)
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)


def _remaining_millis(args: tuple[Any, ...]) -> float | None:
    """The Lambda context's remaining time (the second argument), None without one."""
    getter = getattr(args[1], "get_remaining_time_in_millis", None) if len(args) > 1 else None
    if callable(getter):
        millis = getter()
        if isinstance(millis, int | float) and not isinstance(millis, bool):
            return float(millis)
    return None


def _resend(payload: dict[str, Any]) -> Replay:
    """Every write of a record may be sent again as it is: the acquire finds its own lock token
    in the ALL_OLD record, the completion is conditioned on that token and writes the same
    item, and a repeated release fails its condition (already released)."""
    return Replay(lambda: payload)
