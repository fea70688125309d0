"""Deadline views against a real local DynamoDB behind a slow proxy: requests, pages and
batches stop in time, and what may have been written is reported as such."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterable, Iterator

import pytest

from dynamorm import DB, BatchDeadlineExceeded, DeadlineExceeded
from dynamorm._orm.meta import Attr
from dynamorm._orm.model import Model, field
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB

pytestmark = pytest.mark.integration


class SlowProxy:
    """A TCP proxy on 127.0.0.1 that forwards requests at once and each response ``delay``
    late, so writes reach the server while their answers arrive after the client gave up."""

    def __init__(self, upstream_port: int, delay: float) -> None:
        self.delay = delay
        self.upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            asked = threading.Event()  # a request went up since the last answer came down
            threading.Thread(target=self._up, args=(client, upstream, asked), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, asked), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket, asked: threading.Event) -> None:
        with client, upstream, contextlib.suppress(OSError):
            while data := client.recv(65536):
                asked.set()
                upstream.sendall(data)

    def _down(self, upstream: socket.socket, client: socket.socket, asked: threading.Event) -> None:
        with client, upstream, contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if asked.is_set():
                    asked.clear()
                    if self._stop.wait(self.delay):
                        return
                client.sendall(data)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


class Entry(Model, table="entries"):
    account: Attr[str] = field(pk=True)
    n: Attr[int] = field(sk=True)
    amount: Attr[int] = field(default=0)


@pytest.fixture
def slow_db(dynamodb_local: LocalDynamoDB, db: DB, table_prefix: str) -> Iterator[DB]:
    """A DB on the same local engine and tables as ``db``, through a proxy answering 0.4 s late."""
    db.create_table(Entry)
    proxy = SlowProxy(int(dynamodb_local.endpoint.rsplit(":", 1)[1]), delay=0.4)
    slow = DB(
        region=dynamodb_local.region,
        endpoint_url=proxy.url,
        credentials=LOCAL_CREDENTIALS,
        table_prefix=table_prefix,
    )
    yield slow
    slow.close()
    proxy.close()


def write_all(db: DB, entries: list[Entry]) -> None:
    with db.batch_write() as writer:
        for entry in entries:
            writer.put(entry)


def read_all(query: Iterable[Entry], into: list[int]) -> None:
    into.extend(entry.n for entry in query)


# The deadline is when the last socket timeout fires; raising and unwinding take a little more,
# which is what the Lambda buffer is for. SLACK bounds that, it is no performance figure.
SLACK = 0.15


def test_batch_stopped_by_the_deadline_reports_what_was_not_written(db: DB, slow_db: DB) -> None:
    entries = [Entry(account="a1", n=i, amount=i) for i in range(75)]
    view = slow_db.with_deadline(1.0)
    started = time.monotonic()
    with pytest.raises(BatchDeadlineExceeded) as info:
        write_all(view, entries)
    assert time.monotonic() - started < 1.0 + SLACK
    error = info.value
    assert isinstance(error, DeadlineExceeded)
    assert error.unprocessed
    reported = {request.key["n"] for request in error.unprocessed}
    assert error.written + len(reported) <= 75
    stored = {e.n for e in db.query(Entry).where(Entry.account == "a1")}
    # Every request not reported as unprocessed was written...
    assert set(range(error.written)) <= stored
    assert len(stored - reported) == error.written
    # ...and what was written although reported unprocessed is flagged as uncertain.
    if stored & reported:
        assert "may or may not have been applied" in str(error)


def test_pages_stop_at_the_deadline_with_a_cursor(db: DB, slow_db: DB) -> None:
    write_all(db, [Entry(account="a2", n=i) for i in range(30)])
    view = slow_db.with_deadline(1.0)
    query = view.query(Entry).where(Entry.account == "a2").page_size(5)
    seen: list[int] = []
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as info:
        read_all(query, seen)
    assert time.monotonic() - started < 1.0 + SLACK
    assert 0 < len(seen) < 30
    assert seen == list(range(len(seen)))
    assert info.value.cursor is not None
    rest = db.query(Entry).where(Entry.account == "a2").page(cursor=info.value.cursor)
    assert [e.n for e in rest.items][:1] == [len(seen)]


def test_slow_proxy_delays_answers() -> None:
    server = socket.create_server(("127.0.0.1", 0))

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(conn.recv(100))

    threading.Thread(target=echo, daemon=True).start()
    proxy = SlowProxy(server.getsockname()[1], delay=0.3)
    try:
        with socket.create_connection(("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]))) as conn:
            started = time.monotonic()
            conn.sendall(b"ping")
            assert conn.recv(100) == b"ping"
            assert time.monotonic() - started >= 0.3
    finally:
        proxy.close()
        server.close()
