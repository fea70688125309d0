"""A scriptable HTTP server on 127.0.0.1 for transport and client fault tests.

Each accepted request is answered by the next action in the script; the last one repeats.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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
