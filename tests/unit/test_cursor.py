"""Pagination cursors: opaque, bound to their query, tamper-evident with a secret."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamorm import DB, Credentials, Request, Response
from dynamorm._core.errors import InvalidCursor, ValidationError
from dynamorm._orm._cursor import CursorCodec, State
from dynamorm._orm.model import GSI, Attr, Model, field
from dynamorm._orm.query import Query, Scan

SECRET = b"0123456789abcdef-secret"
NAMES = ("pk", "sk")


def codec(
    secret: bytes | None = SECRET, binding: tuple[str, ...] = ("Query", "t"), segments: int = 1
) -> CursorCodec:
    return CursorCodec(binding, key_names=NAMES, segments=segments, secret=secret)


STATE: State = {0: {"pk": {"S": "m1"}, "sk": {"N": "42"}}}


def decoded_json(cursor: str) -> Any:
    token = cursor.partition(".")[0]
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def test_round_trip_signed_and_unsigned() -> None:
    for secret in (SECRET, None):
        c = codec(secret)
        cursor = c.encode(STATE)
        assert cursor is not None
        assert c.decode(cursor) == STATE
        assert ("." in cursor) is (secret is not None)
        assert "=" not in cursor  # urlsafe, unpadded: fits a query string as is


def test_finished_state_has_no_cursor() -> None:
    assert codec().encode({}) is None


def test_cursor_is_compact_json_of_key_and_binding() -> None:
    data = decoded_json(codec().encode(STATE) or "")
    assert set(data) == {"v", "b", "k"}
    assert data["k"] == {"0": STATE[0]}
    assert "Query" not in json.dumps(data)  # the binding is a digest, not the table name


def test_tampered_cursor_is_refused() -> None:
    c = codec()
    cursor = c.encode(STATE) or ""
    data = decoded_json(cursor)
    data["k"]["0"]["sk"] = {"N": "43"}
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    with pytest.raises(InvalidCursor, match="signature does not match"):
        c.decode(forged + "." + cursor.partition(".")[2])
    with pytest.raises(InvalidCursor, match="cursor is not signed"):
        c.decode(forged)
    with pytest.raises(InvalidCursor, match="signed with another cursor_secret"):
        codec(b"another-secret-0123456789").decode(cursor)


def test_signed_cursor_without_a_secret_is_refused() -> None:
    with pytest.raises(InvalidCursor, match="this DB has no cursor_secret"):
        codec(None).decode(codec().encode(STATE) or "")


def test_invalid_cursor_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        codec().decode("nope")


@pytest.mark.parametrize("secret", [SECRET, None])
def test_cursor_of_another_query_is_refused(secret: bytes | None) -> None:
    cursor = codec(secret).encode(STATE) or ""
    other = codec(secret, binding=("Query", "t", "reverse"))
    with pytest.raises(InvalidCursor, match="belongs to another query"):
        other.decode(cursor)


@pytest.mark.parametrize(
    ("cursor", "message"),
    [
        ("", "a cursor is a non-empty str"),
        ("***", "malformed cursor"),
        (base64.urlsafe_b64encode(b"[1]").decode(), "malformed cursor"),
        (base64.urlsafe_b64encode(b"{not json").decode(), "malformed cursor"),
    ],
)
def test_malformed_cursors(cursor: str, message: str) -> None:
    with pytest.raises(InvalidCursor, match=message):
        codec(None).decode(cursor)


def _unsigned(c: CursorCodec, k: Any) -> str:
    body = json.dumps({"v": 1, "b": c.binding, "k": k}).encode()
    return base64.urlsafe_b64encode(body).decode()


@pytest.mark.parametrize(
    ("k", "message"),
    [
        ({}, "no position"),
        ({"1": None}, "bad segment"),
        ({"x": None}, "bad segment"),
        ({"0": {"pk": {"S": "a"}}}, "does not hold a key of this table"),
        ({"0": {"pk": {"S": "a"}, "sk": {"SS": ["a"]}}}, "does not hold a key"),
        ({"0": {"pk": {"S": "a"}, "sk": {"N": 1}}}, "does not hold a key"),
        ({"0": {"pk": {"S": "a"}, "sk": "b"}}, "does not hold a key"),
    ],
)
def test_unsigned_cursors_are_still_checked(k: Any, message: str) -> None:
    c = codec(None)
    with pytest.raises(InvalidCursor, match=message):
        c.decode(_unsigned(c, k))


key_values = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(min_size=1, max_size=20)),
    st.builds(lambda n: {"N": str(n)}, st.integers()),
    st.builds(lambda b: {"B": base64.b64encode(b).decode()}, st.binary(min_size=1, max_size=20)),
)
states = st.dictionaries(
    st.integers(0, 7),
    st.one_of(st.none(), st.fixed_dictionaries({"pk": key_values, "sk": key_values})),
    min_size=1,
)


@settings(max_examples=60)
@given(state=states)
def test_any_state_round_trips(state: State) -> None:
    c = codec(segments=8)
    assert c.decode(c.encode(state) or "") == state


@settings(max_examples=80)
@given(state=states, position=st.integers(min_value=0), char=st.sampled_from("AQgw-_x0."))
def test_any_single_character_change_is_refused_or_harmless(
    state: State, position: int, char: str
) -> None:
    c = codec(segments=8)
    cursor = c.encode(state) or ""
    i = position % len(cursor)
    changed = cursor[:i] + char + cursor[i + 1 :]
    with contextlib.suppress(InvalidCursor):
        assert c.decode(changed) == state  # only base64 padding bits may change harmlessly


# --- through the DB: cursors bound to table, index, direction and key --------------------


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    status: Attr[str] = field(default="", index=GSI("by-status", pk=True))


class Refund(Model, table="refunds"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)


def _db(secret: str | None) -> DB:
    def transport(request: Request) -> Response:
        payload = json.loads(request.body)
        last = {"merchant_id": {"S": "m1"}, "payment_id": {"S": "p1"}}
        if "IndexName" in payload:
            last["status"] = {"S": "s"}
        body = {"Items": [], "Count": 0, "ScannedCount": 1, "LastEvaluatedKey": last}
        return Response(200, {}, json.dumps(body).encode())

    return DB(
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:1",
        credentials=Credentials("AKIDEXAMPLE", "secret-key-for-tests-only"),
        transport=transport,
        cursor_secret=secret,
    )


@pytest.mark.parametrize("secret", ["s" * 16, None])
def test_foreign_cursors_are_refused(secret: str | None) -> None:
    db = _db(secret)
    q = db.query(Payment).where(Payment.merchant_id == "m1")
    cursor = q.page().cursor
    assert cursor is not None
    assert q.page(cursor=cursor).cursor is not None
    foreign: list[Query[Any] | Scan[Any]] = [
        q.reverse(),
        db.query(Payment).where(Payment.merchant_id == "m2"),
        db.query(Refund).where(Refund.merchant_id == "m1"),
        db.query(Payment).where(Payment.status == "s"),
        db.scan(Payment),
        db.scan(Payment, segments=2),
    ]
    for other in foreign:
        with pytest.raises(InvalidCursor, match="belongs to another query"):
            other.page(cursor=cursor)
    assert q.filter(Payment.status == "x").page(cursor=cursor) is not None
