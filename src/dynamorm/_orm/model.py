"""``Model`` and ``field()``: typed classes mapped to DynamoDB items.

::

    class Payment(Model, table="payments"):
        merchant_id: Attr[str] = field(pk=True)
        payment_id: Attr[str] = field(sk=True)
        amount: Attr[int] = field(default=0)
        status: Attr[str] = field(default="pending", index=GSI("by-status", pk=True))
        version: Attr[int] = field(version=True)
        created_at: Attr[datetime] = field(created_at=True)

Everything about a model is compiled once, when the class statement runs, into
``Payment.__meta__`` (a :class:`ModelMeta`): fields, keys, indexes, roles and generated codecs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, dataclass_transform, overload

from dynamorm._core.fieldcodec import Converter
from dynamorm._orm.compile import compile_model
from dynamorm._orm.meta import (
    GSI,
    LSI,
    MISSING,
    Attr,
    FieldInfo,
    FieldSpec,
    IndexInfo,
    ModelMeta,
)

if TYPE_CHECKING:
    from dynamorm._orm.meta import Naming, Role


__all__ = [
    "GSI",
    "LSI",
    "Attr",
    "Converter",
    "FieldInfo",
    "IndexInfo",
    "Model",
    "ModelMeta",
    "field",
]


@overload
def field(
    *,
    version: Literal[True],
    name: str | None = None,
    default: int = ...,
    init: Literal[False] = ...,
) -> Any: ...
@overload
def field(
    *,
    created_at: Literal[True],
    name: str | None = None,
    converter: Converter | None = None,
    init: Literal[False] = ...,
) -> Any: ...
@overload
def field(
    *,
    updated_at: Literal[True],
    name: str | None = None,
    converter: Converter | None = None,
    init: Literal[False] = ...,
) -> Any: ...
@overload
def field(
    *,
    pk: bool = False,
    sk: bool = False,
    name: str | None = None,
    default: Any = ...,
    default_factory: Callable[[], Any] | None = None,
    index: GSI | LSI | Sequence[GSI | LSI] = (),
    version: bool = False,
    created_at: bool = False,
    updated_at: bool = False,
    ttl: bool = False,
    omit_empty: bool = False,
    converter: Converter | None = None,
    json: bool = False,
    init: bool = True,
    encrypted: bool = False,
    unique: bool = False,
) -> Any: ...
def field(
    *,
    pk: bool = False,
    sk: bool = False,
    name: str | None = None,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | None = None,
    index: GSI | LSI | Sequence[GSI | LSI] = (),
    version: bool = False,
    created_at: bool = False,
    updated_at: bool = False,
    ttl: bool = False,
    omit_empty: bool = False,
    converter: Converter | None = None,
    json: bool = False,
    init: bool | None = None,
    encrypted: bool = False,
    unique: bool = False,
) -> Any:
    """Declare a model field.

    ``pk``/``sk``: partition/sort key. ``name``: stored attribute name (default: the attribute
    name, or its camelCase with ``naming="camel"``). ``default``/``default_factory``: value when
    not given (and when absent from a stored item). ``index``: ``GSI(...)``/``LSI(...)`` or a
    list of them. Roles: ``version`` (optimistic locking, int), ``created_at``/``updated_at``
    (stamped by the library, not constructor arguments unless ``init=True``), ``ttl``
    (datetime or int, stored as epoch seconds). ``omit_empty``: do not store empty values.
    ``converter``: custom encode/decode. ``json``: store as compact, key-sorted JSON text.
    ``unique``: no two items of the model may hold the same value (a sentinel item is written
    in the same transaction; a clash raises ``UniqueViolation``; see docs/unique.md).
    ``encrypted``: store the value encrypted (KMS envelope, see docs/encryption.md; not for
    keys, index keys, role or unique fields).
    """
    if pk and sk:
        raise TypeError("field() takes pk=True or sk=True, not both")
    flags: tuple[tuple[Role, bool], ...] = (
        ("version", version),
        ("created_at", created_at),
        ("updated_at", updated_at),
        ("ttl", ttl),
    )
    roles = tuple(role for role, flag in flags if flag)
    indexes = (index,) if isinstance(index, GSI | LSI) else tuple(index)
    for item in indexes:
        if not isinstance(item, GSI | LSI):
            raise TypeError(f"field(index=...) takes GSI(...) or LSI(...) objects, got {item!r}")
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"field(name=...) must be a non-empty str, got {name!r}")
    return FieldSpec(
        key="pk" if pk else "sk" if sk else None,
        name=name,
        default=default,
        default_factory=default_factory,
        index=indexes,
        roles=roles,
        omit_empty=omit_empty,
        converter=converter,
        json=json,
        init=init,
        encrypted=encrypted,
        unique=unique,
    )


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
class Model:
    """Base class of typed DynamoDB items.

    Subclass it with ``table="logical-name"`` (the DB adds its prefix) and optionally
    ``naming="camel"`` to store ``payment_id`` as ``paymentId``, ``unique=[("merchant_id",
    "reference")]`` for composite unique constraints (see ``field(unique=True)``) and
    ``audit=True`` (or an ``Audit(...)``) to record every write in an audit table.
    Constructors are keyword-only.
    A model without ``table=`` is a document type usable as a nested field (stored as M).
    """

    __slots__ = ("__dict__", "__weakref__", "_dm_src")

    __meta__: ClassVar[ModelMeta]
    __table__: ClassVar[str]

    def __init_subclass__(
        cls,
        *,
        table: str | None = None,
        naming: Naming | None = None,
        unique: Sequence[str | Sequence[str]] | None = None,
        audit: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        meta = compile_model(cls, table, naming, unique)
        if audit is None:  # inherited, like the table
            parents = (b.__dict__.get("__meta__") for b in cls.__mro__[1:])
            audit = next((p.audit for p in parents if isinstance(p, ModelMeta)), None)
        if audit is not None and audit is not False:
            from dynamorm._features.audit import enable_audit

            enable_audit(meta, audit)

    def to_item(self) -> dict[str, dict[str, Any]]:
        """This instance as a DynamoDB item (AttributeValue map), validated."""
        return self.__meta__.to_item(self)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        """An instance from a DynamoDB item (AttributeValue map); undeclared attributes are kept
        and written back by ``to_item``."""
        obj: Self = cls.__meta__.from_item(item)
        return obj

    def __dynamorm_value__(self, depth: int) -> dict[str, Any]:
        return {"M": self.__meta__.encode_document(self, depth + 1)}

    def __repr__(self) -> str:
        values = self.__dict__
        hidden = {info.name for info in self.__meta__.encrypted}
        shown = ", ".join(
            f"{name}=<encrypted>" if name in hidden else f"{name}={values[name]!r}"
            for name in self.__meta__.fields
            if name in values
        )
        return f"{type(self).__name__}({shown})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__: ClassVar[None] = None  # type: ignore[assignment]
