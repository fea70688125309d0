"""The sync driver of sans-I/O flows (see :mod:`dynamorm._core.steps`), and :class:`Signal`.

``drive(flow, client)`` runs a flow to its end with blocking calls: each step's result is sent
into the flow, each failure (an ``Exception``) is thrown into it. The async driver,
:func:`dynamorm._io.async_drive.adrive`, runs the same flows with ``await``.
"""

from __future__ import annotations

import threading

from dynamorm._core.steps import Blocking, Call, Send, Sleep, Wait

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import Any, TypeVar

    from dynamorm._core.steps import Step

    T = TypeVar("T")


def drive(flow: Generator[Step, Any, T], client: Any = None) -> T:
    """Run ``flow`` to its end; ``Call`` and ``Sleep`` steps go to ``client`` (its ``call``,
    ``call_raw`` and ``sleep``), ``Send`` steps to their transport."""
    send = flow.send
    try:
        step = send(None)
        while True:
            try:
                result = step.transport(step.request) if type(step) is Send else _run(step, client)
            except Exception as exc:
                step = flow.throw(exc)
            except BaseException:
                flow.close()
                raise
            else:
                step = send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


def _run(step: Step, client: Any) -> Any:
    if type(step) is Call:
        target = client if step.client is None else step.client
        method = target.call_raw if step.raw else target.call
        return method(step.operation, step.payload, **step.options)
    if type(step) is Sleep:
        client.sleep(step.seconds)
        return None
    if type(step) is Blocking:
        return step.fn()
    if type(step) is Wait:
        return step.signal.wait(step.timeout)
    raise TypeError(f"a flow yielded {step!r}, which is not a step")


class Signal:
    """Set once, by any thread or task; waited for by threads (:meth:`wait`, a ``Wait`` step
    under the sync driver) and asyncio tasks (:meth:`wait_async`, under the async driver)."""

    __slots__ = ("_event", "_lock", "_waiters")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[Any, Any]] = []  # (event loop, future)

    def set(self) -> None:
        """Wake every waiter, now and later."""
        with self._lock:
            self._event.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            try:  # noqa: SIM105 - contextlib is not loaded on a cold start
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # a closed loop: nobody waits there any more
                pass

    def is_set(self) -> bool:
        """True once :meth:`set` was called."""
        return self._event.is_set()

    def wait(self, timeout: float | None) -> bool:
        """Block until set, at most ``timeout`` seconds; True if it was set."""
        return self._event.wait(timeout)

    async def wait_async(self, timeout: float | None) -> bool:
        """Wait without blocking the event loop, at most ``timeout`` seconds."""
        import asyncio

        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            if self._event.is_set():
                return True
            self._waiters.append((loop, future))
        try:
            done, _ = await asyncio.wait((future,), timeout=timeout)
        finally:
            with self._lock:
                if (loop, future) in self._waiters:
                    self._waiters.remove((loop, future))
        return bool(done)


def _resolve(future: Any) -> None:
    if not future.done():
        future.set_result(True)
