"""The steps of sans-I/O flows: what a flow asks its driver to do.

A flow is a generator that does no I/O. It yields steps and receives their results; a step that
fails has its exception thrown into the flow (which may catch it). The same flow runs under the
sync driver (:func:`dynamorm._io.drive.drive`) and the async one
(:func:`dynamorm._io.async_drive.adrive`), so every multi-step flow is written once.

- :class:`Call`: send a DynamoDB (or KMS) operation through a client's full send path (signing,
  retries, deadline, hooks); the result is the parsed response.
- :class:`Sleep`: back off (never past the client's deadline); the result is None.
- :class:`Send`: one raw HTTP exchange on a transport (used inside the client's own loop); the
  result is the :class:`~dynamorm._io.transport.Response`.
- :class:`Wait`: wait for a :class:`Signal` set by another thread or task, at most ``timeout``
  seconds; the result is True if it was set.
- :class:`Blocking`: a rare blocking call (botocore's credential chain); the async driver runs
  it in a worker thread. The result is its return value.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from typing import Any, TypeAlias, TypeVar

    T = TypeVar("T")


class Call:
    """Step: send ``operation`` with ``payload`` through ``client`` (default: the driver's
    client) and send the parsed response back; ``options`` go to its ``call`` (``deadline``,
    ``replay``). ``raw=True`` uses ``call_raw`` (the result is the body's bytes)."""

    __slots__ = ("client", "operation", "options", "payload", "raw")

    def __init__(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        client: Any = None,
        raw: bool = False,
        **options: Any,
    ) -> None:
        self.operation: str = operation
        self.payload: dict[str, Any] = payload
        self.client: Any = client
        self.raw: bool = raw
        self.options: dict[str, Any] = options

    def __repr__(self) -> str:
        return f"Call({self.operation})"


class Sleep:
    """Step: back off for ``seconds`` (the driver never sleeps past its client's deadline)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds: float = seconds

    def __repr__(self) -> str:
        return f"Sleep({self.seconds:.3f})"


class Send:
    """Step: one HTTP exchange of ``request`` on ``transport`` (sync: ``transport(request)``;
    async: ``await transport(request)``); the result is the response."""

    __slots__ = ("request", "transport")

    def __init__(self, request: Any, transport: Any) -> None:
        self.request: Any = request
        self.transport: Any = transport

    def __repr__(self) -> str:
        return f"Send({self.request!r})"


class Blocking:
    """Step: call ``fn()``, which may block (the async driver runs it in a worker thread)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn: Callable[[], Any] = fn

    def __repr__(self) -> str:
        return f"Blocking({getattr(self.fn, '__qualname__', self.fn)!r})"


class Wait:
    """Step: wait until ``signal`` is set, at most ``timeout`` seconds (None: no limit); the
    result is True if it was set."""

    __slots__ = ("signal", "timeout")

    def __init__(self, signal: Any, timeout: float | None) -> None:
        self.signal: Any = signal
        self.timeout: float | None = timeout

    def __repr__(self) -> str:
        return f"Wait(timeout={self.timeout})"


Step = Call | Sleep | Send | Blocking | Wait
"""Any step a flow may yield."""

if TYPE_CHECKING:
    Flow: TypeAlias = Generator[Step, Any, T]
    """A flow whose value is ``T``."""
