"""``key(Payment, merchant_id=..., payment_id=...)``: name an item without an instance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, Never, TypeVar

from dynamorm._core.errors import ConfigurationError
from dynamorm._orm.meta import Item, ModelMeta
from dynamorm._orm.model import Model

# bound to the class, not to "Model": a string bound makes typing compile() it, and the
# first compile() of a process costs ~2 ms (CPython creates its AST types)
M = TypeVar("M", bound=Model)


class Key(Generic[M]):
    """The primary key of one ``M`` item, validated and encoded when it is built.

    Pass it where an instance is accepted to address an item you have not loaded:
    ``db.get(k)``, ``db.update(k, ...)``, ``db.delete(k)``, ``tx.check(k, ...)``,
    ``db.transact_get([k])``. Keys compare and hash by model and value.
    """

    __slots__ = ("__weakref__", "item", "meta", "model", "values")

    def __init__(self, model: type[M], values: Mapping[str, Any]) -> None:
        meta = getattr(model, "__meta__", None)
        if not isinstance(meta, ModelMeta):
            raise ConfigurationError(f"key() needs a Model class, got {model!r}")
        meta.require_table()
        self.model: type[M] = model
        self.meta: ModelMeta = meta
        self.item: Item = meta.key_from(values)
        self.values: dict[str, Any] = {f.name: values[f.name] for f in meta.key_fields}

    def __repr__(self) -> str:
        return f"Key({describe(self.meta, self.item)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Key):
            return NotImplemented
        return self.model is other.model and freeze_key(self.item) == freeze_key(other.item)

    def __hash__(self) -> int:
        return hash((self.model, freeze_key(self.item)))


def key(model: type[M], /, *args: Never, **values: Any) -> Key[M]:
    """The key of one item of ``model``: ``key(Payment, merchant_id="m1", payment_id="p1")``."""
    if args:
        raise positional_key_error("key", model, args)
    return Key(model, values)


def positional_key_error(call: str, model: object, args: tuple[Any, ...]) -> TypeError:
    """The error for key values passed by position (the PynamoDB habit), showing the keyword
    form: ``db.get(Payment, "m1", "p1")`` -> ``db.get(Payment, merchant_id='m1', ...)``."""
    meta = getattr(model, "__meta__", None)
    fields = [f.name for f in meta.key_fields] if isinstance(meta, ModelMeta) else []
    name = getattr(model, "__name__", repr(model))
    if not fields or len(args) > len(fields):
        shown = "key_name=value, ..."
    else:
        shown = ", ".join(f"{f}={v!r}" for f, v in zip(fields, args, strict=False))
    return TypeError(
        f"{call}() takes the key as keyword arguments, not by position: {call}({name}, {shown})"
    )


def freeze_key(item: Item) -> tuple[tuple[str, str, Any], ...]:
    """A hashable form of an encoded key (each attribute is a single S, N or B value); numbers
    compare by value, as DynamoDB compares them (``1`` and ``1.0`` are one item)."""
    from decimal import Decimal  # batch and transaction paths only, not a cold start

    out = []
    for name, av in item.items():
        ((tag, raw),) = av.items()
        out.append((name, tag, Decimal(raw) if tag == "N" else raw))
    out.sort(key=lambda part: part[0])
    return tuple(out)


def describe(meta: ModelMeta, key_item: Item) -> str:
    """``Payment(merchant_id='m1', payment_id='p1')`` for messages."""
    parts = []
    for info in meta.key_fields:
        av = key_item.get(info.stored)
        parts.append(f"{info.name}={info.decode(av)!r}" if av is not None else f"{info.name}=?")
    return f"{meta.name}({', '.join(parts)})"
