"""Python values <-> DynamoDB AttributeValue JSON (pure; no I/O).

Generic functions (:func:`encode_value`, :func:`decode_value`) handle untyped values; the typed
field codecs that models compile at class creation live in :mod:`dynamorm._core.fieldcodec`.

Rules kept everywhere:

* numbers: ``int`` stays ``int``, ``Decimal`` stays ``Decimal``; NaN, Infinity, more than 38
  significant digits and magnitudes outside 1E-130 .. 9.99E+125 are rejected, never rounded;
* datetimes must be timezone-aware; they are stored in UTC as RFC 3339 with fixed-width
  microseconds (``2024-05-01T12:00:00.000000Z``) so stored strings sort in time order;
* an empty set is never sent (DynamoDB rejects it); at most 31 maps/lists nest (32 levels).
"""

from __future__ import annotations

import sys
from binascii import a2b_base64, b2a_base64
from typing import TYPE_CHECKING, Any

from dynamorm._core.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable
    from decimal import Decimal

MAX_ITEM_BYTES = 400 * 1024
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
MAX_DEPTH = 31
"""Maps/lists one attribute value may nest. AWS documents "up to 32 levels" counting the
innermost value; DynamoDB (Local, measured) accepts 31 nested M/L and refuses 32, even empty."""
MAX_DIGITS = 38

_TOO_BIG = 10**126
_NOT_A_NUMBER = "the stored text is not a DynamoDB number"
TOO_DEEP = (
    f"value nests more than {MAX_DEPTH} maps/lists (DynamoDB's limit of 32 levels, the "
    "innermost value included)"
)
_NULL: dict[str, Any] = {"NULL": True}

AttributeValue = dict[str, Any]


def _load_decimal(text: str) -> Decimal:
    # The first Decimal of the process imports decimal (about 2 ms) and binds it: a program
    # that never meets a fractional or Decimal number never loads it.
    global _Decimal  # noqa: PLW0603 - bound once, on first use
    from decimal import Decimal

    _Decimal = Decimal
    return Decimal(text)


_Decimal: Callable[[str], Decimal] = _load_decimal


# --- text ---------------------------------------------------------------------------------


def utf8_text(text: str) -> str:
    """``text`` itself when it is valid UTF-8 (DynamoDB's encoding); a lone surrogate is a
    ``ValidationError`` naming its index, never a raw ``UnicodeEncodeError`` later."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"string holds a lone surrogate at index {exc.start} (not valid UTF-8)"
        ) from None
    return text


def map_key(key: object) -> str:
    """A map key as DynamoDB accepts it: a non-empty, valid UTF-8 str."""
    if type(key) is not str:
        raise ValidationError(f"map keys must be str, not {type(key).__name__}")
    if not key:
        raise ValidationError("map keys cannot be empty (DynamoDB rejects an empty key)")
    try:
        return utf8_text(key)
    except ValidationError as exc:
        raise ValidationError(f"map key {exc.message}") from None


# --- numbers ------------------------------------------------------------------------------


def encode_int(value: int) -> str:
    """Render an int as a DynamoDB number, rejecting more than 38 significant digits."""
    if -_TOO_BIG < value < _TOO_BIG:
        text = str(value)
        if len(text) <= MAX_DIGITS or len(text.lstrip("-").rstrip("0")) <= MAX_DIGITS:
            return text
        raise ValidationError(
            f"a number has more than {MAX_DIGITS} significant digits (DynamoDB's limit)"
        )
    raise ValidationError("number is out of DynamoDB's range (magnitude must be below 1E+126)")


def encode_decimal(value: Decimal) -> str:
    """Render a Decimal as a DynamoDB number without rounding it."""
    if not value.is_finite():
        raise ValidationError("NaN and Infinity are not valid DynamoDB numbers")
    if not value:
        return "0"
    digits = value.as_tuple().digits
    significant = len(digits)
    while digits[significant - 1] == 0:
        significant -= 1
    if significant > MAX_DIGITS:
        raise ValidationError(
            f"a number has more than {MAX_DIGITS} significant digits ({significant}; DynamoDB's "
            "limit)"
        )
    exponent = value.adjusted()
    if exponent > 125 or exponent < -130:
        raise ValidationError("a number is out of DynamoDB's range (magnitude 1E-130 .. 9.99E+125)")
    return str(value)


def encode_float(value: float) -> str:
    """Render a float by its shortest exact repr (no binary noise such as 0.1000000000000000055)."""
    if value - value != 0:  # NaN or infinite (math.isfinite, without loading math)
        raise ValidationError("NaN and Infinity are not valid DynamoDB numbers")
    return encode_decimal(_Decimal(repr(value)))


def decode_number(text: str) -> int | Decimal:
    """A stored number as ``int`` when it is integral, else as an exact ``Decimal``."""
    try:
        return int(text)
    except ValueError:
        value = _Decimal(text)
        if not value.is_finite():
            raise ValidationError(_NOT_A_NUMBER) from None
        return value


def decode_int(text: str) -> int:
    """A stored number for an ``int`` field; a fractional value is an error, never truncated."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = _Decimal(text)
    except ArithmeticError:
        raise ValidationError(_NOT_A_NUMBER) from None
    if value.is_finite() and value == value.to_integral_value():
        return int(value)
    raise ValidationError("the stored number is not an integer")


def decode_decimal(text: str) -> Decimal:
    """A stored number for a ``Decimal`` field."""
    try:
        value = _Decimal(text)
    except ArithmeticError:
        raise ValidationError(_NOT_A_NUMBER) from None
    if not value.is_finite():
        raise ValidationError(_NOT_A_NUMBER)
    return value


def decode_float(text: str) -> float:
    """A stored number for a ``float`` field."""
    try:
        return float(decode_decimal(text))
    except ValidationError:
        raise
    except (TypeError, ValueError):
        raise ValidationError(_NOT_A_NUMBER) from None


# --- binary -------------------------------------------------------------------------------


def encode_bytes(value: bytes | bytearray | memoryview) -> str:
    """Binary as the base64 text DynamoDB JSON carries in ``B``."""
    return b2a_base64(value, newline=False).decode("ascii")


def decode_bytes(text: str) -> bytes:
    """Base64 text from ``B`` as bytes."""
    try:
        return a2b_base64(text, strict_mode=True)
    except (TypeError, ValueError):
        raise ValidationError("the stored binary is not valid base64") from None


# --- generic values -----------------------------------------------------------------------


def encode_value(value: object, _depth: int = 0) -> AttributeValue:
    """Encode any supported Python value as an AttributeValue, choosing the type from the value.

    ``str`` -> S, ``bool`` -> BOOL, ``int``/``Decimal``/``float`` -> N, ``bytes`` -> B,
    ``None`` -> NULL, mappings -> M, lists/tuples -> L, non-empty sets of str/numbers/bytes ->
    SS/NS/BS, ``datetime``/``date``/``UUID`` -> S, ``Enum`` -> its value, model instances -> M.
    """
    kind = type(value)
    if kind is str:
        return {"S": value if value.isascii() else utf8_text(value)}  # type: ignore[attr-defined,arg-type]
    if kind is int:
        return {"N": encode_int(value)}  # type: ignore[arg-type]
    if kind is bool:
        return {"BOOL": value}
    if value is None:
        return _NULL
    if kind is dict or kind is list:
        return _encode_container(value, _depth)
    return _encode_other(value, _depth)


def _encode_container(value: Any, depth: int) -> AttributeValue:
    if depth >= MAX_DEPTH:
        raise ValidationError(TOO_DEEP)
    if isinstance(value, dict):
        out: dict[str, AttributeValue] = {}
        for key, item in value.items():
            try:
                out[map_key(key)] = encode_value(item, depth + 1)
            except ValidationError as exc:
                raise _nested(exc, f".{key}") from None
        return {"M": out}
    items: list[AttributeValue] = []
    for index, item in enumerate(value):
        try:
            items.append(encode_value(item, depth + 1))
        except ValidationError as exc:
            raise _nested(exc, f"[{index}]") from None
    return {"L": items}


def _nested(exc: ValidationError, step: str) -> ValidationError:
    return ValidationError(exc.message, path=step + (exc.path or ""))


def _encode_other(value: Any, depth: int) -> AttributeValue:
    if isinstance(value, bool):
        return {"BOOL": bool(value)}
    enum = sys.modules.get("enum")
    if enum is not None and isinstance(value, enum.Enum):
        return encode_value(value.value, depth)
    if isinstance(value, str):
        return {"S": utf8_text(str(value))}
    if isinstance(value, int):
        return {"N": encode_int(int(value))}
    if isinstance(value, float):
        return {"N": encode_float(value)}
    decimal = sys.modules.get("decimal")  # a Decimal value means decimal is loaded
    if decimal is not None and isinstance(value, decimal.Decimal):
        return {"N": encode_decimal(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"B": encode_bytes(value)}
    dt = sys.modules.get("datetime")  # likewise for datetime
    if dt is not None and isinstance(value, dt.date):
        from dynamorm._core.timecodec import encode_date, encode_datetime

        return {
            "S": encode_datetime(value) if isinstance(value, dt.datetime) else encode_date(value)
        }
    if isinstance(value, dict | list | tuple):
        return _encode_container(value, depth)
    if isinstance(value, set | frozenset):
        return encode_set(value)
    hook = getattr(value, "__dynamorm_value__", None)
    if hook is not None:  # a model instance: a map one level down (a cycle ends at the limit)
        if depth >= MAX_DEPTH:
            raise ValidationError(TOO_DEEP)
        encoded: AttributeValue = hook(depth)
        return encoded
    uuid = sys.modules.get("uuid")
    if uuid is not None and isinstance(value, uuid.UUID):
        return {"S": str(value)}
    mapping = _as_mapping(value)
    if mapping is not None:
        return _encode_container(mapping, depth)
    raise ValidationError(f"cannot store a value of type {type(value).__name__}")


def _as_mapping(value: object) -> dict[Any, Any] | None:
    abc = sys.modules.get("collections.abc")
    if abc is not None and isinstance(value, abc.Mapping):
        return dict(value)
    return None


def encode_set(value: set[Any] | frozenset[Any]) -> AttributeValue:
    """Encode a non-empty set of str (SS), numbers (NS) or bytes (BS)."""
    if not value:
        raise ValidationError("an empty set cannot be stored (DynamoDB rejects empty sets)")
    kinds = {type(v) for v in value}
    if kinds == {str}:
        return {"SS": [utf8_text(v) for v in value]}
    decimal = sys.modules.get("decimal")
    if kinds <= {int, decimal.Decimal if decimal is not None else int}:
        return {"NS": [encode_int(v) if type(v) is int else encode_decimal(v) for v in value]}
    if kinds <= {bytes, bytearray}:
        return {"BS": [encode_bytes(v) for v in value]}
    names = ", ".join(sorted(k.__name__ for k in kinds))
    raise ValidationError(
        f"a set must hold only str, only numbers (int/Decimal) or only bytes, not {names}"
    )


def decode_value(av: AttributeValue) -> Any:
    """Decode an AttributeValue without a declared type (N gives ``int`` or ``Decimal``)."""
    try:
        ((tag, raw),) = av.items()
    except (AttributeError, ValueError):
        raise ValidationError(f"not an AttributeValue (a {type(av).__name__})") from None
    if tag == "S":
        return raw
    if tag == "N":
        return decode_number(raw)
    if tag == "M":
        return {k: decode_value(v) for k, v in raw.items()}
    if tag == "L":
        return [decode_value(v) for v in raw]
    if tag == "BOOL":
        return raw
    if tag == "NULL":
        return None
    if tag == "B":
        return decode_bytes(raw)
    if tag == "SS":
        return set(raw)
    if tag == "NS":
        return {decode_number(v) for v in raw}
    if tag == "BS":
        return {decode_bytes(v) for v in raw}
    raise ValidationError(f"unknown AttributeValue type {tag!r}")


def av_type(av: object) -> str:
    """The type tag of an AttributeValue (``S``, ``N``...), for error messages."""
    if isinstance(av, dict) and len(av) == 1:
        return str(next(iter(av)))
    return type(av).__name__


# --- limits ---------------------------------------------------------------------------------


def nesting(av: AttributeValue) -> int:
    """How many maps/lists ``av`` nests (0 for a scalar or a set)."""
    inner = av.get("M")
    if inner is not None:
        return 1 + max((nesting(v) for v in inner.values()), default=0)
    inner = av.get("L")
    if inner is not None:
        return 1 + max((nesting(v) for v in inner), default=0)
    return 0


def value_size(av: AttributeValue) -> int:
    """DynamoDB's size of one AttributeValue in bytes (UTF-8 strings, ~1 byte per 2 digits)."""
    ((tag, raw),) = av.items()
    if tag == "S":
        return len(raw) if raw.isascii() else len(raw.encode())
    if tag == "N":
        return _number_size(raw)
    if tag == "B":
        return len(raw) * 3 // 4
    if tag == "M":
        return 3 + sum(_str_size(k) + value_size(v) + 1 for k, v in raw.items())
    if tag == "L":
        return 3 + sum(value_size(v) + 1 for v in raw)
    if tag == "SS":
        return sum(_str_size(v) for v in raw)
    if tag == "NS":
        return sum(_number_size(v) for v in raw)
    if tag == "BS":
        return sum(len(v) * 3 // 4 for v in raw)
    return 1


def _str_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _number_size(text: str) -> int:
    digits = len(text) - text.startswith("-") - ("." in text)
    return (digits + 1) // 2 + 1


def item_size(item: dict[str, AttributeValue]) -> int:
    """DynamoDB's size of an item: attribute names plus values (the limit is 400 KB)."""
    total = 0
    for name, av in item.items():
        total += len(name) if name.isascii() else len(name.encode())
        text = av.get("S")
        if text is not None:
            total += len(text) if text.isascii() else len(text.encode())
        else:
            total += value_size(av)
    return total


def check_item_size(item: dict[str, AttributeValue], where: str) -> None:
    """Raise ``ValidationError`` when an item is over DynamoDB's 400 KB limit."""
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ValidationError(
            f"{where} item is {size} bytes, over DynamoDB's {MAX_ITEM_BYTES}-byte limit",
            path=where,
        )
