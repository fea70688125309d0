"""An "instant" DynamoDB stand-in: answers every POST with the same GetItem response.

Run as ``python -m benchmarks._server``: it listens on a free port on 127.0.0.1, prints the port
on its first stdout line and serves until its stdin closes (so it never outlives the benchmark).
It runs in its own process so that its CPU time is not counted in the client's. Each connection
gets a thread with a tiny HTTP/1.1 parser; the response bytes are built once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent

_CONTENT_LENGTH = re.compile(rb"(?im)^content-length[ \t]*:[ \t]*(\d+)[ \t]*\r?$")


def item() -> dict[str, object]:
    """The ~1 KB DynamoDB item every GetItem returns (key ``pk`` = ``"k"``)."""
    return {
        "pk": {"S": "k"},
        "sk": {"S": "order#2024-05-01T12:00:00Z"},
        "merchant": {"S": "merchant-0042"},
        "amount": {"N": "125000"},
        "currency": {"S": "EUR"},
        "status": {"S": "captured"},
        "attempts": {"N": "3"},
        "version": {"N": "17"},
        "paid": {"BOOL": True},
        "refunded_at": {"NULL": True},
        "description": {"S": "x" * 300},
        "tags": {"SS": ["card", "eu", "recurring", "vip"]},
        "scores": {"NS": ["1", "2.5", "-3", "1000000"]},
        "card": {
            "M": {
                "brand": {"S": "visa"},
                "last4": {"S": "4242"},
                "exp_month": {"N": "12"},
                "exp_year": {"N": "2031"},
                "holder": {"S": "A. N. Example"},
            }
        },
        "lines": {
            "L": [{"M": {"sku": {"S": f"sku-{i:04d}"}, "qty": {"N": str(i + 1)}}} for i in range(8)]
        },
        "blob": {"B": "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQ="},
    }


def response_body() -> bytes:
    """The JSON body of the fixed GetItem response."""
    return json.dumps({"Item": item()}, separators=(",", ":")).encode()


def response_bytes() -> bytes:
    """The whole fixed HTTP response: status line, headers (with ``x-amz-crc32``) and body."""
    body = response_body()
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Server: instant\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-amz-crc32: {zlib.crc32(body)}\r\n"
        "x-amzn-RequestId: BENCHMARKREQUESTID0000000000000000000000000000000\r\n"
        "Connection: keep-alive\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def _serve(conn: socket.socket, answer: Callable[[bytes, bytes], bytes]) -> None:
    """Read HTTP/1.1 requests off ``conn`` and send ``answer(head, body)`` for each."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    with conn:
        try:
            while True:
                end = buf.find(b"\r\n\r\n")
                while end < 0:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                    end = buf.find(b"\r\n\r\n")
                match = _CONTENT_LENGTH.search(buf, 0, end + 2)
                total = end + 4 + (int(match.group(1)) if match else 0)
                while len(buf) < total:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, body, buf = buf[: end + 2], buf[end + 4 : total], buf[total:]
                conn.sendall(answer(head, body))
        except OSError:
            return


def _exit_when_stdin_closes() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


def serve_forever(answer: Callable[[bytes, bytes], bytes]) -> None:
    """Serve ``answer(head, body)`` on a free 127.0.0.1 port until stdin closes; print the
    port first. The one server loop of every canned-answer server."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(listener.getsockname()[1], flush=True)
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve, args=(conn, answer), daemon=True).start()


def main() -> None:
    """Serve the canned GetItem answer until stdin closes; print the port first."""
    response = response_bytes()
    serve_forever(lambda head, body: response)


class InstantServer:
    """Starts a canned-answer server (``module``'s ``main``) in a child process; a context
    manager that stops it."""

    def __init__(
        self,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        *,
        module: str = "benchmarks._server",
    ) -> None:
        if env is None:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [python, "-m", module],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"{module} did not start (printed {line!r})")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server process and wait for it."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> InstantServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":
    main()
