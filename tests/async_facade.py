"""A blocking facade over ``AsyncDB``: the synchronous integration tests drive its real surface.

:class:`LoopThread` runs an event loop in a helper thread. :class:`Blocking` wraps an async
object: each coroutine it returns is run to its end on that loop (the caller blocks), ``for``
walks an async iterator there, ``with`` enters an async context manager there, and whatever comes
back that is itself async (a query, a deadline view, a transaction, the client) is wrapped the
same way. Plain values (models, dicts, errors) come back as they are, so a test body written
against ``DB`` runs unchanged against ``AsyncDB``.

Only the blocking hop is added: every request goes through AsyncDB, its flows, its client and
its asyncio transport.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from dynamorm import DB

__all__ = [
    "Blocking",
    "LoopThread",
    "blocking",
    "blocking_db",
    "idempotent",
    "in_thread",
    "is_async_api",
    "unwrap",
]

T = TypeVar("T")
_END = object()


class LoopThread:
    """An asyncio event loop running forever in a daemon helper thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        # room for sync helpers run by in_thread that block (a handler waiting on an event)
        workers = concurrent.futures.ThreadPoolExecutor(32, thread_name_prefix="facade-worker")
        self.loop.set_default_executor(workers)
        self.thread = threading.Thread(target=self.loop.run_forever, name="async-facade")
        self.thread.daemon = True
        self.thread.start()

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` on the loop and wait for its result (or its exception)."""
        if threading.current_thread() is self.thread:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise RuntimeError("the facade cannot block inside its own event loop")

        async def wait() -> T:
            return await awaitable

        # The task runs in a copy of the caller's context, as an awaited call would: context
        # variables set around the call (actor_context, ...) are seen inside it.
        context = contextvars.copy_context()
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def finish(task: asyncio.Task[T]) -> None:
            if task.cancelled():
                result.set_exception(asyncio.CancelledError())
            elif (error := task.exception()) is not None:
                result.set_exception(error)
            else:
                result.set_result(task.result())

        def start() -> None:
            self.loop.create_task(wait(), context=context).add_done_callback(finish)

        self.loop.call_soon_threadsafe(start)
        return result.result()

    def close(self) -> None:
        """Cancel what still runs, stop the loop and its thread, close the loop."""

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        if self.loop.is_closed():
            return
        self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


_ASYNC_TYPES: dict[type, bool] = {}


def is_async_api(value: object) -> bool:
    """Whether ``value``'s class has coroutine methods, ``__aiter__`` or ``__aenter__``."""
    cls = type(value)
    known = _ASYNC_TYPES.get(cls)
    if known is None:
        known = hasattr(cls, "__aiter__") or hasattr(cls, "__aenter__")
        for name in dir(cls):
            if known:
                break
            member = inspect.getattr_static(cls, name, None)
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            known = inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member)
        _ASYNC_TYPES[cls] = known
    return known


def unwrap(value: Any) -> Any:
    """The async object behind a :class:`Blocking` (anything else as it is)."""
    return value._target if isinstance(value, Blocking) else value


def blocking(value: Any, runner: LoopThread) -> Any:
    """``value`` as a synchronous caller sees it: awaited, wrapped, or as it is."""
    while inspect.isawaitable(value):
        value = runner.run(value)
    if isinstance(value, Blocking | type):
        return value
    if callable(value) or is_async_api(value):
        return Blocking(value, runner)
    return value


class Blocking:
    """A synchronous view of an async object (see the module docstring)."""

    __slots__ = ("_runner", "_target")
    _target: Any
    _runner: LoopThread

    def __init__(self, target: Any, runner: LoopThread) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_runner", runner)

    def __getattr__(self, name: str) -> Any:
        return blocking(getattr(self._target, name), self._runner)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, unwrap(value))

    def __delattr__(self, name: str) -> None:
        delattr(self._target, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args = tuple(unwrap(a) for a in args)
        kwargs = {k: unwrap(v) for k, v in kwargs.items()}
        return blocking(self._target(*args, **kwargs), self._runner)

    def __iter__(self) -> Iterator[Any]:
        if not hasattr(self._target, "__aiter__"):
            return (blocking(item, self._runner) for item in self._target)
        return self._walk(self._target.__aiter__())

    def _walk(self, iterator: Any) -> Iterator[Any]:
        async def step() -> Any:
            try:
                return await iterator.__anext__()
            except StopAsyncIteration:
                return _END

        try:
            while (item := self._runner.run(step())) is not _END:
                yield blocking(item, self._runner)
        finally:
            if hasattr(iterator, "aclose"):
                self._runner.run(iterator.aclose())

    def __enter__(self) -> Any:
        if hasattr(self._target, "__aenter__"):
            return blocking(self._runner.run(self._target.__aenter__()), self._runner)
        return blocking(self._target.__enter__(), self._runner)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        if hasattr(self._target, "__aexit__"):
            return cast(bool | None, self._runner.run(self._target.__aexit__(exc_type, exc, tb)))
        return cast(bool | None, self._target.__exit__(exc_type, exc, tb))

    def __len__(self) -> int:
        return len(self._target)

    def __bool__(self) -> bool:
        return bool(self._target)

    def __repr__(self) -> str:
        return f"Blocking({self._target!r})"


def _is_async_callable(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004
    )


def blocking_db(runner: LoopThread, **options: Any) -> DB:
    """An ``AsyncDB(**options)`` (made on the loop) behind a :class:`Blocking`, typed as ``DB``
    so that test bodies written for ``DB`` type-check unchanged."""
    from dynamorm import AsyncDB

    transport = options.get("transport")
    if transport is not None and not _is_async_callable(transport):
        options["transport"] = in_thread(transport)  # a test's sync transport, off the loop

    async def make() -> Any:
        return AsyncDB(**options)

    return cast("DB", Blocking(runner.run(make()), runner))


def in_thread(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``fn`` (a sync test helper that uses a blocking facade) as an ``async def`` run in a
    worker thread, for APIs that take coroutine functions (``@idempotent`` on ``AsyncDB``)."""

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    return run


if TYPE_CHECKING:
    from dynamorm import idempotent
else:

    def idempotent(db: Any, /, *args: Any, **options: Any) -> Any:
        """``dynamorm.idempotent``; on a blocking ``AsyncDB`` facade, the same decorator of the
        ``AsyncDB`` applied to the sync function run by :func:`in_thread`, and the result
        called through the facade. Test bodies written for ``DB`` use it unchanged."""
        from dynamorm import idempotent as real

        if not isinstance(db, Blocking):
            return real(db, *args, **options)
        decorate = real(db._target, *args, **options)

        def apply(fn: Callable[..., Any]) -> Any:
            return blocking(decorate(in_thread(fn)), db._runner)

        return apply
