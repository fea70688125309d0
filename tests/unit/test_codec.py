"""The generic codec: Python values <-> AttributeValues, number and time rules, limits."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest

from dynamorm._core.codec import (
    MAX_ITEM_BYTES,
    check_item_size,
    decode_bytes,
    decode_int,
    decode_number,
    decode_value,
    encode_decimal,
    encode_float,
    encode_int,
    encode_value,
    item_size,
)
from dynamorm._core.errors import ValidationError
from dynamorm._core.timecodec import decode_datetime, decode_epoch, encode_datetime, encode_epoch


class Color(Enum):
    RED = "red"


class Level(Enum):
    LOW = 1


@pytest.mark.parametrize(
    ("value", "av"),
    [
        ("héllo", {"S": "héllo"}),
        ("", {"S": ""}),
        (7, {"N": "7"}),
        (-7, {"N": "-7"}),
        (True, {"BOOL": True}),
        (None, {"NULL": True}),
        (Decimal("12.50"), {"N": "12.50"}),
        (0.1, {"N": "0.1"}),
        (b"\x00\xff", {"B": "AP8="}),
        (bytearray(b"ab"), {"B": "YWI="}),
        (datetime(2024, 5, 1, 12, tzinfo=UTC), {"S": "2024-05-01T12:00:00.000000Z"}),
        (date(2024, 5, 1), {"S": "2024-05-01"}),
        (Color.RED, {"S": "red"}),
        (Level.LOW, {"N": "1"}),
        ([1, "a"], {"L": [{"N": "1"}, {"S": "a"}]}),
        ((1,), {"L": [{"N": "1"}]}),
        ({"a": {"b": []}}, {"M": {"a": {"M": {"b": {"L": []}}}}}),
        ({"x"}, {"SS": ["x"]}),
        (frozenset({Decimal("1.5")}), {"NS": ["1.5"]}),
        ({b"a"}, {"BS": ["YQ=="]}),
    ],
)
def test_encode_value_picks_the_attribute_type(value: Any, av: dict[str, Any]) -> None:
    assert encode_value(value) == av


def test_uuid_is_stored_as_its_canonical_string() -> None:
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert encode_value(value) == {"S": "12345678-1234-5678-1234-567812345678"}


def test_decode_value_reads_every_attribute_type() -> None:
    item = {
        "M": {
            "s": {"S": "x"},
            "i": {"N": "42"},
            "d": {"N": "-0.5"},
            "b": {"B": "AP8="},
            "t": {"BOOL": False},
            "n": {"NULL": True},
            "l": {"L": [{"N": "1"}]},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2.5"]},
            "bs": {"BS": ["YQ=="]},
        }
    }
    assert decode_value(item) == {
        "s": "x",
        "i": 42,
        "d": Decimal("-0.5"),
        "b": b"\x00\xff",
        "t": False,
        "n": None,
        "l": [1],
        "ss": {"a", "b"},
        "ns": {1, Decimal("2.5")},
        "bs": {b"a"},
    }
    assert type(decode_value({"N": "42"})) is int
    assert type(decode_value({"N": "4.2"})) is Decimal


def test_encoded_values_are_plain_json() -> None:
    av = encode_value({"a": [Decimal("1.1"), b"x", {"y"}, None, True]})
    assert json.loads(json.dumps(av)) == av


# --- numbers ------------------------------------------------------------------------------


def test_38_significant_digits_are_accepted_and_39_rejected() -> None:
    assert encode_int(10**38 - 1) == "9" * 38
    with pytest.raises(ValidationError, match="more than 38 significant digits"):
        encode_int(10**38 + 1)
    assert encode_decimal(Decimal("0." + "1" * 38)) == "0." + "1" * 38
    with pytest.raises(ValidationError, match="more than 38 significant digits"):
        encode_decimal(Decimal("1." + "1" * 38))


def test_trailing_zeros_are_not_significant() -> None:
    assert encode_int(10**100) == "1" + "0" * 100
    assert encode_decimal(Decimal("1.5000000000000000000000000000000000000000")) == (
        "1.5000000000000000000000000000000000000000"
    )


@pytest.mark.parametrize(
    "value", [Decimal("1E-130"), Decimal("9.9999999999999999999999999999999999999E+125")]
)
def test_range_limits_are_accepted(value: Decimal) -> None:
    assert Decimal(encode_decimal(value)) == value


@pytest.mark.parametrize("value", [Decimal("1E-131"), Decimal("1E+126"), Decimal("-1E+126")])
def test_out_of_range_decimals_are_rejected(value: Decimal) -> None:
    with pytest.raises(ValidationError, match="out of DynamoDB's range"):
        encode_decimal(value)


def test_out_of_range_ints_are_rejected() -> None:
    with pytest.raises(ValidationError, match="out of DynamoDB's range"):
        encode_int(10**126)
    assert encode_int(-(10**125)) == "-1" + "0" * 125


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_nan_and_infinity_decimals_are_rejected(value: Decimal) -> None:
    with pytest.raises(ValidationError, match="NaN and Infinity"):
        encode_value(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_floats_are_rejected(value: float) -> None:
    with pytest.raises(ValidationError, match="NaN and Infinity"):
        encode_value(value)


def test_zero_in_any_form_is_stored_as_0() -> None:
    assert encode_decimal(Decimal("-0.000")) == "0"
    assert encode_decimal(Decimal("0E-200")) == "0"
    assert encode_float(-0.0) == "0"


def test_floats_are_stored_by_their_shortest_repr() -> None:
    assert encode_float(0.1) == "0.1"
    assert encode_float(1e16) == "1E+16"
    assert encode_float(123.456) == "123.456"


def test_tiny_floats_outside_the_range_are_rejected() -> None:
    with pytest.raises(ValidationError, match="out of DynamoDB's range"):
        encode_float(1e-300)


def test_decode_number_keeps_integers_exact() -> None:
    big = "-" + "9" * 38
    assert decode_number(big) == -(10**38 - 1)
    assert decode_number("0.30") == Decimal("0.30")


def test_decode_int_accepts_integral_forms_and_rejects_fractions() -> None:
    assert decode_int("1E+2") == 100
    assert decode_int("5.000") == 5
    with pytest.raises(ValidationError, match="not an integer"):
        decode_int("5.5")
    with pytest.raises(ValidationError, match="not a DynamoDB number"):
        decode_int("abc")


# --- time and binary ----------------------------------------------------------------------


def test_datetimes_are_stored_in_utc_with_fixed_width_microseconds() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert encode_datetime(datetime(2024, 1, 1, 2, 0, tzinfo=plus_two)) == (
        "2024-01-01T00:00:00.000000Z"
    )
    assert encode_datetime(datetime(5, 1, 1, 0, 0, 0, 7, tzinfo=UTC)) == (
        "0005-01-01T00:00:00.000007Z"
    )


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValidationError, match=r"naive datetime .* timezone-aware"):
        encode_value(datetime(2024, 1, 1))


def test_datetimes_that_overflow_in_utc_are_rejected() -> None:
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(ValidationError, match="out of range"):
        encode_datetime(early)


def test_decode_datetime_converts_offsets_to_utc_and_rejects_naive_text() -> None:
    value = decode_datetime("2024-01-01T02:00:00+02:00")
    assert value == datetime(2024, 1, 1, tzinfo=UTC)
    assert value.tzinfo is UTC
    with pytest.raises(ValidationError, match="has no timezone"):
        decode_datetime("2024-01-01T00:00:00")
    with pytest.raises(ValidationError, match="not an RFC 3339 timestamp"):
        decode_datetime("yesterday")


def test_epoch_seconds_drop_sub_second_parts() -> None:
    moment = datetime(2024, 1, 1, 0, 0, 1, 999999, tzinfo=UTC)
    assert encode_epoch(moment) == "1704067201"
    assert decode_epoch("1704067201") == moment.replace(microsecond=0)
    with pytest.raises(ValidationError, match="naive"):
        encode_epoch(datetime(2024, 1, 1))
    with pytest.raises(ValidationError, match="out of range"):
        decode_epoch("1" + "0" * 30)


def test_invalid_base64_is_rejected() -> None:
    with pytest.raises(ValidationError, match="not valid base64"):
        decode_bytes("***")


# --- errors and limits --------------------------------------------------------------------


def test_unsupported_values_are_rejected_with_the_type_name() -> None:
    with pytest.raises(ValidationError, match="cannot store a value of type complex"):
        encode_value(1j)


def test_errors_inside_documents_carry_the_path() -> None:
    with pytest.raises(ValidationError) as info:
        encode_value({"a": [1, {"b": float("nan")}]})
    assert info.value.path == ".a[1].b"


def test_map_keys_must_be_strings() -> None:
    with pytest.raises(ValidationError, match="map keys must be str, not int"):
        encode_value({1: "x"})


def test_empty_and_mixed_sets_are_rejected() -> None:
    with pytest.raises(ValidationError, match="empty set cannot be stored"):
        encode_value(set())
    with pytest.raises(ValidationError, match=r"only str, only numbers .* not int, str"):
        encode_value({1, "a"})


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def test_nesting_is_limited_to_31_maps_or_lists() -> None:
    # DynamoDB Local accepts 31 nested M/L and refuses 32 (tests/integration/test_validation.py)
    assert decode_value(encode_value(_nested(31))) == _nested(31)
    with pytest.raises(ValidationError, match="nests more than 31 maps/lists"):
        encode_value(_nested(32))


def test_decode_value_rejects_what_is_not_an_attribute_value() -> None:
    with pytest.raises(ValidationError, match="not an AttributeValue"):
        decode_value({"S": "a", "N": "1"})
    with pytest.raises(ValidationError, match="unknown AttributeValue type 'X'"):
        decode_value({"X": 1})


def test_item_size_counts_names_and_utf8_values() -> None:
    assert item_size({"ab": {"S": "é"}}) == 2 + 2
    assert item_size({"n": {"N": "12345"}}) == 1 + 4
    assert item_size({"m": {"M": {"k": {"BOOL": True}}}}) == 1 + 3 + 1 + 1 + 1


def test_items_over_400_kb_are_rejected() -> None:
    check_item_size({"a": {"S": "x" * (MAX_ITEM_BYTES - 1)}}, "Doc")
    with pytest.raises(ValidationError, match=r"Doc item is 409602 bytes, over DynamoDB's 409600"):
        check_item_size({"a": {"S": "x" * (MAX_ITEM_BYTES + 1)}}, "Doc")
