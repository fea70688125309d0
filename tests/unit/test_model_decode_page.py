"""decode_page: the msgspec path and the standard-library path give identical results."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

import pytest

from dynamorm._core.errors import ValidationError
from dynamorm._orm import fast_decode
from dynamorm._orm.fast_decode import DecodedPage, decode_page, decode_page_python
from dynamorm._orm.model import Attr, Model, field


class Tier(Enum):
    GOLD = "gold"
    SILVER = "silver"


class Line(Model):
    sku: Attr[str]
    qty: Attr[int]
    price: Attr[Decimal]
    note: Attr[str | None] = field(default=None)


class Order(Model, table="orders", naming="camel"):
    customer_id: Attr[str] = field(pk=True)
    order_id: Attr[str] = field(sk=True)
    total: Attr[Decimal]
    count: Attr[int] = field(default=0)
    ratio: Attr[float] = field(default=0.0)
    paid: Attr[bool] = field(default=False)
    blob: Attr[bytes | None] = field(default=None)
    placed: Attr[datetime | None] = field(default=None)
    day: Attr[date | None] = field(default=None)
    ref: Attr[uuid.UUID | None] = field(default=None)
    tier: Attr[Tier] = field(default=Tier.SILVER)
    channel: Attr[Literal["web", "pos"]] = field(default="web")
    tags: Attr[set[str]] = field(default_factory=set)
    codes: Attr[set[int]] = field(default_factory=set)
    lines: Attr[list[Line]] = field(default_factory=list)
    totals: Attr[dict[str, list[Decimal | None]]] = field(default_factory=dict)
    extra: Attr[dict[str, Any]] = field(default_factory=dict)
    data: Attr[dict[str, Any]] = field(default_factory=dict, json=True)
    expires: Attr[datetime | None] = field(ttl=True, default=None)
    created_at: Attr[datetime] = field(created_at=True)


def _order(i: int) -> Order:
    order = Order(
        customer_id=f"c{i % 3}",
        order_id=f"o{i:04d}",
        total=Decimal(f"{i}.{i % 100:02d}"),
        count=i * 10**20,
        ratio=i / 7,
        paid=i % 2 == 0,
        blob=bytes([i % 256]) * 3,
        placed=datetime(2024, 1, 1, i % 24, tzinfo=UTC),
        day=date(2024, 1, 1 + i % 28),
        ref=uuid.UUID(int=i),
        tier=Tier.GOLD if i % 3 else Tier.SILVER,
        channel="pos" if i % 5 else "web",
        tags={f"t{i}", "all"},
        codes={i, i + 1},
        lines=[Line(sku=f"s{j}", qty=j, price=Decimal("9.99"), note=None) for j in range(3)],
        totals={"a": [Decimal("1.5"), None]},
        extra={"k": [1, "x", None, {"n": Decimal("2.5")}]},
        data={"z": 1, "a": [True]},
        expires=datetime(2030, 1, 1, tzinfo=UTC),
    )
    order.created_at = datetime(2024, 1, 1, tzinfo=UTC)
    return order


def _body(items: list[dict[str, Any]], **page: Any) -> bytes:
    return json.dumps({"Items": items, "Count": len(items), **page}).encode()


def _big_body(items: list[dict[str, Any]]) -> bytes:
    """Pad the page past the fast-path threshold with extra copies; returns the body."""
    body = _body(items)
    assert len(body) >= fast_decode.FAST_THRESHOLD, "test page too small for the fast path"
    return body


@pytest.fixture
def items() -> list[dict[str, Any]]:
    return [_order(i).to_item() for i in range(120)]


def _source(obj: Model) -> Any:
    """What the instance keeps as its loaded state (msgspec's Raw on the fast path)."""
    source = object.__getattribute__(obj, "_dm_src")
    return source if isinstance(source, dict) else type(source).__name__


def _state(order: Order) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(order.__dict__), Order.__meta__.extras(order)


def test_fast_and_python_paths_agree(items: list[dict[str, Any]]) -> None:
    body = _big_body(items)
    fast = decode_page(Order, body)
    slow = decode_page_python(Order.__meta__, body)
    assert Order.__meta__.fast, "msgspec path was not used"
    sources = {_source(o) for o in fast.items}
    assert sources == {"Raw"}, "some items fell back to the Python path"
    assert [_state(o) for o in fast.items] == [_state(o) for o in slow.items]
    assert fast.items == [_order(i) for i in range(120)]
    assert all(type(o.count) is int and type(o.total) is Decimal for o in fast.items)
    assert all(o.placed is not None and o.placed.tzinfo is UTC for o in fast.items)


def test_page_fields_are_returned_raw(items: list[dict[str, Any]]) -> None:
    key = {"customerId": {"S": "c1"}, "orderId": {"S": "o0001"}}
    body = _body(items, LastEvaluatedKey=key, ScannedCount=500, ConsumedCapacity={"x": 1})
    for page in (decode_page(Order, body), decode_page_python(Order.__meta__, body)):
        assert isinstance(page, DecodedPage)
        assert (page.last_evaluated_key, page.count, page.scanned_count) == (key, 120, 500)
        assert page.consumed_capacity == {"x": 1}
        assert repr(page) == "DecodedPage(120 items, more)"


def test_undeclared_attributes_and_change_tracking_work_on_fast_pages(
    items: list[dict[str, Any]],
) -> None:
    items[0]["legacyFlag"] = {"BOOL": True}
    order = decode_page(Order, _big_body(items)).items[0]
    assert Order.__meta__.changed(order) == []
    assert order.to_item()["legacyFlag"] == {"BOOL": True}
    order.count += 1
    assert Order.__meta__.changed(order) == ["count"]


def test_partial_and_null_items_decode_like_the_python_path(
    items: list[dict[str, Any]],
) -> None:
    items[1] = {"customerId": {"S": "c"}, "orderId": {"S": "o"}, "total": {"N": "1"}}
    items[2]["placed"] = {"NULL": True}
    items[3]["lines"]["L"][0]["M"]["surprise"] = {"S": "nested extra"}
    items[4]["count"] = {"N": "1E+2"}
    body = _big_body(items)
    fast = decode_page(Order, body).items
    slow = decode_page_python(Order.__meta__, body).items
    fell_back = [i for i, o in enumerate(fast) if isinstance(_source(o), dict)]
    assert fell_back == [3]  # nested models with undeclared attributes take the Python path
    assert [_state(o) for o in fast] == [_state(o) for o in slow]
    assert not hasattr(fast[1], "created_at")
    assert fast[2].placed is None
    assert fast[4].count == 100
    assert fast[3].to_item()["lines"]["L"][0]["M"]["surprise"] == {"S": "nested extra"}


def test_bad_items_raise_the_same_error_on_both_paths(items: list[dict[str, Any]]) -> None:
    items[7]["count"] = {"N": "1.5"}
    body = _big_body(items)
    message = r"^Order.count: the stored number is not an integer"
    with pytest.raises(ValidationError, match=message):
        decode_page(Order, body)
    with pytest.raises(ValidationError, match=message):
        decode_page_python(Order.__meta__, body)


def test_small_pages_use_the_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tiny(Model, table="tiny"):
        key: Attr[str] = field(pk=True)

    body = _body([Tiny(key="k").to_item()])
    assert decode_page(Tiny, body).items == [Tiny(key="k")]
    assert Tiny.__meta__.fast is None


def test_without_msgspec_large_pages_use_the_python_path(
    monkeypatch: pytest.MonkeyPatch, items: list[dict[str, Any]]
) -> None:
    class Copy(Order):
        pass

    monkeypatch.setitem(sys.modules, "msgspec", None)
    page = decode_page(Copy, _big_body(items))
    assert Copy.__meta__.fast is False
    assert [o.order_id for o in page.items] == [o.order_id for o in map(_order, range(120))]


class Node(Model):
    name: Attr[str]
    children: Attr[list[Node]] = field(default_factory=list)


class Tree(Model, table="trees"):
    key: Attr[str] = field(pk=True)
    root: Attr[Node]


def test_self_referencing_models_decode_on_the_fast_path() -> None:
    trees = [
        Tree(key=f"k{i}", root=Node(name="r" * 300, children=[Node(name="c")])) for i in range(200)
    ]
    page = decode_page(Tree, _big_body([t.to_item() for t in trees]))
    assert Tree.__meta__.fast
    assert page.items == trees
    assert {_source(t) for t in page.items} == {"Raw"}


def test_partial_pages_leave_missing_fields_unset_on_both_paths() -> None:
    kept = ("customerId", "orderId", "total", "count", "placed", "lines")
    items = [{k: v for k, v in _order(i).to_item().items() if k in kept} for i in range(300)]
    items[5]["placed"] = {"NULL": True}
    items[6]["lines"]["L"][0]["M"]["surprise"] = {"S": "x"}  # this one takes the Python path
    del items[7]["count"]
    body = _big_body(items)
    fast = decode_page(Order, body, partial=True).items
    slow = decode_page_python(Order.__meta__, body, partial=True).items
    assert Order.__meta__.fast
    assert [i for i, o in enumerate(fast) if isinstance(_source(o), dict)] == [6]
    assert [_state(o) for o in fast] == [_state(o) for o in slow]
    for order in (fast[0], slow[0]):
        assert set(order.__dict__) == {
            "customer_id",
            "order_id",
            "total",
            "count",
            "placed",
            "lines",
        }
        assert order.lines[0].note is None  # nested models still fill their defaults
        with pytest.raises(AttributeError, match="tier"):
            _ = order.tier
    assert fast[5].placed is None
    assert "tier" not in fast[6].__dict__
    assert "count" not in fast[7].__dict__
    assert "count" not in slow[7].__dict__
    assert "count" in decode_page(Order, body).items[7].__dict__  # a full page fills defaults
