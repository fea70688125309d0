"""Queries against DynamoDB Local: table, GSI and LSI, filters, pages, cursors, counts."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dynamorm import DB, HTTPTransport, Request, RequestEvent, Response
from dynamorm._core.errors import InvalidCursor, MultipleResults, NotFound, ValidationError
from dynamorm._orm import fast_decode
from dynamorm._orm.model import GSI, LSI, Attr, Model, field
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB

pytestmark = [pytest.mark.integration, pytest.mark.sync_and_async]


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0, index=LSI("by-amount"))
    status: Attr[str] = field(default="pending", index=GSI("by-status", pk=True))
    settled_at: Attr[str | None] = field(default=None, index=GSI("by-status", sk=True))
    customer: Attr[str | None] = field(
        default=None, index=GSI("by-customer", pk=True, projection="KEYS_ONLY")
    )
    note: Attr[str] = field(default="")


class Refund(Model, table="refunds"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)


def payment(merchant: str, n: int) -> Payment:
    return Payment(
        merchant_id=merchant,
        payment_id=f"p{n:03}",
        amount=n * 10,
        status="settled" if n % 4 == 0 else "pending",
        settled_at=f"2024-01-{n:03}",
        customer=f"c{n % 3}",
        note="big" if n == 37 else "",
    )


def store(db: DB, items: list[Any]) -> None:
    """Write items with BatchWriteItem (raw client: this file tests reads)."""
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": i.to_item()}} for i in items[start : start + 25]]
        pending: dict[str, Any] = {db.table_name(items[0].__table__): requests}
        while pending:
            out = db.client.call("BatchWriteItem", {"RequestItems": pending})
            pending = out.get("UnprocessedItems") or {}


@pytest.fixture
def pdb(db: DB) -> DB:
    db.create_table(Payment)
    store(db, [payment("m1", n) for n in range(40)] + [payment("m2", n) for n in range(10)])
    return db


def ids(items: Any) -> list[str]:
    return [p.payment_id for p in items]


M1 = Payment.merchant_id == "m1"


def test_query_on_the_table(pdb: DB) -> None:
    q = pdb.query(Payment).where(M1 & Payment.payment_id.between("p010", "p013"))
    got = q.all()
    assert ids(got) == ["p010", "p011", "p012", "p013"]
    assert got[0] == payment("m1", 10)
    assert ids(q.reverse()) == ["p013", "p012", "p011", "p010"]
    assert len(pdb.query(Payment).where(Payment.merchant_id == "m2").all()) == 10


def test_query_on_an_lsi_is_inferred_and_ordered_by_its_sort_key(pdb: DB) -> None:
    q = pdb.query(Payment).where(M1 & (Payment.amount >= 370))
    assert ids(q) == ["p037", "p038", "p039"]
    assert ids(q.reverse().limit(2)) == ["p039", "p038"]
    assert ids(q.consistent()) == ["p037", "p038", "p039"]


def test_query_on_a_gsi_is_inferred(pdb: DB) -> None:
    q = pdb.query(Payment).where(
        (Payment.status == "settled") & Payment.settled_at.begins_with("2024-01-03")
    )
    got = q.all()
    assert sorted((p.merchant_id, p.payment_id) for p in got) == [
        ("m1", "p032"),
        ("m1", "p036"),
    ]
    assert pdb.query(Payment).where(Payment.status == "settled").count() == 10 + 3
    with pytest.raises(ValidationError, match="not possible on GSI 'by-status'"):
        q.consistent().all()


def test_keys_only_index_gives_partial_instances(pdb: DB) -> None:
    got = pdb.query(Payment).where(Payment.customer == "c1").filter(M1).all()
    assert len(got) == 13
    assert {(p.merchant_id, p.customer) for p in got} == {("m1", "c1")}
    with pytest.raises(AttributeError, match=r"Payment\.amount is not set"):
        _ = got[0].amount


def test_impossible_and_ambiguous_queries_never_scan(pdb: DB) -> None:
    with pytest.raises(ValidationError, match="no key of Payment matches"):
        pdb.query(Payment).where(Payment.note == "big").all()
    with pytest.raises(ValidationError, match=r"move that condition to \.filter\(\)"):
        pdb.query(Payment).where(M1 & (Payment.note == "big")).all()


def test_filter_and_projection(pdb: DB) -> None:
    q = pdb.query(Payment).where(M1).filter((Payment.note == "big") | (Payment.amount < 20))
    assert ids(q) == ["p000", "p001", "p037"]
    (p,) = pdb.query(Payment).where(M1).filter(Payment.note == "big").project(Payment.amount)
    assert (p.merchant_id, p.payment_id, p.amount) == ("m1", "p037", 370)
    assert "note" not in p.__dict__
    with pytest.raises(ValidationError, match="DynamoDB refuses filters on the key"):
        pdb.query(Payment).where(M1).filter(Payment.payment_id == "p1").all()


def test_limit_across_pages(pdb: DB) -> None:
    q = pdb.query(Payment).where(M1).page_size(3).limit(7)
    pages = list(q.pages())
    assert [len(p) for p in pages] == [3, 3, 1]
    assert ids(i for page in pages for i in page) == [f"p{n:03}" for n in range(7)]
    filtered = pdb.query(Payment).where(M1).filter(Payment.amount >= 100).page_size(4).limit(5)
    assert ids(filtered) == ["p010", "p011", "p012", "p013", "p014"]


def test_empty_filtered_page_has_a_cursor_and_iteration_continues(pdb: DB) -> None:
    q = pdb.query(Payment).where(M1).filter(Payment.note == "big").page_size(5)
    page = q.page()
    assert (page.items, page.count, page.scanned_count) == ([], 0, 5)
    assert page.cursor is not None
    found: list[str] = []
    cursor: str | None = page.cursor
    while cursor is not None:
        page = q.page(cursor=cursor)
        found += ids(page)
        cursor = page.cursor
    assert found == ["p037"]
    assert ids(q) == ["p037"]


def test_page_cursor_round_trip_covers_everything_once(pdb: DB) -> None:
    q = pdb.query(Payment).where(M1)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = q.page(cursor=cursor, limit=6)
        seen += ids(page)
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == [f"p{n:03}" for n in range(40)]
    assert pages in (7, 8)  # DynamoDB may end on an empty page after a full one


def test_consumed_capacity_on_pages_and_the_db(pdb: DB) -> None:
    before = pdb.consumed.read
    page = pdb.query(Payment).where(M1).page(limit=10)
    assert page.consumed.read > 0
    assert page.consumed.by_table == {pdb.table_name("payments"): page.consumed.total}
    assert pdb.consumed.read == pytest.approx(before + page.consumed.read)


def test_count_across_pages(pdb: DB) -> None:
    q = pdb.query(Payment).where(M1)
    assert q.page_size(7).count() == 40
    assert q.filter(Payment.amount >= 200).page_size(7).count() == 20
    assert q.limit(15).page_size(4).count() == 15
    assert pdb.query(Payment).where(Payment.merchant_id == "nobody").count() == 0


def test_first_and_one(pdb: DB) -> None:
    q = pdb.query(Payment).where(M1)
    first = q.first()
    assert first is not None
    assert first.payment_id == "p000"
    last = q.reverse().first()
    assert last is not None
    assert last.payment_id == "p039"
    assert q.filter(Payment.note == "big").page_size(5).one().payment_id == "p037"
    with pytest.raises(MultipleResults):
        q.one()
    with pytest.raises(NotFound):
        q.filter(Payment.note == "none").one()
    assert q.filter(Payment.note == "none").first() is None


def _counting_db(
    make_db: Callable[..., DB], server: LocalDynamoDB, prefix: str, sent: list[str], **kw: Any
) -> DB:
    http = HTTPTransport()

    def transport(request: Request) -> Response:
        sent.append(request.headers["x-amz-target"].rpartition(".")[2])
        return http(request)

    return make_db(
        region=server.region,
        endpoint_url=server.endpoint,
        credentials=LOCAL_CREDENTIALS,
        table_prefix=prefix,
        transport=transport,
        **kw,
    )


def test_iteration_streams_page_by_page(
    pdb: DB, make_db: Callable[..., DB], dynamodb_local: LocalDynamoDB, table_prefix: str
) -> None:
    sent: list[str] = []
    db = _counting_db(make_db, dynamodb_local, table_prefix, sent)
    it: Iterator[Payment] = iter(db.query(Payment).where(M1).page_size(5))
    assert sent == []
    first = next(it)
    assert sent == ["Query"]
    alive = weakref.ref(first)
    del first
    for _ in range(10):
        next(it)
    gc.collect()
    assert alive() is None  # the first page is not kept while later pages stream
    assert sent == ["Query"] * 3
    assert len(list(it)) == 40 - 11
    assert sent == ["Query"] * 9


def test_tampered_and_foreign_cursors(
    pdb: DB, make_db: Callable[..., DB], dynamodb_local: LocalDynamoDB, table_prefix: str
) -> None:
    sent: list[str] = []
    db = _counting_db(make_db, dynamodb_local, table_prefix, sent, cursor_secret="k" * 32)
    db.create_table(Refund)
    q = db.query(Payment).where(M1)
    cursor = q.page(limit=3).cursor
    assert cursor is not None
    assert ids(q.page(cursor=cursor, limit=2)) == ["p003", "p004"]
    token, _, signature = cursor.partition(".")
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1] + "." + signature
    sent.clear()
    with pytest.raises(InvalidCursor, match="signature does not match"):
        q.page(cursor=tampered)
    with pytest.raises(InvalidCursor, match="belongs to another query"):
        q.reverse().page(cursor=cursor)
    with pytest.raises(InvalidCursor, match="belongs to another query"):
        q.index("by-amount").page(cursor=cursor)
    with pytest.raises(InvalidCursor, match="belongs to another query"):
        db.query(Refund).where(Refund.merchant_id == "m1").page(cursor=cursor)
    with pytest.raises(InvalidCursor, match="cursor is signed, but this DB has no cursor_secret"):
        pdb.query(Payment).where(M1).page(cursor=cursor)
    assert sent == []  # refused before anything is sent


def big_payments(merchant: str, count: int, status: str | None = None) -> list[Payment]:
    """Payments with a long note, so one page of them is past the fast decoder's threshold."""
    out = []
    for n in range(count):
        p = payment(merchant, n)
        p.note = f"{n:03}" + "n" * 600
        p.status = status or p.status
        out.append(p)
    return out


def state(items: list[Payment]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(dict(p.__dict__), Payment.__meta__.extras(p)) for p in items]


@pytest.fixture
def fast_spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the bodies Payment pages decode through msgspec (the fast decoder)."""
    real = fast_decode._build_fast(Payment.__meta__)
    assert real is not None, "msgspec is a dev dependency"
    sizes: list[int] = []

    def spy(body: bytes, partial: bool, db: Any = None) -> Any:
        sizes.append(len(body))
        return real(body, partial, db)

    monkeypatch.setattr(Payment.__meta__, "fast", spy)
    return sizes


def test_large_pages_decode_through_msgspec_like_the_stdlib(
    pdb: DB, fast_spy: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    store(pdb, big_payments("m3", 150))
    events: list[RequestEvent] = []
    pdb.client.hooks.append(events.append)
    q = pdb.query(Payment).where(Payment.merchant_id == "m3")
    before = pdb.consumed.read
    fast = q.page()
    assert fast_spy
    assert fast_spy[0] >= fast_decode.FAST_THRESHOLD
    assert ids(fast) == [f"p{n:03}" for n in range(150)]
    assert fast.items == big_payments("m3", 150)
    assert fast.consumed.read > 0
    assert pdb.consumed.read == pytest.approx(before + fast.consumed.read)
    assert events[-1].consumed_capacity == pytest.approx(fast.consumed.total)
    projected = q.project(Payment.amount).all()
    assert "note" not in projected[0].__dict__
    spied = len(fast_spy)
    monkeypatch.setattr(Payment.__meta__, "fast", False)  # as without msgspec: the stdlib path
    assert state(q.page().items) == state(fast.items)
    assert state(q.project(Payment.amount).all()) == state(projected)
    assert len(fast_spy) == spied


def test_trimmed_gsi_page_resumes_right_after_the_last_item(pdb: DB, fast_spy: list[int]) -> None:
    # m4's items share their by-status key (status, settled_at) with m1's and m2's settled ones
    store(pdb, big_payments("m4", 120, status="settled"))
    q = pdb.query(Payment).where(Payment.status == "settled").page_size(100)
    everything = [(p.merchant_id, p.payment_id) for p in q]
    assert len(everything) == 10 + 3 + 120
    filtered = q.filter(Payment.amount >= 0)
    pages = list(filtered.limit(7).pages())
    assert fast_spy  # the first page was large, and trimmed to 7 items
    head = [(p.merchant_id, p.payment_id) for page in pages for p in page]
    cursor = pages[-1].cursor
    assert cursor is not None
    rest = [(p.merchant_id, p.payment_id) for page in q.pages(cursor=cursor) for p in page]
    assert head + rest == everything
