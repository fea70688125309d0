"""Models: declaration, constructor, every field type, metadata, errors that name the field."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any, Literal

import pytest

from dynamorm._core.errors import InvalidModel, MissingPrimaryKey, ValidationError
from dynamorm._core.expressions import Condition, build_expressions
from dynamorm._orm.model import GSI, LSI, Attr, Model, field

NOW = datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=UTC)


class Status(Enum):
    PENDING = "pending"
    SETTLED = "settled"


class Priority(IntEnum):
    LOW = 1
    HIGH = 2


class Address(Model):
    street: Attr[str]
    city: Attr[str]
    zip_code: Attr[str | None] = field(default=None)


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    currency: str = "USD"
    status: Attr[Status] = field(default=Status.PENDING, index=GSI("by-status", pk=True))
    placed_at: Attr[datetime] = field(
        default=NOW, index=(GSI("by-status", sk=True), LSI("by-placed"))
    )
    note: Attr[str | None] = field(default=None)
    tags: Attr[set[str]] = field(default_factory=set)
    version: Attr[int] = field(version=True)
    created_at: Attr[datetime] = field(created_at=True)
    updated_at: Attr[datetime] = field(updated_at=True)
    expires_at: Attr[datetime | None] = field(ttl=True, default=None)


def payment(**values: Any) -> Payment:
    return Payment(merchant_id="m1", payment_id="p1", **values)


# --- constructor ----------------------------------------------------------------------------


def test_constructor_is_keyword_only_with_defaults() -> None:
    p = payment(amount=1250)
    assert (p.amount, p.currency, p.status, p.note, p.tags, p.version) == (
        1250,
        "USD",
        Status.PENDING,
        None,
        set(),
        0,
    )
    with pytest.raises(TypeError, match="positional"):
        Payment("m1", "p1")  # type: ignore[call-arg]


def test_unknown_and_missing_arguments_are_type_errors_naming_the_model() -> None:
    with pytest.raises(
        TypeError, match=r"Payment.__init__\(\) got an unexpected keyword .*'amont'"
    ):
        payment(amont=1)
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'payment_id'"):
        Payment(merchant_id="m1")  # type: ignore[call-arg]


def test_role_fields_are_filled_by_the_library_not_the_constructor() -> None:
    p = payment()
    with pytest.raises(TypeError, match="created_at"):
        payment(created_at=NOW)
    with pytest.raises(AttributeError, match=r"Payment.created_at is not set"):
        _ = p.created_at
    assert not hasattr(p, "updated_at")
    p.created_at = NOW
    assert p.created_at == NOW


def test_role_fields_can_opt_into_the_constructor() -> None:
    class Imported(Model, table="imported"):
        key: Attr[str] = field(pk=True)
        created_at: Attr[datetime] = field(created_at=True, init=True, default=NOW)

    assert Imported(key="k", created_at=NOW - timedelta(days=1)).created_at < NOW
    assert Imported(key="k").created_at == NOW


def test_default_factories_give_each_instance_its_own_value() -> None:
    a, b = payment(), payment()
    a.tags.add("x")
    assert b.tags == set()


def test_repr_and_equality() -> None:
    p = payment(amount=5)
    assert repr(p).startswith("Payment(merchant_id='m1', payment_id='p1', amount=5, currency=")
    assert p == payment(amount=5)
    assert p != payment(amount=6)
    assert p != "not a model"


# --- metadata -------------------------------------------------------------------------------


def test_metadata_describes_keys_indexes_and_roles() -> None:
    meta = Payment.__meta__
    assert Payment.__table__ == meta.table == "payments"
    assert meta.pk is meta.fields["merchant_id"]
    assert meta.sk is meta.fields["payment_id"]
    assert [(f.stored, f.key_type) for f in meta.key_fields] == [
        ("merchant_id", "S"),
        ("payment_id", "S"),
    ]
    assert meta.fields["amount"].key_type == "N"
    assert meta.by_stored["placed_at"].name == "placed_at"
    gsi = meta.indexes["by-status"]
    assert (gsi.kind, gsi.pk.name, gsi.sk and gsi.sk.name, gsi.projection) == (
        "GSI",
        "status",
        "placed_at",
        "ALL",
    )
    lsi = meta.indexes["by-placed"]
    assert (lsi.kind, lsi.pk.name, lsi.sk and lsi.sk.name) == ("LSI", "merchant_id", "placed_at")
    assert [i.name for i in meta.gsis] == ["by-status"]
    assert [i.name for i in meta.lsis] == ["by-placed"]
    assert meta.version is meta.fields["version"]
    assert meta.created_at is meta.fields["created_at"]
    assert meta.updated_at is meta.fields["updated_at"]
    assert meta.ttl is meta.fields["expires_at"]
    assert meta.fields["note"].optional
    assert meta.require_table() == "payments"


def test_camel_naming_and_explicit_stored_names() -> None:
    class Order(Model, table="orders", naming="camel"):
        order_id: Attr[str] = field(pk=True)
        total_amount: Attr[int] = field(default=0)
        legacy: Attr[str] = field(name="LEGACY_NAME", default="")

    meta = Order.__meta__
    assert [f.stored for f in meta.fields.values()] == ["orderId", "totalAmount", "LEGACY_NAME"]
    assert Order(order_id="o").to_item() == {
        "orderId": {"S": "o"},
        "totalAmount": {"N": "0"},
        "LEGACY_NAME": {"S": ""},
    }
    assert Order.total_amount.name == "totalAmount"


def test_index_projections() -> None:
    class Doc(Model, table="docs"):
        key: Attr[str] = field(pk=True)
        sort: Attr[str] = field(sk=True)
        owner: Attr[str] = field(index=GSI("by-owner", pk=True, projection="KEYS_ONLY"))
        kind: Attr[str] = field(
            index=GSI("by-kind", pk=True, projection="INCLUDE", include=["title"])
        )
        title: Attr[str] = field(default="", index=LSI("by-title", projection="KEYS_ONLY"))

    meta = Doc.__meta__
    assert meta.indexes["by-owner"].projection == "KEYS_ONLY"
    assert (meta.indexes["by-kind"].projection, meta.indexes["by-kind"].include) == (
        "INCLUDE",
        ("title",),
    )
    assert meta.indexes["by-title"].projection == "KEYS_ONLY"


def test_models_without_a_table_are_documents() -> None:
    assert Address.__meta__.table is None
    with pytest.raises(InvalidModel, match=r"Address has no table; declare it as class"):
        Address.__meta__.require_table()


def test_subclasses_inherit_fields_and_table() -> None:
    class Refund(Payment):
        reason: Attr[str] = field(default="")

    assert Refund.__meta__.table == "payments"
    assert list(Refund.__meta__.fields)[-1] == "reason"
    assert Refund(merchant_id="m", payment_id="r", reason="dup").to_item()["reason"] == {"S": "dup"}
    assert Refund.amount is not Payment.amount
    assert Refund.amount.info.where == "Refund.amount"


def test_key_helpers() -> None:
    meta = Payment.__meta__
    assert meta.key(payment()) == {"merchant_id": {"S": "m1"}, "payment_id": {"S": "p1"}}
    assert meta.key_from({"merchant_id": "a", "payment_id": "b"}) == {
        "merchant_id": {"S": "a"},
        "payment_id": {"S": "b"},
    }
    with pytest.raises(MissingPrimaryKey, match=r"Payment.payment_id is part of the primary key"):
        meta.key_from({"merchant_id": "a"})
    with pytest.raises(ValidationError, match="got unknown amount"):
        meta.key_from({"merchant_id": "a", "payment_id": "b", "amount": 1})


# --- attributes as expressions --------------------------------------------------------------


def test_class_attributes_are_typed_paths() -> None:
    assert isinstance(Payment.amount, Attr)
    assert repr(Payment.amount) == "Attr(Payment.amount)"
    condition = Payment.amount > 1000
    assert isinstance(condition, Condition)
    params = build_expressions(condition=condition & (Payment.status == Status.SETTLED))
    assert sorted(params["ExpressionAttributeValues"].values(), key=str) == [
        {"N": "1000"},
        {"S": "settled"},
    ]


def test_operands_are_encoded_with_the_field_type() -> None:
    with pytest.raises(ValidationError, match="expected int, got str"):
        _ = Payment.amount > "1000"  # type: ignore[operator]
    with pytest.raises(ValidationError, match="expected Status, got str"):
        Payment.status.set("settled")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="empty set cannot be stored"):
        Payment.tags.add(set())


# --- types ------------------------------------------------------------------------------------


class Kinds(Model, table="kinds"):
    key: Attr[str] = field(pk=True)
    text: Attr[str] = field(default="")
    count: Attr[int] = field(default=0)
    price: Attr[Decimal] = field(default=Decimal(0))
    ratio: Attr[float] = field(default=0.0)
    flag: Attr[bool] = field(default=False)
    blob: Attr[bytes] = field(default=b"")
    when: Attr[datetime] = field(default=NOW)
    day: Attr[date] = field(default=date(2024, 5, 1))
    ident: Attr[uuid.UUID | None] = field(default=None)
    status: Attr[Status] = field(default=Status.PENDING)
    priority: Attr[Priority] = field(default=Priority.LOW)
    channel: Attr[Literal["web", "pos"]] = field(default="web")
    level: Attr[Literal[1, 2, 3]] = field(default=1)
    lines: Attr[list[int]] = field(default_factory=list)
    by_name: Attr[dict[str, Decimal]] = field(default_factory=dict)
    names: Attr[set[str]] = field(default_factory=set)
    numbers: Attr[set[int]] = field(default_factory=set)
    amounts: Attr[frozenset[Decimal]] = field(default_factory=frozenset)
    blobs: Attr[set[bytes]] = field(default_factory=set)
    address: Attr[Address | None] = field(default=None)
    doc: Attr[Any] = field(default=None)
    data: Attr[dict[str, Any]] = field(default_factory=dict, json=True)
    expires: Attr[datetime | None] = field(ttl=True, default=None)


@pytest.mark.parametrize(
    ("name", "value", "stored"),
    [
        ("text", "ünï", {"S": "ünï"}),
        ("count", 10**37, {"N": str(10**37)}),
        ("price", Decimal("19.99"), {"N": "19.99"}),
        ("price", Decimal("5"), {"N": "5"}),
        ("ratio", 0.25, {"N": "0.25"}),
        ("flag", True, {"BOOL": True}),
        ("blob", b"\x01\x02", {"B": "AQI="}),
        ("when", NOW, {"S": "2024-05-01T12:30:00.123456Z"}),
        ("day", date(2020, 2, 29), {"S": "2020-02-29"}),
        (
            "ident",
            uuid.UUID(int=1),
            {"S": "00000000-0000-0000-0000-000000000001"},
        ),
        ("status", Status.SETTLED, {"S": "settled"}),
        ("priority", Priority.HIGH, {"N": "2"}),
        ("channel", "pos", {"S": "pos"}),
        ("level", 3, {"N": "3"}),
        ("lines", [1, 2], {"L": [{"N": "1"}, {"N": "2"}]}),
        ("by_name", {"a": Decimal("1.5")}, {"M": {"a": {"N": "1.5"}}}),
        ("names", {"a"}, {"SS": ["a"]}),
        ("numbers", {7}, {"NS": ["7"]}),
        ("amounts", frozenset({Decimal("0.5")}), {"NS": ["0.5"]}),
        ("blobs", {b"x"}, {"BS": ["eA=="]}),
        (
            "address",
            Address(street="1 Main", city="Oslo"),
            {"M": {"street": {"S": "1 Main"}, "city": {"S": "Oslo"}}},
        ),
        (
            "doc",
            {"n": [1, "x", None]},
            {"M": {"n": {"L": [{"N": "1"}, {"S": "x"}, {"NULL": True}]}}},
        ),
        ("data", {"b": 1, "a": [True, None]}, {"S": '{"a":[true,null],"b":1}'}),
        (
            "expires",
            datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1))),
            {"N": "1704063600"},
        ),
    ],
)
def test_every_type_is_stored_and_read_back_exactly(name: str, value: Any, stored: Any) -> None:
    obj = Kinds(key="k", **{name: value})
    item = obj.to_item()
    assert item[Kinds.__meta__.fields[name].stored] == stored
    back = Kinds.from_item(item)
    assert getattr(back, name) == value
    assert type(getattr(back, name)) is type(value)


def test_optional_none_values_are_not_stored_and_read_back_as_none() -> None:
    item = Kinds(key="k").to_item()
    assert "ident" not in item
    assert "address" not in item
    assert "expires" not in item
    assert Kinds.from_item(item).ident is None
    assert Kinds.from_item({**item, "ident": {"NULL": True}}).ident is None


def test_empty_sets_are_never_sent_and_read_back_empty() -> None:
    item = Kinds(key="k").to_item()
    assert not {"names", "numbers", "amounts", "blobs"} & set(item)
    assert Kinds.from_item(item).amounts == frozenset()


def test_empty_sets_inside_documents_are_stored_as_null() -> None:
    class Groups(Model, table="groups"):
        key: Attr[str] = field(pk=True)
        members: Attr[dict[str, set[str]]] = field(default_factory=dict)

    item = Groups(key="k", members={"a": set(), "b": {"x"}}).to_item()
    assert item["members"] == {"M": {"a": {"NULL": True}, "b": {"SS": ["x"]}}}
    assert Groups.from_item(item).members == {"a": set(), "b": {"x"}}


def test_omit_empty_fields_are_not_stored_and_read_back_empty() -> None:
    class Sparse(Model, table="sparse"):
        key: Attr[str] = field(pk=True)
        note: Attr[str] = field(default="", omit_empty=True)
        count: Attr[int] = field(default=0, omit_empty=True)
        lines: Attr[list[str]] = field(default_factory=list, omit_empty=True)
        kept: Attr[str] = field(default="")

    item = Sparse(key="k").to_item()
    assert item == {"key": {"S": "k"}, "kept": {"S": ""}}
    back = Sparse.from_item(item)
    assert (back.note, back.count, back.lines) == ("", 0, [])
    assert Sparse(key="k", count=3).to_item()["count"] == {"N": "3"}


def test_ttl_int_fields_are_plain_numbers() -> None:
    class Session(Model, table="sessions"):
        key: Attr[str] = field(pk=True)
        expires: Attr[int] = field(ttl=True, default=0)

    assert Session(key="k", expires=1700000000).to_item()["expires"] == {"N": "1700000000"}
    assert Session.__meta__.ttl is Session.__meta__.fields["expires"]


def test_custom_converter() -> None:
    class Cents:
        def encode(self, value: Any, /) -> dict[str, Any]:
            return {"S": f"{value:.2f}"}

        def decode(self, av: dict[str, Any], /) -> Any:
            return float(av["S"])

    class Priced(Model, table="priced"):
        key: Attr[str] = field(pk=True)
        price: Attr[float] = field(default=0.0, converter=Cents())

    item = Priced(key="k", price=2.5).to_item()
    assert item["price"] == {"S": "2.50"}
    assert Priced.from_item(item).price == 2.5


def test_a_model_can_contain_itself() -> None:
    class Node(Model):
        name: Attr[str]
        children: Attr[list[Node]] = field(default_factory=list)

    tree = Node(name="root", children=[Node(name="a", children=[Node(name="b")])])
    assert Node.from_item(tree.to_item()) == tree


def test_plain_annotations_work_at_runtime() -> None:
    class Plain(Model, table="plain"):
        key: str = field(pk=True)
        count: int = 0
        note: str | None = None

    p = Plain(key="k", count=2)
    assert Plain.from_item(p.to_item()) == p
    assert isinstance(Plain.count, Attr)
