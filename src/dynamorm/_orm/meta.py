"""Model metadata: fields, keys, indexes and roles, compiled once when a model class is created.

The rest of the library reads models only through :class:`ModelMeta` (``Model.__meta__``):

* ``fields`` / ``by_stored``: :class:`FieldInfo` by attribute name and by stored attribute name;
* ``pk`` / ``sk``: key fields (``FieldInfo.key_type`` is ``S``, ``N`` or ``B``);
* ``indexes``: :class:`IndexInfo` by index name (GSIs and LSIs);
* ``version`` / ``created_at`` / ``updated_at`` / ``ttl``: role fields, or None;
* ``unique``: the model's unique constraints; ``extenders``: the features that add actions to
  its writes (see :mod:`dynamorm._orm.writes`);
* item codecs: ``to_item``, ``from_item``, ``key``, plus change tracking (``changed``, ``diff``,
  ``mark_saved``) for writes that send only what changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, overload

from dynamorm._core._conditions import Path
from dynamorm._core.codec import (
    MAX_PARTITION_KEY_BYTES,
    MAX_SORT_KEY_BYTES,
    check_item_size,
)
from dynamorm._core.errors import InvalidModel, MissingPrimaryKey, ValidationError
from dynamorm._core.fieldcodec import Converter, TypeCodec

if TYPE_CHECKING:
    from dynamorm._features.audit import Audit
    from dynamorm._features.unique import UniqueConstraint
    from dynamorm._orm.model import Model
    from dynamorm._orm.writes import PlanExtender

    Projection = Literal["ALL", "KEYS_ONLY", "INCLUDE"]
    Role = Literal["version", "created_at", "updated_at", "ttl"]
    Naming = Literal["as_is", "camel"]

AV = dict[str, Any]
Item = dict[str, AV]

_PROJECTIONS = ("ALL", "KEYS_ONLY", "INCLUDE")
NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
"""The characters of DynamoDB table and index names (``[A-Za-z0-9_.-]``)."""

TOKEN_ATTRIBUTE = "_dm_tok"
"""The attribute holding the write tokens of the library's last writes of an item (see
``_orm/exactly_once.py``); never part of a model's fields or extras."""


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()
"""Marks "no default" / "attribute not set"."""

SENTINEL_ATTR: Final = "_dm_unique"
"""The attribute that marks a unique-constraint sentinel item (see ``_features.unique``)."""


# --- index declarations ---------------------------------------------------------------------


def _index_args(kind: str, name: object, projection: object, include: Sequence[str]) -> None:
    if not isinstance(name, str) or not 3 <= len(name) <= 255 or not NAME_CHARS.issuperset(name):
        raise InvalidModel(
            f"{kind} name must be a str of 3 to 255 letters, digits, '_', '-' or '.', "
            f"got {name!r:.80}"
        )
    if projection not in _PROJECTIONS:
        raise InvalidModel(
            f"{kind}({name!r}): projection must be one of {', '.join(_PROJECTIONS)}, "
            f"got {projection!r}"
        )
    if (projection == "INCLUDE") != bool(include):
        raise InvalidModel(
            f"{kind}({name!r}): include=[...] goes with projection='INCLUDE' (and only with it)"
        )


class GSI:
    """A field's role in a global secondary index: ``field(index=GSI("by-status", pk=True))``.

    Mark one field ``pk=True`` and optionally another ``sk=True`` with the same index name.
    ``projection`` is ``ALL`` (default), ``KEYS_ONLY`` or ``INCLUDE`` with ``include=[fields]``;
    set it on either key field.
    """

    __slots__ = ("include", "name", "pk", "projection", "sk")

    def __init__(
        self,
        name: str,
        *,
        pk: bool = False,
        sk: bool = False,
        projection: Projection = "ALL",
        include: Sequence[str] = (),
    ) -> None:
        _index_args("GSI", name, projection, include)
        if pk == sk:
            raise InvalidModel(f"GSI({name!r}) needs exactly one of pk=True or sk=True")
        self.name: str = name
        self.pk: bool = pk
        self.sk: bool = sk
        self.projection: Projection = projection
        self.include: tuple[str, ...] = tuple(include)

    def __repr__(self) -> str:
        return f"GSI({self.name!r}, {'pk' if self.pk else 'sk'}=True)"


class LSI:
    """Makes the field the sort key of a local secondary index (partition key: the table's)."""

    __slots__ = ("include", "name", "projection")

    def __init__(
        self, name: str, *, projection: Projection = "ALL", include: Sequence[str] = ()
    ) -> None:
        _index_args("LSI", name, projection, include)
        self.name: str = name
        self.projection: Projection = projection
        self.include: tuple[str, ...] = tuple(include)

    def __repr__(self) -> str:
        return f"LSI({self.name!r})"


class FieldSpec:
    """What ``field(...)`` returns: the options of one declaration, checked at class creation."""

    __slots__ = (
        "converter",
        "default",
        "default_factory",
        "encrypted",
        "index",
        "init",
        "json",
        "key",
        "name",
        "omit_empty",
        "roles",
        "unique",
    )

    def __init__(
        self,
        *,
        key: Literal["pk", "sk"] | None = None,
        name: str | None = None,
        default: Any = MISSING,
        default_factory: Callable[[], Any] | None = None,
        index: tuple[GSI | LSI, ...] = (),
        roles: tuple[Role, ...] = (),
        omit_empty: bool = False,
        converter: Converter | None = None,
        json: bool = False,
        init: bool | None = None,
        encrypted: bool = False,
        unique: bool = False,
    ) -> None:
        self.key = key
        self.name: str | None = name
        self.default: Any = default
        self.default_factory: Callable[[], Any] | None = default_factory
        self.index: tuple[GSI | LSI, ...] = index
        self.roles: tuple[Role, ...] = roles
        self.omit_empty: bool = omit_empty
        self.converter: Converter | None = converter
        self.json: bool = json
        self.init: bool | None = init
        self.encrypted: bool = encrypted
        self.unique: bool = unique


# --- compiled metadata ----------------------------------------------------------------------


class FieldInfo:
    """One compiled field.

    ``name``: Python attribute; ``stored``: item attribute name; ``where``: ``"Model.name"``
    for messages; ``annotation``: the declared type (``Attr[...]`` unwrapped); ``codec``: its
    compiled :class:`TypeCodec`; ``key``: ``"pk"``, ``"sk"`` or None; ``role``: ``"version"``,
    ``"created_at"``, ``"updated_at"``, ``"ttl"`` or None; ``default``/``default_factory``
    (``MISSING``/None when absent); ``omit_empty``; ``init`` (a constructor parameter?);
    ``indexes``: the ``GSI``/``LSI`` declarations on this field; ``missing``: what a read
    fills in when the attribute is absent (None: the attribute stays unset).
    """

    __slots__ = (
        "annotation",
        "codec",
        "default",
        "default_factory",
        "indexes",
        "init",
        "key",
        "missing",
        "name",
        "omit_empty",
        "role",
        "spec",
        "stored",
        "where",
    )

    def __init__(
        self, model_name: str, name: str, stored: str, annotation: Any, spec: FieldSpec
    ) -> None:
        self.name: str = name
        self.stored: str = stored
        self.annotation: Any = annotation
        self.spec: FieldSpec = spec
        self.where: str = f"{model_name}.{name}"
        self.key: Literal["pk", "sk"] | None = spec.key
        self.role: Role | None = spec.roles[0] if spec.roles else None
        self.default: Any = spec.default
        self.default_factory: Callable[[], Any] | None = spec.default_factory
        self.omit_empty: bool = spec.omit_empty
        self.init: bool = True
        self.indexes: tuple[GSI | LSI, ...] = spec.index
        self.codec: TypeCodec
        self.missing: Callable[[], Any] | None = None

    @property
    def optional(self) -> bool:
        """True for ``X | None`` fields."""
        return self.codec.optional

    @property
    def key_type(self) -> Literal["S", "N", "B"] | None:
        """``S``, ``N`` or ``B`` when the field's type can be a key attribute, else None."""
        return self.codec.key_type

    def encode(self, value: Any) -> AV:
        """``value`` as an AttributeValue; errors name ``Model.field``."""
        try:
            return self.codec.encode(value, 0)
        except ValidationError as exc:
            raise _named(exc, self.where) from None

    def encode_operand(self, value: Any) -> AV:
        """``value`` as an AttributeValue for an expression operand (the caller names the path)."""
        return self.codec.encode(value, 0)

    def decode(self, av: AV) -> Any:
        """A stored AttributeValue as this field's Python value; errors name ``Model.field``."""
        try:
            return self.codec.decode(av)
        except ValidationError as exc:
            raise _named(exc, self.where) from None
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError):
            raise ValidationError(
                f"{self.where}: cannot decode stored value of type {_tag(av)}", path=self.where
            ) from None

    def __repr__(self) -> str:
        return f"FieldInfo({self.where}, stored={self.stored!r}, {self.codec!r})"


class IndexInfo:
    """A secondary index: ``kind`` GSI or LSI, key fields, projection, INCLUDE'd stored names."""

    __slots__ = ("include", "kind", "name", "pk", "projection", "sk")

    def __init__(
        self,
        name: str,
        kind: Literal["GSI", "LSI"],
        *,
        pk: FieldInfo,
        sk: FieldInfo | None,
        projection: Projection,
        include: tuple[str, ...],
    ) -> None:
        self.name = name
        self.kind = kind
        self.pk = pk
        self.sk = sk
        self.projection = projection
        self.include = include

    def __repr__(self) -> str:
        sk = f", sk={self.sk.stored!r}" if self.sk else ""
        return f"IndexInfo({self.kind} {self.name!r}, pk={self.pk.stored!r}{sk}, {self.projection})"


T = TypeVar("T")


class Attr(Path[T]):
    """A model attribute, declared as ``amount: Attr[int] = field(default=0)``.

    On the class (``Payment.amount``) it is a typed attribute path that builds conditions and
    updates (``Payment.amount > 5``, ``Payment.amount.add(1)``); on an instance it is the value
    (``payment.amount`` is an ``int``). ``info`` is the field's :class:`FieldInfo`.
    """

    __slots__ = ("info",)

    def __init__(self, info: FieldInfo) -> None:
        super().__init__(info.stored, encoder=info.encode_operand)
        self.info: FieldInfo = info

    def __repr__(self) -> str:
        return f"Attr({self.info.where})"

    if TYPE_CHECKING:

        @overload
        def __get__(self, obj: None, owner: Any) -> Attr[T]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> T: ...
        def __get__(self, obj: object, owner: Any) -> Attr[T] | T: ...
        def __set__(self, obj: object, value: T) -> None: ...

    else:

        def __get__(self, obj, owner=None):
            if obj is None:
                return self
            raise AttributeError(
                f"{self.info.where} is not set (it was not in the loaded item, or the library "
                "stamps it on the first write)"
            )


def _named(exc: ValidationError, prefix: str) -> ValidationError:
    path = prefix + (exc.path or "")
    return type(exc)(f"{path}: {exc.message}", path=path)


def _tag(av: object) -> str:
    return str(next(iter(av))) if isinstance(av, dict) and len(av) == 1 else type(av).__name__


class ModelMeta:
    """Everything the library knows about one model class (``Model.__meta__``)."""

    def __init__(self, model: type[Model], table: str | None, naming: Naming) -> None:
        self.model = model
        self.name: str = model.__name__
        self.table = table
        self.naming: Naming = naming
        self.fields: dict[str, FieldInfo] = {}
        self.by_stored: dict[str, FieldInfo] = {}
        self.pk: FieldInfo | None = None
        self.sk: FieldInfo | None = None
        self.indexes: dict[str, IndexInfo] = {}
        self.version: FieldInfo | None = None
        self.created_at: FieldInfo | None = None
        self.updated_at: FieldInfo | None = None
        self.ttl: FieldInfo | None = None
        self.unique: tuple[UniqueConstraint, ...] = ()
        self.extenders: list[PlanExtender] = []
        self.fast: Any = None
        self.audit: Audit | None = None
        """The model's audit options (``audit=...`` on the class), or None."""
        self.encrypted: tuple[FieldInfo, ...] = ()
        """The fields declared ``field(encrypted=True)``."""
        self._decode: Callable[[Mapping[str, AV]], Any]
        self._encode: Callable[[Any, int], Item]

    # --- introspection ----------------------------------------------------------------------

    @property
    def key_fields(self) -> tuple[FieldInfo, ...]:
        """The primary key fields: ``(pk,)`` or ``(pk, sk)``."""
        return tuple(f for f in (self.pk, self.sk) if f is not None)

    @property
    def gsis(self) -> tuple[IndexInfo, ...]:
        """Global secondary indexes, in declaration order."""
        return tuple(i for i in self.indexes.values() if i.kind == "GSI")

    @property
    def lsis(self) -> tuple[IndexInfo, ...]:
        """Local secondary indexes, in declaration order."""
        return tuple(i for i in self.indexes.values() if i.kind == "LSI")

    @property
    def index_keys(self) -> tuple[tuple[FieldInfo, str], ...]:
        """``(field, index name)`` for every index key field that is not a table key field."""
        cached: tuple[tuple[FieldInfo, str], ...] | None = self.__dict__.get("_index_keys")
        if cached is None:
            table_keys = {id(f) for f in self.key_fields}
            cached = tuple(
                (info, index.name)
                for index in self.indexes.values()
                for info in (index.pk, index.sk)
                if info is not None and id(info) not in table_keys
            )
            self.__dict__["_index_keys"] = cached
        return cached

    def check_index_key(self, info: FieldInfo, index: str, av: AV) -> None:
        """An index key value DynamoDB would refuse on a write (empty, or over 2,048 bytes as
        a partition key / 1,024 bytes as a sort key) is a ``ValidationError`` naming it."""
        _check_key(info, av, index=index, sort=self.indexes[index].sk is info)

    def require_table(self) -> str:
        """The logical table name; raises ``InvalidModel`` for models without ``table=``."""
        if self.table is None:
            raise InvalidModel(
                f"{self.name} has no table; declare it as class {self.name}(Model, table=...)",
                path=self.name,
            )
        return self.table

    def __repr__(self) -> str:
        return f"ModelMeta({self.name}, table={self.table!r}, fields={list(self.fields)})"

    # --- items ------------------------------------------------------------------------------

    def to_item(self, obj: Any) -> Item:
        """The full item of ``obj`` (undeclared attributes it was loaded with included)."""
        try:
            item = self._encode(obj, 0)
        except ValidationError as exc:
            raise _named(exc, self.name) from None
        for info in self.key_fields:
            _check_key(info, item.get(info.stored))
        for info, index in self.index_keys:
            av = item.get(info.stored)
            if av is not None:
                self.check_index_key(info, index, av)
        extras = self.extras(obj)
        if extras:
            item = {**extras, **item}
        check_item_size(item, self.name)
        return item

    def from_item(self, item: Mapping[str, AV]) -> Any:
        """A model instance from a stored item; undeclared attributes are kept for write-back."""
        try:
            return self._decode(item)
        except ValidationError as exc:
            raise _named(exc, self.name) from None

    def encode_document(self, obj: Any, depth: int) -> Item:
        """The attributes of ``obj`` as a nested document (extras included, no key checks)."""
        item = self._encode(obj, depth)
        extras = self.extras(obj)
        return {**extras, **item} if extras else item

    def decode_document(self, item: Mapping[str, AV]) -> Any:
        """An instance from a nested document (errors carry a path relative to the model)."""
        return self._decode(item)

    def key(self, obj: Any) -> Item:
        """The primary key of ``obj`` as an AttributeValue map (``{"pk": {"S": ...}}``)."""
        return self.key_from({f.name: obj.__dict__.get(f.name, MISSING) for f in self.key_fields})

    def key_from(self, values: Mapping[str, Any]) -> Item:
        """A primary key from Python values by attribute name: ``{"merchant_id": "m1", ...}``."""
        key: Item = {}
        fields = self.key_fields
        if not fields:
            raise InvalidModel(f"{self.name} has no primary key", path=self.name)
        unknown = set(values) - {f.name for f in fields}
        if unknown:
            names = ", ".join(f.name for f in fields)
            raise ValidationError(
                f"{self.name} key takes {names}; got unknown {', '.join(sorted(unknown))}",
                path=self.name,
            )
        for info in fields:
            value = values.get(info.name, MISSING)
            if value is MISSING or value is None:
                raise MissingPrimaryKey(
                    f"{info.where} is part of the primary key and is not set", path=info.where
                )
            av = info.encode(value)
            _check_key(info, av)
            key[info.stored] = av
        return key

    # --- loaded state and change tracking ---------------------------------------------------

    def loaded_item(self, obj: Any) -> dict[str, AV] | None:
        """The item ``obj`` was loaded from or last saved as; None for a new instance."""
        source = obj._dm_src
        if source is None or type(source) is dict:
            return source
        if isinstance(source, Mapping):
            return dict(source)
        import msgspec

        decoded: dict[str, AV] = msgspec.json.decode(source)
        obj._dm_src = decoded
        return decoded

    def extras(self, obj: Any) -> dict[str, AV]:
        """Attributes of the loaded item that the model does not declare (kept on write-back),
        less the library's write token."""
        loaded = self.loaded_item(obj)
        if not loaded:
            return {}
        by_stored = self.by_stored
        return {k: v for k, v in loaded.items() if k not in by_stored and k != TOKEN_ATTRIBUTE}

    def changed(self, obj: Any) -> list[str]:
        """Attribute names whose value differs from the loaded item (all set fields if new)."""
        loaded = self.loaded_item(obj)
        values = obj.__dict__
        out = []
        for info in self.fields.values():
            value = values.get(info.name, MISSING)
            if value is MISSING:
                continue
            if loaded is None or not _same(info, loaded.get(info.stored), value):
                out.append(info.name)
        return out

    def diff(self, obj: Any) -> tuple[Item, list[str]]:
        """What to write for the changes since load: (SET stored name -> AV, REMOVE names).

        Key attributes are never included. Fields that were not loaded (partial items) are
        left alone; a field set to None, or to an omitted empty value, is removed.
        """
        loaded = self.loaded_item(obj) or {}
        values = obj.__dict__
        sets: Item = {}
        removes: list[str] = []
        for name in self.changed(obj):
            info = self.fields[name]
            if info.key:
                continue
            value = values[name]
            if value is None and not info.optional:
                raise ValidationError(
                    f"{info.where}: is None but the field is not optional", path=info.where
                )
            omitted = not value and (info.omit_empty or info.codec.kind == "set")
            if omitted:
                codec = info.codec.args[0] if info.codec.kind == "encrypted" else info.codec
                try:  # an empty value of the wrong type is an error, not a removal
                    codec.encode(value, 1)  # (the plain codec: an empty value is never sealed)
                except ValidationError as exc:
                    raise _named(exc, info.where) from None
            if value is None or omitted:
                if info.stored in loaded:
                    removes.append(info.stored)
            else:
                sets[info.stored] = av = info.encode(value)
                if info.indexes:
                    self.check_index_value(info, av)
        return sets, removes

    def check_index_value(self, info: FieldInfo, av: AV) -> None:
        """Check ``av`` written to ``info`` against every index that has ``info`` as a key."""
        for other, index in self.index_keys:
            if other is info:
                self.check_index_key(info, index, av)

    def mark_saved(self, obj: Any, item: dict[str, AV]) -> None:
        """Record ``item`` as what is now stored for ``obj`` (after a successful write)."""
        obj._dm_src = item


def _same(info: FieldInfo, av: AV | None, value: Any) -> bool:
    if av is None:
        # Absent when loaded: unchanged while it still holds what the read filled in.
        return value is None or (info.missing is not None and bool(value == info.missing()))
    try:
        return bool(info.codec.decode(av) == value)
    except (ValidationError, KeyError, TypeError, ValueError, ArithmeticError):
        return False


def _check_key(
    info: FieldInfo, av: AV | None, *, index: str | None = None, sort: bool | None = None
) -> None:
    if av is None:
        raise MissingPrimaryKey(
            f"{info.where} is part of the primary key and is not set", path=info.where
        )
    text = av.get("S")
    if text is not None:
        size = len(text) if text.isascii() else len(text.encode())
    elif "B" in av:
        size = len(av["B"]) * 3 // 4 - av["B"].count("=")
    else:
        return
    if size == 0 and index is not None:
        raise ValidationError(
            f"{info.where} is a key of index {index!r} and cannot be empty; declare it "
            "optional and leave it None to keep the item out of the index",
            path=info.where,
        )
    if size == 0:
        raise MissingPrimaryKey(
            f"{info.where} is a key attribute and cannot be empty", path=info.where
        )
    if sort is None:
        sort = info.key == "sk"
    limit = MAX_SORT_KEY_BYTES if sort else MAX_PARTITION_KEY_BYTES
    if size > limit:
        kind = "sort" if sort else "partition"
        of = "" if index is None else f" of index {index!r}"
        raise ValidationError(
            f"{info.where} is {size} bytes, over DynamoDB's {limit}-byte {kind} key limit{of}",
            path=info.where,
        )
