"""Query and scan builders: exact request payloads, index choice and errors, without a network.

The fake transport is a plain function answering from a script; every request it sees is also
checked against botocore's DynamoDB model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, assert_type

import pytest

from dynamorm import (
    DB,
    Credentials,
    DeadlineExceeded,
    ProtocolError,
    Request,
    Response,
    RetryPolicy,
    TableNotFound,
)
from dynamorm._core.errors import (
    InvalidOperator,
    MissingPrimaryKey,
    MultipleResults,
    NotFound,
    ValidationError,
)
from dynamorm._orm.model import GSI, LSI, Attr, Model, field
from dynamorm._orm.query import Page, Query, Scan
from tests.wire_model import validate_http_request

Answer = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


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


class Ledger(Model, table="ledger"):
    """Two GSIs sharing a partition key: a query on it alone is ambiguous."""

    account: Attr[str] = field(pk=True)
    entry: Attr[str] = field(sk=True)
    kind: Attr[str] = field(
        default="", index=[GSI("by-kind", pk=True), GSI("by-kind-day", pk=True)]
    )
    day: Attr[str] = field(default="", index=GSI("by-kind-day", sk=True))


class Fake:
    """A transport answering each request from a script (a payload, or a function of it)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers: list[Answer] = list(answers)
        self.sent: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def script(self, *answers: Answer) -> None:
        """Replace the answers still to come."""
        self.answers = list(answers)

    def __call__(self, request: Request) -> Response:
        operation = validate_http_request(request.method, request.headers, request.body)
        payload = json.loads(request.body)
        with self.lock:
            self.sent.append(payload)
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        body = answer(payload) if callable(answer) else answer
        if "__type" in body:
            return Response(400, {}, json.dumps(body).encode())
        assert operation in ("Query", "Scan")
        return Response(200, {}, json.dumps(body).encode())

    @property
    def last(self) -> dict[str, Any]:
        return self.sent[-1]


def item(n: int, merchant: str = "m1", **extra: Any) -> dict[str, Any]:
    return {
        "merchant_id": {"S": merchant},
        "payment_id": {"S": f"p{n:03}"},
        "amount": {"N": str(n)},
        "status": {"S": "settled"},
        **extra,
    }


def key(n: int, merchant: str = "m1") -> dict[str, Any]:
    return {"merchant_id": {"S": merchant}, "payment_id": {"S": f"p{n:03}"}}


def answer(*numbers: int, last: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Items": [item(n) for n in numbers],
        "Count": len(numbers),
        "ScannedCount": len(numbers),
        "ConsumedCapacity": {"TableName": "t_payments", "CapacityUnits": 0.5},
        **extra,
    }
    if last is not None:
        out["LastEvaluatedKey"] = last
    return out


def make_db(fake: Fake, **kw: Any) -> DB:
    return DB(
        region="eu-west-1",
        endpoint_url="https://dynamodb.eu-west-1.amazonaws.com",
        credentials=Credentials("AKIDEXAMPLE", "secret-key-for-tests-only"),
        table_prefix="t_",
        transport=fake,
        **kw,
    )


M1 = Payment.merchant_id == "m1"


# --- payloads -------------------------------------------------------------------------------


def test_query_payload_with_key_condition_and_filter() -> None:
    fake = Fake(answer(1, 2))
    db = make_db(fake)
    q = db.query(Payment).where(M1 & Payment.payment_id.begins_with("p0"))
    page = q.filter(Payment.note != "x").page()
    assert fake.sent == [
        {
            "TableName": "t_payments",
            "KeyConditionExpression": "#n0 = :v0 AND begins_with(#n1, :v1)",
            "FilterExpression": "#n2 <> :v2",
            "ExpressionAttributeNames": {"#n0": "merchant_id", "#n1": "payment_id", "#n2": "note"},
            "ExpressionAttributeValues": {
                ":v0": {"S": "m1"},
                ":v1": {"S": "p0"},
                ":v2": {"S": "x"},
            },
            "ReturnConsumedCapacity": "TOTAL",
        }
    ]
    assert [p.payment_id for p in page] == ["p001", "p002"]
    assert page.cursor is None
    assert (page.count, page.scanned_count, page.consumed.read) == (2, 2, 0.5)
    assert db.consumed.read == 0.5


def test_reverse_consistent_page_size_and_projection() -> None:
    fake = Fake(answer(1))
    db = make_db(fake)
    q = (
        db.query(Payment)
        .where(M1 & Payment.payment_id.between("a", "z"))
        .reverse()
        .consistent()
        .page_size(7)
        .project(Payment.amount, Payment.note)
    )
    q.page()
    assert fake.last == {
        "TableName": "t_payments",
        "KeyConditionExpression": "#n0 = :v0 AND #n1 BETWEEN :v1 AND :v2",
        "ProjectionExpression": "#n2, #n3, #n0, #n1",
        "ExpressionAttributeNames": {
            "#n0": "merchant_id",
            "#n1": "payment_id",
            "#n2": "amount",
            "#n3": "note",
        },
        "ExpressionAttributeValues": {":v0": {"S": "m1"}, ":v1": {"S": "a"}, ":v2": {"S": "z"}},
        "ScanIndexForward": False,
        "ConsistentRead": True,
        "Limit": 7,
        "ReturnConsumedCapacity": "TOTAL",
    }


def test_projected_items_leave_unread_fields_unset() -> None:
    fake = Fake({"Items": [{**key(1), "amount": {"N": "5"}}], "Count": 1, "ScannedCount": 1})
    got = make_db(fake).query(Payment).where(M1).project(Payment.amount).one()
    assert (got.payment_id, got.amount) == ("p001", 5)
    with pytest.raises(AttributeError, match=r"Payment.status is not set"):
        _ = got.status


def test_builders_are_immutable() -> None:
    db = make_db(Fake(answer()))
    base = db.query(Payment).where(M1)
    derived = base.filter(Payment.amount > 5).limit(3).reverse().index("by-amount")
    assert isinstance(derived, Query)
    assert (base._filter, base._limit, base._forward, base._index) == (None, None, True, None)
    assert derived._index is not None
    scan = db.scan(Payment)
    assert isinstance(scan.filter(Payment.amount > 1), Scan)
    assert scan._filter is None


def test_several_where_and_filter_calls_join_with_and() -> None:
    fake = Fake(answer())
    q = make_db(fake).query(Payment).where(M1).where(Payment.payment_id > "p")
    q.filter(Payment.note == "a").filter(Payment.amount > 1).page()
    assert fake.last["KeyConditionExpression"] == "#n0 = :v0 AND #n1 > :v1"
    assert fake.last["FilterExpression"] == "#n2 = :v2 AND #n3 > :v3"


# --- index choice ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "index", "key_expression"),
    [
        (M1, None, "#n0 = :v0"),
        (M1 & (Payment.payment_id < "p5"), None, "#n0 = :v0 AND #n1 < :v1"),
        (M1 & (Payment.amount >= 10), "by-amount", "#n0 = :v0 AND #n1 >= :v1"),
        (Payment.status == "settled", "by-status", "#n0 = :v0"),
        (
            (Payment.status == "settled") & Payment.settled_at.begins_with("2024"),
            "by-status",
            "#n0 = :v0 AND begins_with(#n1, :v1)",
        ),
        (Payment.customer == "c1", "by-customer", "#n0 = :v0"),
    ],
)
def test_index_is_inferred_from_the_key_condition(
    where: Any, index: str | None, key_expression: str
) -> None:
    fake = Fake(answer())
    make_db(fake).query(Payment).where(where).page()
    assert fake.last.get("IndexName") == index
    assert fake.last["KeyConditionExpression"] == key_expression


def test_explicit_index_wins_over_the_table_key() -> None:
    fake = Fake(answer())
    make_db(fake).query(Payment).where(M1).index("by-amount").page()
    assert fake.last["IndexName"] == "by-amount"


def test_ambiguous_index_is_an_error_naming_the_candidates() -> None:
    db = make_db(Fake(answer()))
    with pytest.raises(ValidationError) as info:
        db.query(Ledger).where(Ledger.kind == "fee").page()
    assert str(info.value) == (
        "the Ledger key condition kind = <S> matches several indexes: "
        "GSI 'by-kind' (kind), GSI 'by-kind-day' (kind, day); choose one with .index(name)"
    )
    fake = Fake(answer())
    make_db(fake).query(Ledger).where((Ledger.kind == "fee") & (Ledger.day > "2024")).page()
    assert fake.last["IndexName"] == "by-kind-day"


def test_impossible_key_conditions_are_clear_errors_never_scans() -> None:
    fake = Fake(answer())
    db = make_db(fake)
    with pytest.raises(ValidationError, match=r"^no key of Payment matches the key condition") as e:
        db.query(Payment).where(Payment.note == "x").page()
    assert "GSI 'by-status' (status, settled_at)" in str(e.value)
    assert "use db.scan()" in str(e.value)
    with pytest.raises(ValidationError) as e:
        db.query(Payment).where(M1 & (Payment.note == "x")).page()
    assert str(e.value) == (
        "note in where() is not a key attribute of the table (merchant_id, payment_id); "
        "move that condition to .filter()"
    )
    with pytest.raises(InvalidOperator, match="the sort key 'payment_id' supports"):
        db.query(Payment).where(M1 & (Payment.payment_id != "p1")).page()
    with pytest.raises(MissingPrimaryKey, match="partition key compared with =="):
        db.query(Payment).where(Payment.payment_id == "p1").index("by-amount").page()
    with pytest.raises(ValidationError, match=r"needs a key condition: \.where\(Payment"):
        db.query(Payment).page()
    with pytest.raises(
        ValidationError, match=r"Payment has no index 'nope' \(indexes: 'by-amount'"
    ):
        db.query(Payment).index("nope")
    assert fake.sent == []


def test_filters_on_the_queried_key_are_refused() -> None:
    fake = Fake(answer())
    db = make_db(fake)
    with pytest.raises(ValidationError) as e:
        db.query(Payment).where(M1).filter(Payment.payment_id > "p").page()
    assert str(e.value) == (
        "filter() uses payment_id, a key attribute of the table (merchant_id, payment_id): "
        "DynamoDB refuses filters on the key being queried; put that condition in where()"
    )
    with pytest.raises(ValidationError, match="settled_at, a key attribute of GSI 'by-status'"):
        db.query(Payment).where(Payment.status == "s").filter(Payment.settled_at > "a").page()
    assert fake.sent == []
    db.query(Payment).where(Payment.status == "s").filter(M1).page()
    assert fake.last["FilterExpression"] == "#n1 = :v1"


def test_consistent_reads_on_a_gsi_are_refused() -> None:
    db = make_db(Fake(answer()))
    with pytest.raises(
        ValidationError, match="consistent\\(\\) is not possible on GSI 'by-status'"
    ):
        db.query(Payment).where(Payment.status == "s").consistent().page()
    with pytest.raises(ValidationError, match="not possible on GSI 'by-status'"):
        db.scan(Payment).index("by-status").consistent().page()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda q: q.limit(0), r"limit\(\) takes an int >= 1, got 0"),
        (lambda q: q.page_size(True), r"page_size\(\) takes an int >= 1, got True"),
        (lambda q: q.page(limit=-1), r"page\(\) takes an int >= 1, got -1"),
        (lambda q: q.filter(True), r"== between mismatched types gives a bool"),
        (lambda q: q.project(), r"project\(\) needs at least one attribute path"),
        (lambda q: q.project("amount"), r"project\(\) takes attribute paths"),
    ],
)
def test_bad_builder_arguments(build: Callable[[Any], Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build(make_db(Fake(answer())).query(Payment).where(M1))


# --- pagination -----------------------------------------------------------------------------


def test_page_cursor_round_trip() -> None:
    fake = Fake(answer(1, 2, last=key(2)), answer(3))
    q = make_db(fake).query(Payment).where(M1)
    first = q.page(limit=2)
    assert first.cursor is not None
    assert fake.last["Limit"] == 2
    second = q.page(cursor=first.cursor, limit=2)
    assert fake.last["ExclusiveStartKey"] == key(2)
    assert [p.payment_id for p in second] == ["p003"]
    assert second.cursor is None


def test_empty_filtered_page_still_has_a_cursor_and_iteration_goes_on() -> None:
    fake = Fake(
        answer(last=key(3), ScannedCount=3),
        answer(last=key(6), ScannedCount=3),
        answer(7),
    )
    q = make_db(fake).query(Payment).where(M1).filter(Payment.note == "x").page_size(3)
    page = q.page()
    assert (page.items, page.count, page.scanned_count) == ([], 0, 3)
    assert page.cursor is not None
    assert [p.payment_id for p in q.page(cursor=page.cursor)] == []
    fake.script(answer(last=key(3)), answer(last=key(6)), answer(7))
    assert [p.payment_id for p in q] == ["p007"]
    assert [s.get("ExclusiveStartKey") for s in fake.sent[-3:]] == [None, key(3), key(6)]


def test_limit_across_pages_requests_only_what_is_left() -> None:
    fake = Fake(answer(1, 2, 3, last=key(3)), answer(4, 5, last=key(5)))
    q = make_db(fake).query(Payment).where(M1).limit(5).page_size(3)
    assert [p.payment_id for p in q] == ["p001", "p002", "p003", "p004", "p005"]
    assert [s["Limit"] for s in fake.sent] == [3, 2]


def test_limit_with_a_filter_truncates_and_resumes_after_the_last_item() -> None:
    fake = Fake(answer(1, 2, 3, 4, last=key(9)))
    q = make_db(fake).query(Payment).where(M1).filter(Payment.note == "").limit(2)
    (page,) = list(q.pages())
    assert [p.payment_id for p in page] == ["p001", "p002"]
    assert "Limit" not in fake.last
    fake.script(answer(3))
    q.page(cursor=page.cursor)
    assert fake.last["ExclusiveStartKey"] == key(2)


def test_trimmed_index_page_resumes_from_the_keys_as_stored() -> None:
    # The resume key is the table key plus the index key, copied from the stored item (here
    # an amount stored as "07", which re-encoding the decoded int would turn into "7").
    stored = [item(n, amount={"N": f"{n:02}"}) for n in (5, 6, 7, 8)]
    fake = Fake({"Items": stored, "Count": 4, "LastEvaluatedKey": key(9)})
    q = make_db(fake).query(Payment).where(M1 & (Payment.amount > 1)).filter(Payment.note == "")
    (page,) = list(q.limit(3).pages())
    assert [p.amount for p in page] == [5, 6, 7]
    fake.script(answer())
    q.page(cursor=page.cursor)
    assert fake.last["IndexName"] == "by-amount"
    assert fake.last["ExclusiveStartKey"] == {**key(7), "amount": {"N": "07"}}


def test_a_malformed_page_is_a_protocol_error() -> None:
    def transport(request: Request) -> Response:
        return Response(200, {}, b'{"Items": [{"merchant_id": }]}')

    db = make_db(transport, retry=RetryPolicy(1))  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match=r"^Query: malformed response page: ") as info:
        db.query(Payment).where(M1).all()
    assert info.value.status == 200


def test_iteration_is_lazy() -> None:
    fake = Fake(
        lambda p: answer(1, 2, last=key(2)),
        lambda p: answer(3, 4, last=key(4)),
        lambda p: answer(5),
    )
    it = iter(make_db(fake).query(Payment).where(M1))
    assert len(fake.sent) == 0
    assert next(it).payment_id == "p001"
    assert len(fake.sent) == 1
    assert [next(it).payment_id for _ in range(2)] == ["p002", "p003"]
    assert len(fake.sent) == 2
    assert [p.payment_id for p in it] == ["p004", "p005"]
    assert len(fake.sent) == 3


def test_count_sends_select_count_over_every_page() -> None:
    fake = Fake(
        {"Count": 3, "ScannedCount": 4, "LastEvaluatedKey": key(4)},
        {"Count": 2, "ScannedCount": 2},
    )
    q = make_db(fake).query(Payment).where(M1).filter(Payment.note == "").project(Payment.amount)
    assert q.count() == 5
    assert fake.sent[0]["Select"] == "COUNT"
    assert "ProjectionExpression" not in fake.sent[0]
    assert fake.sent[0]["ExpressionAttributeNames"] == {"#n0": "merchant_id", "#n1": "note"}
    assert fake.sent[1]["ExclusiveStartKey"] == key(4)


def test_count_stops_at_the_limit() -> None:
    fake = Fake({"Count": 3, "ScannedCount": 3, "LastEvaluatedKey": key(3)})
    assert make_db(fake).query(Payment).where(M1).limit(3).count() == 3
    assert len(fake.sent) == 1
    assert fake.last["Limit"] == 3


def test_first_and_one() -> None:
    db = make_db(Fake(answer(1, 2)))
    q = db.query(Payment).where(M1)
    first = q.first()
    assert first is not None
    assert first.payment_id == "p001"
    with pytest.raises(MultipleResults, match="more than one Payment matched the query"):
        q.one()
    db = make_db(Fake(answer()))
    assert db.query(Payment).where(M1).first() is None
    with pytest.raises(NotFound, match="no Payment matched the query") as e:
        db.query(Payment).where(M1).one()
    assert isinstance(e.value, LookupError)


def test_service_errors_propagate() -> None:
    missing = {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"}
    with pytest.raises(TableNotFound):
        make_db(Fake(missing)).query(Payment).where(M1).all()


def test_deadline_between_pages_reports_progress_and_a_resume_cursor() -> None:
    db: DB

    def second(payload: dict[str, Any]) -> dict[str, Any]:
        db.client.deadline = 0.0  # the deadline passes while this page is in flight
        return answer(3, last=key(3))

    fake = Fake(lambda p: answer(1, 2, last=key(2)), second, lambda p: answer(4))
    db = make_db(fake)
    seen: list[str] = []

    def consume() -> None:
        for p in db.query(Payment).where(M1):
            seen.append(p.payment_id)

    with pytest.raises(DeadlineExceeded) as e:
        consume()
    assert seen == ["p001", "p002", "p003"]
    assert str(e.value) == (
        "the deadline passed before page 3 could be requested; Query Payment on t_payments: "
        "2 page(s), 3 item(s) delivered before the deadline; exc.cursor resumes after them"
    )
    db.client.deadline = None
    assert e.value.cursor is not None
    pages = db.query(Payment).where(M1).pages(e.value.cursor)
    assert [[p.payment_id for p in page] for page in pages] == [["p004"]]
    assert fake.last["ExclusiveStartKey"] == key(3)


# --- scan -----------------------------------------------------------------------------------


def test_scan_payload() -> None:
    fake = Fake(answer(1))
    make_db(fake).scan(Payment).index("by-status").filter(Payment.amount > 5).page(limit=10)
    assert fake.last == {
        "TableName": "t_payments",
        "IndexName": "by-status",
        "FilterExpression": "#n0 > :v0",
        "ExpressionAttributeNames": {"#n0": "amount"},
        "ExpressionAttributeValues": {":v0": {"N": "5"}},
        "Limit": 10,
        "ReturnConsumedCapacity": "TOTAL",
    }


def segmented(pages_per_segment: int, per_page: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Answers for a parallel scan: segment s holds items s*1000 + 0..n, paginated by key."""
    total = pages_per_segment * per_page

    def respond(payload: dict[str, Any]) -> dict[str, Any]:
        segment = payload["Segment"]
        start = payload.get("ExclusiveStartKey")
        first = 0 if start is None else int(start["payment_id"]["S"][1:]) % 1000 + 1
        size = min(payload.get("Limit", per_page), per_page)
        numbers = [segment * 1000 + i for i in range(first, min(first + size, total))]
        out = answer(*numbers)
        if first + size < total:
            out["LastEvaluatedKey"] = key(numbers[-1])
        return out

    return respond


def test_parallel_scan_sends_segments_and_yields_the_union() -> None:
    fake = Fake(segmented(pages_per_segment=3, per_page=2))
    got = [p.payment_id for p in make_db(fake).scan(Payment, segments=4)]
    expected = sorted(f"p{s * 1000 + i:03}" for s in range(4) for i in range(6))
    assert sorted(got) == expected
    assert len(got) == len(set(got))
    assert sorted((s["Segment"], s["TotalSegments"]) for s in fake.sent) == [
        (s, 4) for s in range(4) for _ in range(3)
    ]


def test_parallel_scan_page_merges_one_request_per_segment() -> None:
    fake = Fake(segmented(pages_per_segment=2, per_page=2))
    q = make_db(fake).scan(Payment, segments=3)
    first = q.page(limit=2)
    assert [p.payment_id for p in first] == ["p000", "p001", "p1000", "p1001", "p2000", "p2001"]
    assert (first.consumed.read, first.count) == (1.5, 6)
    assert first.cursor is not None
    second = q.page(cursor=first.cursor, limit=2)
    assert sorted(p.payment_id for p in second) == [
        "p002",
        "p003",
        "p1002",
        "p1003",
        "p2002",
        "p2003",
    ]
    assert second.cursor is None


def test_parallel_scan_worker_errors_propagate() -> None:
    def respond(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["Segment"] == 2:
            return {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"}
        return segmented(5, 1)(payload)

    with pytest.raises(TableNotFound):
        list(make_db(Fake(respond)).scan(Payment, segments=3))


def test_parallel_scan_limit_stops_early_with_a_resumable_cursor() -> None:
    fake = Fake(segmented(pages_per_segment=3, per_page=2))
    q = make_db(fake).scan(Payment, segments=2).limit(3)
    pages = list(q.pages())
    got = [p.payment_id for page in pages for p in page]
    assert len(got) == 3
    cursor = pages[-1].cursor
    assert cursor is not None
    rest = [
        p.payment_id for page in make_db(fake).scan(Payment, segments=2).pages(cursor) for p in page
    ]
    assert sorted(got + rest) == sorted(f"p{s * 1000 + i:03}" for s in range(2) for i in range(6))


def test_scan_segments_must_be_sensible() -> None:
    db = make_db(Fake(answer()))
    with pytest.raises(ValidationError, match="segments must be 1 to 1,000,000, got 0"):
        db.scan(Payment, segments=0)
    with pytest.raises(ValidationError, match="segments must be an int"):
        db.scan(Payment, segments=2.0)  # type: ignore[arg-type]


def test_page_repr_and_len() -> None:
    page = make_db(Fake(answer(1, 2, last=key(2)))).query(Payment).where(M1).page()
    assert isinstance(page, Page)
    assert len(page) == 2
    assert repr(page) == "Page(2 items, scanned 2, more, Capacity(read=0.5, write=0, total=0.5))"


def test_results_are_typed_by_model() -> None:
    db = make_db(Fake(answer(1)))
    q = db.query(Payment).where(M1).filter(Payment.amount > 0).limit(3)
    assert_type(q, Query[Payment])
    assert_type(q.first(), Payment | None)
    assert_type(q.one(), Payment)
    assert_type(q.page().items, list[Payment])
    assert_type(db.scan(Payment).all(), list[Payment])
    for p in db.scan(Payment, segments=2):
        assert_type(p.amount, int)


def test_parallel_scan_deadline_reports_progress() -> None:
    db: DB
    respond = segmented(pages_per_segment=4, per_page=1)

    def expire(payload: dict[str, Any]) -> dict[str, Any]:
        db.client.deadline = 0.0
        return respond(payload)

    db = make_db(Fake(expire))
    seen: list[str] = []

    def consume() -> None:
        for p in db.scan(Payment, segments=2):
            seen.append(p.payment_id)

    with pytest.raises(DeadlineExceeded) as e:
        consume()
    assert str(e.value).startswith(
        "the deadline passed before page 2 could be requested; Scan Payment on t_payments: "
    )
    assert f"{len(seen)} item(s) delivered before the deadline" in str(e.value)
    assert e.value.cursor is not None
    resumed = make_db(Fake(respond)).scan(Payment, segments=2).pages(e.value.cursor)
    rest = [p.payment_id for page in resumed for p in page]
    assert sorted(seen + rest) == [
        "p000",
        "p001",
        "p002",
        "p003",
        "p1000",
        "p1001",
        "p1002",
        "p1003",
    ]
