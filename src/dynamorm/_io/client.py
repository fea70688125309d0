"""The low-level client: the single place that does I/O (sign, send, retry, map errors)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dynamorm._core.errors import (
    DeadlineExceeded,
    DynamORMError,
    ExpiredToken,
)
from dynamorm._core.protocol import (
    USER_AGENT,
    check_operation,
    encode_body,
    parse_response,
    request_headers,
)
from dynamorm._core.retry import RetryPolicy
from dynamorm._core.signing import sign
from dynamorm._io.credentials import CredentialsProvider
from dynamorm._io.transport import Endpoint, HTTPTransport, Request, Transport

_monotonic = time.monotonic
_amz_date_cache: tuple[int, str] = (0, "")


def _amz_date() -> str:
    global _amz_date_cache  # noqa: PLW0603 - per-second memo of the formatted request time
    now = int(time.time())
    if _amz_date_cache[0] != now:
        _amz_date_cache = (now, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)))
    return _amz_date_cache[1]


class Client:
    """Sends raw DynamoDB JSON requests. Reached as ``db.client``."""

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
        self._sleep: Callable[[float], None] = time.sleep

    def call(
        self, operation: str, payload: dict[str, Any], *, deadline: float | None = None
    ) -> dict[str, Any]:
        """Send one DynamoDB operation with a raw DynamoDB JSON payload; return the response.

        Retryable failures are retried per the client's :class:`RetryPolicy`. ``deadline`` is a
        ``time.monotonic()`` instant no attempt or backoff sleep may run past; it defaults to the
        client's ``deadline`` attribute (set on deadline-bound views of a DB).
        """
        operation = check_operation(operation)
        if deadline is None:
            deadline = self.deadline
        body = encode_body(operation, payload)
        attempts = 0
        refreshed = False
        while True:
            attempts += 1
            remaining = None if deadline is None else deadline - _monotonic()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded(
                    f"{operation}: deadline passed before attempt {attempts} could start "
                    f"({attempts - 1} made)"
                )
            try:
                return self._send(operation, body, remaining)
            except ExpiredToken as exc:
                if refreshed:
                    exc.attempts = attempts
                    raise
                refreshed = True
                self.credentials.invalidate()
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

    def _send(self, operation: str, body: bytes, remaining: float | None) -> dict[str, Any]:
        creds = self.credentials.get()
        headers = request_headers(operation, self.endpoint.netloc)
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
                region=self.region,
                service="dynamodb",
                amz_date=_amz_date(),
            )
        )
        headers["user-agent"] = self.user_agent
        read_timeout = self.read_timeout
        connect_timeout = self.connect_timeout
        if remaining is not None:
            read_timeout = min(read_timeout, remaining)
            connect_timeout = min(connect_timeout, remaining)
        response = self.transport(
            Request(
                self.endpoint,
                headers,
                body,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            )
        )
        return parse_response(operation, response.status, response.headers, response.body)

    def remaining(self) -> float | None:
        """Seconds left before this client's deadline (``None`` without one)."""
        return None if self.deadline is None else self.deadline - _monotonic()

    def sleep(self, seconds: float) -> None:
        """Back off for ``seconds``; multi-step flows (batch retries) sleep through here."""
        self._sleep(seconds)

    def close(self) -> None:
        """Close the transport's idle connections (if it has any)."""
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"Client(region={self.region!r}, endpoint={self.endpoint.url!r})"
