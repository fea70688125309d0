"""A model encodes and decodes through the reference codec for its first calls, then through
generated code: both tiers give the same items, instances and errors."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

import pytest

from dynamorm import Attr, Model, ValidationError, field
from dynamorm._orm.compile import (
    WARM_CALLS,
    _generate_decode,
    _generate_encode,
    decode_carefully,
    encode_carefully,
)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(Model):
    street: Attr[str]
    zip_code: Attr[str | None] = field(default=None)


class Everything(Model, table="tiers"):
    pk: Attr[str] = field(pk=True)
    sk: Attr[int] = field(sk=True)
    name: Attr[str] = field(default="x")
    amount: Attr[Decimal] = field(default=Decimal("0"))
    ratio: Attr[float] = field(default=0.0)
    flag: Attr[bool] = field(default=False)
    blob: Attr[bytes | None] = field(default=None)
    when: Attr[datetime | None] = field(default=None)
    day: Attr[date | None] = field(default=None)
    ident: Attr[uuid.UUID | None] = field(default=None)
    color: Attr[Color] = field(default=Color.RED)
    kind: Attr[Literal["a", "b"]] = field(default="a")
    tags: Attr[set[str]] = field(default_factory=set)
    lines: Attr[list[int]] = field(default_factory=list, omit_empty=True)
    extra: Attr[dict[str, Any]] = field(default_factory=dict)
    doc: Attr[dict[str, Any]] = field(default_factory=dict, json=True)
    address: Attr[Address | None] = field(default=None)
    note: Attr[str] = field(default="", omit_empty=True)
    version: Attr[int] = field(version=True)
    created: Attr[datetime] = field(created_at=True)


def _full() -> Everything:
    return Everything(
        pk="p",
        sk=7,
        name="Zoë",
        amount=Decimal("12.50"),
        ratio=0.25,
        flag=True,
        blob=b"\x00\x01",
        when=datetime(2024, 5, 1, 12, tzinfo=UTC),
        day=date(2024, 5, 1),
        ident=uuid.UUID(int=5),
        color=Color.BLUE,
        kind="b",
        tags={"t1", "t2"},
        lines=[1, 2],
        extra={"n": Decimal("1.5"), "l": [1, "x"]},
        doc={"b": [1, 2], "a": None},
        address=Address(street="Main", zip_code="123"),
        note="hello",
    )


def _outcome(call: Any, *args: Any) -> Any:
    try:
        result = call(*args)
    except ValidationError as exc:
        return (type(exc), str(exc), exc.path)
    if isinstance(result, Model):
        return (type(result), result.__dict__, result._dm_src)  # type: ignore[attr-defined]
    return result


ENCODE_CASES: list[dict[str, Any]] = [
    {},
    {"lines": [], "note": "", "tags": set()},
    {"name": None},
    {"amount": 1.5},
    {"tags": {1, 2}},
    {"lines": ["x"]},
    {"color": "red"},
    {"kind": "c"},
    {"when": datetime(2024, 1, 1)},
    {"address": Address(street=None)},  # type: ignore[arg-type]
    {"pk": None},
]


@pytest.mark.parametrize("change", ENCODE_CASES)
def test_reference_and_generated_encoders_agree(change: dict[str, Any]) -> None:
    obj = _full()
    obj.__dict__.update(change)
    meta = Everything.__meta__
    generated = _generate_encode(meta)
    assert _outcome(encode_carefully, meta, obj, 0) == _outcome(generated, obj, 0)


def test_reference_and_generated_encoders_agree_on_unset_fields() -> None:
    obj = _full()
    meta = Everything.__meta__
    generated = _generate_encode(meta)
    for name in ("pk", "name", "blob", "created", "version"):
        probe = _full()
        probe.__dict__.pop(name, None)
        assert _outcome(encode_carefully, meta, probe, 0) == _outcome(generated, probe, 0)
    assert _outcome(encode_carefully, meta, obj, 3) == _outcome(generated, obj, 3)


DECODE_CASES: list[dict[str, Any]] = [
    {},
    {"amount": {"N": "1E+2"}, "sk": {"N": "1E2"}},
    {"sk": {"N": "1.5"}},
    {"name": {"N": "1"}},
    {"tags": {"NULL": True}},
    {"color": {"S": "green"}},
    {"kind": {"S": "z"}},
    {"when": {"S": "yesterday"}},
    {"address": {"M": {"street": {"N": "1"}}}},
    {"doc": {"S": "{not json"}},
    {"blob": {"NULL": True}, "day": {"NULL": True}},
]


@pytest.mark.parametrize("change", DECODE_CASES)
def test_reference_and_generated_decoders_agree(change: dict[str, Any]) -> None:
    item = {**_full().to_item(), "undeclared": {"S": "kept"}, **change}
    for name in ("name", "tags", "lines", "note"):  # absent: defaults and empty values
        trimmed = {k: v for k, v in item.items() if k != name}
        meta = Everything.__meta__
        generated = _generate_decode(meta)
        assert _outcome(decode_carefully, meta, trimmed) == _outcome(generated, trimmed)


def test_a_model_switches_to_generated_code_after_its_first_calls() -> None:
    class Fresh(Model, table="fresh"):
        pk: Attr[str] = field(pk=True)
        amount: Attr[int] = field(default=0)

    meta = Fresh.__meta__
    first_encode, first_decode = meta._encode, meta._decode
    results = []
    for n in range(WARM_CALLS + 2):
        item = Fresh(pk="k", amount=n).to_item()
        results.append((item, Fresh.from_item(item).__dict__))
    expected = [
        ({"pk": {"S": "k"}, "amount": {"N": str(n)}}, {"pk": "k", "amount": n})
        for n in range(WARM_CALLS + 2)
    ]
    assert results == expected
    assert meta._encode is not first_encode
    assert meta._encode.__name__ == "_dm_encode"
    assert meta._decode is not first_decode
    assert meta._decode.__name__ == "_dm_decode"
