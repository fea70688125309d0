"""Attribute paths and conditions: ``Payment.amount > 1000``, ``Payment.meta["a"][0].exists()``.

Everything here is an immutable value. Literal operands are encoded when the condition is built
(so a bad value fails on the line that wrote it) with the path's encoder, or the generic codec for
nested paths and for operands that are not of the path's type (``contains``, ``begins_with``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic

from dynamorm._core._operands import (
    DISPLAY,
    MASKED,
    Element,
    Encoder,
    Renderer,
    Value,
    display_path,
    encode,
)
from dynamorm._core._update import UpdateAction
from dynamorm._core.codec import utf8_text
from dynamorm._core.errors import InvalidOperator, ValidationError

if TYPE_CHECKING:  # a default of Any, so an unannotated Path("x") is a Path[Any] (PEP 696)
    from typing_extensions import TypeVar

    T = TypeVar("T", default=Any)
else:
    from typing import TypeVar

    T = TypeVar("T")

MAX_IN_VALUES = 100
ATTRIBUTE_TYPES = ("B", "BOOL", "BS", "L", "M", "N", "NS", "NULL", "S", "SS")

_COMPARATORS = frozenset({"=", "<>", "<", "<=", ">", ">="})
_LOGICAL = frozenset({"AND", "OR"})
_FUNCTIONS = frozenset(
    {"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"}
)
_PRECEDENCE_HINT = (
    "an attribute path cannot be combined with & | ~; compare it first and wrap each "
    "comparison in parentheses, e.g. (Model.a == 1) & (Model.b > 2)"
)
_NO_TRUTH_VALUE = (
    "a Condition has no truth value: combine conditions with & | ~ instead of and / or / not, "
    "wrap each comparison in parentheses, and use between() instead of a chained comparison "
    "such as 1 < Model.x < 5"
)


class Path(Generic[T]):
    """A typed attribute path. ``Path[int]("amount") > 5`` builds a condition.

    ``name`` is the stored top-level attribute name; ``encoder`` turns a value of type ``T`` into
    an AttributeValue (None: the generic codec). ``path["key"]`` and ``path[0]`` address map
    members and list elements (untyped). Subclasses (model attributes) may add descriptor methods;
    a subclass that learns its name late calls ``Path.__init__(self, name, encoder=...)`` then.

    Paths hash by identity; ``==`` builds a condition, whose truth value for two paths is
    ``a is b`` so paths still work as dict keys and in ``in`` tests.
    """

    __slots__ = ("_elements", "_encoder")

    def __init__(self, name: str, *, encoder: Encoder | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValidationError(f"an attribute name must be a non-empty str, got {name!r}")
        if not name.isascii():
            try:
                utf8_text(name)
            except ValidationError as exc:
                raise ValidationError(f"attribute name {exc.message}") from None
        self._elements: tuple[Element, ...] = (name,)
        self._encoder = encoder

    @property
    def name(self) -> str:
        """The top-level attribute name."""
        return str(self._elements[0])

    @property
    def elements(self) -> tuple[Element, ...]:
        """The path's steps: the attribute name, then map keys (str) and list indexes (int)."""
        return self._elements

    def __getitem__(self, key: str | int) -> Path[Any]:
        """The map member ``key`` (str) or list element ``key`` (int) inside this attribute."""
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise ValidationError(
                f"a path step must be a map key (str) or a list index (int), got {key!r}",
                path=display_path(self._elements),
            )
        if key == "" or (isinstance(key, int) and key < 0):
            raise ValidationError(
                f"a path step must be a non-empty map key or a list index >= 0, got {key!r}",
                path=display_path(self._elements),
            )
        if isinstance(key, str) and not key.isascii():
            try:
                utf8_text(key)
            except ValidationError as exc:
                raise ValidationError(
                    f"map key {exc.message}", path=display_path(self._elements)
                ) from None
        child: Path[Any] = Path.__new__(Path)
        child._elements = (*self._elements, key)
        child._encoder = None
        return child

    def __repr__(self) -> str:
        return f"Path({display_path(self._elements)!r})"

    def __hash__(self) -> int:
        return object.__hash__(self)

    # --- comparisons ------------------------------------------------------------------------

    def __eq__(self, other: T | Path[T]) -> Condition:  # type: ignore[override]
        return Condition("=", (self, self._operand(other)))

    def __ne__(self, other: T | Path[T]) -> Condition:  # type: ignore[override]
        return Condition("<>", (self, self._operand(other)))

    def __lt__(self, other: T | Path[T]) -> Condition:
        return Condition("<", (self, self._operand(other)))

    def __le__(self, other: T | Path[T]) -> Condition:
        return Condition("<=", (self, self._operand(other)))

    def __gt__(self, other: T | Path[T]) -> Condition:
        return Condition(">", (self, self._operand(other)))

    def __ge__(self, other: T | Path[T]) -> Condition:
        return Condition(">=", (self, self._operand(other)))

    def between(self, low: T | Path[T], high: T | Path[T]) -> Condition:
        """``low <= path <= high`` (``path BETWEEN low AND high``)."""
        return Condition("BETWEEN", (self, self._operand(low), self._operand(high)))

    def in_(self, values: Iterable[T | Path[T]]) -> Condition:
        """The attribute equals one of ``values`` (1 to 100 of them)."""
        if isinstance(values, str | bytes | dict) or not isinstance(values, Iterable):
            raise InvalidOperator(
                f"in_() needs a list of values, got {values!r}", path=display_path(self._elements)
            )
        options = tuple(self._operand(v) for v in values)
        if not 1 <= len(options) <= MAX_IN_VALUES:
            raise InvalidOperator(
                f"in_() needs 1 to {MAX_IN_VALUES} values (DynamoDB's limit), got {len(options)}",
                path=display_path(self._elements),
            )
        return Condition("IN", (self, *options))

    def begins_with(self, prefix: str | bytes) -> Condition:
        """The string or binary attribute starts with ``prefix``."""
        if not isinstance(prefix, str | bytes):
            raise InvalidOperator(
                f"begins_with() needs a str or bytes prefix, got {prefix!r}",
                path=display_path(self._elements),
            )
        return Condition("begins_with", (self, encode(prefix, None, self._elements)))

    def contains(self, value: Any) -> Condition:
        """A string attribute contains the substring, or a set/list attribute the element."""
        operand = value if isinstance(value, Path) else encode(value, None, self._elements)
        return Condition("contains", (self, operand))

    def exists(self) -> Condition:
        """The attribute is present (``attribute_exists``)."""
        return Condition("attribute_exists", (self,))

    def not_exists(self) -> Condition:
        """The attribute is absent (``attribute_not_exists``)."""
        return Condition("attribute_not_exists", (self,))

    def attribute_type(self, type_code: str) -> Condition:
        """The attribute is stored with DynamoDB type ``type_code`` (``"S"``, ``"N"``...)."""
        if type_code not in ATTRIBUTE_TYPES:
            raise InvalidOperator(
                f"unknown attribute type {type_code!r}; "
                f"expected one of {', '.join(ATTRIBUTE_TYPES)}",
                path=display_path(self._elements),
            )
        return Condition("attribute_type", (self, Value(type_code, {"S": type_code})))

    def size(self) -> Size:
        """The attribute's size (string/binary length, element count), comparable to ints."""
        return Size(self)

    # --- update actions ---------------------------------------------------------------------

    def set(self, value: T | Path[T]) -> UpdateAction:
        """``SET path = value`` (or the value of another path)."""
        operand = value if isinstance(value, Path) else self._encode(value)
        return UpdateAction("set", self, operand)

    def remove(self) -> UpdateAction:
        """``REMOVE path``: delete the attribute, map member or list element."""
        return UpdateAction("remove", self, None)

    def add(self, value: T) -> UpdateAction:
        """``ADD path value``: add to a number (starting from 0) or add elements to a set."""
        return UpdateAction("add", self, self._encode(value))

    def delete(self, value: T) -> UpdateAction:
        """``DELETE path value``: remove the given elements from a set."""
        return UpdateAction("delete", self, self._encode(value))

    def append(self, values: T) -> UpdateAction:
        """``SET path = list_append(path, values)``: add elements at the end of a list."""
        return UpdateAction("append", self, self._encode(values))

    def prepend(self, values: T) -> UpdateAction:
        """``SET path = list_append(values, path)``: add elements at the start of a list."""
        return UpdateAction("prepend", self, self._encode(values))

    def if_not_exists(self, value: T) -> UpdateAction:
        """``SET path = if_not_exists(path, value)``: set only when the attribute is absent."""
        return UpdateAction("if_not_exists", self, self._encode(value))

    def increment(self, by: T | int = 1) -> UpdateAction:
        """``SET path = path + by`` (the attribute must exist; ``add()`` starts from 0)."""
        return UpdateAction("increment", self, encode(by, None, self._elements))

    def decrement(self, by: T | int = 1) -> UpdateAction:
        """``SET path = path - by`` (the attribute must exist)."""
        return UpdateAction("decrement", self, encode(by, None, self._elements))

    # --- helpers ----------------------------------------------------------------------------

    def _encode(self, value: Any) -> Value:
        return encode(value, self._encoder, self._elements)

    def _operand(self, other: Any) -> Path[Any] | Size | Value:
        if isinstance(other, Path | Size):
            return other
        return self._encode(other)

    if not TYPE_CHECKING:  # at runtime only, so type checkers still reject `path & x`

        def __and__(self, other):
            raise InvalidOperator(_PRECEDENCE_HINT, path=display_path(self._elements))

        __rand__ = __or__ = __ror__ = __and__

        def __invert__(self):
            raise InvalidOperator(_PRECEDENCE_HINT, path=display_path(self._elements))


class Size:
    """``size(path)``: the length of a string or binary, or the number of elements; compare it
    with ints (``Model.tags.size() > 3``) or other operands."""

    __slots__ = ("_path",)

    def __init__(self, path: Path[Any]) -> None:
        self._path = path

    @property
    def path(self) -> Path[Any]:
        """The measured path."""
        return self._path

    def __repr__(self) -> str:
        return f"Size({display_path(self._path.elements)!r})"

    def __hash__(self) -> int:
        return object.__hash__(self)

    def __eq__(self, other: int | Size | Path[Any]) -> Condition:  # type: ignore[override]
        return Condition("=", (self, self._operand(other)))

    def __ne__(self, other: int | Size | Path[Any]) -> Condition:  # type: ignore[override]
        return Condition("<>", (self, self._operand(other)))

    def __lt__(self, other: int | Size | Path[Any]) -> Condition:
        return Condition("<", (self, self._operand(other)))

    def __le__(self, other: int | Size | Path[Any]) -> Condition:
        return Condition("<=", (self, self._operand(other)))

    def __gt__(self, other: int | Size | Path[Any]) -> Condition:
        return Condition(">", (self, self._operand(other)))

    def __ge__(self, other: int | Size | Path[Any]) -> Condition:
        return Condition(">=", (self, self._operand(other)))

    def between(self, low: int | Size | Path[Any], high: int | Size | Path[Any]) -> Condition:
        """``low <= size(path) <= high``."""
        return Condition("BETWEEN", (self, self._operand(low), self._operand(high)))

    def _operand(self, other: Any) -> Path[Any] | Size | Value:
        if isinstance(other, Path | Size):
            return other
        if isinstance(other, bool) or not isinstance(other, int):
            raise InvalidOperator(
                f"size() is compared with an int, got {other!r}",
                path=display_path(self._path.elements),
            )
        return Value(other, {"N": str(other)})


if TYPE_CHECKING:
    Operand = Path[Any] | Size | Value


class Condition:
    """An immutable condition tree; combine with ``&`` (and), ``|`` (or), ``~`` (not).

    ``repr`` shows the expression as it is sent, with real names and values in place of the
    placeholders. Conditions compare and hash by structure.
    """

    __slots__ = ("_args", "_op")

    def __init__(self, op: str, args: tuple[Any, ...]) -> None:
        self._op = op
        self._args = args

    @property
    def op(self) -> str:
        """The operator (``=``, ``BETWEEN``, ``IN``, ``AND``, ``OR``, ``NOT``) or function name."""
        return self._op

    @property
    def args(self) -> tuple[Any, ...]:
        """Operands (paths, sizes, values) or, for AND / OR / NOT, the inner conditions."""
        return self._args

    def __and__(self, other: Condition) -> Condition:
        return _combine("AND", self, other)

    def __or__(self, other: Condition) -> Condition:
        return _combine("OR", self, other)

    def __invert__(self) -> Condition:
        return Condition("NOT", (self,))

    def __bool__(self) -> bool:
        args = self._args
        if self._op in ("=", "<>") and isinstance(args[0], Path) and isinstance(args[1], Path):
            return (args[0] is args[1]) == (self._op == "=")
        raise TypeError(_NO_TRUTH_VALUE)

    def attribute_names(self) -> frozenset[str]:
        """The top-level attribute names this condition reads."""
        return frozenset(path.name for path in self.paths())

    def paths(self) -> Iterator[Path[Any]]:
        """Every attribute path this condition reads, in order."""
        for arg in self._args:
            if isinstance(arg, Condition):
                yield from arg.paths()
            elif isinstance(arg, Path):
                yield arg
            elif isinstance(arg, Size):
                yield arg.path

    def render(self, renderer: Renderer) -> str:
        """The expression text, with operands rendered by ``renderer``."""
        op, args = self._op, self._args
        if op in _COMPARATORS:
            return f"{_term(renderer, args[0])} {op} {_term(renderer, args[1])}"
        if op in _LOGICAL:
            return f" {op} ".join(_grouped(renderer, c) for c in args)
        if op == "NOT":
            inner = args[0].render(renderer)
            return f"NOT {inner}" if args[0].op in _FUNCTIONS else f"NOT ({inner})"
        terms = [_term(renderer, a) for a in args]
        if op == "BETWEEN":
            return f"{terms[0]} BETWEEN {terms[1]} AND {terms[2]}"
        if op == "IN":
            return f"{terms[0]} IN ({', '.join(terms[1:])})"
        return f"{op}({', '.join(terms)})"

    def _key(self) -> tuple[Any, ...]:
        return (self._op, *(_arg_key(a) for a in self._args))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Condition):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Condition({self.render(DISPLAY)})"

    def describe(self) -> str:
        """The expression with real names and values masked to their type (``amount > <N>``),
        for error messages."""
        return self.render(MASKED)


def _combine(op: str, left: Condition, right: Any) -> Condition:
    if not isinstance(right, Condition):
        symbol = "&" if op == "AND" else "|"
        raise InvalidOperator(
            f"{symbol} combines conditions, got {right!r}; build a condition first, "
            f"e.g. (Model.a == 1) {symbol} (Model.b > 2)"
        )
    parts: list[Condition] = []
    for side in (left, right):
        parts.extend(side._args if side._op == op else (side,))
    return Condition(op, tuple(parts))


def _term(renderer: Renderer, operand: Operand) -> str:
    if isinstance(operand, Value):
        return renderer.render_value(operand)
    if isinstance(operand, Size):
        return f"size({renderer.render_path(operand.path)})"
    return renderer.render_path(operand)


def _grouped(renderer: Renderer, condition: Condition) -> str:
    text = condition.render(renderer)
    return f"({text})" if condition.op in _LOGICAL else text


def _arg_key(arg: Any) -> Any:
    if isinstance(arg, Condition):
        return arg._key()
    if isinstance(arg, Value):
        return ("value", arg.key())
    if isinstance(arg, Size):
        return ("size", arg.path.elements)
    return ("path", arg.elements)
