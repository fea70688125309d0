"""Typed codecs: one per declared field type, built once when a model class is created.

:func:`build_codec` turns an annotation (``int``, ``list[Decimal]``, ``dict[str, Address]``,
``datetime | None``...) into a :class:`TypeCodec` whose ``encode``/``decode`` closures do no
introspection per call. Nested models are resolved through a callback so the core stays free of
ORM imports. Errors raised here carry a relative ``path`` (``[2].city``); the model layer prefixes
the field (``Payment.items[2].city``).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol, Union, get_args, get_origin

from dynamorm._core import codec as c
from dynamorm._core.errors import ValidationError

if TYPE_CHECKING:
    from decimal import Decimal

    KeyType = Literal["S", "N", "B"]

AV = dict[str, Any]
Encode = Callable[[Any, int], AV]
Decode = Callable[[AV], Any]

_NULL: AV = {"NULL": True}
_KEY_TAGS: dict[str, KeyType] = {"S": "S", "N": "N", "B": "B"}


class UnsupportedType(TypeError):
    """The annotation is not a type this library can store."""


class Converter(Protocol):
    """A custom field converter: ``encode`` a value to an AttributeValue, ``decode`` it back."""

    def encode(self, value: Any, /) -> dict[str, Any]:
        """The AttributeValue (e.g. ``{"S": "..."}``) that stores ``value``."""
        ...

    def decode(self, av: dict[str, Any], /) -> Any:
        """The Python value stored as ``av``."""
        ...


class TypeCodec:
    """Compiled codec of one type.

    ``kind`` names the shape (``str``, ``int``, ``list``, ``model``...); ``args`` holds element
    codecs; ``target`` the enum class, literal values, model class, converter or set element
    kind; ``key_type`` is ``S``/``N``/``B`` when the type can be a key, else None.
    ``empty`` makes the type's empty value (for ``omit_empty`` fields read back).
    """

    __slots__ = ("args", "decode", "empty", "encode", "key_type", "kind", "optional", "target")

    def __init__(
        self,
        kind: str,
        encode: Encode,
        decode: Decode,
        *,
        key_type: KeyType | None = None,
        args: tuple[TypeCodec, ...] = (),
        target: Any = None,
        empty: Callable[[], Any] | None = None,
    ) -> None:
        self.kind: str = kind
        self.encode: Encode = encode
        self.decode: Decode = decode
        self.key_type = key_type
        self.args: tuple[TypeCodec, ...] = args
        self.target: Any = target
        self.empty: Callable[[], Any] | None = empty
        self.optional: bool = False

    def __repr__(self) -> str:
        return f"TypeCodec({self.kind}{'?' if self.optional else ''})"


ModelResolver = Callable[[Any], TypeCodec | None]
"""Returns the nested-model codec for a model class, or None if ``tp`` is not a model."""


# --- errors -------------------------------------------------------------------------------


def _wrong_type(expected: str, value: object) -> ValidationError:
    got = "None" if value is None else type(value).__name__
    return ValidationError(f"expected {expected}, got {got}")


def _wrong_av(tag: str, av: object) -> ValidationError:
    return ValidationError(f"expected a stored {tag} value, got {c.av_type(av)}")


def _at(step: str, exc: Exception) -> ValidationError:
    if isinstance(exc, ValidationError):
        return ValidationError(exc.message, path=step + (exc.path or ""))
    return ValidationError(f"cannot decode stored value ({type(exc).__name__})", path=step)


# --- scalars ------------------------------------------------------------------------------


def _scalar(
    kind: str,
    tag: str,
    check: Callable[[Any], Any],
    convert: Callable[[Any], Any],
    *,
    key: bool = True,
    empty: Callable[[], Any] | None = None,
) -> TypeCodec:
    def encode(value: Any, depth: int) -> AV:
        return {tag: check(value)}

    def decode(av: AV) -> Any:
        try:
            raw = av[tag]
        except (KeyError, TypeError):
            raise _wrong_av(tag, av) from None
        return convert(raw)

    return TypeCodec(
        kind, encode, decode, key_type=_KEY_TAGS.get(tag) if key else None, empty=empty
    )


def _check_str(value: Any) -> str:
    if type(value) is str:
        return value if value.isascii() else c.utf8_text(value)
    if isinstance(value, str):
        return c.utf8_text(str.__str__(value))
    raise _wrong_type("str", value)


def _check_int(value: Any) -> str:
    if type(value) is int:
        return c.encode_int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return c.encode_int(int(value))
    raise _wrong_type("int", value)


def _check_float(value: Any) -> str:
    if type(value) is float:
        return c.encode_float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return c.encode_int(int(value))
    if isinstance(value, float):
        return c.encode_float(float(value))
    raise _wrong_type("float", value)


def _decimal_check(decimal_type: type[Decimal]) -> Callable[[Any], str]:
    # Built when a model declares a Decimal: decimal is loaded then (it is in the annotation).
    def check(value: Any) -> str:
        if type(value) is decimal_type:
            return c.encode_decimal(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return c.encode_int(int(value))
        if isinstance(value, float):
            raise ValidationError(
                "expected Decimal, got float (a float is not exact money; use Decimal(str(x)))"
            )
        raise _wrong_type("Decimal", value)

    return check


def _check_bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise _wrong_type("bool", value)


def _check_bytes(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return c.encode_bytes(value)
    raise _wrong_type("bytes", value)


def _identity(value: Any) -> Any:
    return value


def _scalar_codec(tp: Any) -> TypeCodec | None:
    if tp is str:
        return _scalar("str", "S", _check_str, _identity, empty=str)
    if tp is int:
        return _scalar("int", "N", _check_int, c.decode_int, empty=int)
    if is_decimal(tp):
        return _scalar("decimal", "N", _decimal_check(tp), c.decode_decimal, empty=tp)
    if tp is float:
        return _scalar("float", "N", _check_float, c.decode_float, empty=float)
    if tp is bool:
        return _scalar("bool", "BOOL", _check_bool, bool, key=False)
    if tp is bytes:
        return _scalar("bytes", "B", _check_bytes, c.decode_bytes, empty=bytes)
    if is_datetime(tp):
        from dynamorm._core import timecodec as t

        return _scalar("datetime", "S", t.check_datetime, t.decode_datetime)
    dt = sys.modules.get("datetime")
    if dt is not None and tp is dt.date:
        from dynamorm._core import timecodec as t

        return _scalar("date", "S", t.check_date, t.decode_date)
    if getattr(tp, "__module__", None) == "uuid" and getattr(tp, "__name__", None) == "UUID":
        return _uuid_codec(tp)
    return None


def _uuid_codec(uuid_type: type) -> TypeCodec:
    def check(value: Any) -> str:
        if isinstance(value, uuid_type):
            return str(value)
        raise _wrong_type("UUID", value)

    def convert(raw: str) -> Any:
        try:
            return uuid_type(raw)
        except (TypeError, ValueError):
            raise ValidationError("the stored text is not a UUID") from None

    return _scalar("uuid", "S", check, convert)


def epoch_codec() -> TypeCodec:
    """A datetime stored as N epoch seconds (the format of DynamoDB TTL attributes)."""
    from dynamorm._core import timecodec as t

    return _scalar("epoch", "N", t.check_epoch, t.decode_epoch)


def is_datetime(tp: object) -> bool:
    """``tp`` is ``datetime.datetime`` (without importing datetime: an annotation naming it
    was resolved from a module that imported it)."""
    dt = sys.modules.get("datetime")
    return dt is not None and tp is dt.datetime


def is_decimal(tp: object) -> bool:
    """``tp`` is ``decimal.Decimal`` (likewise, without importing decimal)."""
    decimal = sys.modules.get("decimal")
    return decimal is not None and tp is decimal.Decimal


# --- enums and literals -------------------------------------------------------------------


def _enum_codec(enum_type: Any) -> TypeCodec:
    values = [member.value for member in enum_type]
    if values and all(isinstance(v, str) for v in values):
        tag, raw_of = "S", _check_str
    elif values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        tag, raw_of = "N", _check_int
    else:
        raise UnsupportedType(f"enum {enum_type.__name__} must have only str or only int values")
    parse = c.decode_int if tag == "N" else _identity

    def check(value: Any) -> Any:
        if isinstance(value, enum_type):
            return raw_of(value.value)
        raise _wrong_type(enum_type.__name__, value)

    def convert(raw: Any) -> Any:
        try:
            return enum_type(parse(raw))
        except ValueError:
            raise ValidationError(f"the stored value is not a {enum_type.__name__} value") from None

    codec = _scalar("enum", tag, check, convert)
    codec.target = enum_type
    return codec


def _literal_codec(options: tuple[Any, ...]) -> TypeCodec:
    if all(type(v) is str for v in options):
        tag = "S"
    elif all(type(v) is int for v in options):
        tag = "N"
    else:
        raise UnsupportedType("Literal[...] must list only str or only int values")
    allowed = frozenset(options)
    shown = ", ".join(repr(v) for v in options)

    def check(value: Any) -> Any:
        if type(value) in (str, int) and value in allowed:
            return value if tag == "S" else str(value)
        raise ValidationError(f"expected one of {shown}")

    def convert(raw: Any) -> Any:
        value = raw if tag == "S" else c.decode_int(raw)
        if value in allowed:
            return value
        raise ValidationError(f"the stored value is not one of {shown}")

    codec = _scalar("literal", tag, check, convert)
    codec.target = options
    return codec


# --- containers ---------------------------------------------------------------------------


def _container_depth(depth: int) -> None:
    if depth >= c.MAX_DEPTH:
        raise ValidationError(c.TOO_DEEP)


def _list_codec(elem: TypeCodec) -> TypeCodec:
    enc, dec = elem.encode, elem.decode

    def encode(value: Any, depth: int) -> AV:
        if not isinstance(value, list | tuple):
            raise _wrong_type("list", value)
        _container_depth(depth)
        out = []
        for index, item in enumerate(value):
            try:
                out.append(enc(item, depth + 1))
            except ValidationError as exc:
                raise _at(f"[{index}]", exc) from None
        return {"L": out}

    def decode(av: AV) -> Any:
        try:
            return [dec(item) for item in av["L"]]
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise _locate(av, "L", enumerate(av.get("L") or ()), dec, exc) from None

    return TypeCodec("list", encode, decode, args=(elem,), empty=list)


def _dict_codec(elem: TypeCodec) -> TypeCodec:
    enc, dec = elem.encode, elem.decode

    def encode(value: Any, depth: int) -> AV:
        if not isinstance(value, dict):
            raise _wrong_type("dict", value)
        _container_depth(depth)
        out = {}
        for key, item in value.items():
            try:
                out[c.map_key(key)] = enc(item, depth + 1)
            except ValidationError as exc:
                raise _at(f".{key}", exc) from None
        return {"M": out}

    def decode(av: AV) -> Any:
        try:
            return {key: dec(item) for key, item in av["M"].items()}
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            pairs = av["M"].items() if isinstance(av.get("M"), dict) else ()
            raise _locate(av, "M", pairs, dec, exc) from None

    return TypeCodec("dict", encode, decode, args=(elem,), empty=dict)


def _locate(av: Any, tag: str, pairs: Any, dec: Decode, exc: Exception) -> ValidationError:
    if not isinstance(av, dict) or tag not in av:
        return _wrong_av(tag, av)
    for key, item in pairs:
        try:
            dec(item)
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as inner:
            return _at(f".{key}" if isinstance(key, str) else f"[{key}]", inner)
    return _at("", exc)


_SET_KINDS: dict[Any, tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = {
    str: ("SS", _check_str, _identity),
    int: ("NS", _check_int, c.decode_int),
    bytes: ("BS", _check_bytes, c.decode_bytes),
}


def _set_codec(container: type, elem_type: Any) -> TypeCodec:
    check: Callable[[Any], Any]
    convert: Callable[[Any], Any]
    try:
        if is_decimal(elem_type):
            tag, check, convert = "NS", _decimal_check(elem_type), c.decode_decimal
        else:
            tag, check, convert = _SET_KINDS[elem_type]
    except (KeyError, TypeError):
        raise UnsupportedType(
            "sets must be set[str], set[int], set[Decimal] or set[bytes]"
        ) from None

    def encode(value: Any, depth: int) -> AV:
        if not isinstance(value, set | frozenset):
            raise _wrong_type("set", value)
        if not value:
            if depth:
                return _NULL
            raise ValidationError("an empty set cannot be stored (DynamoDB rejects empty sets)")
        return {tag: [check(v) for v in value]}

    def decode(av: AV) -> Any:
        try:
            raw = av[tag]
        except (KeyError, TypeError):
            if isinstance(av, dict) and "NULL" in av:
                return container()
            raise _wrong_av(tag, av) from None
        return container(convert(v) for v in raw)

    return TypeCodec("set", encode, decode, target=(tag, elem_type, container), empty=container)


def any_codec() -> TypeCodec:
    """Untyped values: the generic codec (numbers read back as int or Decimal; None allowed)."""

    def encode(value: Any, depth: int) -> AV:
        return c.encode_value(value, depth)

    codec = TypeCodec("any", encode, c.decode_value)
    codec.optional = True
    return codec


def json_codec() -> TypeCodec:
    """A JSON document stored as compact, key-sorted S (stable bytes for equal documents)."""
    import json

    dumps = json.JSONEncoder(
        separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
    ).encode

    def check(value: Any) -> str:
        try:
            return c.utf8_text(dumps(value))
        except ValidationError:
            raise
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValidationError(f"value is not JSON-serializable: {exc}") from None

    def convert(raw: str) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            raise ValidationError("stored JSON text is not valid JSON") from None

    return _scalar("json", "S", check, convert, key=False)


def custom_codec(converter: Converter) -> TypeCodec:
    """A field stored through a user-supplied converter."""
    to_av, from_av = converter.encode, converter.decode

    def encode(value: Any, depth: int) -> AV:
        av = to_av(value)
        if not isinstance(av, dict) or len(av) != 1:
            raise ValidationError(
                f"the converter returned a {type(av).__name__}, not an AttributeValue"
            )
        return av

    codec = TypeCodec("custom", encode, from_av, target=converter)
    return codec


class Document(Protocol):
    """What a nested model's metadata offers to the codec (``Model.__meta__``)."""

    def encode_document(self, obj: Any, depth: int) -> dict[str, AV]:
        """The attributes of ``obj`` (errors carry a relative path)."""
        ...

    def decode_document(self, item: dict[str, AV]) -> Any:
        """An instance from stored attributes (errors carry a relative path)."""
        ...


def model_codec(model: Any) -> TypeCodec:
    """A nested model stored as M; ``model.__meta__`` is looked up per call (so a model may
    contain itself)."""

    def encode(value: Any, depth: int) -> AV:
        if not isinstance(value, model):
            raise _wrong_type(model.__name__, value)
        _container_depth(depth)
        meta: Document = type(value).__meta__
        return {"M": meta.encode_document(value, depth + 1)}

    def decode(av: AV) -> Any:
        try:
            raw = av["M"]
        except (KeyError, TypeError):
            raise _wrong_av("M", av) from None
        meta: Document = model.__meta__
        return meta.decode_document(raw)

    return TypeCodec("model", encode, decode, target=model)


def optional(inner: TypeCodec) -> TypeCodec:
    """``X | None``: None is NULL inside documents and absent at the top level."""
    enc, dec = inner.encode, inner.decode

    def encode(value: Any, depth: int) -> AV:
        return _NULL if value is None else enc(value, depth)

    def decode(av: AV) -> Any:
        return None if "NULL" in av else dec(av)

    codec = TypeCodec(
        inner.kind,
        encode,
        decode,
        key_type=inner.key_type,
        args=inner.args,
        target=inner.target,
        empty=inner.empty,
    )
    codec.optional = True
    return codec


# --- annotations --------------------------------------------------------------------------


def build_codec(tp: Any, resolve_model: ModelResolver) -> TypeCodec:
    """The codec of annotation ``tp``; raises :class:`UnsupportedType` with the reason."""
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = get_args(tp)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return optional(build_codec(rest[0], resolve_model))
        raise UnsupportedType(
            f"union {_show(tp)} is not supported (only X | None); use Any or a converter"
        )
    if origin is not None and _is_annotated(tp):
        return build_codec(get_args(tp)[0], resolve_model)
    if tp is Any or tp is object:
        return any_codec()
    scalar = _scalar_codec(tp)
    if scalar is not None:
        return scalar
    if origin is Literal:
        return _literal_codec(get_args(tp))
    if tp is list or origin is list:
        return _list_codec(_element(tp, 0, resolve_model))
    if tp is dict or origin is dict:
        args = get_args(tp)
        if args and args[0] is not str:
            raise UnsupportedType(f"map keys must be str, not {_show(args[0])}")
        return _dict_codec(_element(tp, 1, resolve_model))
    if origin is set or origin is frozenset:
        return _set_codec(origin, get_args(tp)[0])
    enum = sys.modules.get("enum")
    if enum is not None and isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_codec(tp)
    model = resolve_model(tp)
    if model is not None:
        return model
    raise UnsupportedType(f"type {_show(tp)} is not supported")


def _element(tp: Any, index: int, resolve_model: ModelResolver) -> TypeCodec:
    args = get_args(tp)
    return build_codec(args[index], resolve_model) if args else any_codec()


def _is_annotated(tp: Any) -> bool:
    return hasattr(tp, "__metadata__")


def _show(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")
