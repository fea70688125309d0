"""Property tests: random condition trees and update lists compile to consistent expressions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamorm._core.codec import decode_value
from dynamorm._core.errors import ValidationError
from dynamorm._core.expressions import Condition, ExpressionBuilder, Path, UpdateAction

NAMES = ["status", "size", "name", "a", "b", "meta", "order.id", "x-y", "NOT", "AND"]
IDENTIFIERS = ["status", "size", "name", "a", "b", "meta", "AND", "OR"]
PLACEHOLDER = re.compile(r"[#:][nv]\d+")

# --- strategies -----------------------------------------------------------------------------


def paths(names: list[str]) -> st.SearchStrategy[Path[Any]]:
    steps = st.lists(st.one_of(st.sampled_from(names), st.integers(0, 3)), max_size=3)

    def build(name: str, rest: list[str | int]) -> Path[Any]:
        path: Path[Any] = Path(name)
        for step in rest:
            path = path[step]
        return path

    return st.builds(build, st.sampled_from(names), steps)


values = st.one_of(st.integers(-(10**6), 10**6), st.text(max_size=5))


def leaves(names: list[str]) -> st.SearchStrategy[Condition]:
    path = paths(names)
    operand = st.one_of(values, path)
    return st.one_of(
        st.builds(lambda p, v: p == v, path, operand),
        st.builds(lambda p, v: p != v, path, operand),
        st.builds(lambda p, v: p < v, path, operand),
        st.builds(lambda p, v: p >= v, path, operand),
        st.builds(lambda p, lo, hi: p.between(lo, hi), path, operand, operand),
        st.builds(lambda p, vs: p.in_(vs), path, st.lists(operand, min_size=1, max_size=4)),
        st.builds(lambda p: p.exists(), path),
        st.builds(lambda p: p.not_exists(), path),
        st.builds(lambda p, v: p.begins_with(v), path, st.text(max_size=3)),
        st.builds(lambda p, v: p.contains(v), path, values),
        st.builds(lambda p, t: p.attribute_type(t), path, st.sampled_from(["S", "N", "M"])),
        st.builds(lambda p, n: p.size() > n, path, st.integers(0, 9)),
    )


def conditions(names: list[str]) -> st.SearchStrategy[Condition]:
    return st.recursive(
        leaves(names),
        lambda inner: st.one_of(
            st.builds(lambda x, y: x & y, inner, inner),
            st.builds(lambda x, y: x | y, inner, inner),
            st.builds(lambda x: ~x, inner),
        ),
        max_leaves=12,
    )


# --- a small parser for the boolean layer of DynamoDB's grammar -------------------------------

TOKEN = re.compile(r"\s*(#n\d+(?:\.#n\d+|\[\d+\])*|:v\d+|<>|<=|>=|[=<>(),]|[A-Za-z_]+)")
FUNCTIONS = {"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with"}
FUNCTIONS |= {"contains", "size"}


class Parser:
    """Parses with DynamoDB's precedence (NOT over AND over OR) into a nested tuple shape."""

    def __init__(self, text: str) -> None:
        self.tokens: list[str] = TOKEN.findall(text)
        assert "".join(self.tokens) == text.replace(" ", "")
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.tokens[self.pos]
        assert expected is None or token == expected, (token, expected)
        self.pos += 1
        return token

    def parse(self) -> Any:
        tree = self.disjunction()
        assert self.peek() is None
        return tree

    def disjunction(self) -> Any:
        parts = [self.conjunction()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else ("OR", parts)

    def conjunction(self) -> Any:
        parts = [self.negation()]
        while self.peek() == "AND":
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else ("AND", parts)

    def negation(self) -> Any:
        if self.peek() == "NOT":
            self.take()
            return ("NOT", self.negation())
        if self.peek() == "(":
            self.take()
            inner = self.disjunction()
            self.take(")")
            return inner
        return self.atom()

    def operand(self) -> str:
        token = self.take()
        if token == "size":
            self.take("(")
            assert self.take().startswith("#n")
            self.take(")")
            return "size"
        assert token[0] in "#:", token
        return token

    def atom(self) -> Any:
        if self.peek() in FUNCTIONS - {"size"}:
            name = self.take()
            self.take("(")
            self.operand()
            while self.peek() == ",":
                self.take()
                self.operand()
            self.take(")")
            return name
        self.operand()
        op = self.take()
        if op == "BETWEEN":
            self.operand()
            self.take("AND")
            self.operand()
        elif op == "IN":
            self.take("(")
            self.operand()
            while self.peek() == ",":
                self.take()
                self.operand()
            self.take(")")
        else:
            self.operand()
        return op


def shape(condition: Condition) -> Any:
    if condition.op in ("AND", "OR"):
        return (condition.op, [shape(c) for c in condition.args])
    if condition.op == "NOT":
        return ("NOT", shape(condition.args[0]))
    return condition.op


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(conditions(NAMES))
def test_placeholders_match_names_and_values_exactly(condition: Condition) -> None:
    builder = ExpressionBuilder()
    text = builder.condition(condition)
    used = PLACEHOLDER.findall(text)
    names, values = builder.names, builder.values
    assert {p for p in used if p[0] == "#"} == set(names)
    assert {p for p in used if p[0] == ":"} == set(values)  # DynamoDB rejects unused values
    assert all(used.count(v) == 1 for v in values)
    assert len(set(names.values())) == len(names)  # one placeholder per distinct name
    assert set(names.values()) == {
        s for p in condition.paths() for s in p.elements if isinstance(s, str)
    }


@settings(max_examples=150, deadline=None)
@given(conditions(NAMES))
def test_parenthesization_keeps_the_tree(condition: Condition) -> None:
    text = ExpressionBuilder().condition(condition)
    assert Parser(text).parse() == shape(condition)


@settings(max_examples=100, deadline=None)
@given(conditions(IDENTIFIERS))
def test_repr_is_the_compiled_text_with_names_and_values_filled_in(condition: Condition) -> None:
    builder = ExpressionBuilder()
    text = builder.condition(condition)
    names, values = builder.names, builder.values

    def fill(match: re.Match[str]) -> str:
        placeholder = match.group()
        if placeholder[0] == "#":
            return names[placeholder]
        return repr(decode_value(values[placeholder]))

    assert f"Condition({PLACEHOLDER.sub(fill, text)})" == repr(condition)


@settings(max_examples=100, deadline=None)
@given(st.lists(conditions(NAMES), min_size=1, max_size=4))
def test_one_builder_for_many_expressions_shares_names(parts: list[Condition]) -> None:
    shared = ExpressionBuilder()
    texts = [shared.condition(p) for p in parts]
    separate = [ExpressionBuilder() for _ in parts]
    for builder, part in zip(separate, parts, strict=True):
        builder.condition(part)
    all_names = {n for b in separate for n in b.names.values()}
    assert set(shared.names.values()) == all_names
    assert len(shared.values) == sum(len(b.values) for b in separate)
    used = {p for t in texts for p in PLACEHOLDER.findall(t)}
    assert used == set(shared.names) | set(shared.values)


ACTIONS = [
    lambda p: p.set(1),
    lambda p: p.remove(),
    lambda p: p.add(2),
    lambda p: p.delete({"x"}),
    lambda p: p.append([1]),
    lambda p: p.prepend(["a"]),
    lambda p: p.if_not_exists("v"),
    lambda p: p.increment(),
    lambda p: p.decrement(3),
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(paths(NAMES), st.sampled_from(ACTIONS)), min_size=1, max_size=6))
def test_updates_compile_or_report_overlaps(pairs: list[tuple[Path[Any], Any]]) -> None:
    actions: list[UpdateAction] = [make(path) for path, make in pairs]
    elements = [a.path.elements for a in actions]
    overlapping = any(
        x[: len(y)] == y or y[: len(x)] == x
        for i, x in enumerate(elements)
        for y in elements[i + 1 :]
    )
    builder = ExpressionBuilder()
    if overlapping:
        with pytest.raises(ValidationError, match="two update actions write"):
            builder.update(actions)
        return
    text = builder.update(actions)
    clauses = [w for w in text.split() if w in ("SET", "REMOVE", "ADD", "DELETE")]
    assert clauses == sorted(set(clauses), key=["SET", "REMOVE", "ADD", "DELETE"].index)
    assert clauses == sorted({a.clause for a in actions}, key=clauses.index)
    used = PLACEHOLDER.findall(text)
    assert {p for p in used if p[0] == ":"} == set(builder.values)
    assert {p for p in used if p[0] == "#"} == set(builder.names)
    assert len(builder.values) == sum(a.clause != "REMOVE" for a in actions)
