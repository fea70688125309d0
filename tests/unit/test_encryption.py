"""Field encryption on fake transports: data-key caching, KMS faults, fail-closed paths,
conditions and updates refused, and nothing secret in reprs, errors or hook events."""

from __future__ import annotations

import json
import socket
import time
from decimal import Decimal
from typing import Any

import pytest

from dynamorm import (
    DB,
    GSI,
    AccessDenied,
    Attr,
    DataKeyPolicy,
    EncryptedFieldNotQueryable,
    EncryptionNotConfigured,
    EndpointUnreachable,
    InvalidEncryptedEnvelope,
    InvalidModel,
    InvalidOperator,
    KmsError,
    Model,
    Request,
    RequestEvent,
    Response,
    RetryPolicy,
    field,
    stream_records,
)
from dynamorm._core.errors import ConfigurationError, DeadlineExceeded, ReadTimeout
from dynamorm._core.expressions import Path, build_expressions
from dynamorm._features.encryption import KmsKeyring
from dynamorm._orm.fast_decode import FAST_THRESHOLD, decode_page
from tests.kms_fake import KEY_ARN, FakeKms, router
from tests.wire_model import validate_http_request

CARD = "4111111111111111"


class Address(Model):
    city: Attr[str]


class Card(Model, table="cards"):
    card_id: Attr[str] = field(pk=True)
    number: Attr[str] = field(encrypted=True)
    cvv: Attr[int | None] = field(encrypted=True, default=None)
    tags: Attr[set[str]] = field(encrypted=True, default_factory=set)
    address: Attr[Address | None] = field(encrypted=True, default=None)
    limit: Attr[Decimal] = field(encrypted=True, default=Decimal("0"))
    note: Attr[str] = field(default="")


class Store:
    """A tiny DynamoDB for PutItem / GetItem / Scan / UpdateItem (recorded, model-checked)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: Request) -> Response:
        operation = validate_http_request(request.method, request.headers, request.body)
        payload = json.loads(request.body)
        self.sent.append((operation, payload))
        answer: dict[str, Any] = {}
        if operation == "PutItem":
            self.items[payload["Item"]["card_id"]["S"]] = payload["Item"]
        elif operation == "GetItem":
            found = self.items.get(payload["Key"]["card_id"]["S"])
            answer = {"Item": found} if found else {}
        elif operation == "Scan":
            answer = {"Items": list(self.items.values()), "Count": len(self.items)}
        elif operation == "UpdateItem":
            answer = {"Attributes": self.items[payload["Key"]["card_id"]["S"]]}
        return Response(200, {}, json.dumps(answer).encode())


@pytest.fixture
def kms() -> FakeKms:
    return FakeKms()


@pytest.fixture
def store() -> Store:
    return Store()


def make_db(kms: FakeKms, store: Store, **options: Any) -> DB:
    return DB(
        region="us-east-1",
        endpoint_url="http://dynamodb.test",
        credentials=("AKID", "SECRET"),
        transport=router(kms, store),
        kms_key_arn=KEY_ARN,
        kms_endpoint_url="http://kms.test",
        retry=RetryPolicy(3, base_delay=0.001, max_delay=0.001),
        **options,
    )


@pytest.fixture
def db(kms: FakeKms, store: Store) -> DB:
    handle = make_db(kms, store)
    keyring(handle).kms._sleep = lambda seconds: None
    return handle


def keyring(db: DB) -> KmsKeyring:
    assert isinstance(db.keyring, KmsKeyring)
    return db.keyring


# --- round trips and caching ----------------------------------------------------------------


def test_values_of_every_shape_round_trip_and_are_stored_as_envelopes(db: DB, store: Store) -> None:
    card = Card(
        card_id="c1",
        number=CARD,
        cvv=123,
        tags={"gold", "eu"},
        address=Address(city="Paris"),
        limit=Decimal("1500.25"),
    )
    db.create(card)
    item = store.items["c1"]
    assert set(item["number"]["M"]) == {"v", "edk", "nonce", "ct"}
    assert CARD not in json.dumps(item)
    assert "Paris" not in json.dumps(item)
    assert "tags" in item
    assert item["note"] == {"S": ""}
    got = db.get(Card, card_id="c1")
    assert (got.number, got.cvv, got.tags, got.address, got.limit) == (
        CARD,
        123,
        {"gold", "eu"},
        Address(city="Paris"),
        Decimal("1500.25"),
    )


def test_one_data_key_for_a_thousand_writes_and_one_decrypt_for_a_thousand_reads(
    kms: FakeKms, store: Store, db: DB
) -> None:
    for i in range(1000):
        db.create(Card(card_id=f"c{i}", number=CARD, cvv=i))
    assert kms.calls == ["GenerateDataKey"]
    reader = make_db(kms, store)
    cards = reader.scan(Card).all()
    assert len(cards) == 1000
    assert {c.cvv for c in cards} == set(range(1000))
    assert kms.calls == ["GenerateDataKey", "Decrypt"]


def test_max_uses_and_max_age_rotate_the_data_key(kms: FakeKms, store: Store) -> None:
    now = [0.0]
    # Each write reserves one use per encrypted field (5 here): two writes per data key.
    db = make_db(kms, store, data_keys=DataKeyPolicy(max_uses=10, max_age=60))
    ring = keyring(db)
    ring._clock = lambda: now[0]
    for i in range(4):  # two encrypted values per item here (number, limit)
        db.create(Card(card_id=f"c{i}", number=CARD))
    assert kms.calls.count("GenerateDataKey") == 2
    now[0] = 61.0
    db.create(Card(card_id="late", number=CARD))
    assert kms.calls.count("GenerateDataKey") == 3
    edks = {item["number"]["M"]["edk"]["B"] for item in store.items.values()}
    assert len(edks) == 3


def test_decrypted_keys_expire_and_the_cache_is_bounded(kms: FakeKms, store: Store) -> None:
    writer = make_db(kms, store, data_keys=DataKeyPolicy(max_uses=5))
    for i in range(3):  # three data keys (one write each)
        writer.create(Card(card_id=f"c{i}", number=CARD))
    now = [0.0]
    reader = make_db(kms, store, data_keys=DataKeyPolicy(cache_size=2, cache_ttl=10))
    keyring(reader)._clock = lambda: now[0]
    kms.calls.clear()
    reader.get(Card, card_id="c0")
    reader.get(Card, card_id="c0")
    assert kms.calls == ["Decrypt"]
    now[0] = 11.0  # expired
    reader.get(Card, card_id="c0")
    assert kms.calls == ["Decrypt"] * 2
    reader.get(Card, card_id="c1")
    reader.get(Card, card_id="c2")  # evicts c0's key (cache_size=2)
    reader.get(Card, card_id="c0")
    assert kms.calls == ["Decrypt"] * 5


def test_data_key_policy_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="2\\^32"):
        DataKeyPolicy(max_uses=2**32 + 1)
    with pytest.raises(ConfigurationError, match="max_age"):
        DataKeyPolicy(max_age=0)
    with pytest.raises(ConfigurationError, match="kms_key_arn"):
        DB(region="us-east-1", kms_key_arn="not-an-arn")
    with pytest.raises(ConfigurationError, match="data_keys"):
        DB(region="us-east-1", data_keys=DataKeyPolicy())


def test_large_pages_take_the_fast_decoder_with_one_decrypt(kms: FakeKms, store: Store) -> None:
    writer = make_db(kms, store)
    cards = [Card(card_id=f"c{i:04}", number=CARD, note="x" * 50) for i in range(1000)]
    for card in cards:
        writer.create(card)
    body = json.dumps(
        {"Items": list(store.items.values()), "Count": 1000, "ScannedCount": 1000}
    ).encode()
    assert len(body) >= FAST_THRESHOLD
    reader = make_db(kms, store)
    kms.calls.clear()
    fast = decode_page(Card, body, db=reader).items
    small = decode_page(Card, json.dumps({"Items": [store.items["c0001"]]}).encode(), db=reader)
    assert kms.calls == ["Decrypt"]
    assert Card.__meta__.fast  # the msgspec path was built and used
    assert fast == cards
    assert small.items == [cards[1]]
    with pytest.raises(EncryptionNotConfigured):
        decode_page(Card, body)


# --- KMS faults -----------------------------------------------------------------------------


def test_kms_throttling_is_retried(kms: FakeKms, db: DB) -> None:
    kms.failures = [(400, "ThrottlingException"), (500, "KMSInternalException")]
    db.create(Card(card_id="c1", number=CARD))
    assert kms.calls == ["GenerateDataKey"] * 3


def test_kms_throttling_that_persists_raises_a_kms_error(kms: FakeKms, db: DB) -> None:
    kms.failures = [(400, "ThrottlingException")] * 3
    with pytest.raises(KmsError) as caught:
        db.create(Card(card_id="c1", number=CARD))
    assert caught.value.retryable
    assert caught.value.attempts == 3
    assert KEY_ARN in str(caught.value)
    assert "http://kms.test" in str(caught.value)


def test_wrong_key_is_an_invalid_envelope(kms: FakeKms, store: Store, db: DB) -> None:
    db.create(Card(card_id="c1", number=CARD))
    other = FakeKms("arn:aws:kms:us-east-1:111122223333:key/other")
    reader = DB(
        region="us-east-1",
        endpoint_url="http://dynamodb.test",
        credentials=("AKID", "SECRET"),
        transport=router(other, store),
        kms_key_arn=other.key_arn,
        kms_endpoint_url="http://kms.test",
    )
    with pytest.raises(InvalidEncryptedEnvelope, match="another KMS key"):
        reader.get(Card, card_id="c1")


def test_access_denied_is_not_retried(kms: FakeKms, db: DB) -> None:
    kms.failures = [(400, "AccessDeniedException")]
    with pytest.raises(AccessDenied, match="KMS GenerateDataKey"):
        db.create(Card(card_id="c1", number=CARD))
    assert kms.calls == ["GenerateDataKey"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.invalid_wire
def test_kms_unreachable_names_the_kms_endpoint() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    db = DB(
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        credentials=("AKID", "SECRET"),
        kms_key_arn=KEY_ARN,
        kms_endpoint_url=url,
    )
    with pytest.raises(EndpointUnreachable) as caught:
        db.create(Card(card_id="c1", number=CARD))
    assert str(caught.value).startswith("KMS GenerateDataKey")
    assert url in str(caught.value)


@pytest.mark.invalid_wire
def test_a_silent_kms_fails_within_the_deadline() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        db = DB(
            region="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            credentials=("AKID", "SECRET"),
            kms_key_arn=KEY_ARN,
            kms_endpoint_url=url,
        )
        start = time.monotonic()
        with pytest.raises((DeadlineExceeded, ReadTimeout)) as caught:
            db.with_deadline(0.5).create(Card(card_id="c1", number=CARD))
        assert time.monotonic() - start < 2.0
        assert "KMS GenerateDataKey" in str(caught.value)
        assert url in str(caught.value)


# --- fail closed ----------------------------------------------------------------------------


def test_no_kms_fails_closed_before_sending(store: Store) -> None:
    db = DB(
        region="us-east-1", endpoint_url="http://d.test", credentials=("A", "S"), transport=store
    )
    with pytest.raises(EncryptionNotConfigured, match=r"Card has encrypted fields \(number"):
        db.create(Card(card_id="c1", number=CARD))
    assert store.sent == []
    with pytest.raises(EncryptionNotConfigured):
        Card(card_id="c1", number=CARD).to_item()


def test_no_kms_on_read_fails_closed(kms: FakeKms, store: Store, db: DB) -> None:
    db.create(Card(card_id="c1", number=CARD))
    plain = DB(
        region="us-east-1", endpoint_url="http://d.test", credentials=("A", "S"), transport=store
    )
    with pytest.raises(EncryptionNotConfigured):
        plain.get(Card, card_id="c1")
    with pytest.raises(EncryptionNotConfigured):
        Card.from_item(store.items["c1"])


@pytest.mark.parametrize(
    ("stored", "detail"),
    [
        ({"S": CARD}, "a stored S value"),
        (
            {
                "M": {
                    "v": {"N": "2"},
                    "edk": {"B": "AA=="},
                    "nonce": {"B": "AA=="},
                    "ct": {"B": "AA=="},
                }
            },
            "version",
        ),
        ({"M": {"v": {"N": "1"}, "nonce": {"B": "AA=="}, "ct": {"B": "AA=="}}}, "no edk"),
        (
            {
                "M": {
                    "v": {"N": "1"},
                    "edk": {"B": "AAAA"},
                    "nonce": {"B": "AAAA"},
                    "ct": {"B": "A" * 24},
                }
            },
            "nonce of 3 bytes",
        ),
        (
            {
                "M": {
                    "v": {"N": "1"},
                    "edk": {"S": "x"},
                    "nonce": {"B": "AAAA"},
                    "ct": {"B": "AAAA"},
                }
            },
            "edk is not binary",
        ),
    ],
)
def test_plaintext_and_malformed_envelopes_are_refused(
    db: DB, store: Store, stored: dict[str, Any], detail: str
) -> None:
    store.items["c1"] = {"card_id": {"S": "c1"}, "number": stored}
    with pytest.raises(InvalidEncryptedEnvelope, match=detail) as caught:
        db.get(Card, card_id="c1")
    assert CARD not in str(caught.value)
    assert str(caught.value).startswith("Card.number: ")


def test_an_envelope_moved_to_another_attribute_does_not_decrypt(db: DB, store: Store) -> None:
    db.create(Card(card_id="c1", number=CARD, cvv=123))
    item = store.items["c1"]
    item["number"], item["cvv"] = item["cvv"], item["number"]
    with pytest.raises(InvalidEncryptedEnvelope, match="moved from another attribute"):
        db.get(Card, card_id="c1")


def test_a_tampered_ciphertext_does_not_decrypt(db: DB, store: Store) -> None:
    db.create(Card(card_id="c1", number=CARD))
    ct = store.items["c1"]["number"]["M"]["ct"]
    ct["B"] = ("B" if ct["B"][0] == "A" else "A") + ct["B"][1:]
    with pytest.raises(InvalidEncryptedEnvelope, match="tampered"):
        db.get(Card, card_id="c1")


def test_a_decrypted_value_of_the_wrong_type_is_not_shown(db: DB, store: Store) -> None:
    class Loose(Model, table="cards"):
        card_id: Attr[str] = field(pk=True)
        number: Attr[str] = field(encrypted=True)

    class Strict(Model, table="cards"):
        card_id: Attr[str] = field(pk=True)
        number: Attr[int] = field(encrypted=True)

    db.create(Loose(card_id="c1", number=CARD))
    with pytest.raises(InvalidEncryptedEnvelope, match="not a valid int") as caught:
        db.get(Strict, card_id="c1")
    assert CARD not in str(caught.value)


# --- conditions, updates, declarations ------------------------------------------------------


def test_conditions_on_encrypted_fields_are_refused_before_sending(db: DB, store: Store) -> None:
    for build in (
        lambda: Card.number == CARD,
        lambda: Card.number != CARD,
        lambda: Card.cvv > 1,
        lambda: Card.number.begins_with("4"),
        lambda: Card.tags.contains("gold"),
        lambda: Card.number.in_([CARD]),
        Card.number.size,
        lambda: Card.address["city"],
    ):
        with pytest.raises(EncryptedFieldNotQueryable, match=r"Card\.(number|cvv|tags|address)"):
            build()
    sneaky = Path[str]("number") == CARD
    with pytest.raises(EncryptedFieldNotQueryable, match="write condition"):
        db.create(Card(card_id="c1", number=CARD), condition=sneaky)
    with pytest.raises(EncryptedFieldNotQueryable, match="filter"):
        db.scan(Card).filter(Path[str]("number").begins_with("4")).all()
    assert store.sent == []
    db.create(Card(card_id="c1", number=CARD), condition=Card.cvv.not_exists())
    assert [op for op, _ in store.sent] == ["PutItem"]


def test_update_set_encrypts_and_in_place_updates_are_refused(db: DB, store: Store) -> None:
    card = Card(card_id="c1", number=CARD)
    db.create(card)
    action = Card.number.set("5555444433331111")
    assert "5555" not in repr(action)
    assert "<encrypted>" in repr(action)
    db.update(card, action, Card.cvv.remove())
    operation, payload = store.sent[-1]
    assert operation == "UpdateItem"
    assert "5555" not in json.dumps(payload)
    assert any("M" in av for av in payload["ExpressionAttributeValues"].values())
    with pytest.raises(InvalidOperator, match="encrypted: add"):
        Card.cvv.add(1)
    with pytest.raises(InvalidOperator, match="encrypted: delete"):
        Card.tags.delete({"x"})
    with pytest.raises(InvalidOperator, match="encrypted: append"):
        Card.number.append("x")
    with pytest.raises(InvalidOperator, match="encrypted: increment"):
        Card.cvv.increment()
    with pytest.raises(InvalidOperator, match="encrypted"):
        db.update(card, Path[str]("number").set("plain text"))
    with pytest.raises(EncryptionNotConfigured):
        build_expressions(update=[Card.number.set("x")])


def test_bad_values_are_named_by_type_only() -> None:
    with pytest.raises(Exception, match="got a int") as caught:
        Card.number.set(4111111111111111)  # type: ignore[arg-type]
    assert "4111" not in str(caught.value)


def test_encrypted_keys_indexes_and_roles_are_refused() -> None:
    with pytest.raises(InvalidModel, match="a key field cannot be encrypted"):

        class BadKey(Model, table="bad"):
            id: Attr[str] = field(pk=True, encrypted=True)

    with pytest.raises(InvalidModel, match="an index key cannot be encrypted"):

        class BadIndex(Model, table="bad"):
            id: Attr[str] = field(pk=True)
            x: Attr[str] = field(encrypted=True, index=GSI("by-x", pk=True))

    with pytest.raises(InvalidModel, match="a unique field cannot be encrypted"):

        class BadUnique(Model, table="bad"):
            id: Attr[str] = field(pk=True)
            x: Attr[str] = field(encrypted=True, unique=True)

    with pytest.raises(
        InvalidModel, match=r"BadComposite\.x: a unique field must be .* not encrypted"
    ):

        class BadComposite(Model, table="bad", unique=[("y", "x")]):
            id: Attr[str] = field(pk=True)
            x: Attr[str] = field(encrypted=True)
            y: Attr[str] = field(default="")

    with pytest.raises(InvalidModel, match="a ttl field cannot be encrypted"):

        class BadRole(Model, table="bad"):
            id: Attr[str] = field(pk=True)
            x: Attr[int] = field(encrypted=True, ttl=True)


class Inner(Model):
    secret: Attr[str] = field(encrypted=True)


def test_nested_models_with_encrypted_fields_are_refused() -> None:
    with pytest.raises(InvalidModel, match="only supported at the top level"):

        class Outer(Model, table="outer"):
            id: Attr[str] = field(pk=True)
            inner: Attr[Inner]


# --- nothing leaks ------------------------------------------------------------------------


def test_values_never_appear_in_reprs_or_hook_events(kms: FakeKms, store: Store) -> None:
    events: list[RequestEvent] = []
    db = make_db(kms, store, hooks=[events.append])
    card = Card(card_id="c1", number=CARD, cvv=987)
    db.create(card)
    db.get(Card, card_id="c1")
    assert CARD not in repr(card)
    assert "987" not in repr(card)
    assert [e.operation for e in events] == ["GenerateDataKey", "PutItem", "GetItem"]
    shown = " ".join(repr(e) + str(e.__slots__) for e in events)
    assert CARD not in shown
    assert "987" not in shown
    assert CARD not in repr(db.keyring)
    assert "Plaintext" not in repr(db.keyring)


def test_stream_images_decrypt_with_a_db_and_fail_closed_without(db: DB, store: Store) -> None:
    db.create(Card(card_id="c1", number=CARD))
    event = {
        "Records": [
            {
                "eventID": "1",
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:111122223333:table/cards/stream/x",
                "dynamodb": {
                    "Keys": {"card_id": {"S": "c1"}},
                    "NewImage": store.items["c1"],
                    "SequenceNumber": "1",
                    "StreamViewType": "NEW_IMAGE",
                },
            }
        ]
    }
    (record,) = stream_records(event, Card, db=db)
    assert record.new is not None
    assert record.new.number == CARD
    (blind,) = stream_records(event, Card)
    with pytest.raises(EncryptionNotConfigured):
        _ = blind.new
