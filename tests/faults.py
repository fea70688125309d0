"""Fault injection for transport, client and exactly-once tests.

:class:`FaultServer` is a scriptable HTTP server on 127.0.0.1: each accepted request is
answered by the next action in the script; the last one repeats. :class:`FaultProxy` stands in
front of a real DynamoDB (DynamoDB Local) and injects one of :data:`FAULTS` into chosen requests.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Action = Callable[[socket.socket, bytes], bool]
"""Handle one request on a connection; return False to close the connection afterwards."""


def http_response(
    status: int,
    body: bytes,
    *,
    crc: int | None = None,
    extra: str = "",
    length: int | None = None,
) -> bytes:
    crc_value = zlib.crc32(body) if crc is None else crc
    head = (
        f"HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.0\r\n"
        f"x-amzn-requestid: REQ1\r\nx-amz-crc32: {crc_value}\r\n"
        f"content-length: {len(body) if length is None else length}\r\n{extra}\r\n"
    )
    return head.encode() + body


def reply(status: int, payload: object, **kw: object) -> Action:
    body = json.dumps(payload).encode()

    def act(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(http_response(status, body, **kw))  # type: ignore[arg-type]
        return True

    return act


def raw(data: bytes, *, keep: bool = False) -> Action:
    def act(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(data)
        return keep

    return act


def hang(seconds: float) -> Action:
    def act(conn: socket.socket, request: bytes) -> bool:
        time.sleep(seconds)
        return False

    return act


def close_now() -> Action:
    def act(conn: socket.socket, request: bytes) -> bool:
        return False

    return act


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


class FaultServer:
    """Serves scripted actions; records each request and how many connections were opened."""

    def __init__(self, script: list[Action]) -> None:
        self.script = list(script)
        self.requests: list[bytes] = []
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = False
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _next(self) -> Action:
        with self._lock:
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _serve_conn(self, conn: socket.socket) -> None:
        with conn:
            while not self._stop:
                try:
                    request = _read_request(conn)
                except OSError:
                    return
                if request is None:
                    return
                self.requests.append(request)
                if not self._next()(conn, request):
                    return

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve_conn, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def start(self) -> FaultServer:
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop = True
        self._sock.close()


@contextmanager
def fault_server(*script: Action) -> Iterator[FaultServer]:
    server = FaultServer(list(script)).start()
    try:
        yield server
    finally:
        server.stop()


# --- a fault-injecting proxy in front of a real DynamoDB (DynamoDB Local) ------------------

FAULTS = (
    "reset_before",  # the connection is reset before the request is forwarded: not applied
    "lose",  # forwarded and applied, then the connection closes without an answer
    "reset_after",  # forwarded and applied, then the connection is reset
    "timeout",  # forwarded and applied, then no answer until the client gives up
    "truncate",  # forwarded and applied, then half the answer and a close
    "trickle",  # forwarded and applied, the answer sent one byte at a time
    "5xx_before",  # HTTP 500 InternalServerError without forwarding: not applied
    "5xx_after",  # forwarded and applied, then HTTP 500
    "throttle",  # HTTP 400 ProvisionedThroughputExceededException without forwarding
    "garble",  # forwarded and applied, then HTTP 200 with a body that is not JSON
    "empty",  # forwarded and applied, then HTTP 200 with an empty body
    "bad_crc",  # forwarded and applied, then the real answer with a wrong x-amz-crc32
    "unprocessed",  # BatchWriteItem only: not forwarded, every item comes back unprocessed
)
APPLIED = frozenset(FAULTS) - {"reset_before", "5xx_before", "throttle", "unprocessed"}


def _operation(request: bytes) -> str:
    for line in request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"x-amz-target":
            return value.strip().decode().rpartition(".")[2]
    return ""


def _read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """(head without the blank line, body) of one HTTP response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("upstream closed")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("upstream closed")
        body += chunk
    return head, body


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` (host, port) that injects a fault
    into the next requests of an operation (:meth:`arm`); every other request passes through.

    ``applied`` counts the requests forwarded per operation; ``trickle_delay`` is the pause
    between bytes of a trickled answer; ``hold`` how long a ``timeout`` fault keeps quiet.
    ``connections`` counts the client connections accepted, ``peak_open`` the most open at once
    since the last :meth:`disarm`, ``injected`` the faults injected per operation.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.trickle_delay = 0.001
        self.hold = 5.0
        self.applied: dict[str, int] = {}
        self.connections = self.peak_open = self._open = 0
        self.injected: dict[str, int] = {}
        self._armed: list[list[Any]] = []  # [operation, fault, times left]
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, operation: str, fault: str, times: int = 1) -> None:
        """Inject ``fault`` into the next ``times`` requests of ``operation`` (-1: all)."""
        assert fault in FAULTS, fault
        with self._lock:
            self._armed.append([operation, fault, times])

    def disarm(self) -> None:
        with self._lock:
            self._armed.clear()
            self.applied.clear()
            self.injected.clear()
            self.peak_open = self._open

    def _fault_for(self, operation: str) -> str | None:
        with self._lock:
            for entry in self._armed:
                if entry[0] == operation and entry[2] != 0:
                    entry[2] -= 1
                    self.injected[operation] = self.injected.get(operation, 0) + 1
                    return str(entry[1])
        return None

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open += 1
                self.peak_open = max(self.peak_open, self._open)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _forward(self, operation: str, request: bytes) -> tuple[bytes, bytes]:
        with socket.create_connection(self.upstream) as up:
            up.sendall(request)
            answer = _read_response(up)
        with self._lock:
            self.applied[operation] = self.applied.get(operation, 0) + 1
        return answer

    def _serve(self, conn: socket.socket) -> None:
        try:
            with contextlib.suppress(OSError), conn:
                while not self._stop.is_set():
                    request = _read_request(conn)
                    if request is None:
                        return
                    operation = _operation(request)
                    fault = self._fault_for(operation)
                    if not self._handle(conn, operation, fault, request):
                        return
        finally:
            with self._lock:
                self._open -= 1

    def _handle(
        self, conn: socket.socket, operation: str, fault: str | None, request: bytes
    ) -> bool:
        """Answer one request; False when the connection was closed."""
        if fault == "reset_before":
            _reset(conn)
            return False
        if fault == "5xx_before":
            conn.sendall(_error(500, "InternalServerError"))
            return True
        if fault == "throttle":
            conn.sendall(_error(400, "ProvisionedThroughputExceededException"))
            return True
        if fault == "unprocessed":
            items = json.loads(request.split(b"\r\n\r\n", 1)[1])["RequestItems"]
            conn.sendall(http_response(200, json.dumps({"UnprocessedItems": items}).encode()))
            return True
        head, body = self._forward(operation, request)
        if fault is None:
            conn.sendall(head + b"\r\n\r\n" + body)
            return True
        if fault == "lose":
            return False
        if fault == "reset_after":
            _reset(conn)
            return False
        if fault == "timeout":
            conn.settimeout(self.hold)
            with contextlib.suppress(OSError):
                conn.recv(1)  # until the client gives up and closes
            return False
        if fault == "truncate":
            conn.sendall(head + b"\r\n\r\n" + body[: len(body) // 2])
            return False
        if fault == "trickle":
            for byte in head + b"\r\n\r\n" + body:
                conn.sendall(bytes([byte]))
                time.sleep(self.trickle_delay)
            return True
        if fault == "5xx_after":
            conn.sendall(_error(500, "InternalServerError"))
            return True
        if fault == "garble":
            conn.sendall(http_response(200, b"<html>gateway garbled</html>"))
            return True
        if fault == "empty":
            conn.sendall(http_response(200, b""))
            return True
        assert fault == "bad_crc", fault
        conn.sendall(http_response(200, body, crc=(zlib.crc32(body) + 1) % 2**32))
        return True

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


def _error(status: int, type_name: str) -> bytes:
    payload = {"__type": f"com.amazonaws.dynamodb.v20120810#{type_name}", "message": "injected"}
    return http_response(status, json.dumps(payload).encode())
