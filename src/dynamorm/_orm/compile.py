"""Compiling a model class once: fields from annotations, validation, generated code.

``compile_model`` runs from ``Model.__init_subclass__``. It reads the annotations, checks the
declaration (errors name ``Model.field``), builds one :class:`TypeCodec` per field and generates
three specialised functions with ``exec``: ``__init__`` (keyword-only), the item decoder and the
item encoder. Warm calls never introspect.
"""

from __future__ import annotations

import keyword
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, get_args, get_origin

from dynamorm._core.errors import DynamORMError, InvalidModel, MissingPrimaryKey, ValidationError
from dynamorm._core.fieldcodec import (
    TypeCodec,
    UnsupportedType,
    build_codec,
    custom_codec,
    epoch_codec,
    is_datetime,
    json_codec,
    model_codec,
    optional,
)
from dynamorm._orm.meta import (
    LSI,
    MISSING,
    NAME_CHARS,
    Attr,
    FieldInfo,
    FieldSpec,
    IndexInfo,
    ModelMeta,
)

if TYPE_CHECKING:
    from dynamorm._orm.meta import Naming


_RESERVED = frozenset({"self", "to_item", "from_item"})
MAX_ATTRIBUTE_NAME_BYTES = 65535
"""DynamoDB: attribute names are at least one character and less than 64 KB."""
MAX_KEY_NAME_CHARS = 255
"""DynamoDB: key attribute names (table and index keys, LSI projected names): 1-255 chars."""
_STAMPED_ROLES = ("version", "created_at", "updated_at")
_DECODE_EXPR = {
    "str": "{v}['S']",
    "int": "int({v}['N'])",
    "bool": "{v}['BOOL']",
    "float": "float({v}['N'])",
    "decimal": "_dm_Decimal({v}['N'])",
}


def _fail(meta: ModelMeta, message: str, field: str | None = None) -> InvalidModel:
    where = f"{meta.name}.{field}" if field else meta.name
    return InvalidModel(f"{where}: {message}", path=where)


def compile_model(
    cls: type,
    table: str | None,
    naming: Naming | None,
    unique: Sequence[str | Sequence[str]] | None = None,
) -> ModelMeta:
    """Compile ``cls`` into a :class:`ModelMeta`, set its descriptors and generated methods.

    ``unique``: model-level unique constraints (inherited when None)."""
    inherited = _inherited(cls)
    parent = inherited[-1] if inherited else None
    if table is None and parent is not None:
        table = parent.table
    if table is not None and (
        not isinstance(table, str) or not 1 <= len(table) <= 255 or not NAME_CHARS.issuperset(table)
    ):
        raise InvalidModel(
            f"{cls.__name__}: table must be a str of 1 to 255 letters, digits, '_', '-' or '.' "
            f"(DynamoDB's naming rule), got {table!r}",
            path=cls.__name__,
        )
    if naming is None:
        naming = parent.naming if parent is not None else "as_is"
    if naming not in ("as_is", "camel"):
        raise InvalidModel(f"{cls.__name__}: naming must be 'as_is' or 'camel', got {naming!r}")
    meta = ModelMeta(cls, table, naming)
    cls.__meta__ = meta  # type: ignore[attr-defined]  # early, so a model can contain itself
    for name, (annotation, spec) in _declarations(cls, meta, inherited).items():
        meta.fields[name] = _compile_field(meta, name, annotation, spec)
    _index_stored_names(meta)
    _assign_keys(meta)
    _assign_roles(meta)
    _compile_indexes(meta)
    meta.encrypted = tuple(info for info in meta.fields.values() if info.spec.encrypted)
    _compile_unique(meta, parent, unique)
    cls.__init__ = _generate_init(meta)  # type: ignore[misc]
    meta._decode = _tiered(meta, "_decode", _generate_decode, decode_carefully)
    meta._encode = _tiered(meta, "_encode", _generate_encode, encode_carefully)
    for info in meta.fields.values():
        setattr(cls, info.name, _sealed_attr(info) if info.spec.encrypted else Attr(info))
    if table is not None:
        cls.__table__ = table  # type: ignore[attr-defined]
    return meta


def _compile_unique(
    meta: ModelMeta, parent: ModelMeta | None, unique: Sequence[str | Sequence[str]] | None
) -> None:
    if unique is None:  # inherit the parent's model-level constraints (field-level ones come
        inherited = parent.unique if parent is not None else ()  # back with the fields)
        unique = [
            tuple(f.name for f in c.fields)
            for c in inherited
            if len(c.fields) > 1 or not c.fields[0].spec.unique
        ]
    if unique or any(f.spec.unique for f in meta.fields.values()):
        from dynamorm._features.unique import compile_unique  # loaded only by models using it

        compile_unique(meta, unique)  # refuses encrypted fields (not a scalar codec)


def _sealed_attr(info: FieldInfo) -> Attr[Any]:
    from dynamorm._orm.sealed import EncryptedAttr

    return EncryptedAttr(info)


def _inherited(cls: type) -> list[ModelMeta]:
    metas = []
    for base in reversed(cls.__mro__[1:]):
        meta = base.__dict__.get("__meta__")
        if isinstance(meta, ModelMeta):
            metas.append(meta)
    return metas


# --- declarations ---------------------------------------------------------------------------


def _declarations(
    cls: type, meta: ModelMeta, inherited: list[ModelMeta]
) -> dict[str, tuple[Any, FieldSpec]]:
    found: dict[str, tuple[Any, FieldSpec]] = {}
    for parent in inherited:
        for info in parent.fields.values():
            found[info.name] = (info.annotation, info.spec)
    own: dict[str, Any] = getattr(cls, "__annotations__", {})
    hints = _type_hints(cls, meta, own) if own else {}
    for name in own:
        annotation = hints.get(name, Any)
        if annotation is ClassVar or get_origin(annotation) is ClassVar:
            continue
        value = cls.__dict__.get(name, MISSING)
        if isinstance(value, FieldSpec):
            spec = value
        elif isinstance(value, Attr):
            spec = value.info.spec
        else:
            spec = FieldSpec(default=value)
        found[name] = (_unwrap_attr(annotation), spec)
    for name, value in cls.__dict__.items():
        if isinstance(value, FieldSpec) and name not in found:
            raise _fail(
                meta, "field(...) needs a type annotation (name: Attr[T] = field(...))", name
            )
    return found


def _type_hints(cls: type, meta: ModelMeta, own: dict[str, Any]) -> dict[str, Any]:
    """The class's own annotations, resolved as ``typing.get_type_hints`` resolves them.

    A plain ``eval`` of each annotation string does it for the forms models use; only when the
    result still holds a forward reference (``list["Address"]``) does ``get_type_hints`` run.
    (It builds a ``ForwardRef`` per string, whose ``compile()`` is the first of the process:
    CPython then creates its AST types, ~2 ms of a cold start.)"""
    import typing

    localns = {cls.__name__: cls}
    try:
        module = sys.modules.get(cls.__module__)
        namespace = getattr(module, "__dict__", {})
        hints = {}
        for name, value in own.items():
            hints[name] = eval(value, namespace, localns) if isinstance(value, str) else value
        if all(_resolved(tp, typing) for tp in hints.values()):
            return hints
        return typing.get_type_hints(cls, include_extras=True, localns=localns)
    except NameError as exc:
        raise _fail(
            meta,
            f"cannot resolve an annotation ({exc}); define the types a model uses before it, "
            "at module level",
        ) from None


def _resolved(tp: Any, typing: Any) -> bool:
    """No forward reference left in ``tp`` (strings in ``Literal[...]`` are values)."""
    if tp is None or isinstance(tp, str | typing.ForwardRef):
        return False
    if get_origin(tp) is typing.Literal:
        return True
    return all(_resolved(arg, typing) for arg in getattr(tp, "__args__", ()))


def _unwrap_attr(annotation: Any) -> Any:
    if annotation is Attr:
        return Any
    if get_origin(annotation) is Attr:
        return get_args(annotation)[0]
    return annotation


# --- fields ---------------------------------------------------------------------------------


def _camel(name: str) -> str:
    core = name.lstrip("_")
    head, *rest = core.split("_")
    return name[: len(name) - len(core)] + head + "".join(p[:1].upper() + p[1:] for p in rest)


def _check_name(meta: ModelMeta, name: object) -> str:
    """A field name is a Python identifier that is no keyword and no dunder, unchanged by NFKC
    (the generated ``__init__`` takes it as a parameter name; nothing else is ever exec'd)."""
    shown = repr(name)[:60]
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise InvalidModel(
            f"{meta.name}: field name {shown} is not a Python identifier (or is a keyword)",
            path=meta.name,
        )
    if not name.isascii():
        import unicodedata

        if unicodedata.normalize("NFKC", name) != name:
            raise InvalidModel(
                f"{meta.name}: field name {shown} changes under NFKC normalization; use its "
                "normalized spelling",
                path=meta.name,
            )
    if name.startswith("__") and name.endswith("__"):
        raise _fail(meta, "dunder names cannot be fields", name)
    if name in _RESERVED or name.startswith("_dm_"):
        raise _fail(meta, "this name is reserved by the library; use name= to store it", name)
    return name


def _check_stored(meta: ModelMeta, name: str, stored: object) -> str:
    if not isinstance(stored, str) or not stored:
        raise _fail(meta, f"the stored name must be a non-empty str, got {stored!r:.60}", name)
    try:
        size = len(stored.encode())
    except UnicodeEncodeError:
        raise _fail(meta, "the stored name is not valid UTF-8 (a lone surrogate)", name) from None
    if size > MAX_ATTRIBUTE_NAME_BYTES:
        raise _fail(meta, f"the stored name is {size} bytes; DynamoDB allows under 64 KB", name)
    return stored


def _compile_field(meta: ModelMeta, name: str, annotation: Any, spec: FieldSpec) -> FieldInfo:
    _check_name(meta, name)
    if spec.encrypted:
        _check_encrypted(meta, name, spec)
    if len(spec.roles) > 1:
        raise _fail(meta, f"a field has at most one role, got {', '.join(spec.roles)}", name)
    if spec.default is not MISSING and spec.default_factory is not None:
        raise _fail(meta, "give default or default_factory, not both", name)
    if isinstance(spec.default, list | dict | set):
        raise _fail(meta, "mutable default; use default_factory (e.g. default_factory=list)", name)
    stored = spec.name if spec.name is not None else name
    if spec.name is None and meta.naming == "camel":
        stored = _camel(name)
    _check_stored(meta, name, stored)
    info = FieldInfo(meta.name, name, stored, annotation, spec)
    try:
        info.codec = _codec(info, annotation, spec)
    except UnsupportedType as exc:
        raise _fail(meta, str(exc), name) from None
    _check_role_type(meta, info)
    _check_default(meta, info)  # against the plain codec (an encrypted one needs a data key)
    if spec.encrypted:
        from dynamorm._core.envelope import encrypted_codec

        if info.codec.kind == "set":  # an empty set is not stored, as for plain set fields
            info.omit_empty = True
        info.codec = encrypted_codec(info.codec, stored, info.where)
    if spec.key is not None and (info.codec.key_type is None or info.codec.optional):
        raise _fail(
            meta,
            "a key must be a non-optional str, number, bytes, date/datetime, UUID, Enum or "
            f"Literal, not {info.codec.kind}",
            name,
        )
    if spec.omit_empty and (spec.key or info.codec.empty is None):
        raise _fail(meta, f"omit_empty does not apply to a {info.codec.kind} field", name)
    if spec.key is not None and len(stored) > MAX_KEY_NAME_CHARS:
        raise _fail(meta, f"a key attribute name has at most {MAX_KEY_NAME_CHARS} characters", name)
    _defaults(info)
    return info


def _check_encrypted(meta: ModelMeta, name: str, spec: FieldSpec) -> None:
    if spec.key is not None:
        raise _fail(meta, "a key field cannot be encrypted (DynamoDB must read keys)", name)
    if spec.index:
        raise _fail(
            meta, "an index key cannot be encrypted (DynamoDB would index ciphertext)", name
        )
    if spec.roles:
        raise _fail(meta, f"a {spec.roles[0]} field cannot be encrypted", name)
    if spec.unique:
        raise _fail(
            meta, "a unique field cannot be encrypted (its value would be stored in clear)", name
        )


def _check_default(meta: ModelMeta, info: FieldInfo) -> None:
    """A ``default=`` must be a value the field can store (checked once, at class creation)."""
    value = info.default
    if value is MISSING or (value is None and info.codec.optional):
        return
    if info.codec.kind == "model" and value.__class__ is meta.model:
        return
    try:
        info.codec.encode(value, 1)
    except ValidationError as exc:
        where = exc.path or ""
        message = f"default{where} does not fit the field: {exc.message}"
        raise _fail(meta, message, info.name) from None


def _codec(info: FieldInfo, annotation: Any, spec: FieldSpec) -> TypeCodec:
    inner = annotation
    is_optional = False
    args = get_args(annotation)
    if type(None) in args and len(args) == 2:
        inner = next(a for a in args if a is not type(None))
        is_optional = True
    if spec.converter is not None:
        codec = custom_codec(spec.converter)
    elif spec.json:
        codec = json_codec()
    elif info.role == "ttl":
        if inner is int:
            return build_codec(annotation, _resolve_model)
        if not is_datetime(inner):
            raise UnsupportedType("a ttl field must be datetime or int (epoch seconds)")
        codec = epoch_codec()
    else:
        return build_codec(annotation, _resolve_model)
    return optional(codec) if is_optional else codec


def _resolve_model(tp: Any) -> TypeCodec | None:
    if isinstance(tp, type) and isinstance(getattr(tp, "__meta__", None), ModelMeta):
        if getattr(tp, "__meta__").encrypted:  # noqa: B009 - typed as a plain type here
            raise UnsupportedType(
                f"{tp.__name__} has encrypted fields, which are only supported at the top "
                "level of an item (encrypt the whole nested field instead)"
            )
        return model_codec(tp)
    return None


def _check_role_type(meta: ModelMeta, info: FieldInfo) -> None:
    kind = info.codec.kind
    if info.role == "version" and (kind != "int" or info.codec.optional):
        raise _fail(meta, "a version field must be int", info.name)
    stamps_datetime = kind == "datetime" or (
        kind == "custom" and is_datetime(getattr(info.codec.target, "python_type", None))
    )
    if info.role in ("created_at", "updated_at") and not stamps_datetime:
        raise _fail(meta, f"a {info.role} field must be datetime", info.name)
    if info.role is not None and info.key is not None:
        raise _fail(meta, f"a key field cannot have the {info.role} role", info.name)


def _defaults(info: FieldInfo) -> None:
    spec = info.spec
    if info.role == "version" and info.default is MISSING and info.default_factory is None:
        info.default = 0
    stamped = info.role in _STAMPED_ROLES
    info.init = spec.init if spec.init is not None else not stamped
    if info.default is not MISSING:
        value = info.default
        info.missing = lambda: value
    elif info.default_factory is not None:
        info.missing = info.default_factory
    elif info.codec.optional:
        info.missing = _none
    elif info.omit_empty or info.codec.kind == "set":
        info.missing = info.codec.empty


def _none() -> None:
    return None


# --- keys, roles, indexes -------------------------------------------------------------------


def _index_stored_names(meta: ModelMeta) -> None:
    for info in meta.fields.values():
        other = meta.by_stored.get(info.stored)
        if other is not None:
            raise _fail(
                meta,
                f"stored attribute name {info.stored!r} is also used by {other.name}",
                info.name,
            )
        meta.by_stored[info.stored] = info


def _assign_keys(meta: ModelMeta) -> None:
    for kind in ("pk", "sk"):
        found = [f for f in meta.fields.values() if f.key == kind]
        if len(found) > 1:
            label = "partition" if kind == "pk" else "sort"
            names = " and ".join(f.name for f in found)
            raise _fail(meta, f"two {label} keys ({names}); a model has at most one")
        setattr(meta, kind, found[0] if found else None)
    if meta.sk is not None and meta.pk is None:
        raise _fail(meta, "a sort key needs a partition key; mark one field pk=True", meta.sk.name)
    if meta.table is not None and meta.pk is None:
        raise _fail(meta, "a model with a table needs a partition key: field(pk=True)")


def _assign_roles(meta: ModelMeta) -> None:
    for info in meta.fields.values():
        if info.role is None:
            continue
        current = getattr(meta, info.role)
        if current is not None:
            raise _fail(meta, f"{info.role} role is already on {current.name}", info.name)
        setattr(meta, info.role, info)


def _compile_indexes(meta: ModelMeta) -> None:
    parts: dict[str, dict[str, Any]] = {}
    for info in meta.fields.values():
        for index in info.indexes:
            if info.codec.key_type is None:
                raise _fail(
                    meta,
                    f"index {index.name!r} needs a str, number or bytes key, not {info.codec.kind}",
                    info.name,
                )
            kind = "LSI" if isinstance(index, LSI) else "GSI"
            entry = parts.setdefault(index.name, {"kind": kind, "pk": None, "sk": None})
            if entry["kind"] != kind:
                raise _fail(meta, f"{index.name!r} is declared both as GSI and LSI", info.name)
            role = "pk" if kind == "GSI" and getattr(index, "pk", False) else "sk"
            if entry[role] is not None:
                raise _fail(
                    meta,
                    f"index {index.name!r} already has {entry[role].name} as its {role}",
                    info.name,
                )
            entry[role] = info
            wanted = (index.projection, index.include)
            current = entry.get("projection", ("ALL", ()))
            if current == ("ALL", ()):
                entry["projection"] = wanted
            elif wanted not in (("ALL", ()), current):
                raise _fail(meta, f"conflicting projections for index {index.name!r}", info.name)
    for name, entry in parts.items():
        meta.indexes[name] = _index_info(meta, name, entry)


def _index_info(meta: ModelMeta, name: str, entry: dict[str, Any]) -> IndexInfo:
    sk: FieldInfo | None = entry["sk"]
    if entry["kind"] == "LSI":
        if meta.pk is None or meta.sk is None:
            raise _fail(meta, f"LSI {name!r} needs a table with a partition and a sort key")
        pk = meta.pk
    elif entry["pk"] is None:
        assert sk is not None
        raise _fail(meta, f"GSI {name!r} has a sort key but no partition key field", sk.name)
    else:
        pk = entry["pk"]
    projection, names = entry.get("projection", ("ALL", ()))
    include = []
    for attribute in names:
        target = meta.fields.get(attribute)
        if target is None:
            raise _fail(meta, f"index {name!r} includes unknown field {attribute!r}")
        include.append(target.stored)
    long = [f for f in (pk, sk) if f is not None and len(f.stored) > MAX_KEY_NAME_CHARS]
    if entry["kind"] == "LSI":
        long += [meta.fields[a] for a in names if len(meta.fields[a].stored) > MAX_KEY_NAME_CHARS]
    if long:
        raise _fail(
            meta,
            f"index {name!r}: its key (and LSI projected) attribute names have at most "
            f"{MAX_KEY_NAME_CHARS} characters",
            long[0].name,
        )
    return IndexInfo(
        name, entry["kind"], pk=pk, sk=sk, projection=projection, include=tuple(include)
    )


# --- generated code -------------------------------------------------------------------------


WARM_CALLS = 8
"""Items a model encodes (or decodes) with the reference codec before its specialised code is
generated: generating it costs about a millisecond, which a cold start that reads and writes
one item would pay for nothing; a model in use switches after a few calls."""


def _tiered(
    meta: ModelMeta,
    attribute: str,
    generate: Callable[[ModelMeta], Callable[..., Any]],
    reference: Callable[..., Any],
) -> Callable[..., Any]:
    """``meta.<attribute>`` for a new model: ``reference(meta, ...)`` for the first calls, then
    the code ``generate(meta)`` returns, which replaces it (same results, same errors)."""
    calls = 0

    def cold(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == WARM_CALLS:
            setattr(meta, attribute, generate(meta))
        return reference(meta, *args)

    return cold


def _exec(source: str, namespace: dict[str, Any], name: str) -> Callable[..., Any]:
    # exec of the text, not of compile(...): the first compile() of a process creates CPython's
    # AST types (~2 ms of a cold start); the file name is set on the code object afterwards.
    exec(source, namespace)
    function: Callable[..., Any] = namespace[name]
    function.__code__ = function.__code__.replace(co_filename=f"<dynamorm {name}>")
    return function


def _generate_init(meta: ModelMeta) -> Callable[..., None]:
    # Parameter names are the field names, checked by _check_name (identifiers, not keywords,
    # not dunders, NFKC-stable); every other caller-given text is a namespace constant.
    ns: dict[str, Any] = {"_dm_MISSING": MISSING}
    params: list[str] = []
    lines: list[str] = []
    for i, info in enumerate(meta.fields.values()):
        name = info.name
        ns[f"_dm_k{i}"] = name
        if info.default is not MISSING:
            ns[f"_dm_d{i}"] = info.default
            value = f"_dm_d{i}"
        elif info.default_factory is not None:
            ns[f"_dm_f{i}"] = info.default_factory
            value = f"_dm_f{i}()"
        else:
            value = ""
        if info.init:
            if info.default is not MISSING:
                params.append(f"{name}=_dm_d{i}")
                value = name
            elif info.default_factory is not None:
                params.append(f"{name}=_dm_MISSING")
                value = f"{value} if {name} is _dm_MISSING else {name}"
            else:
                params.append(name)
                value = name
        if value:
            lines.append(f"    _dm_d[_dm_k{i}] = {value}")
    signature = f"self, *, {', '.join(params)}" if params else "self"
    source = "\n".join(
        [
            f"def __init__({signature}):",
            "    _dm_d = self.__dict__",
            *lines,
            "    self._dm_src = None",
        ]
    )
    function = _exec(source, ns, "__init__")
    function.__qualname__ = f"{meta.model.__qualname__}.__init__"
    function.__doc__ = f"Create a {meta.name} (keyword arguments only)."
    return function


def _generate_decode(meta: ModelMeta) -> Callable[[Mapping[str, Any]], Any]:
    ns: dict[str, Any] = {
        "_dm_new": object.__new__,
        "_dm_cls": meta.model,
        "_dm_careful": lambda item: decode_carefully(meta, item),
    }
    lines = [
        "def _dm_decode(_dm_item):",
        "    _dm_obj = _dm_new(_dm_cls)",
        "    _dm_d = _dm_obj.__dict__",
        "    try:",
    ]
    for i, info in enumerate(meta.fields.values()):
        ns[f"_dm_c{i}"] = info.codec.decode
        template = _DECODE_EXPR.get(info.codec.kind, f"_dm_c{i}({{v}})")
        if info.codec.kind == "decimal":  # the model names Decimal: decimal is loaded
            ns["_dm_Decimal"] = sys.modules["decimal"].Decimal
        expr = template.format(v="_dm_v")
        if info.codec.optional:
            expr = f"None if 'NULL' in _dm_v else {expr}"
        ns[f"_dm_s{i}"] = info.stored
        ns[f"_dm_k{i}"] = info.name
        lines += [
            f"        _dm_v = _dm_item.get(_dm_s{i})",
            "        if _dm_v is not None:",
            f"            _dm_d[_dm_k{i}] = {expr}",
        ]
        missing = _missing_expr(info, ns, i)
        if missing is not None:
            lines += ["        else:", f"            _dm_d[_dm_k{i}] = {missing}"]
    lines += [
        "        pass",
        "    except Exception:",
        "        return _dm_careful(_dm_item)",
        "    _dm_obj._dm_src = _dm_item",
        "    return _dm_obj",
    ]
    return _exec("\n".join(lines), ns, "_dm_decode")


def _missing_expr(info: FieldInfo, ns: dict[str, Any], i: int) -> str | None:
    if info.default is not MISSING:
        ns[f"_dm_m{i}"] = info.default
        return f"_dm_m{i}"
    if info.missing is None:
        return None
    ns[f"_dm_m{i}"] = info.missing
    return f"_dm_m{i}()"


def decode_carefully(meta: ModelMeta, item: Mapping[str, Any]) -> Any:
    """The reference decoder: same result as the generated one, precise errors on bad items."""
    if not isinstance(item, Mapping):
        raise ValidationError(
            f"an item must be a dict of AttributeValues, not {type(item).__name__}", path=""
        )
    obj: Any = object.__new__(meta.model)
    values = obj.__dict__
    for info in meta.fields.values():
        av = item.get(info.stored)
        if av is None:
            if info.missing is not None:
                values[info.name] = info.missing()
            continue
        try:
            values[info.name] = info.codec.decode(av)
        except ValidationError as exc:
            raise type(exc)(exc.message, path=f".{info.name}{exc.path or ''}") from None
        except DynamORMError:
            raise
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError):
            raise ValidationError(
                f"cannot decode the stored {_av_tag(av)} value", path=f".{info.name}"
            ) from None
    obj._dm_src = item
    return obj


def _av_tag(av: object) -> str:
    return str(next(iter(av))) if isinstance(av, dict) and len(av) == 1 else type(av).__name__


def _generate_encode(meta: ModelMeta) -> Callable[[Any, int], dict[str, Any]]:
    infos = list(meta.fields.values())
    ns: dict[str, Any] = {
        "_dm_MISSING": MISSING,
        "ValidationError": ValidationError,
        "_dm_fail": lambda i, exc: _encode_error(infos[i], exc),
        "_dm_unset": lambda i: _unset_error(infos[i]),
        "_dm_none": lambda i: _none_error(infos[i]),
    }
    lines = [
        "def _dm_encode(_dm_obj, _dm_depth):",
        "    _dm_d = _dm_obj.__dict__",
        "    _dm_item = {}",
        "    _dm_i = 0",
        "    try:",
    ]
    for i, info in enumerate(infos):
        ns[f"_dm_e{i}"] = info.codec.encode
        stamped = info.role in _STAMPED_ROLES
        value = f"_dm_e{i}(_dm_v, _dm_depth)"
        if info.codec.kind == "str":
            value = f"{{'S': _dm_v}} if type(_dm_v) is str and _dm_v.isascii() else {value}"
        ns[f"_dm_s{i}"] = info.stored
        ns[f"_dm_k{i}"] = info.name
        lines += [
            f"        _dm_i = {i}",
            f"        _dm_v = _dm_d.get(_dm_k{i}, _dm_MISSING)",
            "        if _dm_v is _dm_MISSING:",
            "            pass"
            if stamped or info.codec.optional
            else "            raise _dm_unset(_dm_i)",
            "        elif _dm_v is None:",
            "            pass" if info.codec.optional else "            raise _dm_none(_dm_i)",
        ]
        if info.omit_empty or info.codec.kind == "set":  # omitted, once its type is checked
            plain = info.codec.args[0] if info.codec.kind == "encrypted" else info.codec
            ns[f"_dm_p{i}"] = plain.encode  # an empty value is never sealed
            lines += ["        elif not _dm_v:", f"            _dm_p{i}(_dm_v, 1)"]
        lines += ["        else:", f"            _dm_item[_dm_s{i}] = {value}"]
    lines += [
        "        pass",
        "    except ValidationError as exc:",
        "        raise _dm_fail(_dm_i, exc) from None",
        "    return _dm_item",
    ]
    return _exec("\n".join(lines), ns, "_dm_encode")


def encode_carefully(meta: ModelMeta, obj: Any, depth: int) -> dict[str, Any]:
    """The reference encoder: the generated one's result and errors, field by field."""
    values = obj.__dict__
    item: dict[str, Any] = {}
    for info in meta.fields.values():
        codec = info.codec
        value = values.get(info.name, MISSING)
        try:
            if value is MISSING:
                if not (codec.optional or info.role in _STAMPED_ROLES):
                    raise _unset_error(info)
            elif value is None:
                if not codec.optional:
                    raise _none_error(info)
            elif not value and (info.omit_empty or codec.kind == "set"):
                (codec.args[0] if codec.kind == "encrypted" else codec).encode(value, 1)
            else:
                item[info.stored] = codec.encode(value, depth)
        except ValidationError as exc:
            raise _encode_error(info, exc) from None
    return item


def _encode_error(info: FieldInfo, exc: ValidationError) -> ValidationError:
    return type(exc)(exc.message, path=f".{info.name}{exc.path or ''}")


def _unset_error(info: FieldInfo) -> ValidationError:
    if info.key is not None:
        return MissingPrimaryKey("part of the primary key and not set", path="")
    return ValidationError("required field is not set", path="")


def _none_error(info: FieldInfo) -> ValidationError:
    cls = MissingPrimaryKey if info.key is not None else ValidationError
    return cls("is None but the field is not optional (annotate it X | None)", path="")
