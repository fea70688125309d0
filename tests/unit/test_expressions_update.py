"""Update actions, projections and key conditions."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from dynamorm._core.errors import InvalidOperator, MissingPrimaryKey, ValidationError
from dynamorm._core.expressions import (
    Condition,
    ExpressionBuilder,
    Path,
    UpdateAction,
    split_key_condition,
)


def compiled(*actions: UpdateAction) -> tuple[str, dict[str, str], dict[str, dict[str, Any]]]:
    builder = ExpressionBuilder()
    text = builder.update(actions)
    return text, builder.names, builder.values


amount: Path[int] = Path("amount")
status: Path[str] = Path("status")
tags: Path[set[str]] = Path("tags")
history: Path[list[str]] = Path("history")
meta: Path[dict[str, Any]] = Path("meta")


# --- each action ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "text", "values"),
    [
        (status.set("paid"), "SET #n0 = :v0", {":v0": {"S": "paid"}}),
        (status.remove(), "REMOVE #n0", {}),
        (amount.add(5), "ADD #n0 :v0", {":v0": {"N": "5"}}),
        (tags.add({"vip"}), "ADD #n0 :v0", {":v0": {"SS": ["vip"]}}),
        (tags.delete({"vip"}), "DELETE #n0 :v0", {":v0": {"SS": ["vip"]}}),
        (Path("ids").delete({7}), "DELETE #n0 :v0", {":v0": {"NS": ["7"]}}),
        (history.append(["a"]), "SET #n0 = list_append(#n0, :v0)", {":v0": {"L": [{"S": "a"}]}}),
        (history.prepend(["a"]), "SET #n0 = list_append(:v0, #n0)", {":v0": {"L": [{"S": "a"}]}}),
        (status.if_not_exists("new"), "SET #n0 = if_not_exists(#n0, :v0)", {":v0": {"S": "new"}}),
        (amount.increment(), "SET #n0 = #n0 + :v0", {":v0": {"N": "1"}}),
        (amount.increment(250), "SET #n0 = #n0 + :v0", {":v0": {"N": "250"}}),
        (amount.decrement(), "SET #n0 = #n0 - :v0", {":v0": {"N": "1"}}),
        (Path("rate").increment(Decimal("0.25")), "SET #n0 = #n0 + :v0", {":v0": {"N": "0.25"}}),
    ],
)
def test_each_action(action: UpdateAction, text: str, values: dict[str, Any]) -> None:
    assert compiled(action) == (text, {"#n0": action.path.name}, values)


def test_set_from_another_path() -> None:
    previous: Path[str] = Path("previous")
    assert compiled(previous.set(status)) == (
        "SET #n0 = #n1",
        {"#n0": "previous", "#n1": "status"},
        {},
    )


def test_actions_are_grouped_by_clause_in_a_fixed_order() -> None:
    text, names, values = compiled(
        tags.delete({"old"}),
        amount.add(1),
        Path("note").remove(),
        status.set("paid"),
        Path("count").increment(),
        meta["a"].remove(),
    )
    assert text == ("SET #n0 = :v0, #n1 = #n1 + :v1 REMOVE #n2, #n3.#n4 ADD #n5 :v2 DELETE #n6 :v3")
    assert names == {
        "#n0": "status",
        "#n1": "count",
        "#n2": "note",
        "#n3": "meta",
        "#n4": "a",
        "#n5": "amount",
        "#n6": "tags",
    }
    assert values == {
        ":v0": {"S": "paid"},
        ":v1": {"N": "1"},
        ":v2": {"N": "1"},
        ":v3": {"SS": ["old"]},
    }


def test_nested_and_reserved_targets() -> None:
    assert compiled(Path("size")["name"][0].set(1), Path("status").remove())[:2] == (
        "SET #n0.#n1[0] = :v0 REMOVE #n2",
        {"#n0": "size", "#n1": "name", "#n2": "status"},
    )


def test_the_path_encoder_encodes_set_add_and_if_not_exists_but_not_increment() -> None:
    seen: list[Any] = []

    def encoder(value: Any) -> dict[str, Any]:
        seen.append(value)
        return {"N": f"{value}00"}

    cents: Path[int] = Path("cents", encoder=encoder)
    assert compiled(cents.set(1))[2] == {":v0": {"N": "100"}}
    assert compiled(cents.add(2))[2] == {":v0": {"N": "200"}}
    assert compiled(cents.if_not_exists(3))[2] == {":v0": {"N": "300"}}
    assert compiled(cents.increment(4))[2] == {":v0": {"N": "4"}}
    assert seen == [1, 2, 3]


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: status.add("x"), "add() works on numbers and sets; use set() to overwrite; "),
        (lambda: Path("flag").add(True), "add() works on numbers and sets"),
        (lambda: Path("n").delete(5), "delete() removes elements from a set and needs a "),
        (lambda: Path("x").delete(["a"]), "delete() removes elements from a set"),
        (lambda: Path("items").append("abc"), "append() needs a list; got a str for items"),
        (lambda: Path("items").prepend({"a": 1}), "prepend() needs a list; got a dict"),
        (lambda: Path("n").increment("1"), "increment() needs a number; got a str for n"),
        (lambda: Path("n").increment(True), "increment() needs a number; got a bool for n"),
        (lambda: Path("n").decrement(None), "decrement() needs a number; got a NoneType for n"),
    ],
)
def test_wrong_operand_type(make: Callable[[], UpdateAction], message: str) -> None:
    with pytest.raises(InvalidOperator) as info:
        make()
    assert str(info.value).startswith(message)
    assert info.value.path is not None


def test_empty_set_is_rejected_before_sending() -> None:
    with pytest.raises(ValidationError) as info:
        tags.delete(set())
    assert str(info.value) == "tags: an empty set cannot be stored (DynamoDB rejects empty sets)"


def test_an_encoder_returning_an_empty_set_is_rejected() -> None:
    loose: Path[set[str]] = Path("loose", encoder=lambda v: {"SS": sorted(v)})
    with pytest.raises(InvalidOperator, match=r"add\(\) works on numbers and sets"):
        loose.add(set())


def test_no_actions() -> None:
    with pytest.raises(ValidationError) as info:
        ExpressionBuilder().update([])
    assert str(info.value) == ("an update needs at least one action (e.g. Model.attr.set(value))")


def test_non_action_in_update() -> None:
    with pytest.raises(InvalidOperator) as info:
        ExpressionBuilder().update([status.set("x"), status == "x"])  # type: ignore[list-item]
    assert str(info.value) == (
        "expected an update action such as Model.attr.set(value), got Condition(status = 'x')"
    )


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (amount.set(1), amount.add(1), "the same path amount"),
        (Path("amount").remove(), amount.increment(), "the same path amount"),
        (meta.set({}), meta["a"].set(1), "overlapping paths meta and meta.a"),
        (meta["a"]["b"].remove(), meta["a"].set(1), "overlapping paths meta.a.b and meta.a"),
        (history[0].remove(), history.append(["x"]), "overlapping paths history[0] and history"),
    ],
)
def test_overlapping_actions(first: UpdateAction, second: UpdateAction, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        ExpressionBuilder().update([first, second])
    assert str(info.value) == (
        f"two update actions write {message}; DynamoDB rejects that in one update"
    )


def test_sibling_paths_do_not_overlap() -> None:
    text, _, _ = compiled(
        meta["a"].set(1), meta["b"].set(2), history[0].remove(), history[1].remove()
    )
    assert text == "SET #n0.#n1 = :v0, #n0.#n2 = :v1 REMOVE #n3[0], #n3[1]"


def test_prefix_of_a_name_is_not_an_overlap() -> None:
    assert compiled(Path("a").set(1), Path("ab").set(2))[0] == "SET #n0 = :v0, #n1 = :v1"


# --- value semantics ------------------------------------------------------------------------


def test_action_repr_clause_and_equality() -> None:
    action = amount.increment(5)
    assert repr(action) == "UpdateAction(SET amount = amount + 5)"
    assert repr(meta["a"][0].remove()) == "UpdateAction(REMOVE meta.a[0])"
    assert repr(Path("p").set(status)) == "UpdateAction(SET p = status)"
    assert repr(tags.add({"x"})) == "UpdateAction(ADD tags {'x'})"
    assert action.clause == "SET"
    assert tags.delete({"x"}).clause == "DELETE"
    assert action == Path("amount").increment(5)
    assert hash(action) == hash(Path("amount").increment(5))
    assert action != amount.increment(6)
    assert action != amount.decrement(5)
    assert Path("amount").set(status) == Path("amount").set(Path("status"))
    assert Path("amount").set(status) != Path("amount").set(Path("other"))
    assert amount.remove() == amount.remove()
    assert amount.remove() != "REMOVE"
    with pytest.raises(AttributeError):
        action.clause = "REMOVE"  # type: ignore[misc]


# --- projection -----------------------------------------------------------------------------


def test_projection() -> None:
    builder = ExpressionBuilder()
    text = builder.projection([status, meta["a"][0], Path("name")])
    assert text == "#n0, #n1.#n2[0], #n3"
    assert builder.attributes() == {
        "ExpressionAttributeNames": {"#n0": "status", "#n1": "meta", "#n2": "a", "#n3": "name"}
    }


def test_projection_drops_repeated_and_contained_paths() -> None:
    builder = ExpressionBuilder()
    paths = [meta["a"], status, Path("status"), meta, meta["b"]]
    assert builder.projection(paths) == "#n0, #n1"
    assert builder.names == {"#n0": "status", "#n1": "meta"}


def test_projection_errors() -> None:
    with pytest.raises(ValidationError, match="a projection needs at least one attribute path"):
        ExpressionBuilder().projection([])
    with pytest.raises(ValidationError) as info:
        ExpressionBuilder().projection(["status"])  # type: ignore[list-item]
    assert str(info.value) == (
        "a projection lists attribute paths such as Model.attr, got 'status'"
    )


# --- key conditions -------------------------------------------------------------------------

pk: Path[str] = Path("pk")
sk: Path[str] = Path("sk")


@pytest.mark.parametrize(
    "sort_condition",
    [
        sk == "a",
        sk < "a",
        sk <= "a",
        sk > "a",
        sk >= "a",
        sk.between("a", "b"),
        sk.begins_with("a#"),
    ],
)
def test_valid_key_conditions(sort_condition: Condition) -> None:
    key, rest = split_key_condition((pk == "m1") & sort_condition, "pk", "sk")
    assert key == (pk == "m1") & sort_condition
    assert rest is None


def test_partition_key_alone() -> None:
    key, rest = split_key_condition(pk == "m1", "pk", "sk")
    assert key == (pk == "m1")
    assert rest is None
    assert split_key_condition(pk == "m1", "pk") == (pk == "m1", None)


def test_the_rest_is_split_off_and_the_key_is_ordered() -> None:
    condition = (status == "paid") & sk.begins_with("2024") & (amount > 5) & (pk == "m1")
    key, rest = split_key_condition(condition, "pk", "sk")
    assert key == (pk == "m1") & sk.begins_with("2024")
    assert rest == (status == "paid") & (amount > 5)
    builder = ExpressionBuilder()
    assert builder.condition(key, kind="KeyConditionExpression") == (
        "#n0 = :v0 AND begins_with(#n1, :v1)"
    )
    assert rest is not None
    assert builder.condition(rest) == "#n2 = :v2 AND #n3 > :v3"


def test_single_rest_condition_is_not_wrapped() -> None:
    rest_condition = (status == "a") | (status == "b")
    assert split_key_condition((pk == "m1") & rest_condition, "pk", "sk") == (
        pk == "m1",
        rest_condition,
    )


def test_without_a_sort_key_the_sk_name_is_an_ordinary_attribute() -> None:
    key, rest = split_key_condition((pk == "m1") & (sk > "a"), "pk")
    assert key == (pk == "m1")
    assert rest == (sk > "a")


def test_missing_partition_key() -> None:
    with pytest.raises(MissingPrimaryKey) as info:
        split_key_condition((sk == "a") & (status == "x"), "pk", "sk")
    assert str(info.value) == (
        "a key condition needs the partition key compared with == (e.g. Model.pk == value), "
        "got sk = <S> AND status = <S>"
    )
    assert info.value.path == "pk"


@pytest.mark.parametrize(
    "bad",
    [
        pk > "a",
        pk.begins_with("a"),
        pk.in_(["a", "b"]),
        pk != "a",
        pk == sk,
        pk["x"] == "a",
        pk.exists(),
        ~(pk == "a"),
        (pk == "a") | (status == "x"),
        pk.size() == 3,
    ],
)
def test_bad_partition_key_condition(bad: Condition) -> None:
    with pytest.raises(InvalidOperator) as info:
        split_key_condition(bad & (sk == "x"), "pk", "sk")
    assert str(info.value) == (
        "the partition key 'pk' only supports == against a value in a key condition "
        f"(joined to the rest with &), got {bad.describe()}"
    )
    assert "'a'" not in str(info.value)  # values are masked to their type


@pytest.mark.parametrize(
    "bad",
    [
        sk != "a",
        sk.in_(["a"]),
        sk.contains("a"),
        sk.not_exists(),
        sk > status,
        sk.between("a", status),
        ~(sk == "a"),
        (sk == "a") | (sk == "b"),
        sk["x"] == "a",
    ],
)
def test_bad_sort_key_condition(bad: Condition) -> None:
    with pytest.raises(InvalidOperator) as info:
        split_key_condition((pk == "m1") & bad, "pk", "sk")
    assert str(info.value) == (
        "the sort key 'sk' supports ==, <, <=, >, >=, between() and begins_with() against "
        f"values in a key condition (joined to the rest with &), got {bad.describe()}"
    )
    assert info.value.path == "sk"


def test_two_partition_key_conditions() -> None:
    with pytest.raises(InvalidOperator) as info:
        split_key_condition((pk == "a") & (pk == "b"), "pk", "sk")
    assert str(info.value) == (
        "more than one condition on the partition key 'pk': pk = <S> and pk = <S>"
    )


def test_two_sort_key_conditions() -> None:
    with pytest.raises(InvalidOperator) as info:
        split_key_condition((pk == "a") & (sk > "a") & (sk < "z"), "pk", "sk")
    assert str(info.value) == (
        "more than one condition on the sort key 'sk' (sk > <S> and sk < <S>); use "
        "between(low, high) for a range"
    )


def test_key_condition_must_be_a_condition() -> None:
    with pytest.raises(InvalidOperator, match="a key condition must be a condition such as"):
        split_key_condition(pk, "pk")  # type: ignore[arg-type]
