"""Update actions (``Payment.amount.set(5)``) and their compilation into one UpdateExpression."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dynamorm._core._operands import DISPLAY, Renderer, Value, display_path, is_prefix
from dynamorm._core.codec import MAX_DEPTH, MAX_ITEM_BYTES, TOO_DEEP, nesting, value_size
from dynamorm._core.errors import InvalidOperator, ValidationError

if TYPE_CHECKING:
    from dynamorm._core._conditions import Path

# kind -> (clause, template); {p} is the target path, {v} the operand.
_TEMPLATES: dict[str, tuple[str, str]] = {
    "set": ("SET", "{p} = {v}"),
    "if_not_exists": ("SET", "{p} = if_not_exists({p}, {v})"),
    "increment": ("SET", "{p} = {p} + {v}"),
    "decrement": ("SET", "{p} = {p} - {v}"),
    "append": ("SET", "{p} = list_append({p}, {v})"),
    "prepend": ("SET", "{p} = list_append({v}, {p})"),
    "remove": ("REMOVE", "{p}"),
    "add": ("ADD", "{p} {v}"),
    "delete": ("DELETE", "{p} {v}"),
}
_CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")
_ACCUMULATING = frozenset({"increment", "decrement", "append", "prepend"})
_SETS = frozenset({"SS", "NS", "BS"})

# kind -> (AttributeValue types the operand must have, what to tell the user otherwise)
_OPERAND_TYPES: dict[str, tuple[frozenset[str], str]] = {
    "add": (_SETS | {"N"}, "add() works on numbers and sets; use set() to overwrite"),
    "delete": (_SETS, "delete() removes elements from a set and needs a non-empty set"),
    "append": (frozenset({"L"}), "append() needs a list"),
    "prepend": (frozenset({"L"}), "prepend() needs a list"),
    "increment": (frozenset({"N"}), "increment() needs a number"),
    "decrement": (frozenset({"N"}), "decrement() needs a number"),
}


class UpdateAction:
    """One action of an UpdateExpression, built by a path method (``.set()``, ``.add()``...).

    Immutable and hashable; ``repr`` shows the clause as it is sent, with real names and values.
    """

    __slots__ = ("_kind", "_operand", "_path")

    def __init__(self, kind: str, path: Path[Any], operand: Path[Any] | Value | None) -> None:
        self._kind = kind
        self._path = path
        self._operand = operand
        expected = _OPERAND_TYPES.get(kind)
        if expected is not None and isinstance(operand, Value):
            types, hint = expected
            (av_type, payload), *_ = operand.av.items()
            if av_type not in types or (av_type in _SETS and not payload):
                raise InvalidOperator(
                    f"{hint}; got a {type(operand.value).__name__} for "
                    f"{display_path(path.elements)}",
                    path=display_path(path.elements),
                )

    @property
    def clause(self) -> str:
        """``SET``, ``REMOVE``, ``ADD`` or ``DELETE``."""
        return _TEMPLATES[self._kind][0]

    @property
    def idempotent(self) -> bool:
        """True if applying the action twice leaves the item as applying it once does (False
        for arithmetic, list appends and ``ADD`` of a number)."""
        kind = self._kind
        if kind == "add":
            operand = self._operand
            return isinstance(operand, Value) and next(iter(operand.av)) in _SETS
        return kind not in _ACCUMULATING

    @property
    def path(self) -> Path[Any]:
        """The attribute path this action writes."""
        return self._path

    @property
    def kind(self) -> str:
        """What the action does: ``set``, ``remove``, ``add``, ``if_not_exists``..."""
        return self._kind

    @property
    def operand(self) -> Path[Any] | Value | None:
        """The value (or path) the action writes, None for a ``remove``."""
        return self._operand

    def render(self, renderer: Renderer) -> str:
        """This action's text inside its clause (without the clause keyword)."""
        target = renderer.render_path(self._path)  # first, so placeholders follow the text
        operand = self._operand
        if operand is None:
            text = ""
        elif isinstance(operand, Value):
            text = renderer.render_value(operand)
        else:
            text = renderer.render_path(operand)
        return _TEMPLATES[self._kind][1].format(p=target, v=text)

    def _key(self) -> tuple[Any, ...]:
        operand = self._operand
        if isinstance(operand, Value):
            return (self._kind, self._path.elements, "value", operand.key())
        if operand is None:
            return (self._kind, self._path.elements)
        return (self._kind, self._path.elements, "path", operand.elements)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UpdateAction):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"UpdateAction({self.clause} {self.render(DISPLAY)})"


def render_update(actions: Iterable[UpdateAction], renderer: Renderer) -> str:
    """Render actions as one UpdateExpression: ``SET ... REMOVE ... ADD ... DELETE ...``."""
    actions = list(actions)
    if not actions:
        raise ValidationError("an update needs at least one action (e.g. Model.attr.set(value))")
    for action in actions:
        if not isinstance(action, UpdateAction):
            raise InvalidOperator(
                f"expected an update action such as Model.attr.set(value), got {action!r}"
            )
    _check_overlaps(actions)
    _check_sizes(actions)
    clauses: dict[str, list[UpdateAction]] = {}
    for action in actions:
        clauses.setdefault(action.clause, []).append(action)
    return " ".join(
        f"{clause} {', '.join(a.render(renderer) for a in clauses[clause])}"
        for clause in _CLAUSES
        if clause in clauses
    )


def _check_sizes(actions: list[UpdateAction]) -> None:
    """Values that cannot fit in one 400 KB item, alone or together, or that nest too deep below
    their path, are refused before sending."""
    sizes: list[tuple[int, UpdateAction]] = []
    for action in actions:
        operand = action.operand
        if isinstance(operand, Value) and action.kind != "delete":
            sizes.append((value_size(operand.av), action))
            inside = len(action.path.elements) - 1  # a value written below the top level
            if inside and inside + nesting(operand.av) > MAX_DEPTH:
                shown = display_path(action.path.elements)
                raise ValidationError(f"{shown}: {TOO_DEEP}", path=shown)
    total = sum(size for size, _ in sizes)
    if total <= MAX_ITEM_BYTES:
        return
    size, biggest = max(sizes, key=lambda pair: pair[0])
    shown = display_path(biggest.path.elements)
    alone = "" if size > MAX_ITEM_BYTES else f" (the update's values total {total} bytes)"
    raise ValidationError(
        f"{shown}: the value written is {size} bytes{alone}; it cannot fit in DynamoDB's "
        f"{MAX_ITEM_BYTES}-byte item limit",
        path=shown,
    )


def _check_overlaps(actions: list[UpdateAction]) -> None:
    """Two actions on the same path, or on a path and a path inside it, are rejected by DynamoDB."""
    by_attribute: dict[Any, list[tuple[Any, ...]]] = {}
    for action in actions:
        elements = action.path.elements
        seen = by_attribute.setdefault(elements[0], [])
        for other in seen:
            if is_prefix(elements, other) or is_prefix(other, elements):
                a, b = display_path(other), display_path(elements)
                what = f"the same path {a}" if a == b else f"overlapping paths {a} and {b}"
                raise ValidationError(
                    f"two update actions write {what}; DynamoDB rejects that in one update",
                    path=b,
                )
        seen.append(elements)
