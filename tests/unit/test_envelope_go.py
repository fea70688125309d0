"""The Go DynamORM envelope, both ways, with vectors built from the published format using the
``cryptography`` primitives directly (never our encoder): ``M{v: N "1", edk: B, nonce: B,
ct: B}``, AES-256-GCM, AAD ``dynamorm:encrypted:v1|attr=<stored name>``, plaintext the
AttributeValue as typed JSON (``{"t":"S","s":...}``; Go's ``omitempty`` drops empty lists,
maps and sets)."""

from __future__ import annotations

import base64
import json
import os
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dynamorm import Attr, InvalidEncryptedEnvelope, Model, field
from dynamorm._core.envelope import DataKey, KeySet, using

EDK = base64.b64encode(b"kms-encrypted-data-key").decode()


class Doc(Model):
    city: Attr[str]
    zip: Attr[str] = field(default="")


class Wallet(Model, table="wallets"):
    wallet_id: Attr[str] = field(pk=True)
    card: Attr[str] = field(encrypted=True, name="cardNumber")
    amount: Attr[int] = field(encrypted=True, default=0)
    ratio: Attr[Decimal] = field(encrypted=True, default=Decimal(0))
    raw: Attr[bytes] = field(encrypted=True, default=b"")
    active: Attr[bool] = field(encrypted=True, default=False)
    missing: Attr[str | None] = field(encrypted=True, default=None)
    codes: Attr[list[int]] = field(encrypted=True, default_factory=list)
    doc: Attr[Doc | None] = field(encrypted=True, default=None)
    meta: Attr[dict[str, str]] = field(encrypted=True, default_factory=dict)
    tags: Attr[set[str]] = field(encrypted=True, default_factory=set)
    scores: Attr[set[int]] = field(encrypted=True, default_factory=set)
    blobs: Attr[set[bytes]] = field(encrypted=True, default_factory=set)


def go_envelope(key: bytes, stored: str, plaintext: bytes, nonce: bytes | None = None) -> Any:
    """An envelope as the Go library writes it, from the primitives."""
    nonce = os.urandom(12) if nonce is None else nonce
    aad = f"dynamorm:encrypted:v1|attr={stored}".encode()
    ct = AESGCM(key).encrypt(nonce, plaintext, aad)
    b64 = base64.b64encode
    return {
        "M": {
            "v": {"N": "1"},
            "edk": {"B": EDK},
            "nonce": {"B": b64(nonce).decode()},
            "ct": {"B": b64(ct).decode()},
        }
    }


def go_open(key: bytes, stored: str, envelope: Any) -> Any:
    """What the Go library does on read: check the envelope, AES-GCM open, parse the JSON."""
    members = envelope["M"]
    assert set(members) == {"v", "edk", "nonce", "ct"}
    assert members["v"] == {"N": "1"}
    nonce = base64.b64decode(members["nonce"]["B"])
    assert len(nonce) == 12
    aad = f"dynamorm:encrypted:v1|attr={stored}".encode()
    return json.loads(AESGCM(key).decrypt(nonce, base64.b64decode(members["ct"]["B"]), aad))


def test_a_known_answer_vector_pins_the_bytes() -> None:
    key, nonce = bytes(range(32)), bytes(range(12))
    envelope = go_envelope(key, "cardNumber", b'{"t":"S","s":"4111111111111111"}', nonce)
    assert envelope["M"]["ct"]["B"] == (
        "PCCiOf/HkTmhY+Spi8tMXLLntgXBSm5NCVbUtCxYIs8+9dicX1yzDLxXPz/JNHJ2"
    )
    with using(KeySet(None, {EDK: AESGCM(key)})):
        wallet = Wallet.from_item({"wallet_id": {"S": "w"}, "cardNumber": envelope})
    assert wallet.card == "4111111111111111"


GO_PLAINTEXTS = {  # stored name -> (typed JSON as Go marshals it, the Python value)
    "cardNumber": (b'{"t":"S","s":"4111 \\u003c\\u0026\\u003e"}', "4111 <&>"),
    "amount": (b'{"t":"N","n":"-12"}', -12),
    "ratio": (b'{"t":"N","n":"0.125"}', Decimal("0.125")),
    "raw": (b'{"t":"B","b":"AAH/"}', b"\x00\x01\xff"),
    "active": (b'{"t":"BOOL","bool":false}', False),
    "missing": (b'{"t":"NULL","null":true}', None),
    "codes": (b'{"t":"L"}', []),
    "doc": (
        b'{"t":"M","m":{"city":{"t":"S","s":"Lyon"},"zip":{"t":"S","s":""}}}',
        Doc(city="Lyon"),
    ),
    "meta": (b'{"t":"M","m":{"a":{"t":"S","s":"1"}}}', {"a": "1"}),
    "tags": (b'{"t":"SS","ss":["x","y"]}', {"x", "y"}),
    "scores": (b'{"t":"NS","ns":["1","2"]}', {1, 2}),
    "blobs": (b'{"t":"BS","bs":["AQ=="]}', {b"\x01"}),
}


def test_items_written_by_go_read_back_through_our_models() -> None:
    key = os.urandom(32)
    item: dict[str, Any] = {"wallet_id": {"S": "w1"}}
    for stored, (plaintext, _) in GO_PLAINTEXTS.items():
        item[stored] = go_envelope(key, stored, plaintext)
    with using(KeySet(None, {EDK: AESGCM(key)})):
        wallet = Wallet.from_item(item)
    for stored, (_, expected) in GO_PLAINTEXTS.items():
        name = Wallet.__meta__.by_stored[stored].name
        assert getattr(wallet, name) == expected, stored


def test_go_decrypts_what_we_write() -> None:
    key = os.urandom(32)
    wallet = Wallet(
        wallet_id="w1",
        card="4111",
        amount=7,
        ratio=Decimal("2.50"),
        raw=b"\x00",
        active=True,
        codes=[1, 2],
        doc=Doc(city="Oslo", zip="0150"),
        meta={"k": "v"},
        tags={"a"},
        scores={3},
        blobs={b"\x02"},
    )
    with using(KeySet(DataKey(AESGCM(key), EDK))):
        item = wallet.to_item()
    opened = {
        stored: go_open(key, stored, av) for stored, av in item.items() if stored != "wallet_id"
    }
    assert all(av["M"]["edk"] == {"B": EDK} for k, av in item.items() if k != "wallet_id")
    assert opened == {
        "cardNumber": {"t": "S", "s": "4111"},
        "amount": {"t": "N", "n": "7"},
        "ratio": {"t": "N", "n": "2.50"},
        "raw": {"t": "B", "b": "AA=="},
        "active": {"t": "BOOL", "bool": True},
        "codes": {"t": "L", "l": [{"t": "N", "n": "1"}, {"t": "N", "n": "2"}]},
        "doc": {"t": "M", "m": {"city": {"t": "S", "s": "Oslo"}, "zip": {"t": "S", "s": "0150"}}},
        "meta": {"t": "M", "m": {"k": {"t": "S", "s": "v"}}},
        "tags": {"t": "SS", "ss": ["a"]},
        "scores": {"t": "NS", "ns": ["3"]},
        "blobs": {"t": "BS", "bs": ["Ag=="]},
    }
    nonces = {av["M"]["nonce"]["B"] for k, av in item.items() if k != "wallet_id"}
    assert len(nonces) == len(opened)  # a fresh random nonce per value


def test_a_go_envelope_moved_to_another_attribute_fails() -> None:
    key = os.urandom(32)
    card = go_envelope(key, "cardNumber", b'{"t":"S","s":"4111"}')
    moved = go_envelope(key, "cardNumber", b'{"t":"N","n":"1"}')  # sealed for cardNumber
    with (
        using(KeySet(None, {EDK: AESGCM(key)})),
        pytest.raises(InvalidEncryptedEnvelope, match=r"Wallet\.amount: .*moved from another"),
    ):
        Wallet.from_item({"wallet_id": {"S": "w"}, "cardNumber": card, "amount": moved})


@pytest.mark.parametrize(
    "plaintext",
    [b"not json", b'{"t":"X","s":"a"}', b'{"t":"S"}', b'{"t":"B","b":"***"}', b'["t","S"]'],
)
def test_go_plaintexts_that_are_not_typed_attribute_values_fail(plaintext: bytes) -> None:
    key = os.urandom(32)
    item = {"wallet_id": {"S": "w"}, "cardNumber": go_envelope(key, "cardNumber", plaintext)}
    with (
        using(KeySet(None, {EDK: AESGCM(key)})),
        pytest.raises(InvalidEncryptedEnvelope, match="not a typed AttributeValue"),
    ):
        Wallet.from_item(item)
