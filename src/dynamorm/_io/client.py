"""The low-level client: the single place that does I/O (sign, send, retry, map errors, hooks)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from dynamorm._core.errors import (
    AccessDenied,
    ConditionFailed,
    DeadlineExceeded,
    DeadlineOutcomeUnknown,
    DynamORMError,
    ExpiredToken,
    OutcomeUnknown,
    ProtocolError,
    ServiceError,
    ServiceUnavailable,
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
from dynamorm._core.secret import Secret
from dynamorm._core.signing import sign
from dynamorm._core.steps import Send, Sleep
from dynamorm._io.credentials import Credentials, provider_credentials
from dynamorm._io.drive import drive
from dynamorm._io.events import Hook, RequestEvent, capacity_of, raw_capacity_of, tables_of
from dynamorm._io.transport import Endpoint, HTTPTransport, Request, Response, Transport

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import Any, TypeVar

    from dynamorm._core.steps import Step
    from dynamorm._io.deadline import LambdaContextLike
    from dynamorm._io.provider import CredentialsProvider

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


def signed_request(
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
) -> Request:
    """A SigV4-signed ``POST /``; (connect, read) timeouts are clamped to the time left, which
    also bounds the whole exchange; ``clock_offset`` (seconds) corrects the signing time for a
    skewed local clock. The one place that signs, for DynamoDB, KMS and STS."""
    secrets: dict[str, Secret] = {}
    for name, value in sign(
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
    ).items():
        if isinstance(value, Secret):
            secrets[name] = value  # the session token: masked in every frame and repr
        else:
            headers[name] = value
    headers["user-agent"] = user_agent
    connect_timeout, read_timeout = timeouts
    deadline = None
    if remaining is not None:
        connect_timeout = min(connect_timeout, remaining)
        read_timeout = min(read_timeout, remaining)
        deadline = _monotonic() + remaining
    return Request(
        endpoint,
        headers,
        body,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        deadline=deadline,
        secret_headers=secrets,
    )


def send_signed(
    transport: Transport,
    endpoint: Endpoint,
    headers: dict[str, str],
    body: bytes,
    creds: Credentials,
    **options: Any,
) -> Response:
    """Sign a ``POST /`` (see :func:`signed_request`) and send it on a sync transport."""
    return transport(signed_request(endpoint, headers, body, creds, **options))


class Replay:
    """How a write that may already have reached DynamoDB is sent again: ``build()`` returns a
    form DynamoDB cannot apply twice (None: never send it again); it is built only when
    needed. ``sent`` becomes True once an attempt may have been applied, so the caller knows
    a later answer may reflect it."""

    __slots__ = ("build", "sent")

    def __init__(self, build: Callable[[], dict[str, Any]] | None) -> None:
        self.build: Callable[[], dict[str, Any]] | None = build
        self.sent: bool = False


_GUARDED = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


def replay_safe(operation: str, payload: dict[str, Any]) -> bool:
    """True if sending ``payload`` twice has the effect of sending it once (as far as DynamoDB
    guarantees): reads, tokened transactions and (idempotent) BatchWriteItem puts and deletes."""
    if operation in _GUARDED:
        return False
    if operation in ("TransactWriteItems", "ExecuteTransaction"):
        return bool(payload.get("ClientRequestToken"))
    if operation == "ExecuteStatement":
        return _is_select(payload.get("Statement"))
    if operation == "BatchExecuteStatement":
        statements = payload.get("Statements")
        return isinstance(statements, list) and all(
            isinstance(s, dict) and _is_select(s.get("Statement")) for s in statements
        )
    return True


def _is_select(statement: object) -> bool:
    return isinstance(statement, str) and statement.lstrip()[:6].upper() == "SELECT"


def may_have_applied(exc: DynamORMError) -> bool:
    """True if the request that failed with ``exc`` may have been applied: the transport failed
    after sending it, DynamoDB answered 5xx, or the answer was unreadable."""
    if isinstance(exc, TransportError):
        return exc.sent
    return isinstance(exc, ProtocolError | ServiceUnavailable)


def _unknown(operation: str, payload: dict[str, Any], last: DynamORMError) -> OutcomeUnknown:
    key = payload.get("Key")
    where = f" of {key}" if isinstance(key, dict) and key else ""
    error = OutcomeUnknown(
        f"{operation}{where}: no definitive answer after {last.attempts} attempt(s), so the "
        f"write may or may not have been applied; read the item before writing again "
        f"(last error: {last})",
        operation=operation,
        key=key if isinstance(key, dict) else None,
        last_error=last,
    )
    error.attempts = last.attempts
    return error


def _unknown_at_deadline(
    operation: str, payload: dict[str, Any], text: str, last: DynamORMError, attempts: int
) -> DeadlineOutcomeUnknown:
    key = payload.get("Key")
    error = DeadlineOutcomeUnknown(
        f"{text}; an earlier attempt may or may not have been applied",
        operation=operation,
        key=key if isinstance(key, dict) else None,
        last_error=last,
    )
    error.attempts = attempts
    return error


class ClientBase:
    """What :class:`Client` and ``AsyncClient`` share: the configuration and the send loop,
    written once as a sans-I/O flow (:meth:`_flow`) that each of them drives."""

    service = "dynamodb"
    """The SigV4 service name (a subclass speaking another JSON service changes it)."""

    def __init__(
        self,
        *,
        region: str,
        endpoint: Endpoint,
        credentials: CredentialsProvider,
        transport: Any = None,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        user_agent: str = USER_AGENT,
        hooks: Iterable[Hook] = (),
    ) -> None:
        self.region = region
        self.endpoint = endpoint
        self.credentials = credentials
        self.transport: Any = transport if transport is not None else self._default_transport()
        self.retry: RetryPolicy = retry if retry is not None else RetryPolicy()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.user_agent = user_agent
        self.deadline: float | None = None
        self.clock_offset: float = 0.0
        self.hooks: list[Hook] = list(hooks)
        self.table_prefix: str = ""  # the DB's, named in error messages
        self._sleep: Any = self._default_sleep()

    def _default_transport(self) -> Any:
        raise NotImplementedError

    def _default_sleep(self) -> Any:
        raise NotImplementedError

    def _flow(  # noqa: PLR0917 - the hot path: positional arguments are the cheapest
        self,
        operation: str,
        payload: dict[str, Any],
        deadline: float | None,
        event: RequestEvent | None,
        parse: _Parse[T],
        replay: Replay | None,
    ) -> Generator[Step, Any, T]:
        """The send loop: sign, send, retry, resolve exactly-once, map errors. No I/O: it
        yields ``Send`` (one exchange), ``Sleep`` (backoff) and the credential provider's
        steps."""
        operation = self._check(operation)
        if deadline is None:
            deadline = self.deadline
        body = encode_body(operation, payload)
        guarded = not replay_safe(operation, payload)
        provider = self.credentials
        provider_flow = getattr(provider, "flow", None)
        attempts = 0
        refreshed = False
        skew_fixed = False
        unsure: DynamORMError | None = None  # set once an attempt may have been applied
        while True:
            attempts += 1
            remaining = None if deadline is None else deadline - _monotonic()
            if remaining is not None and remaining <= 0:
                text = (
                    f"{operation}: deadline passed before attempt {attempts} could start "
                    f"({attempts - 1} made)"
                )
                if unsure is not None:
                    raise _unknown_at_deadline(operation, payload, text, unsure, attempts - 1)
                raise DeadlineExceeded(text)
            try:
                if provider_flow is None:
                    creds = provider_credentials(provider, deadline)
                else:
                    creds = yield from provider_flow(deadline)
                    remaining = None if deadline is None else deadline - _monotonic()
            except DynamORMError as exc:  # nothing was sent: not an attempt
                if unsure is None:
                    raise
                exc.attempts = attempts - 1
                raise _unknown(operation, payload, exc) from None
            if event is not None:
                event.attempts = attempts
            try:
                response = yield Send(
                    signed_request(
                        self.endpoint,
                        self._headers(operation),
                        body,
                        creds,
                        region=self.region,
                        service=self.service,
                        user_agent=self.user_agent,
                        timeouts=(self.connect_timeout, self.read_timeout),
                        remaining=remaining,
                        clock_offset=self.clock_offset,
                    ),
                    self.transport,
                )
                try:
                    return parse(operation, response.status, response.headers, response.body)
                except ServiceError as exc:
                    self._add_context(exc, operation, body)
                    raise
            except ExpiredToken as exc:
                if refreshed:
                    exc.attempts = attempts
                    raise exc if unsure is None else _unknown(operation, payload, exc) from None
                refreshed = True
                provider.invalidate()
                continue
            except AccessDenied as exc:
                offset = None if skew_fixed else clock_skew(exc)
                if offset is None:
                    exc.attempts = attempts
                    raise exc if unsure is None else _unknown(operation, payload, exc) from None
                skew_fixed = True
                self.clock_offset = offset
                continue
            except DynamORMError as exc:
                attempts += getattr(exc, "sends", 1) - 1
                if event is not None:
                    event.attempts = attempts
                if guarded and may_have_applied(exc):
                    if replay is None or replay.build is None:
                        exc.attempts = attempts
                        raise _unknown(operation, payload, exc) from None
                    if unsure is None:
                        body = encode_body(operation, replay.build())
                    unsure = exc
                    replay.sent = True
                if not exc.retryable:
                    exc.attempts = attempts
                    if unsure is None or isinstance(exc, ConditionFailed):
                        raise
                    raise _unknown(operation, payload, exc) from None
                error = exc
            remaining = None if deadline is None else deadline - _monotonic()
            wait = self.retry.delay(attempts, remaining)
            if wait is None:
                error.attempts = attempts
                if remaining is not None and attempts < self.retry.max_attempts:
                    text = (
                        f"{operation}: deadline leaves no time to retry after {attempts} "
                        f"attempt(s); last error: {error}"
                    )
                    if unsure is not None:
                        raise _unknown_at_deadline(operation, payload, text, error, attempts)
                    raise DeadlineExceeded(text, last_error=error) from error
                if unsure is not None:
                    raise _unknown(operation, payload, error) from None
                raise error
            yield Sleep(wait)

    def _observed(  # noqa: PLR0917 - as _flow
        self,
        operation: str,
        payload: dict[str, Any],
        parse: _Parse[T],
        capacity: Callable[[T], float | None],
        deadline: float | None,
        replay: Replay | None,
    ) -> Generator[Step, Any, T]:
        """:meth:`_flow` with a :class:`RequestEvent` given to every hook at the end (also when
        it failed or its task was cancelled; ``attempts`` counts requests sent)."""
        event = RequestEvent(operation, tables_of(payload), self.region)
        start = _monotonic()
        try:
            response = yield from self._flow(operation, payload, deadline, event, parse, replay)
        except BaseException as exc:
            if isinstance(exc, GeneratorExit):
                raise
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

    def _add_context(self, exc: ServiceError, operation: str, body: bytes) -> None:
        from dynamorm._io.error_context import add_context

        add_context(
            exc,
            operation=operation,
            body=body,
            region=self.region,
            endpoint=self.endpoint.url,
            prefix=self.table_prefix,
        )

    def _check(self, operation: object) -> str:
        """The operation name, checked against the service's operations."""
        return check_operation(operation)

    def _headers(self, operation: str) -> dict[str, str]:
        """The unsigned headers of a request for ``operation``."""
        return request_headers(operation, self.endpoint.netloc)

    def remaining(self) -> float | None:
        """Seconds left before this client's deadline (``None`` without one)."""
        return None if self.deadline is None else self.deadline - _monotonic()

    def _sleep_time(self, seconds: float) -> float:
        if self.deadline is not None:
            return max(0.0, min(seconds, self.deadline - _monotonic()))
        return seconds

    def __repr__(self) -> str:
        return f"{type(self).__name__}(region={self.region!r}, endpoint={self.endpoint.url!r})"


class Client(ClientBase):
    """Sends raw DynamoDB JSON requests. Reached as ``db.client``.

    ``hooks`` is a list of callables each given a :class:`RequestEvent` after every request
    (append to it at any time); a hook that raises is logged and does not affect the request.
    """

    transport: Transport

    def _default_transport(self) -> Transport:
        return HTTPTransport()

    def _default_sleep(self) -> Callable[[float], None]:
        return time.sleep

    def call(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        deadline: float | None = None,
        replay: Replay | None = None,
    ) -> dict[str, Any]:
        """Send one DynamoDB operation with a raw DynamoDB JSON payload; return the response.

        Retryable failures are retried per the client's :class:`RetryPolicy`. ``deadline`` is a
        ``time.monotonic()`` instant no attempt or backoff sleep may run past; it defaults to the
        client's ``deadline`` attribute (set on deadline-bound views of a DB).

        A write DynamoDB does not deduplicate (PutItem, UpdateItem, DeleteItem, an untokened
        transaction, a PartiQL write) is never sent again after a failure that may have
        reached DynamoDB (a reset or timeout after sending, a 5xx, an unreadable 200): that
        raises :class:`OutcomeUnknown`, unless ``replay`` gives a form that is safe to send
        again, which is then used for every later attempt.
        """
        if self.hooks:
            flow = self._observed(operation, payload, parse_response, capacity_of, deadline, replay)
        else:
            flow = self._flow(operation, payload, deadline, None, parse_response, replay)
        return drive(flow, self)

    def call_raw(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        deadline: float | None = None,
        replay: Replay | None = None,
    ) -> bytes:
        """Like :meth:`call`, but return the verified response body as raw JSON bytes.

        The same signing, retries, deadline, error mapping and hooks as ``call``; only the
        successful body is left undecoded, for a faster decoder of the caller's choice.
        """
        if self.hooks:
            flow = self._observed(
                operation, payload, response_body, raw_capacity_of, deadline, replay
            )
        else:
            flow = self._flow(operation, payload, deadline, None, response_body, replay)
        return drive(flow, self)

    def sleep(self, seconds: float) -> None:
        """Back off for ``seconds``, but never past the deadline; multi-step flows (batch
        retries) sleep through here."""
        self._sleep(self._sleep_time(seconds))

    def with_deadline(
        self, context_or_seconds: LambdaContextLike | float, *, buffer: float | None = None
    ) -> Client:
        """A view of this client (same transport, credentials and hooks) bound to a deadline.

        ``context_or_seconds`` is a Lambda context (its remaining time less ``buffer``, by
        default :func:`deadline_buffer` of the function's memory) or seconds from now (less
        ``buffer``, by default 0). A view of a view keeps the earlier deadline.
        """
        from dynamorm._io.deadline import bind

        return bind(self, context_or_seconds, buffer)

    def close(self) -> None:
        """Close the transport's idle connections (if it has any)."""
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()
