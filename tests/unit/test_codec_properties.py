"""Property tests: every supported value round-trips exactly; invalid values are rejected."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamorm._core.codec import (
    decode_value,
    encode_decimal,
    encode_float,
    encode_int,
    encode_value,
)
from dynamorm._core.errors import ValidationError
from dynamorm._core.timecodec import decode_datetime, encode_datetime
from dynamorm._orm.model import Attr, Model, field

modest = settings(max_examples=60, deadline=None)

BIG = 10**38
ints = st.integers(min_value=-(BIG - 1), max_value=BIG - 1)
decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda d: d.is_zero() or -130 <= d.adjusted() <= 125
)


def _significant(value: Decimal) -> int:
    return len("".join(map(str, value.as_tuple().digits)).strip("0"))


exact_decimals = decimals.filter(lambda d: _significant(d) <= 38)
texts = st.text()
keys = st.text(min_size=1)  # DynamoDB refuses empty map keys
binaries = st.binary()
aware = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2300, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone.min]),
)
scalars = st.one_of(st.none(), st.booleans(), ints, exact_decimals, texts, binaries)
sets = st.one_of(
    st.frozensets(texts, min_size=1).map(set),
    st.frozensets(ints, min_size=1).map(set),
    st.frozensets(binaries, min_size=1).map(set),
)
documents = st.recursive(
    st.one_of(scalars, sets),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)


@modest
@given(documents)
def test_generic_values_round_trip(value: Any) -> None:
    av = encode_value(value)
    assert json.loads(json.dumps(av)) == av
    assert decode_value(av) == value


@modest
@given(ints)
def test_ints_come_back_as_exact_ints(value: int) -> None:
    decoded = decode_value(encode_value(value))
    assert type(decoded) is int
    assert decoded == value


@modest
@given(st.integers(min_value=BIG, max_value=10**125))
def test_ints_over_38_digits_are_exact_or_rejected(value: int) -> None:
    if len(str(value).rstrip("0")) > 38:
        with pytest.raises(ValidationError, match="more than 38 significant digits"):
            encode_int(value)
    else:
        assert int(encode_int(value)) == value


@modest
@given(decimals)
def test_decimals_are_exact_or_rejected_never_rounded(value: Decimal) -> None:
    if _significant(value) > 38:
        with pytest.raises(ValidationError, match="more than 38 significant digits"):
            encode_decimal(value)
    else:
        assert Decimal(encode_decimal(value)) == value


@modest
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_or_are_out_of_range(value: float) -> None:
    if value == 0 or -130 <= Decimal(repr(value)).adjusted() <= 125:
        assert float(encode_float(value)) == value
    else:
        with pytest.raises(ValidationError, match="out of DynamoDB's range"):
            encode_float(value)


@modest
@given(st.one_of(st.just(float("nan")), st.just(float("inf")), st.just(Decimal("sNaN"))))
def test_nan_and_infinity_are_always_rejected(value: Any) -> None:
    with pytest.raises(ValidationError, match="NaN and Infinity"):
        encode_value(value)


@modest
@given(aware, aware)
def test_stored_datetimes_round_trip_and_sort_in_time_order(a: datetime, b: datetime) -> None:
    text_a, text_b = encode_datetime(a), encode_datetime(b)
    assert decode_datetime(text_a) == a
    assert decode_datetime(text_a).tzinfo is UTC
    assert (text_a < text_b) == (a < b)
    assert len(text_a) == len(text_b) == 27


@modest
@given(st.datetimes())
def test_naive_datetimes_are_always_rejected(value: datetime) -> None:
    with pytest.raises(ValidationError, match="naive datetime"):
        encode_value(value)


@modest
@given(st.integers(min_value=0, max_value=40))
def test_nesting_depth_is_enforced_exactly(levels: int) -> None:
    value: Any = 1
    for _ in range(levels):
        value = {"k": value}
    if levels > 31:
        with pytest.raises(ValidationError, match="nests more than 31 maps/lists"):
            encode_value(value)
    else:
        assert decode_value(encode_value(value)) == value


class Inner(Model):
    label: Attr[str]
    amount: Attr[Decimal | None] = field(default=None)


class Everything(Model, table="everything"):
    key: Attr[str] = field(pk=True)
    count: Attr[int]
    price: Attr[Decimal]
    ratio: Attr[float]
    flag: Attr[bool]
    blob: Attr[bytes]
    when: Attr[datetime]
    day: Attr[date]
    names: Attr[set[str]] = field(default_factory=set)
    numbers: Attr[set[int]] = field(default_factory=set)
    amounts: Attr[set[Decimal]] = field(default_factory=set)
    blobs: Attr[set[bytes]] = field(default_factory=set)
    items: Attr[list[Inner]] = field(default_factory=list)
    table: Attr[dict[str, list[int | None]]] = field(default_factory=dict)
    note: Attr[str | None] = field(default=None)
    doc: Attr[dict[str, Any]] = field(default_factory=dict, json=True)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=10,
)
models = st.builds(
    Everything,
    key=st.text(min_size=1, max_size=50),
    count=ints,
    price=exact_decimals,
    ratio=st.floats(min_value=-1e100, max_value=1e100, allow_nan=False).filter(
        lambda f: f == 0 or abs(f) > 1e-100
    ),
    flag=st.booleans(),
    blob=binaries,
    when=aware,
    day=st.dates(),
    names=st.sets(texts),
    numbers=st.sets(ints),
    amounts=st.sets(exact_decimals),
    blobs=st.sets(binaries),
    items=st.lists(st.builds(Inner, label=texts, amount=st.none() | exact_decimals), max_size=3),
    table=st.dictionaries(keys, st.lists(st.none() | ints, max_size=3), max_size=3),
    note=st.none() | texts,
    doc=st.dictionaries(texts, json_values, max_size=3),
)


@modest
@given(models)
def test_typed_models_round_trip_exactly(model: Everything) -> None:
    item = model.to_item()
    assert json.loads(json.dumps(item)) == item
    back = Everything.from_item(json.loads(json.dumps(item)))
    assert back == model
    assert type(back.count) is int
    assert type(back.price) is Decimal
    assert type(back.ratio) is float
    assert all(type(n) is int for n in back.numbers)
    assert all(type(a) is Decimal for a in back.amounts)
