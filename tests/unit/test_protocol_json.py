"""The protocol's JSON codec (json's C accelerator used directly) gives json.dumps'/json.loads'
results and errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamorm._core import protocol
from dynamorm._core.protocol import json_dumps, json_loads

documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(documents)
def test_round_trips_like_the_json_package(document: Any) -> None:
    for ascii_only in (False, True):
        text = json_dumps(document, ascii_only=ascii_only)
        assert text == json.dumps(document, separators=(",", ":"), ensure_ascii=ascii_only)
        assert json_loads(text.encode()) == json.loads(text.encode())
        assert json_loads(f" \n{text}\t ") == document


@pytest.mark.parametrize(
    "text",
    ["", " ", "{", '{"a":1}x', '{"a":1} 2', "[1,]", "nul", '{"a":"\x01"}'],
)
def test_errors_are_json_decode_errors_at_the_same_position(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        json_loads(text.encode())
    assert (got.value.msg, got.value.pos) == (expected.value.msg, expected.value.pos)


def test_constants_bom_and_unserializable_values() -> None:
    assert json_loads(b'\xef\xbb\xbf{"a": NaN, "b": -Infinity}')["b"] == float("-inf")
    with pytest.raises(TypeError, match="Object of type bytes is not JSON serializable"):
        json_dumps({"a": b"x"})
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        json_dumps(loop)


def test_without_the_c_accelerator_the_json_package_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(protocol, "_scan", None)
    assert json_dumps({"é": [1, 2.5]}) == '{"é":[1,2.5]}'
    assert json_dumps({"é": 1}, ascii_only=True) == '{"\\u00e9":1}'
    assert json_loads(b'{"a": [true, null]}') == {"a": [True, None]}
