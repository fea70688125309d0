"""db.client.call over real HTTP with real signing: DynamoDB Local, plus a smoke lane on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dynamorm import (
    DB,
    ConditionFailed,
    RequestValidationFailed,
    ResourceInUse,
    TableNotFound,
)
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB

pytestmark = pytest.mark.integration


def _create(db: DB, name: str) -> str:
    table = db.table_name(name)
    db.client.call(
        "CreateTable",
        {
            "TableName": table,
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    return table


def _crud_round_trip(db: DB) -> None:
    table = _create(db, "payments")
    assert table in db.client.call("ListTables", {})["TableNames"]
    for sk in range(5):
        db.client.call(
            "PutItem",
            {
                "TableName": table,
                "Item": {
                    "pk": {"S": "m1"},
                    "sk": {"N": str(sk)},
                    "amount": {"N": "12345678901234567890.123456789"},
                    "tags": {"SS": ["a", "b"]},
                    "blob": {"B": "AAEC"},
                    "note": {"S": "zażółć 🙂"},
                },
            },
        )
    got = db.client.call(
        "GetItem", {"TableName": table, "Key": {"pk": {"S": "m1"}, "sk": {"N": "3"}}}
    )
    assert got["Item"]["amount"] == {"N": "12345678901234567890.123456789"}
    assert got["Item"]["note"] == {"S": "zażółć 🙂"}
    assert got["Item"]["blob"] == {"B": "AAEC"}
    q: dict[str, Any] = db.client.call(
        "Query",
        {
            "TableName": table,
            "KeyConditionExpression": "#p = :p AND #s >= :s",
            "ExpressionAttributeNames": {"#p": "pk", "#s": "sk"},
            "ExpressionAttributeValues": {":p": {"S": "m1"}, ":s": {"N": "2"}},
            "ScanIndexForward": False,
        },
    )
    assert [i["sk"]["N"] for i in q["Items"]] == ["4", "3", "2"]
    with pytest.raises(ConditionFailed) as info:
        db.client.call(
            "PutItem",
            {
                "TableName": table,
                "Item": {"pk": {"S": "m1"}, "sk": {"N": "1"}},
                "ConditionExpression": "attribute_not_exists(pk)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        )
    assert info.value.item is not None
    assert info.value.item["sk"] == {"N": "1"}
    db.client.call("DeleteTable", {"TableName": table})
    with pytest.raises(TableNotFound):
        db.client.call(
            "GetItem", {"TableName": table, "Key": {"pk": {"S": "m1"}, "sk": {"N": "1"}}}
        )


def test_crud_round_trip_on_dynamodb_local(db: DB) -> None:
    _crud_round_trip(db)


@pytest.mark.invalid_wire
def test_service_validation_errors_are_typed(db: DB) -> None:
    table = _create(db, "v")
    with pytest.raises(RequestValidationFailed, match="ValidationException"):
        db.client.call(
            "PutItem", {"TableName": table, "Item": {"pk": {"N": "1"}, "sk": {"N": "1"}}}
        )
    with pytest.raises(RequestValidationFailed):
        db.client.call(
            "BatchWriteItem",
            {
                "RequestItems": {
                    table: [
                        {"PutRequest": {"Item": {"pk": {"S": str(i)}, "sk": {"N": "1"}}}}
                        for i in range(26)
                    ]
                }
            },
        )
    with pytest.raises(RequestValidationFailed):
        db.client.call(
            "PutItem",
            {"TableName": table, "Item": {"pk": {"S": "a"}, "sk": {"N": "1" * 39}}},
        )
    with pytest.raises(ResourceInUse):
        _create(db, "v")


def test_unsigned_garbage_credentials_still_reach_local(dynamodb_local: LocalDynamoDB) -> None:
    # DynamoDB Local accepts any key but rejects a malformed signature; ours must be well formed.
    db = DB(
        region="eu-central-1", endpoint_url=dynamodb_local.endpoint, credentials=("k", "s", "t")
    )
    assert "TableNames" in db.client.call("ListTables", {"Limit": 1})


def test_keep_alive_survives_many_calls(db: DB) -> None:
    for _ in range(200):
        db.client.call("ListTables", {"Limit": 1})


@pytest.fixture(scope="module")
def moto_server() -> Iterator[LocalDynamoDB]:
    with LocalDynamoDB("moto") as server:
        yield server


def test_smoke_on_moto(moto_server: LocalDynamoDB) -> None:
    db = DB(
        region="us-east-1",
        endpoint_url=moto_server.endpoint,
        credentials=LOCAL_CREDENTIALS,
        table_prefix="smoke_",
    )
    _crud_round_trip(db)
