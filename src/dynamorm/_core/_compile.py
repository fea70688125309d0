"""Compilation of conditions, updates and projections into DynamoDB expression strings.

One :class:`ExpressionBuilder` serves one request: key condition, filter, condition, update and
projection share its ``#n``/``:v`` namespace. Every attribute name goes through a placeholder, so
reserved words and names with dots or dashes never break an expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from dynamorm._core._conditions import Condition, Path
from dynamorm._core._operands import Value, is_prefix
from dynamorm._core._update import UpdateAction, render_update
from dynamorm._core.errors import InvalidOperator, MissingPrimaryKey, ValidationError

MAX_EXPRESSION_BYTES = 4096
MAX_OPERATORS = 300
_SORT_KEY_OPS = frozenset({"=", "<", "<=", ">", ">=", "BETWEEN", "begins_with"})


class ExpressionBuilder:
    """Allocates ``#n0, #n1...`` (one per distinct name) and ``:v0, :v1...`` (one per value).

    Every placeholder in :attr:`names` and :attr:`values` appears in a string this builder
    returned, so use one builder per request and send every string it produced. Omit
    ``ExpressionAttributeNames``/``Values`` from the request when empty (DynamoDB rejects empty
    maps); :meth:`attributes` does that.
    """

    __slots__ = ("_names", "_placeholders", "_values")

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._placeholders: dict[str, str] = {}
        self._values: dict[str, dict[str, Any]] = {}

    @property
    def names(self) -> dict[str, str]:
        """``ExpressionAttributeNames``: placeholder -> attribute name (a copy)."""
        return dict(self._names)

    @property
    def values(self) -> dict[str, dict[str, Any]]:
        """``ExpressionAttributeValues``: placeholder -> AttributeValue (a copy)."""
        return dict(self._values)

    def attributes(self) -> dict[str, Any]:
        """``ExpressionAttributeNames`` and ``ExpressionAttributeValues``, each if non-empty."""
        out: dict[str, Any] = {}
        if self._names:
            out["ExpressionAttributeNames"] = dict(self._names)
        if self._values:
            out["ExpressionAttributeValues"] = dict(self._values)
        return out

    def condition(self, condition: Condition, *, kind: str = "ConditionExpression") -> str:
        """Compile a condition; ``kind`` names the request field in error messages."""
        if not isinstance(condition, Condition):
            raise InvalidOperator(
                f"{kind} needs a condition such as Model.attr == value, got {condition!r}"
            )
        return _counted(kind, _checked(kind, condition.render(self)))

    def update(self, actions: Iterable[UpdateAction]) -> str:
        """Compile update actions into one ``SET ... REMOVE ... ADD ... DELETE ...`` expression.

        Two actions on the same or overlapping paths (``a`` and ``a.b``) are a ValidationError.
        """
        return _checked("UpdateExpression", render_update(actions, self))

    def projection(self, paths: Iterable[Path[Any]]) -> str:
        """Compile a ProjectionExpression. Repeated paths, and paths inside another listed path,
        are dropped (DynamoDB rejects overlapping projection paths; the result is the same)."""
        kept: list[Path[Any]] = []
        for path in paths:
            if not isinstance(path, Path):
                raise ValidationError(
                    f"a projection lists attribute paths such as Model.attr, got {path!r}"
                )
            if any(is_prefix(k.elements, path.elements) for k in kept):
                continue
            kept = [k for k in kept if not is_prefix(path.elements, k.elements)]
            kept.append(path)
        if not kept:
            raise ValidationError("a projection needs at least one attribute path")
        return _checked("ProjectionExpression", ", ".join(self.render_path(p) for p in kept))

    def render_path(self, path: Path[Any]) -> str:
        """``#n0.#n1[2]`` for ``name.key[2]``, reusing the placeholder of a name seen before."""
        text = []
        for step in path.elements:
            if isinstance(step, int):
                text.append(f"[{step}]")
                continue
            placeholder = self._placeholders.get(step)
            if placeholder is None:
                placeholder = f"#n{len(self._names)}"
                self._names[placeholder] = step
                self._placeholders[step] = placeholder
            text.append(f".{placeholder}" if text else placeholder)
        return "".join(text)

    def render_value(self, value: Value) -> str:
        """A new ``:vN`` placeholder bound to the value's AttributeValue."""
        placeholder = f":v{len(self._values)}"
        self._values[placeholder] = value.av
        return placeholder


_OPERATOR = (  # compiled by re on first use: only a long expression can hold too many
    r"<>|<=|>=|[=<>]|\b(?:AND|OR|NOT|BETWEEN|IN)\b"
    r"|\b(?:attribute_exists|attribute_not_exists|attribute_type|begins_with|contains|size)\("
)


def _counted(kind: str, text: str) -> str:
    # Names and values are placeholders, so every keyword or symbol here is an operator (the
    # AND of a BETWEEN counts too, which errs on the safe side).
    # Each operator takes at least one character, so a text this short holds few enough.
    count = len(re.findall(_OPERATOR, text)) if len(text) > MAX_OPERATORS else 0
    if count > MAX_OPERATORS:
        raise ValidationError(
            f"{kind} has {count} operators and functions; DynamoDB allows at most "
            f"{MAX_OPERATORS} per expression (split the condition or use in_() for lists)"
        )
    return text


def _checked(kind: str, text: str) -> str:
    # Every name and value is a placeholder, so the text is ASCII: characters are bytes.
    if len(text) > MAX_EXPRESSION_BYTES:
        raise ValidationError(
            f"{kind} is {len(text)} bytes; DynamoDB allows at most {MAX_EXPRESSION_BYTES} bytes "
            "per expression string (use fewer conditions or actions per request)"
        )
    return text


def build_expressions(
    *,
    key: Condition | None = None,
    filter: Condition | None = None,
    condition: Condition | None = None,
    update: Sequence[UpdateAction] | None = None,
    projection: Sequence[Path[Any]] | None = None,
) -> dict[str, Any]:
    """Request fields for the given parts, sharing one placeholder namespace.

    Returns ``KeyConditionExpression``, ``FilterExpression``, ``ConditionExpression``,
    ``UpdateExpression``, ``ProjectionExpression`` (those given) and the non-empty
    ``ExpressionAttributeNames``/``ExpressionAttributeValues``; merge it into the payload.
    """
    builder = ExpressionBuilder()
    out: dict[str, Any] = {}
    if key is not None:
        out["KeyConditionExpression"] = builder.condition(key, kind="KeyConditionExpression")
    if filter is not None:
        out["FilterExpression"] = builder.condition(filter, kind="FilterExpression")
    if condition is not None:
        out["ConditionExpression"] = builder.condition(condition)
    if update is not None:
        out["UpdateExpression"] = builder.update(update)
    if projection is not None:
        out["ProjectionExpression"] = builder.projection(projection)
    out.update(builder.attributes())
    return out


def split_key_condition(
    condition: Condition, partition_key: str, sort_key: str | None = None
) -> tuple[Condition, Condition | None]:
    """Split a query condition into ``(key condition, rest)`` for the given key attribute names.

    The key part is ``partition_key == value``, optionally ``&`` one sort key condition
    (``==, <, <=, >, >=, between, begins_with`` against values). Parts that do not touch the
    keys are returned as ``rest`` (a filter; None when there are none). Anything else touching a
    key is an InvalidOperator; a missing partition key equality is a MissingPrimaryKey.
    """
    if not isinstance(condition, Condition):
        raise InvalidOperator(
            f"a key condition must be a condition such as Model.pk == value, got {condition!r}"
        )
    parts = condition.args if condition.op == "AND" else (condition,)
    keys = {partition_key} if sort_key is None else {partition_key, sort_key}
    pk_part: Condition | None = None
    sk_part: Condition | None = None
    rest: list[Condition] = []
    for part in parts:
        if not part.attribute_names() & keys:
            rest.append(part)
        elif _is_key_part(part, partition_key, ("=",)):
            if pk_part is not None:
                raise InvalidOperator(
                    f"more than one condition on the partition key {partition_key!r}: "
                    f"{pk_part.describe()} and {part.describe()}",
                    path=partition_key,
                )
            pk_part = part
        elif sort_key is not None and _is_key_part(part, sort_key, _SORT_KEY_OPS):
            if sk_part is not None:
                raise InvalidOperator(
                    f"more than one condition on the sort key {sort_key!r} "
                    f"({sk_part.describe()} and {part.describe()}); use between(low, high) for "
                    "a range",
                    path=sort_key,
                )
            if part.op == "BETWEEN":
                _check_bounds(part, sort_key)
            sk_part = part
        else:
            raise _bad_key_part(part, partition_key, sort_key)
    if pk_part is None:
        raise MissingPrimaryKey(
            f"a key condition needs the partition key compared with == "
            f"(e.g. Model.{partition_key} == value), got {condition.describe()}",
            path=partition_key,
        )
    key = pk_part if sk_part is None else Condition("AND", (pk_part, sk_part))
    if not rest:
        return key, None
    return key, rest[0] if len(rest) == 1 else Condition("AND", tuple(rest))


def _check_bounds(part: Condition, sort_key: str) -> None:
    """DynamoDB refuses ``BETWEEN low AND high`` on a key when low > high (or types differ)."""
    low, high = (operand.av for operand in part.args[1:])
    ((low_tag, low_raw),) = low.items()
    ((high_tag, high_raw),) = high.items()
    if low_tag != high_tag:
        raise ValidationError(
            f"between() on the sort key {sort_key!r} needs bounds of one type, got "
            f"{low_tag} and {high_tag}",
            path=sort_key,
        )
    if low_tag == "N":
        from decimal import Decimal

        ordered = Decimal(low_raw) <= Decimal(high_raw)
    elif low_tag == "B":
        from base64 import b64decode

        ordered = b64decode(low_raw) <= b64decode(high_raw)
    elif low_tag == "S":
        ordered = low_raw.encode() <= high_raw.encode()  # DynamoDB orders S by UTF-8 bytes
    else:
        ordered = True
    if not ordered:
        raise ValidationError(
            f"between() on the sort key {sort_key!r} has its lower bound above its upper "
            "bound; DynamoDB refuses that (swap the bounds)",
            path=sort_key,
        )


def _is_key_part(part: Condition, name: str, ops: Iterable[str]) -> bool:
    target, *operands = part.args
    return (
        part.op in ops
        and isinstance(target, Path)
        and target.elements == (name,)
        and all(isinstance(o, Value) for o in operands)
    )


def _bad_key_part(part: Condition, partition_key: str, sort_key: str | None) -> InvalidOperator:
    if partition_key in part.attribute_names():
        return InvalidOperator(
            f"the partition key {partition_key!r} only supports == against a value in a key "
            f"condition (joined to the rest with &), got {part.describe()}",
            path=partition_key,
        )
    return InvalidOperator(
        f"the sort key {sort_key!r} supports ==, <, <=, >, >=, between() and begins_with() "
        f"against values in a key condition (joined to the rest with &), got {part.describe()}",
        path=sort_key,
    )
