"""Invalid models and values are rejected with messages that name ``Model.field``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from dynamorm._core.errors import InvalidModel, MissingPrimaryKey, ValidationError
from dynamorm._orm.model import GSI, LSI, Attr, Model, field

# --- at class definition ----------------------------------------------------------------------


def test_a_table_model_needs_a_partition_key() -> None:
    with pytest.raises(InvalidModel, match=r"^NoKey: a model with a table needs a partition key"):

        class NoKey(Model, table="t"):
            name: Attr[str]


def test_two_partition_keys_are_rejected() -> None:
    with pytest.raises(InvalidModel, match=r"TwoKeys: two partition keys \(a and b\)"):

        class TwoKeys(Model, table="t"):
            a: Attr[str] = field(pk=True)
            b: Attr[str] = field(pk=True)


def test_two_sort_keys_are_rejected() -> None:
    with pytest.raises(InvalidModel, match=r"two sort keys \(b and c\)"):

        class TwoSorts(Model, table="t"):
            a: Attr[str] = field(pk=True)
            b: Attr[str] = field(sk=True)
            c: Attr[str] = field(sk=True)


def test_a_sort_key_needs_a_partition_key() -> None:
    with pytest.raises(InvalidModel, match=r"^SortOnly.b: a sort key needs a partition key"):

        class SortOnly(Model):
            b: Attr[str] = field(sk=True)


@pytest.mark.parametrize(
    ("annotation", "reason"),
    [
        (complex, "type complex is not supported"),
        (int | str, r"union int \| str is not supported \(only X \| None\)"),
        (set[float], r"sets must be set\[str\], set\[int\], set\[Decimal\] or set\[bytes\]"),
        (dict[int, str], "map keys must be str, not int"),
        (tuple[int, int], r"type tuple\[int, int\] is not supported"),
    ],
)
def test_unsupported_types_are_rejected(annotation: Any, reason: str) -> None:
    with pytest.raises(InvalidModel, match=rf"^Bad.value: {reason}") as info:
        type("Bad", (Model,), {"__annotations__": {"value": annotation}})
    assert info.value.path == "Bad.value"


def test_enums_with_mixed_values_are_rejected() -> None:
    from enum import Enum

    class Mixed(Enum):
        A = 1
        B = "b"

    with pytest.raises(
        InvalidModel, match=r"Bad\.value: enum Mixed must have only str or only int"
    ):
        type("Bad", (Model,), {"__annotations__": {"value": Mixed}})


def test_keys_must_be_scalar_and_not_optional() -> None:
    with pytest.raises(InvalidModel, match=r"Bad.key: a key must be a non-optional str.*not list"):

        class Bad(Model, table="t"):
            key: Attr[list[str]] = field(pk=True)

    with pytest.raises(InvalidModel, match=r"Bad2.key: a key must be"):

        class Bad2(Model, table="t"):
            key: Attr[str | None] = field(pk=True)

    with pytest.raises(InvalidModel, match=r"Bad3.key: a key must be .* not bool"):

        class Bad3(Model, table="t"):
            key: Attr[bool] = field(pk=True)


def test_indexes_need_scalar_key_fields() -> None:
    with pytest.raises(
        InvalidModel, match=r"Bad.tags: index 'by-tag' needs a str, number or bytes"
    ):

        class Bad(Model, table="t"):
            key: Attr[str] = field(pk=True)
            tags: Attr[set[str]] = field(index=GSI("by-tag", pk=True))


def test_index_include_must_name_known_fields() -> None:
    with pytest.raises(InvalidModel, match=r"Bad: index 'by-x' includes unknown field 'nope'"):

        class Bad(Model, table="t"):
            key: Attr[str] = field(pk=True)
            x: Attr[str] = field(index=GSI("by-x", pk=True, projection="INCLUDE", include=["nope"]))


def test_index_declaration_errors() -> None:
    with pytest.raises(
        InvalidModel, match=r"Bad.x: GSI 'by-x' has a sort key but no partition key"
    ):

        class Bad(Model, table="t"):
            key: Attr[str] = field(pk=True)
            x: Attr[str] = field(index=GSI("by-x", sk=True))

    with pytest.raises(InvalidModel, match=r"Bad2: LSI 'by-x' needs a table with a partition and"):

        class Bad2(Model, table="t"):
            key: Attr[str] = field(pk=True)
            x: Attr[str] = field(index=LSI("by-x"))

    with pytest.raises(InvalidModel, match=r"Bad3.y: index 'by-x' already has x as its pk"):

        class Bad3(Model, table="t"):
            key: Attr[str] = field(pk=True)
            x: Attr[str] = field(index=GSI("by-x", pk=True))
            y: Attr[str] = field(index=GSI("by-x", pk=True))

    with pytest.raises(InvalidModel, match=r"conflicting projections for index 'by-x'"):

        class Bad4(Model, table="t"):
            key: Attr[str] = field(pk=True)
            x: Attr[str] = field(index=GSI("by-x", pk=True, projection="KEYS_ONLY"))
            y: Attr[str] = field(index=GSI("by-x", sk=True, projection="INCLUDE", include=["key"]))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GSI("x"), "GSI name must be a str of 3 to 255 letters"),
        (lambda: GSI("by-x"), r"GSI\('by-x'\) needs exactly one of pk=True or sk=True"),
        (lambda: GSI("by-x", pk=True, projection="SOME"), "projection must be one of ALL"),  # type: ignore[arg-type]
        (lambda: LSI("by-x", include=["a"]), "include=.* goes with projection='INCLUDE'"),
    ],
)
def test_index_arguments_are_checked(make: Any, message: str) -> None:
    with pytest.raises(InvalidModel, match=message):
        make()


@pytest.mark.parametrize(
    ("annotation", "options", "message"),
    [
        (str, {"version": True}, "a version field must be int"),
        (int | None, {"version": True}, "a version field must be int"),
        (date, {"ttl": True}, r"a ttl field must be datetime or int \(epoch seconds\)"),
        (str, {"created_at": True}, "a created_at field must be datetime"),
        (int, {"updated_at": True}, "an? updated_at field must be datetime"),
        (int, {"version": True, "ttl": True}, "a field has at most one role"),
        (datetime, {"omit_empty": True}, "omit_empty does not apply to a datetime field"),
        (list[int], {"default": []}, "mutable default; use default_factory"),
        (int, {"default": 0, "default_factory": int}, "give default or default_factory, not both"),
        (int, {"encrypted": True, "version": True}, "a version field cannot be encrypted"),
    ],
)
def test_field_options_are_checked(annotation: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidModel, match=rf"^Bad.value: {message}"):
        type("Bad", (Model,), {"__annotations__": {"value": annotation}, "value": field(**options)})


def test_two_fields_with_the_same_role_are_rejected() -> None:
    with pytest.raises(InvalidModel, match=r"Bad.b: version role is already on a"):

        class Bad(Model):
            a: Attr[int] = field(version=True)
            b: Attr[int] = field(version=True)


def test_duplicate_stored_names_are_rejected() -> None:
    with pytest.raises(InvalidModel, match=r"Bad.b: stored attribute name 'a' is also used by a"):

        class Bad(Model):
            a: Attr[str]
            b: Attr[str] = field(name="a")

    with pytest.raises(InvalidModel, match=r"Bad2.orderId: stored attribute name 'orderId'"):

        class Bad2(Model, naming="camel"):
            order_id: Attr[str]
            orderId: Attr[str]


def test_reserved_names_unknown_options_and_unannotated_fields() -> None:
    with pytest.raises(InvalidModel, match=r"Bad.to_item: this name is reserved"):
        type("Bad", (Model,), {"__annotations__": {"to_item": str}})
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        field(bogus=True)  # type: ignore[call-overload]
    with pytest.raises(InvalidModel, match=r"Bad2.x: field\(...\) needs a type annotation"):
        type("Bad2", (Model,), {"x": field(default=1)})


def test_bad_class_keywords_are_rejected() -> None:
    with pytest.raises(InvalidModel, match="table must be a str of 1 to 255 letters"):
        type("Bad", (Model,), {}, table="")
    with pytest.raises(InvalidModel, match="naming must be 'as_is' or 'camel', got 'snake'"):
        type("Bad", (Model,), {}, naming="snake")


def test_unresolvable_annotations_are_reported() -> None:
    namespace: dict[str, Any] = {"__annotations__": {"value": "Undefined"}, "__module__": __name__}
    with pytest.raises(InvalidModel, match=r"Bad: cannot resolve an annotation .*Undefined"):
        type("Bad", (Model,), namespace)


# --- at encode time -----------------------------------------------------------------------------


class Card(Model, table="cards"):
    holder: Attr[str] = field(pk=True)
    number: Attr[str] = field(sk=True)
    token: Attr[str] = field(default="")
    limit: Attr[Decimal] = field(default=Decimal(0))
    spent: Attr[int] = field(default=0)
    meta: Attr[dict[str, Any]] = field(default_factory=dict)
    lines: Attr[list[list[int]]] = field(default_factory=list)
    opened: Attr[datetime | None] = field(default=None)


def card(**values: Any) -> Card:
    return Card(**{"holder": "h", "number": "n", **values})


def test_none_in_a_non_optional_field() -> None:
    with pytest.raises(
        ValidationError, match=r"^Card.spent: is None but the field is not optional"
    ):
        card(spent=None).to_item()


def test_wrong_value_types_name_the_field_but_never_show_the_value() -> None:
    with pytest.raises(ValidationError, match=r"^Card.token: expected str, got int$") as info:
        card(token=4111111111111111).to_item()
    assert "4111" not in str(info.value)
    assert info.value.path == "Card.token"


def test_empty_keys_and_missing_keys() -> None:
    with pytest.raises(
        MissingPrimaryKey, match=r"Card.holder is a key attribute and cannot be empty"
    ):
        card(holder="").to_item()
    partial = Card.from_item({"number": {"S": "n"}})
    with pytest.raises(
        MissingPrimaryKey, match=r"^Card.holder: part of the primary key and not set"
    ):
        partial.to_item()


def test_key_byte_limits() -> None:
    card(holder="é" * 1024).to_item()
    with pytest.raises(
        ValidationError, match=r"Card.holder is 2050 bytes, over .* 2048-byte partition"
    ):
        card(holder="é" * 1025).to_item()
    with pytest.raises(ValidationError, match=r"Card.number is 1025 bytes, over .* 1024-byte sort"):
        card(number="x" * 1025).to_item()


def test_numbers_out_of_range_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"^Card.limit: a number is out of DynamoDB's range"):
        card(limit=Decimal("1E+126")).to_item()
    with pytest.raises(
        ValidationError, match=r"^Card.spent: a number has more than 38 significant"
    ):
        card(spent=10**40 + 1).to_item()
    with pytest.raises(ValidationError, match=r"^Card.limit: expected Decimal, got float"):
        card(limit=1.5).to_item()


def test_nested_errors_carry_the_full_path() -> None:
    with pytest.raises(ValidationError, match=r"^Card.meta.a\[1\]: NaN") as info:
        card(meta={"a": [1, Decimal("NaN")]}).to_item()
    assert info.value.path == "Card.meta.a[1]"
    with pytest.raises(ValidationError, match=r"^Card.lines\[0\]\[1\]: expected int, got str"):
        card(lines=[[1, "2"]]).to_item()


def test_nesting_over_31_maps() -> None:
    deep: Any = 1
    for _ in range(31):
        deep = {"k": deep}
    card(meta=deep).to_item()
    deep = {"k": deep}
    with pytest.raises(ValidationError, match=r"^Card.meta.k.k.* nests more than 31 maps/lists"):
        card(meta=deep).to_item()


def test_items_over_400_kb() -> None:
    with pytest.raises(ValidationError, match=r"^Card item is \d+ bytes, over DynamoDB's 409600"):
        card(token="x" * 410_000).to_item()


def test_naive_datetimes_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"^Card.opened: a naive datetime"):
        card(opened=datetime(2024, 1, 1)).to_item()
    assert card(opened=datetime(2024, 1, 1, tzinfo=UTC)).to_item()["opened"]


# --- at decode time -----------------------------------------------------------------------------


def test_stored_values_of_the_wrong_type_name_the_field() -> None:
    base = {"holder": {"S": "h"}, "number": {"S": "n"}}
    with pytest.raises(ValidationError, match=r"^Card.spent: expected a stored N value, got S"):
        Card.from_item({**base, "spent": {"S": "12"}})
    with pytest.raises(ValidationError, match=r"^Card.spent: the stored number is not an integer"):
        Card.from_item({**base, "spent": {"N": "1.5"}})
    with pytest.raises(ValidationError, match=r"^Card.lines\[0\]\[2\]: expected a stored N value"):
        Card.from_item({**base, "lines": {"L": [{"L": [{"N": "1"}, {"N": "2"}, {"S": "x"}]}]}})
    with pytest.raises(
        ValidationError, match=r"^Card.opened: the stored timestamp has no timezone"
    ):
        Card.from_item({**base, "opened": {"S": "2024-01-01T00:00:00"}})


def test_items_must_be_mappings() -> None:
    with pytest.raises(
        ValidationError, match="an item must be a dict of AttributeValues, not list"
    ):
        Card.from_item([])  # type: ignore[arg-type]


def test_empty_index_key_is_refused_naming_the_field_and_index() -> None:
    class Order(Model, table="orders"):
        order_id: Attr[str] = field(pk=True)
        status: Attr[str] = field(default="", index=GSI("by-status", pk=True))
        region: Attr[str | None] = field(default=None, index=GSI("by-region", pk=True))

    with pytest.raises(ValidationError, match=r"Order\.status is a key of index 'by-status'"):
        Order(order_id="o1").to_item()
    assert "region" not in Order(order_id="o1", status="new").to_item()
    too_long = "x" * 2049
    with pytest.raises(ValidationError, match="2048-byte partition key limit"):
        Order(order_id="o1", status=too_long).to_item()
