"""Static typing of expressions, checked by ``mypy --strict`` (and pyright) on this file.

Each ``# type: ignore[code]`` marks a line the checker must reject: mypy's ``warn_unused_ignores``
(on under --strict) fails if the line ever type-checks. The tests also run under pytest, so the
runtime behaviour of the same lines is pinned too.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, assert_type, overload

import pytest

from dynamorm._core.errors import InvalidOperator
from dynamorm._core.expressions import Condition, Path, Size, UpdateAction

T = TypeVar("T")

amount: Path[int] = Path("amount")
limit: Path[int] = Path("limit")
status: Path[str] = Path("status")
tags: Path[set[str]] = Path("tags")
meta: Path[dict[str, Any]] = Path("meta")


def test_typed_comparisons_build_conditions() -> None:
    assert_type(amount > 5, Condition)
    assert_type(amount >= 5, Condition)
    assert_type(amount < 5, Condition)
    assert_type(amount <= 5, Condition)
    assert_type(amount == 5, Condition)
    assert_type(amount != 5, Condition)
    assert_type(amount > 5, Condition)
    assert_type(amount < limit, Condition)
    assert_type(amount.between(1, 5), Condition)
    assert_type(amount.in_([1, 2]), Condition)
    assert_type(status.begins_with("a"), Condition)
    assert_type(tags.contains("x"), Condition)
    assert_type(status.exists() & ~status.not_exists() | (amount > 1), Condition)
    assert_type(tags.size(), Size)
    assert_type(tags.size() > 3, Condition)
    assert_type(meta["a"][0], Path[Any])
    assert_type(meta["a"] > "anything", Condition)


def test_typed_update_actions() -> None:
    assert_type(amount.set(5), UpdateAction)
    assert_type(amount.set(limit), UpdateAction)
    assert_type(amount.increment(), UpdateAction)
    assert_type(amount.add(1), UpdateAction)
    assert_type(tags.add({"a"}), UpdateAction)
    assert_type(tags.delete({"a"}), UpdateAction)
    assert_type(status.if_not_exists("new"), UpdateAction)
    assert_type(Path[list[int]]("xs").append([1]), UpdateAction)
    assert_type(status.remove(), UpdateAction)


def test_wrong_value_types_are_rejected() -> None:
    _ = amount > "x"  # type: ignore[operator]
    _ = amount <= b"x"  # type: ignore[operator]
    _ = amount < status  # type: ignore[operator]
    amount.between("a", "z")  # type: ignore[arg-type]
    amount.in_(["a"])  # type: ignore[list-item]
    amount.set("x")  # type: ignore[arg-type]
    status.set(1)  # type: ignore[arg-type]
    with pytest.raises(InvalidOperator):
        tags.add("x")  # type: ignore[arg-type]
    amount.increment(1.5)  # type: ignore[arg-type]


def test_equality_with_a_wrong_type_is_a_bool_not_a_condition() -> None:
    # `==` falls back to object.__eq__ for type checkers, so the mistake surfaces where the
    # result is used as a condition.
    assert_type(amount == "x", bool)
    accepts_condition(amount == "x")  # type: ignore[arg-type]


def test_combining_paths_or_non_conditions_is_rejected() -> None:
    with pytest.raises(InvalidOperator):
        amount & status  # type: ignore[operator]
    with pytest.raises(InvalidOperator):
        _ = ~amount  # type: ignore[operator]
    with pytest.raises(InvalidOperator):
        (amount > 1) & 5  # type: ignore[operator]
    with pytest.raises(InvalidOperator):
        _ = tags.size() > "x"  # type: ignore[operator]


def accepts_condition(condition: Condition) -> None:
    assert isinstance(condition, Condition)


# --- a model-style descriptor subclass keeps the typed operators ------------------------------


class Attr(Path[T], Generic[T]):
    """Like the model layer's attribute: class access gives the Attr, instance access a T."""

    def __set_name__(self, owner: type, name: str) -> None:
        Path.__init__(self, name)

    def __init__(self) -> None:
        """The name is only known at ``__set_name__``."""

    @overload
    def __get__(self, obj: None, owner: type) -> Attr[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> Attr[T] | T:
        if obj is None:
            return self
        value: T = obj.__dict__[self.name]
        return value

    def __set__(self, obj: object, value: T) -> None:
        obj.__dict__[self.name] = value


class Payment:
    amount: Attr[int] = Attr()
    status: Attr[str] = Attr()


def new_payment(amount: int) -> Payment:
    payment = Payment()
    payment.amount = amount
    return payment


def test_descriptor_subclass() -> None:
    assert_type(Payment.amount, Attr[int])
    assert_type(Payment.amount > 5, Condition)
    assert_type(Payment.amount.increment(), UpdateAction)
    _ = Payment.amount > "x"  # type: ignore[operator]
    payment = new_payment(10)
    assert_type(payment.amount, int)
    assert payment.amount == 10
    payment.amount = "ten"  # type: ignore[assignment]
    assert repr(Payment.status == "paid") == "Condition(status = 'paid')"
    assert Payment.amount.name == "amount"
