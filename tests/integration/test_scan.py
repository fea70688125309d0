"""Scans against DynamoDB Local: filters, limits, indexes and parallel segments."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest

from dynamorm import DB, HTTPTransport, Request, Response, TableNotFound
from dynamorm._core.errors import InvalidCursor
from dynamorm._orm.model import GSI, Attr, Model, field
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB

pytestmark = [pytest.mark.integration, pytest.mark.sync_and_async]

TOTAL = 300


class Order(Model, table="orders"):
    shop: Attr[str] = field(pk=True)
    order_id: Attr[int] = field(sk=True)
    total: Attr[int] = field(default=0)
    state: Attr[str] = field(default="open", index=GSI("by-state", pk=True))


def order(n: int) -> Order:
    return Order(shop=f"s{n % 7}", order_id=n, total=n, state="paid" if n % 10 == 0 else "open")


@pytest.fixture
def odb(db: DB) -> DB:
    db.create_table(Order)
    items = [order(n) for n in range(TOTAL)]
    for start in range(0, TOTAL, 25):
        pending: dict[str, Any] = {
            db.table_name("orders"): [
                {"PutRequest": {"Item": o.to_item()}} for o in items[start : start + 25]
            ]
        }
        while pending:
            out = db.client.call("BatchWriteItem", {"RequestItems": pending})
            pending = out.get("UnprocessedItems") or {}
    return db


class Recording:
    """A transport wrapper noting the Scan segment of each request (thread safe)."""

    def __init__(self) -> None:
        self.http = HTTPTransport()
        self.segments: Counter[int | None] = Counter()
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        payload = json.loads(request.body)
        with self.lock:
            self.segments[payload.get("Segment")] += 1
            self.threads.add(threading.current_thread().name)
        return self.http(request)


def recording_db(server: LocalDynamoDB, prefix: str, recording: Recording) -> DB:
    return DB(
        region=server.region,
        endpoint_url=server.endpoint,
        credentials=LOCAL_CREDENTIALS,
        table_prefix=prefix,
        transport=recording,
    )


@pytest.mark.sync_only  # segments on worker threads; AsyncDB runs them as tasks
def test_parallel_scan_union_is_the_whole_table_without_duplicates(
    odb: DB, dynamodb_local: LocalDynamoDB, table_prefix: str
) -> None:
    recording = Recording()
    db = recording_db(dynamodb_local, table_prefix, recording)
    got = [o.order_id for o in db.scan(Order, segments=4).page_size(20)]
    assert len(got) == TOTAL
    assert sorted(got) == list(range(TOTAL))
    assert set(recording.segments) == {0, 1, 2, 3}
    assert sum(recording.segments.values()) >= TOTAL // 20
    assert len(recording.threads) > 1
    sequential = [o.order_id for o in odb.scan(Order).page_size(50)]
    assert sorted(sequential) == list(range(TOTAL))


def test_parallel_scan_pages_and_cursor_round_trip(odb: DB) -> None:
    q = odb.scan(Order, segments=3)
    seen: list[int] = []
    cursor = None
    while True:
        page = q.page(cursor=cursor, limit=40)
        seen += [o.order_id for o in page]
        assert page.consumed.read > 0
        cursor = page.cursor
        if cursor is None:
            break
    assert sorted(seen) == list(range(TOTAL))
    with pytest.raises(InvalidCursor, match="belongs to another query"):
        odb.scan(Order, segments=4).page(cursor=q.page(limit=5).cursor)


def test_parallel_scan_with_limit_resumes_where_it_stopped(odb: DB) -> None:
    q = odb.scan(Order, segments=4).page_size(15).limit(50)
    pages = list(q.pages())
    first = [o.order_id for page in pages for o in page]
    assert len(first) == 50
    rest = [
        o.order_id for page in odb.scan(Order, segments=4).pages(pages[-1].cursor) for o in page
    ]
    assert sorted(first + rest) == list(range(TOTAL))


def test_scan_filter_limit_count_and_index(odb: DB) -> None:
    paid = odb.scan(Order).filter(Order.state == "paid")
    assert sorted(o.order_id for o in paid) == list(range(0, TOTAL, 10))
    assert paid.count() == TOTAL // 10
    assert odb.scan(Order, segments=3).filter(Order.total >= 100).count() == TOTAL - 100
    assert len(odb.scan(Order).limit(33).page_size(10).all()) == 33
    assert odb.scan(Order).index("by-state").page_size(25).count() == TOTAL
    first = odb.scan(Order).filter(Order.total == 123).first()
    assert first is not None
    assert first.order_id == 123
    projected = odb.scan(Order).project(Order.total).limit(5).all()
    assert all("state" not in o.__dict__ and o.total == o.order_id for o in projected)


def test_worker_errors_reach_the_caller(odb: DB) -> None:
    odb.delete_table(Order)
    with pytest.raises(TableNotFound):
        odb.scan(Order, segments=4).all()
