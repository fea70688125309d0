"""The low-level client: the single place that does I/O (sign, send, retry, map errors, hooks)."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from dynamorm._core.errors import (
    AccessDenied,
    ConfigurationError,
    DeadlineExceeded,
    DynamORMError,
    EndpointUnreachable,
    ExpiredToken,
    TransportError,
)
from dynamorm._core.protocol import (
    USER_AGENT,
    check_operation,
    clock_skew,
    encode_body,
    parse_response,
    request_headers,
    response_body,
)
from dynamorm._core.retry import RetryPolicy
from dynamorm._core.signing import sign
from dynamorm._io.credentials import CREDENTIALS_DEADLINE, Credentials, CredentialsProvider
from dynamorm._io.transport import Endpoint, HTTPTransport, Request, Response, Transport

T = TypeVar("T")

_Parse = Callable[[str, int, dict[str, str], bytes], T]
"""Turns a verified response (operation, status, lower-case headers, body) into a result."""

_monotonic = time.monotonic
_amz_date_cache: tuple[int, str] = (0, "")


def _amz_date(clock_offset: float = 0.0) -> str:
    global _amz_date_cache  # noqa: PLW0603 - per-second memo of the formatted request time
    now = int(time.time() + clock_offset)
    if _amz_date_cache[0] != now:
        _amz_date_cache = (now, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)))
    return _amz_date_cache[1]


def send_signed(
    transport: Transport,
    endpoint: Endpoint,
    headers: dict[str, str],
    body: bytes,
    creds: Credentials,
    *,
    region: str,
    service: str,
    user_agent: str,
    timeouts: tuple[float, float],
    remaining: float | None,
    clock_offset: float = 0.0,
) -> Response:
    """SigV4-sign a ``POST /`` and send it; (connect, read) timeouts are clamped to the time
    left; ``clock_offset`` (seconds) corrects the signing time for a skewed local clock. The one
    place that signs and sends, for DynamoDB and for STS."""
    headers.update(
        sign(
            "POST",
            "/",
            "",
            headers,
            body,
            access_key=creds.access_key_id,
            secret_key=creds.secret_access_key,
            session_token=creds.session_token,
            region=region,
            service=service,
            amz_date=_amz_date(clock_offset),
        )
    )
    headers["user-agent"] = user_agent
    connect_timeout, read_timeout = timeouts
    if remaining is not None:
        connect_timeout = min(connect_timeout, remaining)
        read_timeout = min(read_timeout, remaining)
    return transport(
        Request(endpoint, headers, body, connect_timeout=connect_timeout, read_timeout=read_timeout)
    )


class RequestEvent:
    """What request hooks receive after every ``Client.call``, successful or not.

    ``table`` is the physical table name (several, comma-joined, for batch and transaction
    requests; None when the request names none). ``started`` is epoch seconds; ``duration`` is
    seconds including retries and backoff; ``attempts`` counts requests sent.
    ``consumed_capacity`` is the response's total ``CapacityUnits`` when the request asked for
    ``ReturnConsumedCapacity`` (else None; after ``call_raw`` it is found in the raw body
    without decoding the items); ``error`` is the exception raised, or None.
    """

    __slots__ = (
        "attempts",
        "consumed_capacity",
        "duration",
        "error",
        "operation",
        "region",
        "started",
        "table",
    )

    def __init__(self, operation: str, table: str | None, region: str) -> None:
        self.operation = operation
        self.table = table
        self.region = region
        self.started = time.time()
        self.duration = 0.0
        self.attempts = 0
        self.consumed_capacity: float | None = None
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        outcome = "ok" if self.error is None else type(self.error).__name__
        return (
            f"RequestEvent({self.operation} {self.table or '-'}: {outcome}, "
            f"{self.duration * 1000:.1f} ms, {self.attempts} attempt(s))"
        )


Hook = Callable[[RequestEvent], None]
"""A request hook: called with a :class:`RequestEvent` after each request."""


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


class Client:
    """Sends raw DynamoDB JSON requests. Reached as ``db.client``.

    ``hooks`` is a list of callables each given a :class:`RequestEvent` after every request
    (append to it at any time); a hook that raises is logged and does not affect the request.
    """

    def __init__(
        self,
        *,
        region: str,
        endpoint: Endpoint,
        credentials: CredentialsProvider,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        user_agent: str = USER_AGENT,
        hooks: Iterable[Hook] = (),
    ) -> None:
        self.region = region
        self.endpoint = endpoint
        self.credentials = credentials
        self.transport: Transport = transport if transport is not None else HTTPTransport()
        self.retry = retry if retry is not None else RetryPolicy()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.user_agent = user_agent
        self.deadline: float | None = None
        self.clock_offset = 0.0
        self.hooks: list[Hook] = list(hooks)
        self._sleep: Callable[[float], None] = time.sleep

    def call(
        self, operation: str, payload: dict[str, Any], *, deadline: float | None = None
    ) -> dict[str, Any]:
        """Send one DynamoDB operation with a raw DynamoDB JSON payload; return the response.

        Retryable failures are retried per the client's :class:`RetryPolicy`. ``deadline`` is a
        ``time.monotonic()`` instant no attempt or backoff sleep may run past; it defaults to the
        client's ``deadline`` attribute (set on deadline-bound views of a DB).
        """
        if self.hooks:
            return self._observed(operation, payload, deadline, parse_response, _capacity)
        return self._call(operation, payload, deadline, None, parse_response)

    def call_raw(
        self, operation: str, payload: dict[str, Any], *, deadline: float | None = None
    ) -> bytes:
        """Like :meth:`call`, but return the verified response body as raw JSON bytes.

        The same signing, retries, deadline, error mapping and hooks as ``call``; only the
        successful body is left undecoded, for a faster decoder of the caller's choice.
        """
        if self.hooks:
            return self._observed(operation, payload, deadline, response_body, _raw_capacity)
        return self._call(operation, payload, deadline, None, response_body)

    def _call(
        self,
        operation: str,
        payload: dict[str, Any],
        deadline: float | None,
        event: RequestEvent | None,
        parse: _Parse[T],
    ) -> T:
        operation = check_operation(operation)
        if deadline is None:
            deadline = self.deadline
        body = encode_body(operation, payload)
        attempts = 0
        refreshed = False
        skew_fixed = False
        while True:
            attempts += 1
            remaining = None if deadline is None else deadline - _monotonic()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded(
                    f"{operation}: deadline passed before attempt {attempts} could start "
                    f"({attempts - 1} made)"
                )
            if event is not None:
                event.attempts = attempts
            try:
                return self._send(operation, body, remaining, parse)
            except ExpiredToken as exc:
                if refreshed:
                    exc.attempts = attempts
                    raise
                refreshed = True
                self.credentials.invalidate()
                continue
            except AccessDenied as exc:
                offset = None if skew_fixed else clock_skew(exc)
                if offset is None:
                    exc.attempts = attempts
                    raise
                skew_fixed = True
                self.clock_offset = offset
                continue
            except DynamORMError as exc:
                if not exc.retryable:
                    exc.attempts = attempts
                    raise
                error = exc
            remaining = None if deadline is None else deadline - _monotonic()
            wait = self.retry.delay(attempts, remaining)
            if wait is None:
                error.attempts = attempts
                if remaining is not None and attempts < self.retry.max_attempts:
                    raise DeadlineExceeded(
                        f"{operation}: deadline leaves no time to retry after {attempts} "
                        f"attempt(s); last error: {error}",
                        last_error=error,
                    ) from error
                raise error
            self._sleep(wait)

    def _observed(
        self,
        operation: str,
        payload: dict[str, Any],
        deadline: float | None,
        parse: _Parse[T],
        capacity: Callable[[T], float | None],
    ) -> T:
        event = RequestEvent(operation, _tables(payload), self.region)
        start = _monotonic()
        try:
            response = self._call(operation, payload, deadline, event, parse)
        except Exception as exc:
            event.duration = _monotonic() - start
            event.error = exc
            self._emit(event)
            raise
        event.duration = _monotonic() - start
        event.consumed_capacity = capacity(response)
        self._emit(event)
        return response

    def _emit(self, event: RequestEvent) -> None:
        for hook in tuple(self.hooks):
            try:
                hook(event)
            except Exception:
                import logging

                logging.getLogger("dynamorm").exception(
                    "request hook %r failed (the request itself was not affected)", hook
                )

    def _send(self, operation: str, body: bytes, remaining: float | None, parse: _Parse[T]) -> T:
        if remaining is None:
            creds = self.credentials.get()
        else:
            # A credential refresh (e.g. an STS call) counts against the request's deadline.
            bound = _monotonic() + remaining
            outer = CREDENTIALS_DEADLINE.get()
            token = CREDENTIALS_DEADLINE.set(bound if outer is None else min(bound, outer))
            try:
                creds = self.credentials.get()
            finally:
                CREDENTIALS_DEADLINE.reset(token)
        response = send_signed(
            self.transport,
            self.endpoint,
            request_headers(operation, self.endpoint.netloc),
            body,
            creds,
            region=self.region,
            service="dynamodb",
            user_agent=self.user_agent,
            timeouts=(self.connect_timeout, self.read_timeout),
            remaining=remaining,
            clock_offset=self.clock_offset,
        )
        return parse(operation, response.status, response.headers, response.body)

    def remaining(self) -> float | None:
        """Seconds left before this client's deadline (``None`` without one)."""
        return None if self.deadline is None else self.deadline - _monotonic()

    def sleep(self, seconds: float) -> None:
        """Back off for ``seconds``, but never past the deadline; multi-step flows (batch
        retries) sleep through here."""
        if self.deadline is not None:
            seconds = max(0.0, min(seconds, self.deadline - _monotonic()))
        self._sleep(seconds)

    def with_deadline(
        self, context_or_seconds: LambdaContextLike | float, *, buffer: float | None = None
    ) -> Client:
        """A view of this client (same transport, credentials and hooks) bound to a deadline.

        ``context_or_seconds`` is a Lambda context (its remaining time less ``buffer``, by
        default :func:`deadline_buffer` of the function's memory) or seconds from now (less
        ``buffer``, by default 0). A view of a view keeps the earlier deadline.
        """
        budget = _Budget(context_or_seconds, buffer)
        if self.deadline is not None and self.deadline < budget.deadline:
            budget.deadline = self.deadline
        view = _DeadlineClient.__new__(_DeadlineClient)
        view.__dict__.update(self.__dict__)
        view.deadline = budget.deadline
        view._budget = budget
        return view

    def close(self) -> None:
        """Close the transport's idle connections (if it has any)."""
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"Client(region={self.region!r}, endpoint={self.endpoint.url!r})"


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
            if not math.isfinite(seconds):
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
        self.lock = threading.Lock()

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
        self, operation: str, payload: dict[str, Any], *, deadline: float | None = None
    ) -> dict[str, Any]:
        return self._bounded(Client.call, operation, payload, deadline)

    def call_raw(
        self, operation: str, payload: dict[str, Any], *, deadline: float | None = None
    ) -> bytes:
        return self._bounded(Client.call_raw, operation, payload, deadline)

    def _bounded(
        self,
        send: Callable[..., T],
        operation: str,
        payload: dict[str, Any],
        deadline: float | None,
    ) -> T:
        try:
            response = send(self, operation, payload, deadline=deadline)
        except DeadlineExceeded as exc:
            self._explain(exc, operation)
            raise
        except TransportError as exc:
            if self._budget.deadline > _monotonic():
                raise
            error = DeadlineExceeded(
                f"{operation}: the deadline passed during attempt {exc.attempts}: {exc}",
                last_error=exc,
            )
            self._explain(error, operation)
            raise error from exc
        budget = self._budget
        with budget.lock:
            budget.completed += 1
        return response

    def __repr__(self) -> str:
        left = max(0.0, self._budget.deadline - _monotonic())
        return (
            f"Client(region={self.region!r}, endpoint={self.endpoint.url!r}, "
            f"{left:.3f}s before its deadline)"
        )

    def _explain(self, exc: DeadlineExceeded, operation: str) -> None:
        detail = self._budget.describe()
        last = exc.last_error
        if (
            isinstance(last, TransportError)
            and not isinstance(last, EndpointUnreachable)
            and not operation.startswith(_READ_PREFIXES)
        ):
            detail += (
                f"; the last {operation} may or may not have been applied "
                "(its response never arrived)"
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


def _tables(payload: object) -> str | None:
    if not isinstance(payload, dict):
        return None
    name = payload.get("TableName")
    if isinstance(name, str):
        return name
    names: set[str] = set()
    items = payload.get("RequestItems")
    if isinstance(items, dict):
        names.update(items)
    actions = payload.get("TransactItems")
    if isinstance(actions, list):
        for action in actions:
            for body in action.values() if isinstance(action, dict) else ():
                table = body.get("TableName") if isinstance(body, dict) else None
                if isinstance(table, str):
                    names.add(table)
    return ",".join(sorted(names)) or None


def _capacity(response: dict[str, Any]) -> float | None:
    raw = response.get("ConsumedCapacity")
    entries = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else None
    if entries is None:
        return None
    return float(sum(e.get("CapacityUnits", 0.0) for e in entries if isinstance(e, dict)))


_CAPACITY_WINDOW = 16 * 1024  # bytes of a raw body read for one ConsumedCapacity value


def _raw_capacity(body: bytes) -> float | None:
    """The total consumed capacity in a raw response body, without decoding its items.

    ``"ConsumedCapacity"`` may also name an attribute inside an item, but such a value is an
    AttributeValue (``{"N": ...}``); the response's own entry is the one with ``CapacityUnits``.
    """
    import json
    import re

    decode = json.JSONDecoder().raw_decode
    for match in re.finditer(rb'"ConsumedCapacity"\s*:\s*', body):
        start = match.end()
        try:
            value = decode(body[start : start + _CAPACITY_WINDOW].decode("utf-8", "replace"))[0]
        except ValueError:  # longer than the window (an attribute holding a large value)
            continue
        if isinstance(value, list) or (isinstance(value, dict) and "CapacityUnits" in value):
            return _capacity({"ConsumedCapacity": value})
    return None
