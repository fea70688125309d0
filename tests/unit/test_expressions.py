"""Conditions: operators, paths, placeholders, precedence, errors, value semantics."""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from dynamorm._core.errors import InvalidOperator, ValidationError
from dynamorm._core.expressions import (
    MAX_EXPRESSION_BYTES,
    Condition,
    ExpressionBuilder,
    Path,
    build_expressions,
)


def compiled(condition: Condition) -> tuple[str, dict[str, str], dict[str, dict[str, Any]]]:
    builder = ExpressionBuilder()
    text = builder.condition(condition)
    return text, builder.names, builder.values


def int_encoder(value: Any) -> dict[str, Any]:
    return {"N": f"{value}"}


amount: Path[int] = Path("amount", encoder=int_encoder)
status: Path[str] = Path("status")
meta: Path[dict[str, Any]] = Path("meta")
tags: Path[set[str]] = Path("tags")


# --- operators ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "symbol"),
    [
        (operator.eq, "="),
        (operator.ne, "<>"),
        (operator.lt, "<"),
        (operator.le, "<="),
        (operator.gt, ">"),
        (operator.ge, ">="),
    ],
)
def test_comparisons(op: Callable[[Any, Any], Condition], symbol: str) -> None:
    assert compiled(op(amount, 1000)) == (
        f"#n0 {symbol} :v0",
        {"#n0": "amount"},
        {":v0": {"N": "1000"}},
    )


def test_reflected_comparison_keeps_the_path_on_the_left() -> None:
    condition = amount > 5  # Python turns this into amount > 5
    assert compiled(condition)[0] == "#n0 > :v0"
    assert repr(condition) == "Condition(amount > 5)"


def test_path_compared_with_path_uses_no_values() -> None:
    low: Path[int] = Path("low")
    assert compiled(amount < low) == ("#n0 < #n1", {"#n0": "amount", "#n1": "low"}, {})


def test_between() -> None:
    assert compiled(amount.between(1, 5)) == (
        "#n0 BETWEEN :v0 AND :v1",
        {"#n0": "amount"},
        {":v0": {"N": "1"}, ":v1": {"N": "5"}},
    )


def test_in() -> None:
    assert compiled(status.in_(["a", "b", "c"])) == (
        "#n0 IN (:v0, :v1, :v2)",
        {"#n0": "status"},
        {":v0": {"S": "a"}, ":v1": {"S": "b"}, ":v2": {"S": "c"}},
    )


def test_in_accepts_any_iterable_and_paths() -> None:
    other: Path[str] = Path("other")
    options: list[str | Path[str]] = ["a", other]
    text, names, values = compiled(status.in_(iter(options)))
    assert text == "#n0 IN (:v0, #n1)"
    assert names == {"#n0": "status", "#n1": "other"}
    assert values == {":v0": {"S": "a"}}


def test_in_accepts_exactly_100_values() -> None:
    text, _, values = compiled(amount.in_(range(100)))
    assert len(values) == 100
    assert text.endswith(":v98, :v99)")


def test_begins_with_str_and_bytes() -> None:
    assert compiled(status.begins_with("pay#")) == (
        "begins_with(#n0, :v0)",
        {"#n0": "status"},
        {":v0": {"S": "pay#"}},
    )
    assert compiled(Path("blob").begins_with(b"\x00\x01"))[2] == {":v0": {"B": "AAE="}}


def test_contains_element_substring_and_path() -> None:
    assert compiled(tags.contains("vip")) == (
        "contains(#n0, :v0)",
        {"#n0": "tags"},
        {":v0": {"S": "vip"}},
    )
    assert compiled(tags.contains(status)) == (
        "contains(#n0, #n1)",
        {"#n0": "tags", "#n1": "status"},
        {},
    )


def test_exists_and_not_exists() -> None:
    assert compiled(status.exists()) == ("attribute_exists(#n0)", {"#n0": "status"}, {})
    assert compiled(status.not_exists()) == ("attribute_not_exists(#n0)", {"#n0": "status"}, {})


@pytest.mark.parametrize("code", ["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"])
def test_attribute_type(code: str) -> None:
    assert compiled(meta.attribute_type(code)) == (
        "attribute_type(#n0, :v0)",
        {"#n0": "meta"},
        {":v0": {"S": code}},
    )


def test_size() -> None:
    assert compiled(tags.size() > 3) == ("size(#n0) > :v0", {"#n0": "tags"}, {":v0": {"N": "3"}})
    assert compiled(tags.size() == amount)[0] == "size(#n0) = #n1"
    assert compiled(tags.size() <= tags.size())[0] == "size(#n0) <= size(#n0)"
    assert compiled(tags.size().between(1, 2))[0] == "size(#n0) BETWEEN :v0 AND :v1"
    assert compiled(amount > tags.size())[0] == "#n0 > size(#n1)"
    assert compiled(tags.size() != 0)[0] == "size(#n0) <> :v0"
    assert compiled(tags.size() < 1)[0] == "size(#n0) < :v0"
    assert compiled(tags.size() >= 1)[0] == "size(#n0) >= :v0"


def test_path_encoder_is_used_for_its_own_values_only() -> None:
    seen: list[Any] = []

    def encoder(value: Any) -> dict[str, Any]:
        seen.append(value)
        return {"S": f"enc:{value}"}

    color: Path[str] = Path("color", encoder=encoder)
    assert compiled(color == "red")[2] == {":v0": {"S": "enc:red"}}
    assert compiled(color.between("a", "b"))[2] == {":v0": {"S": "enc:a"}, ":v1": {"S": "enc:b"}}
    assert compiled(color.in_(["x"]))[2] == {":v0": {"S": "enc:x"}}
    # begins_with / contains take a prefix or element, not a value of the path's type
    assert compiled(color.begins_with("r"))[2] == {":v0": {"S": "r"}}
    assert compiled(color.contains("e"))[2] == {":v0": {"S": "e"}}
    # nested paths are untyped: the generic codec
    assert compiled(color["x"] == 1)[2] == {":v0": {"N": "1"}}
    assert seen == ["red", "a", "b", "x"]


def test_values_are_encoded_when_the_condition_is_built() -> None:
    items = [1, 2]
    condition = Path("n").in_(items)
    items.append(3)
    assert compiled(condition)[2] == {":v0": {"N": "1"}, ":v1": {"N": "2"}}


# --- names and paths ------------------------------------------------------------------------


def test_reserved_words_always_go_through_placeholders() -> None:
    condition = (status == "ok") & (Path("size") > 1) & Path("name").exists()
    assert compiled(condition) == (
        "#n0 = :v0 AND #n1 > :v1 AND attribute_exists(#n2)",
        {"#n0": "status", "#n1": "size", "#n2": "name"},
        {":v0": {"S": "ok"}, ":v1": {"N": "1"}},
    )


def test_names_with_dots_and_dashes_are_single_names() -> None:
    condition = (Path("order.id") == "o1") & (Path("merchant-id")["a.b"] == "x")
    assert compiled(condition)[:2] == (
        "#n0 = :v0 AND #n1.#n2 = :v1",
        {"#n0": "order.id", "#n1": "merchant-id", "#n2": "a.b"},
    )


def test_nested_map_and_list_paths() -> None:
    assert compiled(meta["a"]["b"][2] == 7) == (
        "#n0.#n1.#n2[2] = :v0",
        {"#n0": "meta", "#n1": "a", "#n2": "b"},
        {":v0": {"N": "7"}},
    )
    assert compiled(Path("matrix")[0][10].exists())[0] == "attribute_exists(#n0[0][10])"
    assert compiled(Path("rows")[3]["id"] == 1)[0] == "#n0[3].#n1 = :v0"


def test_repeated_names_share_one_placeholder() -> None:
    condition = (meta["meta"]["a"] == 1) | (meta["a"] == 2) | (Path("a") == 3)
    text, names, _ = compiled(condition)
    assert text == "#n0.#n0.#n1 = :v0 OR #n0.#n1 = :v1 OR #n1 = :v2"
    assert names == {"#n0": "meta", "#n1": "a"}


def test_path_properties_and_repr() -> None:
    nested = meta["a"]["b.c"][2]
    assert nested.name == "meta"
    assert nested.elements == ("meta", "a", "b.c", 2)
    assert repr(nested) == "Path(\"meta.a['b.c'][2]\")"
    assert repr(amount) == "Path('amount')"
    assert repr(tags.size()) == "Size('tags')"
    assert tags.size().path is tags


def test_nesting_does_not_change_the_parent() -> None:
    child = meta["a"]
    assert meta.elements == ("meta",)
    assert child.elements == ("meta", "a")
    assert type(child) is Path


@pytest.mark.parametrize("name", ["", 5, None])
def test_bad_attribute_name(name: Any) -> None:
    with pytest.raises(ValidationError, match="an attribute name must be a non-empty str, got"):
        Path(name)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "a path step must be a non-empty map key or a list index >= 0, got ''"),
        (-1, "a path step must be a non-empty map key or a list index >= 0, got -1"),
        (True, "a path step must be a map key \\(str\\) or a list index \\(int\\), got True"),
        (1.5, "a path step must be a map key \\(str\\) or a list index \\(int\\), got 1.5"),
    ],
)
def test_bad_path_step(key: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        meta[key]
    assert info.value.path == "meta"


def test_unencodable_value_names_the_path() -> None:
    with pytest.raises(ValidationError) as info:
        _ = meta["a"] == object()
    assert str(info.value) == "meta.a: cannot store a value of type object"
    assert info.value.path == "meta.a"


def test_nested_encoding_error_path_is_extended() -> None:
    with pytest.raises(ValidationError) as info:
        _ = meta == {"x": [1, object()]}
    assert info.value.path == "meta.x[1]"


# --- combining and precedence ---------------------------------------------------------------

a = Path("a") == 1
b = Path("b") == 2
c = Path("c") == 3


def test_and_or_flatten() -> None:
    assert compiled(a & b & c)[0] == "#n0 = :v0 AND #n1 = :v1 AND #n2 = :v2"
    assert compiled(a | (b | c))[0] == "#n0 = :v0 OR #n1 = :v1 OR #n2 = :v2"
    assert (a & (b & c)).args == (a, b, c)


def test_or_inside_and_is_parenthesized() -> None:
    assert compiled(a & (b | c))[0] == "#n0 = :v0 AND (#n1 = :v1 OR #n2 = :v2)"


def test_and_inside_or_is_parenthesized() -> None:
    assert compiled((a & b) | c)[0] == "(#n0 = :v0 AND #n1 = :v1) OR #n2 = :v2"
    assert compiled(a & b | c)[0] == "(#n0 = :v0 AND #n1 = :v1) OR #n2 = :v2"


def test_not() -> None:
    assert compiled(~a)[0] == "NOT (#n0 = :v0)"
    assert compiled(~(a | b))[0] == "NOT (#n0 = :v0 OR #n1 = :v1)"
    assert compiled(~Path("a").exists())[0] == "NOT attribute_exists(#n0)"
    assert compiled(~~a)[0] == "NOT (NOT (#n0 = :v0))"
    assert compiled(~a & b)[0] == "NOT (#n0 = :v0) AND #n1 = :v1"


def test_combining_leaves_operands_unchanged() -> None:
    both = a & b
    either = both | c
    assert both.args == (a, b)
    assert either.args == (both, c)


def test_repr_shows_names_and_values() -> None:
    condition = (amount > 1000) & ((status == "settled") | ~meta["a"][0].exists())
    assert repr(condition) == (
        "Condition(amount > 1000 AND (status = 'settled' OR NOT attribute_exists(meta.a[0])))"
    )
    assert repr(status.in_(["x", "y"])) == "Condition(status IN ('x', 'y'))"
    assert repr(amount.between(1, 2)) == "Condition(amount BETWEEN 1 AND 2)"
    assert repr(tags.size() >= 2) == "Condition(size(tags) >= 2)"


def test_attribute_names_and_paths() -> None:
    condition = (meta["a"] == 1) & ((tags.size() > 1) | (amount < Path("low")))
    assert condition.attribute_names() == {"meta", "tags", "amount", "low"}
    assert [p.elements for p in condition.paths()] == [
        ("meta", "a"),
        ("tags",),
        ("amount",),
        ("low",),
    ]


# --- errors the user sees -------------------------------------------------------------------


def test_in_needs_one_to_100_values() -> None:
    with pytest.raises(InvalidOperator, match=r"in_\(\) needs 1 to 100 values .*got 0") as info:
        amount.in_([])
    assert info.value.path == "amount"
    with pytest.raises(InvalidOperator, match=r"in_\(\) needs 1 to 100 values .*got 101"):
        amount.in_(range(101))


@pytest.mark.parametrize("values", ["abc", b"ab", {"a": 1}, 5])
def test_in_rejects_a_single_value(values: Any) -> None:
    with pytest.raises(InvalidOperator, match=r"in_\(\) needs a list of values, got"):
        status.in_(values)


def test_begins_with_needs_str_or_bytes() -> None:
    with pytest.raises(
        InvalidOperator, match=r"begins_with\(\) needs a str or bytes prefix, got 5"
    ):
        status.begins_with(5)  # type: ignore[arg-type]


def test_attribute_type_must_be_a_dynamodb_type() -> None:
    with pytest.raises(InvalidOperator) as info:
        meta.attribute_type("MAP")
    assert str(info.value) == (
        "unknown attribute type 'MAP'; expected one of B, BOOL, BS, L, M, N, NS, NULL, S, SS"
    )


@pytest.mark.parametrize("other", ["3", True, 1.5, None])
def test_size_compares_with_ints(other: Any) -> None:
    with pytest.raises(InvalidOperator, match=r"size\(\) is compared with an int, got"):
        _ = tags.size() > other


@pytest.mark.parametrize(
    ("combine", "message"),
    [
        (lambda cond: cond & 5, r"& combines conditions, got 5; build a condition first"),
        (lambda cond: cond | "x", r"\| combines conditions, got 'x'; build a condition first"),
        (lambda cond: cond & amount, r"& combines conditions, got Path\('amount'\)"),
    ],
)
def test_combining_with_a_non_condition(combine: Callable[[Condition], Any], message: str) -> None:
    with pytest.raises(InvalidOperator, match=message):
        combine(a)


def test_condition_has_no_truth_value() -> None:
    with pytest.raises(TypeError, match="instead of and / or / not"):
        bool(amount > 5)
    with pytest.raises(TypeError, match="use between"):
        _ = 1 < amount < 5
    with pytest.raises(TypeError, match="a Condition has no truth value"):
        _ = (status == "a") or (amount == 1)


def test_missing_parentheses_get_a_hint() -> None:
    with pytest.raises(InvalidOperator, match=r"wrap each comparison in parentheses") as info:
        _ = amount == 1 & status == "x"  # type: ignore[operator, comparison-overlap]
    assert info.value.path == "status"
    with pytest.raises(InvalidOperator, match=r"cannot be combined with & \| ~"):
        _ = ~status  # type: ignore[operator]
    with pytest.raises(InvalidOperator, match=r"cannot be combined with & \| ~"):
        _ = status | a  # type: ignore[operator]


def test_builder_rejects_a_non_condition() -> None:
    with pytest.raises(InvalidOperator) as info:
        ExpressionBuilder().condition(True, kind="FilterExpression")  # type: ignore[arg-type]
    assert str(info.value) == (
        "FilterExpression needs a condition such as Model.attr == value, got True"
    )


# --- value semantics ------------------------------------------------------------------------


def test_conditions_compare_and_hash_by_structure() -> None:
    first = (amount > 5) & meta["a"].exists()
    second = (Path("amount") > 5) & Path("meta")["a"].exists()
    assert first == second
    assert hash(first) == hash(second)
    assert len({first, second, amount > 6}) == 2
    assert (amount > 5) != (amount >= 5)
    assert (Path("x") == Decimal("1")) == (Path("x") == 1)  # same stored value
    assert (status.in_(["a"])) != (status.in_(["a", "b"]))
    assert (meta == {"k": [1]}) == (meta == {"k": [1]})
    assert a != "not a condition"


def test_conditions_and_paths_are_read_only() -> None:
    condition = amount > 5
    with pytest.raises(AttributeError):
        condition.op = "<"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        amount.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        condition.extra = 1  # type: ignore[attr-defined]


def test_paths_hash_by_identity_and_work_in_collections() -> None:
    other: Path[int] = Path("amount")
    same = amount
    assert bool(amount == same)
    assert not bool(amount == other)
    assert bool(amount != other)
    assert other in [amount, other]
    assert {amount: 1, other: 2}[other] == 2
    assert amount in {amount}


# --- the builder ----------------------------------------------------------------------------


def test_one_namespace_across_the_request() -> None:
    params = build_expressions(
        key=Path("pk") == "m1",
        filter=status == "ok",
        condition=status.exists(),
        update=[status.set("done")],
        projection=[status, Path("pk")],
    )
    assert params == {
        "KeyConditionExpression": "#n0 = :v0",
        "FilterExpression": "#n1 = :v1",
        "ConditionExpression": "attribute_exists(#n1)",
        "UpdateExpression": "SET #n1 = :v2",
        "ProjectionExpression": "#n1, #n0",
        "ExpressionAttributeNames": {"#n0": "pk", "#n1": "status"},
        "ExpressionAttributeValues": {
            ":v0": {"S": "m1"},
            ":v1": {"S": "ok"},
            ":v2": {"S": "done"},
        },
    }


def test_empty_maps_are_omitted() -> None:
    assert build_expressions() == {}
    assert build_expressions(projection=[status]) == {
        "ProjectionExpression": "#n0",
        "ExpressionAttributeNames": {"#n0": "status"},
    }
    assert ExpressionBuilder().attributes() == {}


def test_builder_returns_copies() -> None:
    builder = ExpressionBuilder()
    builder.condition(status == "x")
    builder.names.clear()
    builder.values.clear()
    assert builder.attributes() == {
        "ExpressionAttributeNames": {"#n0": "status"},
        "ExpressionAttributeValues": {":v0": {"S": "x"}},
    }


def _in_terms(count: int, size: int) -> Condition:
    """``x IN (...)`` terms of ``size`` values each, joined by OR: few operators, many bytes."""
    big = Path("x").in_(range(size))
    for i in range(1, count):
        big = big | Path("x").in_(range(i * size, (i + 1) * size))
    return big


def test_expression_longer_than_4kb_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        ExpressionBuilder().condition(_in_terms(8, 100))
    assert str(info.value).startswith("ConditionExpression is ")
    assert str(info.value).endswith(
        " bytes; DynamoDB allows at most 4096 bytes per expression string (use fewer "
        "conditions or actions per request)"
    )


def test_the_longest_accepted_expression_is_within_4kb() -> None:
    # grow an OR chain of 10-value IN terms until the builder refuses it
    accepted = ""
    for count in range(1, 100):
        try:
            accepted = ExpressionBuilder().condition(_in_terms(count, 10))
        except ValidationError:
            break
    term = len(" OR #n0 IN (:v990, :v991, :v992, :v993, :v994, :v995, :v996, :v997, :v998, :v999)")
    assert MAX_EXPRESSION_BYTES - term < len(accepted) <= MAX_EXPRESSION_BYTES


def test_more_than_300_operators_is_rejected() -> None:
    def chain(terms: int) -> Condition:
        condition = Path("x") == 0
        for i in range(1, terms):
            condition = condition | (Path("x") == i)
        return condition

    ExpressionBuilder().condition(chain(150))  # 150 "=" and 149 OR: 299 operators
    with pytest.raises(ValidationError) as info:
        ExpressionBuilder().condition(chain(151))
    assert str(info.value) == (
        "ConditionExpression has 301 operators and functions; DynamoDB allows at most 300 per "
        "expression (split the condition or use in_() for lists)"
    )
