"""Encrypted fields end to end: DynamoDB Local for the data, moto's server for KMS, every read
and write path, KMS calls counted, streams decrypted, a partner with its own key."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from dynamorm import (
    DB,
    AccessDenied,
    Attr,
    EncryptionNotConfigured,
    Model,
    MultiAccount,
    PartnerAccount,
    RequestEvent,
    field,
    key,
    stream_records,
)
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB, create_kms_key
from tests.integration.test_streams_local import lambda_event

pytestmark = pytest.mark.integration

CARD = "4111111111111111"


class Card(Model, table="cards"):
    owner: Attr[str] = field(pk=True)
    card_id: Attr[str] = field(sk=True)
    number: Attr[str] = field(encrypted=True)
    cvv: Attr[int | None] = field(encrypted=True, default=None)
    limits: Attr[dict[str, Decimal]] = field(encrypted=True, default_factory=dict)
    tags: Attr[set[str]] = field(encrypted=True, default_factory=set)
    label: Attr[str] = field(default="")
    version: Attr[int] = field(version=True)


class KmsCalls:
    """A request hook counting KMS operations."""

    def __init__(self) -> None:
        self.events: list[RequestEvent] = []

    def __call__(self, event: RequestEvent) -> None:
        if event.operation in ("GenerateDataKey", "Decrypt"):
            self.events.append(event)

    def count(self, operation: str) -> int:
        return sum(1 for e in self.events if e.operation == operation)


def connect(
    server: LocalDynamoDB, prefix: str, kms: LocalDynamoDB | None, key_arn: str | None, **kw: Any
) -> DB:
    return DB(
        region=server.region,
        endpoint_url=server.endpoint,
        credentials=LOCAL_CREDENTIALS,
        table_prefix=prefix,
        kms_key_arn=key_arn,
        kms_endpoint_url=kms.endpoint if kms else None,
        **kw,
    )


@pytest.fixture
def calls() -> KmsCalls:
    return KmsCalls()


@pytest.fixture
def edb(
    dynamodb_local: LocalDynamoDB,
    moto_server: LocalDynamoDB,
    kms_key_arn: str,
    table_prefix: str,
    calls: KmsCalls,
) -> Iterator[DB]:
    with connect(dynamodb_local, table_prefix, moto_server, kms_key_arn, hooks=[calls]) as db:
        db.create_table(Card, stream="NEW_AND_OLD_IMAGES")
        yield db


def fresh(edb: DB, calls: KmsCalls | None = None) -> DB:
    """Another DB on the same tables and key, with a cold data-key cache."""
    assert edb.keyring is not None
    kms = getattr(edb.keyring, "kms")  # noqa: B009
    return DB(
        region=edb.region,
        endpoint_url=edb.client.endpoint.url,
        credentials=LOCAL_CREDENTIALS,
        table_prefix=edb.table_prefix,
        kms_key_arn=getattr(edb.keyring, "key_arn"),  # noqa: B009
        kms_endpoint_url=kms.endpoint.url,
        hooks=[calls] if calls else [],
    )


def raw(db: DB, owner: str, card_id: str) -> dict[str, Any]:
    answer = db.client.call(
        "GetItem",
        {
            "TableName": db.table_name("cards"),
            "Key": {"owner": {"S": owner}, "card_id": {"S": card_id}},
        },
    )
    item: dict[str, Any] = answer["Item"]
    return item


def test_single_item_paths(edb: DB) -> None:
    card = Card(owner="o1", card_id="c1", number=CARD, cvv=123, limits={"daily": Decimal("50.5")})
    edb.create(card)
    stored = raw(edb, "o1", "c1")
    assert set(stored["number"]["M"]) == {"v", "edk", "nonce", "ct"}
    assert CARD not in str(stored)
    got = edb.get(Card, owner="o1", card_id="c1")
    assert (got.number, got.cvv, got.limits) == (CARD, 123, {"daily": Decimal("50.5")})
    got.number = "5555444433331111"
    edb.save(got)
    edb.update(got, Card.cvv.set(456), Card.tags.set({"gold"}))
    assert (got.cvv, got.tags, got.number) == (456, {"gold"}, "5555444433331111")
    updated = edb.update(key(Card, owner="o1", card_id="c1"), Card.label.set("main"))
    assert (updated.number, updated.cvv, updated.label) == ("5555444433331111", 456, "main")
    got = edb.get(Card, owner="o1", card_id="c1")
    got.cvv = None
    edb.put(got)
    again = fresh(edb).get(Card, owner="o1", card_id="c1")
    assert (again.number, again.cvv, again.tags, again.version) == (
        "5555444433331111",
        None,
        {"gold"},
        got.version,
    )
    edb.delete(again)


def test_queries_scans_and_batches_cost_a_handful_of_kms_calls(edb: DB, calls: KmsCalls) -> None:
    cards = [
        Card(owner=f"o{i % 2}", card_id=f"c{i:04}", number=f"4000{i:012}", cvv=i, label="x" * 60)
        for i in range(1000)
    ]
    with edb.batch_write() as writer:
        for card in cards:
            writer.put(card, check_version=False)
    assert calls.count("GenerateDataKey") == 1
    assert calls.count("Decrypt") == 0
    reading = KmsCalls()
    reader = fresh(edb, reading)
    scanned = reader.scan(Card).all()  # pages over 64 KB: the msgspec decoder
    assert sorted((c.card_id, c.number, c.cvv) for c in scanned) == [
        (c.card_id, c.number, c.cvv) for c in cards
    ]
    assert reading.count("Decrypt") == 1
    page = reader.query(Card).where(Card.owner == "o1").page(limit=10)
    assert [c.number for c in page.items] == [c.number for c in cards if c.owner == "o1"][:10]
    fetched = reader.batch_get(
        Card, [{"owner": "o0", "card_id": "c0000"}, key(Card, owner="o1", card_id="c0001")]
    )
    assert {c.number for c in fetched.items} == {cards[0].number, cards[1].number}
    assert reading.count("Decrypt") == 1
    assert reading.count("GenerateDataKey") == 0


def test_transactions_encrypt_and_decrypt(edb: DB) -> None:
    first = Card(owner="o1", card_id="t1", number=CARD)
    second = Card(owner="o1", card_id="t2", number="5105105105105100", cvv=1)
    with edb.transaction() as tx:
        tx.create(first)
        tx.create(second)
    with edb.transaction() as tx:
        tx.update(first, Card.cvv.set(999))
        second.number = "378282246310005"
        tx.save(second)
    got = fresh(edb).transact_get([key(Card, owner="o1", card_id="t1"), second])
    assert [(c.number, c.cvv) for c in got] == [(CARD, 999), ("378282246310005", 1)]


def test_stream_records_decrypt_with_the_db_and_fail_closed_without(
    edb: DB, table_prefix: str
) -> None:
    card = Card(owner="o1", card_id="s1", number=CARD)
    edb.create(card)
    edb.update(card, Card.number.set("6011111111111117"))
    event = lambda_event(edb, edb.table_name("cards"), expected=2)
    records = stream_records(event, Card, table_prefix=table_prefix, db=fresh(edb))
    assert [(r.old and r.old.number, r.new and r.new.number) for r in records] == [
        (None, CARD),
        (CARD, "6011111111111117"),
    ]
    blind = stream_records(event, Card, table_prefix=table_prefix)
    with pytest.raises(EncryptionNotConfigured):
        _ = blind[0].new


def test_missing_kms_and_a_wrong_key_fail_closed(
    edb: DB, dynamodb_local: LocalDynamoDB, moto_server: LocalDynamoDB
) -> None:
    edb.create(Card(owner="o1", card_id="w1", number=CARD))
    plain = connect(dynamodb_local, edb.table_prefix, None, None)
    with pytest.raises(EncryptionNotConfigured):
        plain.get(Card, owner="o1", card_id="w1")
    with pytest.raises(EncryptionNotConfigured):
        plain.create(Card(owner="o1", card_id="w2", number=CARD))
    other = create_kms_key(moto_server.endpoint, region=moto_server.region)
    wrong = connect(dynamodb_local, edb.table_prefix, moto_server, other)
    with pytest.raises(AccessDenied, match="KMS Decrypt"):  # moto's answer to a foreign edk
        wrong.get(Card, owner="o1", card_id="w1")


def test_a_partner_encrypts_with_its_own_key(
    dynamodb_local: LocalDynamoDB, moto_server: LocalDynamoDB, kms_key_arn: str, table_prefix: str
) -> None:
    partner_key = create_kms_key(moto_server.endpoint, region=moto_server.region)
    base = connect(dynamodb_local, table_prefix, moto_server, kms_key_arn)
    role = "arn:aws:iam::123456789012:role/partner"
    accounts = MultiAccount(
        base,
        {
            "acme": PartnerAccount(
                role, table_prefix=f"{table_prefix}acme_", kms_key_arn=partner_key
            ),
            "globex": {"role_arn": role, "table_prefix": f"{table_prefix}globex_"},
        },
        sts_endpoint_url=moto_server.endpoint,
    )
    acme, globex = accounts.partner("acme"), accounts.partner("globex")
    assert globex.keyring is base.keyring
    assert getattr(acme.keyring, "key_arn") == partner_key  # noqa: B009
    acme.create_table(Card)
    acme.create(Card(owner="o1", card_id="p1", number=CARD))
    assert acme.get(Card, owner="o1", card_id="p1").number == CARD
    base_reader = connect(dynamodb_local, f"{table_prefix}acme_", moto_server, kms_key_arn)
    with pytest.raises(AccessDenied):  # the platform key does not open the partner's data
        base_reader.get(Card, owner="o1", card_id="p1")
