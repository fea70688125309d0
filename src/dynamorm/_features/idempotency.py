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

This module holds the decorator and the record model; the record flows and the local cache are
in ``idempotency_store``, key and payload hashing and the result codec in ``idempotency_values``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from dynamorm._core.errors import ConfigurationError
from dynamorm._features.idempotency_values import DEFAULT_PAYLOAD, Selector
from dynamorm._orm.model import Attr, Model, field

if TYPE_CHECKING:
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


_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE: the code object of an ``async def``


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
    settings = Settings(
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
        from dynamorm._features.idempotency_store import Guard

        guard = Guard(
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


class Settings:
    """The options of one ``@idempotent``, checked."""

    __slots__ = ("expires_after", "in_progress", "wait")

    def __init__(self, *, expires_after: float, in_progress: float | None, wait: float) -> None:
        self.expires_after = expires_after
        self.in_progress = in_progress
        self.wait = wait
