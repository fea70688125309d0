"""``@idempotent``: a function or Lambda handler runs once per key; repeats replay its result.

A call derives a record id (``<name>#<sha256 of the key>``) and a payload hash, then writes an
``INPROGRESS`` record with a fresh lock token in one conditional PutItem: it succeeds when no
live record exists (absent, expired, or an in-progress record whose lock expired). When it
fails, DynamoDB returns the stored record (``ALL_OLD``), so no second read is needed:

* ``COMPLETED`` (not expired): the stored result is replayed without running the function; a
  different payload hash raises ``IdempotencyPayloadMismatch``;
* ``INPROGRESS`` (lock not expired): ``IdempotencyInProgress``, or with ``wait=`` the same
  conditional write is retried with backoff until it finds the result, takes over an expired
  lock, or the wait runs out;
* the record holds *our* lock token: a retried write whose first answer was lost; it is ours.

The function then runs. Completion writes ``COMPLETED`` with the result, conditioned on the
lock token; a failure (the function raised, or its result cannot be stored) deletes the record,
again conditioned on the token, so a worker that outlived its lock can neither overwrite a newer
completion nor release someone else's record. The lock expires after the Lambda context's
remaining time (0 honoured), or ``in_progress_expiry`` seconds. Completed results also go in a
per-function LRU cache (until the record expires), so warm repeats skip DynamoDB.

``db`` is a DB or a callable given the call's arguments that returns one (records in the
account a call belongs to). When the second argument is a Lambda context, the record writes go
through ``db.with_deadline(context)``: none of them outlives the invocation.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from dynamorm._core.errors import (
    ConditionFailed,
    ConfigurationError,
    IdempotencyInProgress,
    IdempotencyKeyError,
    IdempotencyPayloadMismatch,
    IdempotencyResultError,
    ProtocolError,
    ValidationError,
)
from dynamorm._core.expressions import Path, build_expressions
from dynamorm._core.steps import Call, Sleep
from dynamorm._io.client import Replay
from dynamorm._io.drive import drive
from dynamorm._orm.meta import ModelMeta
from dynamorm._orm.model import Attr, Model, field

if TYPE_CHECKING:
    from dynamorm._core.steps import Flow
    from dynamorm._orm.async_db import AsyncDB
    from dynamorm._orm.db import DB

P = ParamSpec("P")
R = TypeVar("R")

INPROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"


class IdempotencyRecord(Model, table="idempotency"):
    """One idempotency key's state. ``expiration`` is the table's TTL attribute (epoch
    seconds); ``in_progress_expiry`` the lock's end (epoch milliseconds); ``data`` the stored
    result (JSON text)."""

    id: Attr[str] = field(pk=True)
    status: Attr[str] = field(default=INPROGRESS)
    lock: Attr[str] = field(default="")
    expiration: Attr[datetime] = field(ttl=True)
    in_progress_expiry: Attr[int | None] = field(default=None)
    payload_hash: Attr[str | None] = field(default=None)
    data: Attr[str | None] = field(default=None)


_META: ModelMeta = IdempotencyRecord.__meta__
Selector = str | Callable[..., Any] | None


_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE: the code object of an ``async def``


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT_PAYLOAD"


DEFAULT_PAYLOAD: Any = _Default()
"""``payload=``'s default: an HTTP event's method, path and body; no check for other Lambda
events; every argument of a plain function."""


def idempotent(
    db: DB | AsyncDB | Callable[..., DB] | Callable[..., AsyncDB],
    *,
    key: str | Callable[..., Any],
    name: str | None = None,
    payload: Selector = DEFAULT_PAYLOAD,
    expires_after: float | timedelta = 3600.0,
    in_progress_expiry: float | timedelta | None = None,
    wait: float | timedelta = 0.0,
    cache_size: int = 256,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make a function (or Lambda handler) run once per idempotency key.

    ``db``: where the records live, or a callable given the function's arguments returning the
    DB for that call (e.g. the caller's partner account; the local cache is keyed by record id,
    so the key must then tell the DBs apart). With a Lambda context as second argument, the
    record writes are bounded by the invocation's deadline (``DeadlineExceeded``).
    ``key``: a dotted path into the first argument (``"body.order_id"``; a JSON string met on
    the way is decoded; digits index lists) or a callable given the function's arguments.
    ``name``: the records' namespace (default ``module.qualname``: it changes when the function
    is renamed or moved, which starts a fresh set of records). ``payload``: what must match on a
    repeat (same forms as ``key``; None: no check); hashed with sha256. ``expires_after``: how
    long a completed result is replayed. ``in_progress_expiry``: how long a running call holds
    the key (default: the Lambda context's remaining time, else 60 s). ``wait``: seconds to wait
    for a concurrent duplicate's result instead of raising ``IdempotencyInProgress``.
    ``cache_size``: completed results kept in memory (0: none).
    An ``async def`` function (with an ``AsyncDB``) gets an ``async def`` wrapper: the same
    records and rules, its requests and ``wait=`` backoff awaited.
    """
    if not hasattr(db, "client") and not callable(db):
        raise ConfigurationError(
            f"idempotent(db) takes a DB or a callable returning one, got {type(db).__name__}"
        )
    if not isinstance(key, str) and not callable(key):
        raise ConfigurationError(
            f"idempotent(key=...) takes a dotted path or a callable, got {key!r}"
        )
    if isinstance(key, str) and not key:
        raise ConfigurationError("idempotent(key=...) must not be empty")
    if not isinstance(cache_size, int) or cache_size < 0:
        raise ConfigurationError(f"cache_size must be an int >= 0, got {cache_size!r}")
    settings = _Settings(
        expires_after=_seconds("expires_after", expires_after, positive=True),
        in_progress=None
        if in_progress_expiry is None
        else _seconds("in_progress_expiry", in_progress_expiry),
        wait=_seconds("wait", wait),
    )

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        namespace = name or f"{function.__module__}.{function.__qualname__}"
        if not isinstance(namespace, str) or "#" in namespace:
            raise ConfigurationError(
                f"idempotent(name=...) must be a str without '#', got {namespace!r}"
            )
        guard = _Guard(
            db, namespace, key=key, payload=payload, settings=settings, cache_size=cache_size
        )

        if getattr(function, "__code__", None) is not None and (
            function.__code__.co_flags & _CO_COROUTINE
        ):  # an ``async def`` (inspect.iscoroutinefunction without loading inspect)

            @functools.wraps(function)
            async def awaited(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await guard.acall(function, args, kwargs)  # type: ignore[arg-type]

            awaited.__dynamorm_idempotency__ = guard  # type: ignore[attr-defined]
            return awaited  # type: ignore[return-value]

        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            result: R = guard.call(function, args, kwargs)
            return result

        wrapper.__dynamorm_idempotency__ = guard  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _seconds(option: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigurationError(f"{option} must be seconds >= 0 (or a timedelta), got {value!r}")
    if positive and value <= 0:
        raise ConfigurationError(f"{option} must be more than 0 seconds, got {value!r}")
    return float(value)


class _Settings:
    __slots__ = ("expires_after", "in_progress", "wait")

    def __init__(self, *, expires_after: float, in_progress: float | None, wait: float) -> None:
        self.expires_after = expires_after
        self.in_progress = in_progress
        self.wait = wait


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


class _Guard:
    """The state behind one decorated function: options, the record codec, the local cache."""

    def __init__(
        self,
        db: DB | AsyncDB | Callable[..., DB] | Callable[..., AsyncDB],
        name: str,
        *,
        key: str | Callable[..., Any],
        payload: Selector,
        settings: _Settings,
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


# --- keys and payloads ----------------------------------------------------------------------


def _select(selector: Selector, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> Any:
    if callable(selector):
        value = selector(*args, **kwargs)
    else:
        assert isinstance(selector, str)
        if not args:
            raise IdempotencyKeyError(
                f"idempotency {what} {selector!r} is a path into the first argument, and the "
                "call has none"
            )
        value = _walk(args[0], selector, what)
    if value is None or value == "":
        raise IdempotencyKeyError(f"the idempotency {what} is empty ({selector!r} gave {value!r})")
    return value


def _walk(value: Any, path: str, what: str) -> Any:
    for part in path.split("."):
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:
                raise IdempotencyKeyError(
                    f"idempotency {what} {path!r}: a string on the way to {part!r} is not JSON"
                ) from None
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif not isinstance(value, Mapping | list) and hasattr(value, part):
            value = getattr(value, part)
        else:
            raise IdempotencyKeyError(f"idempotency {what} {path!r}: {part!r} is missing")
    return value


def _default_payload(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What a repeat must match by default. An HTTP event (API Gateway, function URL, ALB):
    its method, path and body, as ids, timestamps and headers differ between deliveries of one
    request. Another Lambda event: nothing (None; its delivery metadata, such as SQS receive
    counts, differs too; pass ``payload=``). A plain function: every argument."""
    event = args[0] if args else None
    if isinstance(event, Mapping) and "requestContext" in event and "body" in event:
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, Mapping) else None
        body = event.get("body")
        if isinstance(body, str) and not event.get("isBase64Encoded"):
            with contextlib.suppress(ValueError):
                body = json.loads(body)
        return {
            "method": event.get("httpMethod") or (http or {}).get("method"),
            "path": event.get("path") or event.get("rawPath"),
            "body": body,
        }
    if len(args) > 1 and callable(getattr(args[1], "get_remaining_time_in_millis", None)):
        return None
    return {"args": list(args), "kwargs": kwargs}


def _digest(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)
    except (TypeError, ValueError) as exc:
        raise IdempotencyKeyError(
            f"the idempotency key or payload cannot be hashed ({exc}); pass key=/payload= "
            "selecting JSON-like values"
        ) from None
    return hashlib.sha256(text.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    meta = getattr(value, "__meta__", None)
    if isinstance(meta, ModelMeta):
        return meta.to_item(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    from decimal import Decimal

    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-like")


# --- results --------------------------------------------------------------------------------


def encode_result(result: Any) -> str:
    """A result as stored JSON: ``{"json": value}`` or ``{"model": "mod:Class", "item": ...}``.

    Only values that replay exactly are accepted: dicts with str keys, lists, str, int, finite
    float, bool, None, or a model instance; anything else raises ``ValidationError``.
    """
    meta = getattr(result, "__meta__", None)
    if isinstance(meta, ModelMeta) and not isinstance(result, type):
        model = meta.model
        return json.dumps(
            {"model": f"{model.__module__}:{model.__qualname__}", "item": meta.to_item(result)},
            separators=(",", ":"),
        )
    _check_json(result, "result")
    return json.dumps({"json": result}, separators=(",", ":"), allow_nan=False)


def _check_json(value: Any, where: str) -> None:
    if value is None or type(value) in (str, int, bool):
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise ValidationError(f"{where} is {value}, which JSON cannot hold", path=where)
        return
    if type(value) is list:
        for index, element in enumerate(value):
            _check_json(element, f"{where}[{index}]")
        return
    if type(value) is dict:
        for name, element in value.items():
            if type(name) is not str:
                raise ValidationError(f"{where} has a non-str key {name!r}", path=where)
            _check_json(element, f"{where}[{name!r}]")
        return
    raise ValidationError(
        f"{where} is a {type(value).__name__}, which would not replay as itself; return JSON "
        "values (dict, list, str, int, float, bool, None) or a model instance",
        path=where,
    )


def decode_result(data: str) -> Any:
    """A stored result back as the value the function returned."""
    stored = json.loads(data)
    if "json" in stored:
        return stored["json"]
    model = _model_class(str(stored["model"]))
    return model.__meta__.from_item(stored["item"])


def _model_class(path: str) -> type[Model]:
    """The model class stored as ``module:qualname``: a loaded one, else imported."""
    pending = list(Model.__subclasses__())
    while pending:
        cls = pending.pop()
        if f"{cls.__module__}:{cls.__qualname__}" == path:
            return cls
        pending += cls.__subclasses__()
    module_name, _, qualname = path.partition(":")
    import importlib

    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not (isinstance(target, type) and issubclass(target, Model)):
        raise ValidationError(f"the stored result names {path}, which is not a model")
    return target
