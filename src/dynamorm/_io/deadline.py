"""Deadline views of a client: every request, retry and backoff stops before a deadline."""

from __future__ import annotations

import os
from _thread import allocate_lock  # threading.Lock, without loading threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from dynamorm._core.errors import (
    ConfigurationError,
    DeadlineExceeded,
    DynamORMError,
    OutcomeUnknown,
    TransportError,
)
from dynamorm._io import client as client_module
from dynamorm._io.client import Client, ClientBase, Replay

T = TypeVar("T")


def _monotonic() -> float:
    # The client's clock (one seam for the client and its views, replaced in tests).
    return client_module._monotonic()


class LambdaContextLike(Protocol):
    """What deadlines need from a Lambda context object."""

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda stops the invocation."""
        ...


def remaining_seconds(context: object) -> float:
    """Seconds left in a Lambda invocation, read from its context object."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    millis = getter() if callable(getter) else None
    if isinstance(millis, bool) or not isinstance(millis, int | float):
        raise ConfigurationError(
            "expected a Lambda context with get_remaining_time_in_millis() (or seconds, for "
            f"with_deadline), got {type(context).__name__}"
        )
    return millis / 1000.0


def deadline_buffer(memory_mb: int | None) -> float:
    """Seconds kept free at the end of a Lambda invocation for the handler to finish.

    Lambda gives CPU in proportion to memory, so the buffer shrinks as memory grows: 0.5 s at
    128 MB, 0.125 s at 512 MB, never under 0.05 s; 0.1 s when the memory size is unknown.
    """
    if not memory_mb or memory_mb <= 0:
        return 0.1
    return min(0.5, max(0.05, 64.0 / memory_mb))


C = TypeVar("C", bound=ClientBase)


def bind(
    client: C, context_or_seconds: object, buffer: float | None, view_class: type[C] | None = None
) -> C:
    """A view of ``client`` bound to a deadline (see ``Client.with_deadline``), an instance of
    ``view_class`` (default: the sync view class)."""
    budget = _Budget(context_or_seconds, buffer)
    if client.deadline is not None and client.deadline < budget.deadline:
        budget.deadline = client.deadline
    cls: Any = _DeadlineClient if view_class is None else view_class
    view: Any = cls.__new__(cls)
    view.__dict__.update(client.__dict__)
    view.deadline = budget.deadline
    view._budget = budget
    result: C = view
    return result


class _Budget:
    """A deadline view's deadline, where it came from and the requests completed under it."""

    __slots__ = ("completed", "deadline", "lock", "origin", "started")

    def __init__(self, context_or_seconds: object, buffer: object) -> None:
        if buffer is not None and (
            isinstance(buffer, bool) or not isinstance(buffer, int | float) or not buffer >= 0
        ):
            raise ConfigurationError(f"buffer must be seconds >= 0, got {buffer!r}")
        if isinstance(context_or_seconds, int | float) and not isinstance(context_or_seconds, bool):
            seconds = float(context_or_seconds)
            if seconds - seconds != 0:  # NaN or infinite (math.isfinite, without math)
                raise ConfigurationError(f"with_deadline() needs finite seconds, got {seconds}")
            margin = float(buffer or 0.0)
            origin = f"a {seconds:.3f}s budget"
        else:
            seconds = remaining_seconds(context_or_seconds)
            memory = _memory_mb(context_or_seconds)
            margin = deadline_buffer(memory) if buffer is None else float(buffer)
            origin = f"{seconds:.3f}s left in the Lambda invocation"
        if margin:
            origin += f" less a {margin:.3f}s safety buffer"
        self.started = _monotonic()
        self.deadline = self.started + seconds - margin
        self.origin = origin
        self.completed = 0
        self.lock = allocate_lock()

    def done(self) -> None:
        """Count one request completed under this deadline."""
        with self.lock:
            self.completed += 1

    def describe(self) -> str:
        count = self.completed
        elapsed = _monotonic() - self.started
        return (
            f"{count} request{'' if count == 1 else 's'} completed under this deadline in "
            f"{elapsed:.3f}s ({self.origin})"
        )


_READ_PREFIXES = ("Get", "BatchGet", "TransactGet", "Query", "Scan", "Describe", "List")


class _DeadlineClient(Client):
    """A client view bound to a deadline (see ``Client.with_deadline``).

    A transport failure once the deadline has passed becomes ``DeadlineExceeded``, and every
    ``DeadlineExceeded`` says how much work was done and whether a write's outcome is unknown.
    """

    _budget: _Budget

    def call(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        deadline: float | None = None,
        replay: Replay | None = None,
    ) -> dict[str, Any]:
        return self._bounded(Client.call, operation, payload, deadline, replay)

    def call_raw(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        deadline: float | None = None,
        replay: Replay | None = None,
    ) -> bytes:
        return self._bounded(Client.call_raw, operation, payload, deadline, replay)

    def _bounded(
        self,
        send: Callable[..., T],
        operation: str,
        payload: dict[str, Any],
        deadline: float | None,
        replay: Replay | None,
    ) -> T:
        try:
            response = send(self, operation, payload, deadline=deadline, replay=replay)
        except DynamORMError as exc:
            raise_bounded(self._budget, exc, operation)
            raise
        self._budget.done()
        return response

    def __repr__(self) -> str:
        return describe_view(self, self._budget)


def describe_view(client: ClientBase, budget: _Budget) -> str:
    """A deadline view's repr."""
    left = max(0.0, budget.deadline - _monotonic())
    return (
        f"{type(client).__mro__[1].__name__}(region={client.region!r}, "
        f"endpoint={client.endpoint.url!r}, {left:.3f}s before its deadline)"
    )


def raise_bounded(budget: _Budget, exc: DynamORMError, operation: str) -> None:
    """For a request of a deadline view that failed with ``exc``: explain a deadline or unknown
    outcome (in place), raise ``DeadlineExceeded`` for a transport failure once the deadline
    passed, else return (the caller re-raises ``exc``)."""
    if isinstance(exc, DeadlineExceeded | OutcomeUnknown):
        _explain(budget, exc, operation)
        return
    if not isinstance(exc, TransportError) or budget.deadline > _monotonic():
        return
    error = DeadlineExceeded(
        f"{operation}: the deadline passed during attempt {exc.attempts}: {exc}",
        last_error=exc,
    )
    _explain(budget, error, operation)
    raise error from exc


def _explain(budget: _Budget, exc: DeadlineExceeded | OutcomeUnknown, operation: str) -> None:
    detail = budget.describe()
    last = exc.last_error
    if (
        isinstance(exc, DeadlineExceeded)
        and isinstance(last, TransportError)
        and last.sent
        and not operation.startswith(_READ_PREFIXES)
    ):
        detail += (
            f"; the last {operation} may or may not have been applied (its response never arrived)"
        )
    exc.message = f"{exc.message}; {detail}"
    exc.args = (exc.message,)


def _memory_mb(context: object) -> int | None:
    raw = getattr(context, "memory_limit_in_mb", None) or os.environ.get(
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
    )
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
