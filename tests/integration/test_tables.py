"""Tables from models against DynamoDB Local: indexes, TTL, ensure_tables, drift."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dynamorm import DB, ConfigurationError, ResourceInUse, TableNotFound
from dynamorm._orm.model import GSI, LSI, Attr, Model, field
from dynamorm._orm.tables import table_definition

pytestmark = pytest.mark.integration


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0, index=LSI("by-amount"))
    status: Attr[str] = field(default="pending", index=GSI("by-status", pk=True))
    settled_at: Attr[str | None] = field(default=None, index=GSI("by-status", sk=True))
    expires_at: Attr[datetime | None] = field(ttl=True, default=None)


class PaymentV1(Model, table="payments"):
    """The same table before the by-status GSI existed."""

    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0, index=LSI("by-amount"))


class PaymentOtherKey(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    amount: Attr[int] = field(default=0)


def test_create_table_with_gsi_lsi_ttl_and_stream(db: DB) -> None:
    desc = db.create_table(Payment, stream="NEW_AND_OLD_IMAGES")
    assert desc["TableName"] == db.table_name("payments")
    assert desc["TableStatus"] == "ACTIVE"
    assert [g["IndexName"] for g in desc["GlobalSecondaryIndexes"]] == ["by-status"]
    assert desc["GlobalSecondaryIndexes"][0]["KeySchema"] == [
        {"AttributeName": "status", "KeyType": "HASH"},
        {"AttributeName": "settled_at", "KeyType": "RANGE"},
    ]
    assert [i["IndexName"] for i in desc["LocalSecondaryIndexes"]] == ["by-amount"]
    assert desc["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ttl = db.client.call("DescribeTimeToLive", {"TableName": db.table_name("payments")})
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    assert db.describe_table(Payment)["TableName"] == db.table_name("payments")
    with pytest.raises(ResourceInUse):
        db.create_table(Payment)


def test_encoded_models_round_trip_through_the_raw_client(db: DB) -> None:
    db.create_table(Payment)
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    p = Payment(merchant_id="m1", payment_id="p1", amount=1234, status="settled", expires_at=when)
    db.client.call("PutItem", {"TableName": db.table_name("payments"), "Item": p.to_item()})
    got = db.client.call(
        "GetItem",
        {"TableName": db.table_name("payments"), "Key": Payment.__meta__.key(p)},
    )
    back = Payment.from_item(got["Item"])
    assert back == p
    assert back.expires_at == when
    assert got["Item"]["expires_at"] == {"N": str(int(when.timestamp()))}


def test_ensure_tables_creates_adds_gsi_and_reports_drift(db: DB) -> None:
    (first,) = db.ensure_tables(PaymentV1)
    assert first.created
    assert first.in_sync
    (second,) = db.ensure_tables(Payment)
    assert not second.created
    assert second.added_indexes == ["by-status"]
    assert second.ttl_enabled
    assert second.in_sync
    desc = db.describe_table(Payment)
    assert desc["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
    (third,) = db.ensure_tables(Payment)
    assert (third.created, third.added_indexes, third.ttl_enabled, third.drift) == (
        False,
        [],
        False,
        [],
    )
    (drifted,) = db.ensure_tables(PaymentOtherKey)
    assert not drifted.in_sync
    assert "key schema" in drifted.drift[0]


def test_delete_table(db: DB) -> None:
    db.create_table(PaymentV1)
    db.delete_table(PaymentV1)
    with pytest.raises(TableNotFound):
        db.describe_table(PaymentV1)


def test_table_prefix_applies(db: DB) -> None:
    db.create_table(PaymentV1)
    names = db.client.call("ListTables", {})["TableNames"]
    assert db.table_prefix + "payments" in names


def test_definition_errors() -> None:
    meta = Payment.__meta__
    with pytest.raises(ConfigurationError, match="billing"):
        table_definition(meta, "t", billing="FREE")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="stream"):
        table_definition(meta, "t", stream="ALL")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="throughput"):
        table_definition(meta, "t", billing="PROVISIONED", throughput=(0, 1))
    provisioned = table_definition(meta, "t", billing="PROVISIONED", throughput=(3, 4))
    assert provisioned["ProvisionedThroughput"] == {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}
    assert (
        provisioned["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
    )
    with pytest.raises(ConfigurationError, match="Model class"):
        DB(region="us-east-1", credentials=("a", "b")).create_table(int)  # type: ignore[arg-type]
