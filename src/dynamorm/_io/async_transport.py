"""The async transport: HTTP/1.1 on asyncio streams, with a bounded keep-alive pool.

The same HTTP handling as :class:`~dynamorm._io.transport.HTTPTransport` (the head and body
framing, the keep-alive decision and the error mapping are its helpers), the same fault
semantics: connect and read timeouts, the request's deadline over the whole exchange, a request
sent again (on a new connection) only when a kept-alive connection failed before it was out,
never once it was. A connection with unread bytes is never pooled, nor one whose exchange was
cancelled (``asyncio.CancelledError``): it is closed. At most ``max_connections`` are open per
endpoint; further requests wait for one.

uvloop, when importable, is used by :func:`run` (not a dependency).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from dynamorm._core.errors import (
    ConfigurationError,
    ConnectionReset,
    EndpointUnreachable,
    ProtocolError,
    ReadTimeout,
    TransportError,
)
from dynamorm._io.transport import (
    CHUNKED,
    MAX_HEAD,
    PROXY_VARIABLES,
    UNTIL_CLOSE,
    Request,
    Response,
    Truncated,
    body_framing,
    chunk_size,
    default_ssl_context,
    parse_head,
    plain_http_hint,
    read_error,
    request_head,
    reusable,
)

T = TypeVar("T")

AsyncTransport = Callable[[Request], Awaitable[Response]]
"""An async transport: ``await transport(request) -> Response``."""

_monotonic = time.monotonic


class _NotSent(Exception):
    """Writing the request failed before all of it was out: it cannot have been processed."""


class _Conn:
    """One connection: its stream reader and writer."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def is_dropped(self) -> bool:
        """True if the peer closed this idle connection or sent something unasked."""
        return (
            self.writer.is_closing() or self.reader.at_eof() or bool(self.reader._buffer)  # type: ignore[attr-defined]
        )

    def close(self) -> None:
        transport = self.writer.transport
        transport.abort()  # no graceful close: the connection is dropped, never reused


class _Pool:
    """The connections of one endpoint: idle ones, how many are open, who waits for one."""

    __slots__ = ("idle", "open", "waiters")

    def __init__(self) -> None:
        self.idle: list[_Conn] = []
        self.open = 0
        self.waiters: deque[asyncio.Future[None]] = deque()

    def wake(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class AsyncHTTPTransport:
    """Keep-alive HTTP/1.1 on asyncio streams; ``max_connections`` open per endpoint at most
    (requests beyond it wait for a connection), ``max_idle`` of them kept between requests.
    Certificates are always verified (``AWS_CA_BUNDLE`` as for the sync transport). Use it from
    one event loop."""

    def __init__(
        self, *, max_connections: int = 64, max_idle: int = 16, ssl_context: Any = None
    ) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ConfigurationError(f"max_connections must be an int, got {max_connections!r}")
        if max_connections < 1:
            raise ConfigurationError(f"max_connections must be >= 1, got {max_connections}")
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._max_connections = max_connections
        self._max_idle = max_idle
        self._ssl_context = ssl_context
        self._closed = False

    async def __call__(self, request: Request) -> Response:
        """Send ``request`` and read the answer (see the module docstring)."""
        ep = request.endpoint
        pool = self._pools.get((ep.scheme, ep.host, ep.port))
        if pool is None:
            pool = self._pools[(ep.scheme, ep.host, ep.port)] = _Pool()
        sends = 0
        conn = await self._acquire(pool, request)
        if conn is not None:
            sends = 1
            try:
                return await self._exchange(pool, conn, request, sends)
            except _NotSent:
                conn.close()  # its slot is kept for the new connection
            except BaseException:
                self._drop(pool, conn)
                raise
        try:
            deadline = request.deadline
            if conn is not None and deadline is not None and deadline <= _monotonic():
                error: TransportError = ReadTimeout(
                    f"{ep.url}: the deadline passed before the request could be sent again",
                    endpoint=ep.url,
                    sent=False,
                )
                error.sends = sends
                raise error
            conn = await self._connect(request)
        except BaseException:
            pool.open -= 1
            pool.wake()
            raise
        sends += 1
        try:
            return await self._exchange(pool, conn, request, sends)
        except _NotSent:
            self._drop(pool, conn)
            error = ConnectionReset(
                f"{ep.url} closed the connection before the request was sent",
                endpoint=ep.url,
                sent=False,
            )
            error.sends = sends
            raise error from None
        except BaseException:
            self._drop(pool, conn)
            raise

    async def _acquire(self, pool: _Pool, request: Request) -> _Conn | None:
        """An idle connection, or None with a slot taken for a new one (waits for a slot)."""
        if self._closed:
            raise ConfigurationError("this async transport was closed (aclose)")
        while True:
            while pool.idle:
                conn = pool.idle.pop()
                if not conn.is_dropped():
                    return conn
                conn.close()
                pool.open -= 1
            if pool.open < self._max_connections:
                pool.open += 1
                return None
            waiter = asyncio.get_running_loop().create_future()
            pool.waiters.append(waiter)
            left = None if request.deadline is None else request.deadline - _monotonic()
            try:
                if left is not None and left <= 0:
                    raise TimeoutError
                async with asyncio.timeout(left):
                    await waiter
            except BaseException as exc:
                if waiter in pool.waiters:
                    pool.waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    pool.wake()  # woken for a free slot but leaving: pass it on
                if not isinstance(exc, TimeoutError):
                    raise
                raise EndpointUnreachable(
                    f"{request.endpoint.url}: no connection free (all {self._max_connections} "
                    "busy) before the deadline",
                    endpoint=request.endpoint.url,
                    sent=False,
                ) from None

    def _drop(self, pool: _Pool, conn: _Conn) -> None:
        conn.close()
        pool.open -= 1
        pool.wake()

    def _release(self, pool: _Pool, conn: _Conn) -> None:
        if not self._closed and len(pool.idle) < self._max_idle:
            pool.idle.append(conn)
            pool.wake()
            return
        self._drop(pool, conn)

    async def _connect(self, request: Request) -> _Conn:
        ep = request.endpoint
        if any(name in os.environ for name in PROXY_VARIABLES):
            from dynamorm._io.proxy import proxy_for

            if proxy_for(ep) is not None:
                raise ConfigurationError(
                    f"a proxy applies to {ep.url} (HTTPS_PROXY/HTTP_PROXY), and the async "
                    "transport does not tunnel through proxies yet: set NO_PROXY for this host "
                    "or use the sync DB"
                )
        timeout = request.connect_timeout
        if request.deadline is not None:
            timeout = max(0.001, min(timeout, request.deadline - _monotonic()))
        context = None
        if ep.scheme == "https":
            context = self._ssl_context or default_ssl_context()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    ep.host,
                    ep.port,
                    ssl=context,
                    server_hostname=ep.host if context is not None else None,
                    limit=MAX_HEAD,
                )
        except TimeoutError:
            raise EndpointUnreachable(
                f"could not connect to {ep.url} within {timeout:g}s", endpoint=ep.url, sent=False
            ) from None
        except OSError as exc:
            if context is not None and "SSL" in type(exc).__name__:
                text = f"TLS handshake with {ep.url} failed: {exc}{plain_http_hint(exc, ep)}"
            else:
                text = f"could not connect to {ep.url}: {exc.strerror or type(exc).__name__}"
            raise EndpointUnreachable(text, endpoint=ep.url, sent=False) from None
        return _Conn(reader, writer)

    async def _exchange(self, pool: _Pool, conn: _Conn, request: Request, sends: int) -> Response:
        ep = request.endpoint
        url = ep.url
        deadline = request.deadline
        timeout = request.read_timeout
        if deadline is not None:
            timeout = max(0.001, min(timeout, deadline - _monotonic()))
        writer = conn.writer
        try:
            async with asyncio.timeout(timeout):
                writer.write(request_head(request) + request.body)
                await writer.drain()
        except TimeoutError:
            error: TransportError = ReadTimeout(
                f"sending to {url} timed out", endpoint=url, sent=False
            )
            error.sends = sends
            raise error from None
        except OSError:
            raise _NotSent from None
        # The request is out: from here on it may have been processed.
        reader = conn.reader
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout) as scope:

                def extend() -> None:  # each wait for bytes gets the read timeout, up to the end
                    end = loop.time() + request.read_timeout
                    if deadline is not None:
                        end = min(end, loop.time() + deadline - _monotonic())
                    scope.reschedule(end)

                try:
                    raw_head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    raise ProtocolError(f"response headers over {MAX_HEAD} bytes") from None
                except asyncio.IncompleteReadError as exc:
                    where = "in the middle of the response headers"
                    raise Truncated(where if exc.partial else "without answering") from None
                status, headers = parse_head(raw_head[:-4], url)
                extend()
                body = await _read_body(reader, headers, url, extend)
        except ProtocolError:
            raise
        except (Truncated, OSError) as exc:
            error = read_error(exc, request)
        else:
            if reusable(headers, bool(reader._buffer)):  # type: ignore[attr-defined]
                self._release(pool, conn)
            else:
                self._drop(pool, conn)  # unread bytes would be taken for the next answer
            return Response(status, headers, body, sends)
        error.sends = sends
        raise error

    async def aclose(self) -> None:
        """Close every idle connection; requests after this fail."""
        self.close()

    def close(self) -> None:
        """Close every idle connection (the sync form of :meth:`aclose`)."""
        self._closed = True
        for pool in self._pools.values():
            idle, pool.idle = pool.idle, []
            for conn in idle:
                self._drop(pool, conn)


async def _read_body(
    reader: asyncio.StreamReader, headers: dict[str, str], url: str, extend: Callable[[], None]
) -> bytes:
    framing = body_framing(headers, url)
    try:
        if framing == CHUNKED:
            chunks: list[bytes] = []
            while True:
                size = chunk_size(await reader.readline())
                extend()
                if size == 0:
                    while await reader.readline() not in (b"\r\n", b"\n", b""):
                        extend()
                    return b"".join(chunks)
                chunk = await reader.readexactly(size + 2)
                extend()
                chunks.append(chunk[:size])
        if framing == UNTIL_CLOSE:
            return await reader.read()
        return await reader.readexactly(framing)
    except asyncio.IncompleteReadError as exc:
        where = (
            "in the middle of a chunk"
            if framing == CHUNKED
            else f"after {len(exc.partial)} of {framing} body bytes"
        )
        raise Truncated(where) from None
    except (ValueError, asyncio.LimitOverrunError):  # a chunk size line over the limit
        raise Truncated("inside a chunked response") from None


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop's event loop when uvloop is importable."""
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
