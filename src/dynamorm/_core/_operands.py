"""Pieces shared by conditions and update actions: literal values, rendering, display.

Conditions and update actions are rendered by a :class:`Renderer`: the expression builder renders
placeholders (``#n0``, ``:v0``) and records them; :data:`DISPLAY` renders readable text for
``repr``. Both go through the same code, so what ``repr`` shows is what is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from dynamorm._core.codec import encode_value
from dynamorm._core.errors import ValidationError

if TYPE_CHECKING:
    from dynamorm._core._conditions import Path

Encoder = Callable[[Any], dict[str, Any]]
"""Turns a Python value into a DynamoDB AttributeValue (``{"S": "x"}``, ``{"N": "1"}``...)."""

Element = str | int
"""One step of an attribute path: a map key / attribute name (str) or a list index (int)."""


class Value:
    """A literal operand: the Python value and its encoded AttributeValue."""

    __slots__ = ("av", "value")

    def __init__(self, value: Any, av: dict[str, Any]) -> None:
        self.value: Any = value
        self.av: dict[str, Any] = av

    def key(self) -> Any:
        """A hashable form of the encoded value (equal encodings compare equal)."""
        return freeze(self.av)


def encode(value: Any, encoder: Encoder | None, where: tuple[Element, ...]) -> Value:
    """Encode ``value`` with ``encoder`` (the generic codec when None) for the path ``where``."""
    try:
        av = (encoder or encode_value)(value)
    except ValidationError as exc:
        shown = display_path(where)
        raise ValidationError(f"{shown}: {exc.message}", path=shown + (exc.path or "")) from None
    return Value(value, av)


def freeze(data: Any) -> Any:
    """A hashable copy of JSON-like data (dicts and lists become tuples)."""
    if isinstance(data, dict):
        return tuple(sorted((k, freeze(v)) for k, v in data.items()))
    if isinstance(data, list):
        return tuple(freeze(v) for v in data)
    return data


def is_prefix(short: tuple[Element, ...], long: tuple[Element, ...]) -> bool:
    """True when path ``short`` equals ``long`` or contains it (``a`` contains ``a.b``)."""
    return len(short) <= len(long) and long[: len(short)] == short


def display_path(elements: tuple[Element, ...]) -> str:
    """Readable form of a path: ``meta.a[2]``; keys that are not identifiers are quoted."""
    parts = [str(elements[0])]
    for step in elements[1:]:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif step.isidentifier():
            parts.append(f".{step}")
        else:
            parts.append(f"[{step!r}]")
    return "".join(parts)


class Renderer(Protocol):
    """Turns operands into expression text (placeholders or readable names)."""

    def render_path(self, path: Path[Any]) -> str:
        """Text for an attribute path."""
        ...

    def render_value(self, value: Value) -> str:
        """Text for a literal value."""
        ...


class _Display:
    """Renders readable text for ``repr``: names as written, values as Python literals."""

    def render_path(self, path: Path[Any]) -> str:
        return display_path(path.elements)

    def render_value(self, value: Value) -> str:
        return repr(value.value)


DISPLAY: Renderer = _Display()


class _Masked(_Display):
    """Readable names, values shown by their DynamoDB type only (``<N>``): for error messages,
    which never echo item values."""

    def render_value(self, value: Value) -> str:
        return "<" + "/".join(value.av) + ">"


MASKED: Renderer = _Masked()
