"""The transport interface and the default keep-alive HTTP transport on the stdlib.

A transport is any callable ``(Request) -> Response``: tests pass a plain function. The default
:class:`HTTPTransport` speaks HTTP/1.1 on plain sockets: ``http.client`` (with the ``email`` and
``ssl`` modules it loads) costs more import time than a cold start can afford, and ``ssl`` is
loaded here only for https. It keeps idle connections per endpoint, is thread safe, applies
separate connect and read timeouts, bounds a whole exchange by the request's deadline, and
sends again on a new connection only when a kept-alive socket failed before the request was out
(never after: a write may then have been applied).
"""

from __future__ import annotations

import os
import select  # loaded by socket already
import socket
import time
from _thread import allocate_lock  # threading.Lock, without loading threading
from collections.abc import Callable

from dynamorm._core.errors import (
    ConfigurationError,
    ConnectionReset,
    EndpointUnreachable,
    ProtocolError,
    ReadTimeout,
    TransportError,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    import ssl
    from typing import Any

    from dynamorm._core.secret import Secret


class Endpoint:
    """A parsed ``http(s)://host[:port]`` endpoint."""

    __slots__ = ("address", "host", "netloc", "port", "scheme", "url")

    def __init__(self, url: str) -> None:
        scheme, sep, rest = url.partition("://")
        rest = rest.rstrip("/")
        if not sep or scheme not in ("http", "https") or not rest or "/" in rest or "@" in rest:
            raise ConfigurationError(
                f"endpoint_url must look like https://host[:port], got {url!r}"
            )
        if rest.startswith("["):
            bracket, _, port_text = rest[1:].partition("]")
            host, port_text = bracket, port_text.removeprefix(":")
        else:
            host, _, port_text = rest.partition(":")
        if not port_text:
            port = 443 if scheme == "https" else 80
        elif port_text.isdigit() and 0 < int(port_text) < 65536:
            port = int(port_text)
        else:
            raise ConfigurationError(f"endpoint_url has an invalid port: {url!r}")
        if not host:
            raise ConfigurationError(f"endpoint_url has no host: {url!r}")
        self.scheme = scheme
        self.host: str = host
        # An ASCII host goes to getaddrinfo as bytes: a str would load the idna codec (~3 ms
        # of every cold start).
        self.address: str | bytes = host.encode() if host.isascii() else host
        self.port: int = port
        self.netloc: str = rest
        self.url: str = f"{scheme}://{rest}"

    def __repr__(self) -> str:
        return f"Endpoint({self.url!r})"


class Request:
    """One HTTP request. ``read_timeout`` bounds each wait for response bytes; ``deadline`` (a
    ``time.monotonic()`` instant, or None) bounds the whole exchange, re-sends included.

    ``secret_headers`` (the session token) are sent after ``headers``; their values are
    :class:`~dynamorm._core.secret.Secret` and are revealed only by :func:`request_head`.
    """

    __slots__ = (
        "body",
        "connect_timeout",
        "deadline",
        "endpoint",
        "headers",
        "method",
        "path",
        "read_timeout",
        "secret_headers",
    )

    def __init__(
        self,
        endpoint: Endpoint,
        headers: dict[str, str],
        body: bytes,
        *,
        method: str = "POST",
        path: str = "/",
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        deadline: float | None = None,
        secret_headers: dict[str, Secret] | None = None,
    ) -> None:
        self.endpoint: Endpoint = endpoint
        self.headers: dict[str, str] = headers
        self.secret_headers: dict[str, Secret] = secret_headers or {}
        self.body: bytes = body
        self.method: str = method
        self.path: str = path
        self.connect_timeout: float = connect_timeout
        self.read_timeout: float = read_timeout
        self.deadline: float | None = deadline

    def __repr__(self) -> str:
        return f"Request({self.method} {self.endpoint.url}{self.path}, {len(self.body)} bytes)"


def request_head(request: Request) -> bytes:
    """The request line and headers as sent; the one place secret header values are revealed
    (pass the result straight on: a local holding it would show in a crash report)."""
    head = [f"{request.method} {request.path} HTTP/1.1\r\n"]
    head.extend(f"{k}: {v}\r\n" for k, v in request.headers.items())
    head.extend(f"{k}: {v.reveal()}\r\n" for k, v in request.secret_headers.items())
    head.append(f"content-length: {len(request.body)}\r\n\r\n")
    return "".join(head).encode()


class Response:
    """One HTTP response; header names are lower case. ``sends`` counts the times the request
    was sent to get it (more than 1 only when an earlier send certainly never arrived)."""

    __slots__ = ("body", "headers", "sends", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes, sends: int = 1) -> None:
        self.status: int = status
        self.headers: dict[str, str] = headers
        self.body: bytes = body
        self.sends: int = sends

    def __repr__(self) -> str:
        return f"Response(status={self.status}, {len(self.body)} bytes)"


Transport = Callable[[Request], Response]

_ssl_context: ssl.SSLContext | None = None
MAX_HEAD = 64 * 1024
_monotonic = time.monotonic


def default_ssl_context() -> ssl.SSLContext:
    global _ssl_context  # noqa: PLW0603 - one verified context per process, built on first https
    if _ssl_context is None:
        import ssl

        bundle = os.environ.get("AWS_CA_BUNDLE") or None  # a corporate CA, PEM
        try:
            _ssl_context = ssl.create_default_context(cafile=bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"AWS_CA_BUNDLE={bundle} cannot be used: {exc}") from None
    return _ssl_context


class _NotSent(Exception):
    """Writing the request failed before all of it was out: it cannot have been processed."""


class _Reader:
    """Buffered reads from a socket, each wait bounded by the read timeout and all of them by
    the exchange's end (so a peer trickling bytes cannot outlast a deadline)."""

    __slots__ = ("buf", "end", "slice", "sock", "timeout")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.end: float | None = None
        self.slice = 10.0
        self.timeout: float | None = sock.gettimeout()  # the socket's, as last set

    def settimeout(self, timeout: float) -> None:
        """Set the socket's timeout, skipping the system call when it is already that."""
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout

    def _fill(self) -> bool:
        timeout = self.slice
        if self.end is not None:
            left = self.end - _monotonic()
            if left <= 0:
                raise TimeoutError
            timeout = min(timeout, left)
        self.settimeout(timeout)
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def read_head(self) -> bytes:
        """The response line and headers (without the blank line); b"" on EOF before any
        byte; raises ``ProtocolError`` past ``MAX_HEAD`` bytes."""
        buf = self.buf
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(buf[:end])
                del buf[: end + 4]
                return head
            if len(buf) > MAX_HEAD:
                raise ProtocolError(f"response headers over {MAX_HEAD} bytes")
            if not self._fill():
                if buf:
                    raise Truncated("in the middle of the response headers")
                return b""

    def readline(self, limit: int) -> bytes:
        buf = self.buf
        while True:
            end = buf.find(b"\n", 0, limit)
            if end >= 0 or len(buf) >= limit:
                size = end + 1 if end >= 0 else limit
                line = bytes(buf[:size])
                del buf[:size]
                return line
            if not self._fill():
                line = bytes(buf)
                buf.clear()
                return line

    def read(self, size: int) -> bytes:
        buf = self.buf
        while len(buf) < size and self._fill():
            pass
        data = bytes(buf[:size])
        del buf[:size]
        return data

    def read_all(self) -> bytes:
        while self._fill():
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data


class Truncated(Exception):
    """The peer closed the connection in the middle of ``what``."""


def _open_socket(ep: Endpoint, timeout: float) -> socket.socket:
    """A TCP connection to ``ep``, through a CONNECT tunnel when a proxy variable applies (the
    proxy module is imported only then)."""
    if any(name in os.environ for name in PROXY_VARIABLES):
        from dynamorm._io.proxy import open_tunnel, proxy_for

        proxy = proxy_for(ep)
        if proxy is not None:
            return open_tunnel(proxy, ep, timeout)
    return socket.create_connection(
        (ep.address, ep.port),  # type: ignore[arg-type]  # getaddrinfo takes bytes too
        timeout=timeout,
    )


PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
_poll = getattr(select, "poll", None)  # not on Windows


class _Connection:
    """One HTTP/1.1 connection: a socket and its buffered reader."""

    __slots__ = ("reader", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = _Reader(sock)

    def is_dropped(self) -> bool:
        """True if the peer closed this idle connection (or sent something unexpected)."""
        sock = self.sock
        plain = type(sock) is socket.socket
        if plain and _poll is not None:
            # Readable (or hung up) while idle means the close or stray bytes: either ends it.
            # One poll; the socket's timeout stays as it is (no system calls to change it).
            poller = _poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        self.reader.settimeout(0.0)
        if plain:
            try:
                sock.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                return False
            except OSError:
                return True
            return True
        import ssl  # already loaded: this is a TLS connection

        try:
            # TLS cannot peek; an idle connection has no application data, so a read either
            # finds nothing (or only a session ticket) or the close / stray bytes that end it.
            sock.recv(1)
        except (BlockingIOError, ssl.SSLWantReadError):
            return False
        except OSError:
            return True
        return True

    def close(self) -> None:
        self.sock.close()


def parse_head(head: bytes, url: str) -> tuple[int, dict[str, str]]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"{url} answered with something that is not HTTP: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(parts[1]), headers


CHUNKED = -2
"""``body_framing``: the body comes in chunks."""
UNTIL_CLOSE = -1
"""``body_framing``: the body runs until the peer closes the connection."""


def body_framing(headers: dict[str, str], url: str) -> int:
    """How the body of a response with ``headers`` ends: its length, :data:`CHUNKED` or
    :data:`UNTIL_CLOSE`; raises ``ProtocolError`` for an invalid Content-Length."""
    if headers.get("transfer-encoding", "").lower().endswith("chunked"):
        return CHUNKED
    length = headers.get("content-length")
    if length is None:
        return UNTIL_CLOSE
    if not length.isdigit():
        raise ProtocolError(f"{url} sent an invalid Content-Length {length!r}")
    return int(length)


def chunk_size(line: bytes) -> int:
    """The size in a chunked body's size line (extensions ignored)."""
    try:
        return int(line.split(b";", 1)[0], 16)
    except ValueError:
        raise Truncated("inside a chunked response") from None


def reusable(headers: dict[str, str], leftover: bool) -> bool:
    """True if a connection may carry another request after this answer: nothing is left
    unread (it would be taken for the next answer), the body had a length or chunks, and the
    server did not ask to close."""
    return (
        not leftover
        and headers.get("connection", "").lower() != "close"
        and ("content-length" in headers or "transfer-encoding" in headers)
    )


def read_error(exc: Exception, request: Request) -> TransportError:
    """The error for a failure (``Truncated`` or ``OSError``) while reading the answer, once
    the request was out."""
    url = request.endpoint.url
    if isinstance(exc, Truncated):
        return ConnectionReset(f"connection to {url} closed {exc}", endpoint=url)
    if isinstance(exc, TimeoutError):
        return ReadTimeout(
            f"{url} did not answer within {request.read_timeout:g}s"
            + ("" if request.deadline is None else " or before the deadline"),
            endpoint=url,
        )
    if isinstance(exc, ConnectionResetError):
        return ConnectionReset(
            f"connection to {url} was reset while reading the response", endpoint=url
        )
    return TransportError(f"reading from {url} failed: {type(exc).__name__}", endpoint=url)


def _read_body(reader: _Reader, headers: dict[str, str], url: str) -> bytes:
    framing = body_framing(headers, url)
    if framing == CHUNKED:
        chunks: list[bytes] = []
        while True:
            size = chunk_size(reader.readline(1024))
            if size == 0:
                while reader.readline(MAX_HEAD) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunk = reader.read(size + 2)
            if len(chunk) != size + 2:
                raise Truncated("in the middle of a chunk")
            chunks.append(chunk[:size])
    if framing == UNTIL_CLOSE:
        return reader.read_all()
    body = reader.read(framing)
    if len(body) != framing:
        raise Truncated(f"after {len(body)} of {framing} body bytes")
    return body


def plain_http_hint(exc: OSError, ep: Endpoint) -> str:
    """A hint when the server answered TLS with plain HTTP (e.g. a local engine)."""
    reason = str(getattr(exc, "reason", "") or exc).upper()
    if "WRONG_VERSION_NUMBER" in reason or "RECORD_LAYER_FAILURE" in reason:
        return (
            f"; the server does not speak TLS: if it is a plain-http endpoint (DynamoDB Local, "
            f"moto), use http://{ep.netloc}"
        )
    return ""


class HTTPTransport:
    """Keep-alive HTTP/1.1 transport on plain sockets; safe to share between threads.

    ``ssl`` is imported only for https endpoints, and certificates are always verified.
    """

    def __init__(self, *, max_idle_per_endpoint: int = 16, ssl_context: Any = None) -> None:
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._lock = allocate_lock()
        self._max_idle = max_idle_per_endpoint
        self._ssl_context = ssl_context

    def __call__(self, request: Request) -> Response:
        """Send ``request`` and read the answer. A request is sent again (on a new connection)
        only when writing it failed before all of it was out; once it is out, any failure is
        raised (a write may have been applied). Both sends count against ``request.deadline``."""
        sends = 0
        conn = self._idle_connection(request.endpoint)
        if conn is not None:
            sends = 1
            try:
                return self._exchange(conn, request, sends)
            except _NotSent:
                conn.close()
            except BaseException:
                conn.close()
                raise
            _check_deadline(request, sends)
        conn = self._connect(request)
        sends += 1
        try:
            return self._exchange(conn, request, sends)
        except _NotSent:
            conn.close()
            error = ConnectionReset(
                f"{request.endpoint.url} closed the connection before the request was sent",
                endpoint=request.endpoint.url,
                sent=False,
            )
            error.sends = sends
            raise error from None
        except BaseException:
            conn.close()
            raise

    def _idle_connection(self, ep: Endpoint) -> _Connection | None:
        while True:
            with self._lock:
                idle = self._idle.get((ep.scheme, ep.host, ep.port))
                conn = idle.pop() if idle else None
            if conn is None or not conn.is_dropped():
                return conn
            conn.close()

    def _connect(self, request: Request) -> _Connection:
        ep = request.endpoint
        timeout = request.connect_timeout
        if request.deadline is not None:
            timeout = max(0.001, min(timeout, request.deadline - _monotonic()))
        try:
            sock = _open_socket(ep, timeout)
        except TimeoutError:
            raise EndpointUnreachable(
                f"could not connect to {ep.url} within {timeout:g}s", endpoint=ep.url, sent=False
            ) from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise EndpointUnreachable(
                f"could not connect to {ep.url}: {reason}", endpoint=ep.url, sent=False
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ep.scheme == "https":
            context = self._ssl_context or default_ssl_context()
            try:
                sock = context.wrap_socket(sock, server_hostname=ep.host)
            except OSError as exc:
                sock.close()
                raise EndpointUnreachable(
                    f"TLS handshake with {ep.url} failed: {exc}{plain_http_hint(exc, ep)}",
                    endpoint=ep.url,
                    sent=False,
                ) from None
        return _Connection(sock)

    def _exchange(self, conn: _Connection, request: Request, sends: int) -> Response:
        ep = request.endpoint
        url = ep.url
        reader = conn.reader
        reader.slice = request.read_timeout
        reader.end = request.deadline
        timeout = request.read_timeout
        if request.deadline is not None:
            timeout = max(0.001, min(timeout, request.deadline - _monotonic()))
        reader.settimeout(timeout)
        try:
            conn.sock.sendall(request_head(request) + request.body)
        except TimeoutError:
            error: TransportError = ReadTimeout(
                f"sending to {url} timed out", endpoint=url, sent=False
            )
            error.sends = sends
            raise error from None
        except OSError:
            raise _NotSent from None
        # The request is out: from here on it may have been processed.
        try:
            raw_head = reader.read_head()
            if not raw_head:
                raise Truncated("without answering")
            status, headers = parse_head(raw_head, url)
            body = _read_body(reader, headers, url)
        except ProtocolError:
            raise
        except (Truncated, OSError) as exc:
            error = read_error(exc, request)
        else:
            if reusable(headers, bool(reader.buf)):
                self._release(ep, conn)
            else:
                conn.close()  # unread bytes would be taken for the next answer
            return Response(status, headers, body, sends)
        error.sends = sends
        raise error

    def _release(self, ep: Endpoint, conn: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault((ep.scheme, ep.host, ep.port), [])
            if len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def warm(self, endpoint: Endpoint, *, connect_timeout: float = 3.0) -> None:
        """Open one connection to ``endpoint`` now (TCP and TLS) and keep it idle for reuse."""
        request = Request(endpoint, {}, b"", connect_timeout=connect_timeout)
        self._release(endpoint, self._connect(request))

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()


def _check_deadline(request: Request, sends: int) -> None:
    """Refuse to send again once the request's deadline has passed."""
    if request.deadline is not None and _monotonic() >= request.deadline:
        error = ReadTimeout(
            f"{request.endpoint.url}: the deadline passed before the request could be sent again",
            endpoint=request.endpoint.url,
            sent=False,
        )
        error.sends = sends
        raise error
