"""A one-shot signal both drivers can wait for (the ``Wait`` step): threads block on it, asyncio
tasks await it. Imported only by flows that wait for another caller (single-flight refresh)."""

from __future__ import annotations

import threading
from typing import Any


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
