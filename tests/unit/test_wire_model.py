"""The wire-model helper: valid DynamoDB payloads pass, and each kind of mistake is reported
with the path of the offending value."""

from __future__ import annotations

import base64
import json
import re
from decimal import Decimal
from typing import Any

import pytest

from tests.wire_model import operations, validate_http_request, validate_request

_B64 = base64.b64encode(b"\x00\xffbinary").decode()
_ITEM: dict[str, Any] = {
    "pk": {"S": "merchant#1"},
    "sk": {"S": "payment#1"},
    "amount": {"N": "12345"},
    "raw": {"B": _B64},
    "tags": {"SS": ["a", "b"]},
    "scores": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [_B64]},
    "meta": {"M": {"nested": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": False}]}}},
}


_TARGET_VALUE = (
    "ProvisionedWriteCapacityAutoScalingUpdate.ScalingPolicyUpdate."
    "TargetTrackingScalingPolicyConfiguration.TargetValue"
)


def _target_value(value: Any) -> dict[str, Any]:
    """An UpdateTableReplicaAutoScaling payload whose only double (TargetValue) is ``value``."""
    policy = {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": value}}
    return {
        "TableName": "t",
        "ProvisionedWriteCapacityAutoScalingUpdate": {"ScalingPolicyUpdate": policy},
    }


def _fails(operation: str, payload: Any) -> str:
    with pytest.raises(AssertionError) as info:
        validate_request(operation, payload)
    return str(info.value)


def test_operations_lists_the_dynamodb_api() -> None:
    names = operations()
    assert names == sorted(names)
    assert len(names) >= 50
    for expected in (
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
        "CreateTable",
        "DescribeTable",
        "UpdateTimeToLive",
    ):
        assert expected in names


@pytest.mark.parametrize(
    ("operation", "payload"),
    [
        (
            "PutItem",
            {
                "TableName": "payments",
                "Item": _ITEM,
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": "pk"},
                "ReturnValues": "ALL_OLD",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        ),
        ("GetItem", {"TableName": "payments", "Key": {"pk": {"S": "m"}}, "ConsistentRead": True}),
        (
            "Query",
            {
                "TableName": "payments",
                "IndexName": "by-status",
                "KeyConditionExpression": "#s = :s",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":s": {"S": "pending"}},
                "Limit": 50,
                "ExclusiveStartKey": {"pk": {"S": "m"}, "sk": {"S": "p"}},
                "Select": "ALL_ATTRIBUTES",
                "ScanIndexForward": False,
            },
        ),
        ("Scan", {"TableName": "payments", "Segment": 0, "TotalSegments": 4}),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": "payments", "Item": _ITEM}},
                    {
                        "Update": {
                            "TableName": "payments",
                            "Key": {"pk": {"S": "m"}},
                            "UpdateExpression": "SET #v = :v",
                            "ExpressionAttributeNames": {"#v": "version"},
                            "ExpressionAttributeValues": {":v": {"N": "2"}},
                        }
                    },
                    {"ConditionCheck": {"TableName": "t", "Key": {}, "ConditionExpression": "a"}},
                ],
                "ClientRequestToken": "token-1",
            },
        ),
        (
            "BatchWriteItem",
            {"RequestItems": {"payments": [{"DeleteRequest": {"Key": {"pk": {"S": "m"}}}}] * 25}},
        ),
        (
            "CreateTable",
            {
                "TableName": "payments",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
            },
        ),
        (
            "RestoreTableToPointInTime",
            {
                "SourceTableName": "payments",
                "TargetTableName": "payments-restored",
                "RestoreDateTime": 1704067200.5,
            },
        ),
        ("DescribeLimits", {}),
    ],
)
def test_valid_payloads_pass(operation: str, payload: dict[str, Any]) -> None:
    validate_request(operation, payload)
    validate_request(operation, json.loads(json.dumps(payload)))


@pytest.mark.parametrize(
    ("operation", "payload", "message"),
    [
        (
            "PutItem",
            {"TableName": "t", "Item": _ITEM, "Bogus": 1},
            'Unknown parameter in input: "Bogus"',
        ),
        (
            "PutItem",
            {"TableName": "t", "Item": {"pk": {"Q": "x"}}},
            'Unknown parameter in Item.pk: "Q"',
        ),
        ("Query", {"TableName": "t", "Limit": "10"}, "Invalid type for parameter Limit, value: 10"),
        (
            "PutItem",
            {"TableName": "t", "Item": {"n": {"N": 5}}},
            "Invalid type for parameter Item.n.N",
        ),
        ("GetItem", {"TableName": "t"}, 'Missing required parameter in input: "Key"'),
        (
            "CreateTable",
            {
                "TableName": "t",
                "KeySchema": [{"AttributeName": "pk"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            },
            'Missing required parameter in KeySchema[0]: "KeyType"',
        ),
        (
            "PutItem",
            {"TableName": "t", "Item": _ITEM, "ReturnValues": "EVERYTHING"},
            "Invalid value for parameter ReturnValues, value: EVERYTHING, valid values: NONE, "
            "ALL_OLD",
        ),
        (
            "CreateTable",
            {
                "TableName": "t",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "PARTITION"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            },
            "Invalid value for parameter KeySchema[0].KeyType, value: PARTITION",
        ),
        ("GetItem", {"TableName": "", "Key": {}}, "Invalid length for parameter TableName"),
        (
            "Query",
            {"TableName": "t", "Limit": True},
            "Invalid type for parameter Limit, value: True: a JSON boolean is not a number",
        ),
        (
            "PutItem",
            {"TableName": "t", "Item": {"b": {"B": b"raw"}}},
            "Invalid type for parameter Item.b.B: raw bytes; a blob is sent as a base64 string",
        ),
        (
            "PutItem",
            {"TableName": "t", "Item": {"b": {"BS": ["not base64!"]}}},
            "Invalid value for parameter Item.b.BS[0], value: 'not base64!': not a base64 string",
        ),
        (
            "PutItem",
            {"TableName": "t", "Item": {"x": {"S": "a", "N": "1"}}},
            "Invalid AttributeValue for parameter Item.x: exactly one data type must be set, "
            "got ['N', 'S']",
        ),
        (
            "PutItem",
            {"TableName": "t", "Item": {"x": {"M": {"y": {}}}}},
            "Invalid AttributeValue for parameter Item.x.M.y",
        ),
        (
            "PutItem",
            {"TableName": "t", "Item": {"x": {"L": ({"S": "a"},)}}},
            "Invalid type for parameter Item.x.L: a tuple is not a JSON array",
        ),
        (
            "TransactGetItems",
            {"TransactItems": [{"Get": {"TableName": "t", "Key": {}}}] * 101},
            "Invalid length for parameter TransactItems, value: 101, valid max length: 100",
        ),
        (
            "BatchWriteItem",
            {"RequestItems": {"t": [{"DeleteRequest": {"Key": {}}}] * 26}},
            "Invalid length for parameter RequestItems.t, value: 26, valid max length: 25",
        ),
        (
            "Scan",
            {"TableName": "t", "TotalSegments": 1_000_001},
            "Invalid value for parameter TotalSegments, value: 1000001, valid max value: 1000000",
        ),
        (
            "RestoreTableToPointInTime",
            {
                "SourceTableName": "src",
                "TargetTableName": "dst",
                "RestoreDateTime": "2024-01-01T00:00:00Z",
            },
            "Invalid type for parameter RestoreDateTime, value: '2024-01-01T00:00:00Z': a "
            "timestamp is sent as epoch seconds",
        ),
        (
            "UpdateTableReplicaAutoScaling",
            _target_value(Decimal("70.5")),
            "Invalid type for parameter "
            + _TARGET_VALUE
            + ", value: 70.5: a Decimal is not a JSON "
            "number",
        ),
        (
            "UpdateTableReplicaAutoScaling",
            _target_value(float("nan")),
            "Invalid value for parameter " + _TARGET_VALUE + ", value: nan: not valid JSON",
        ),
        ("GetItem", ["not", "an", "object"], "Invalid type for parameter input"),
    ],
)
def test_mistakes_are_reported_with_their_path(operation: str, payload: Any, message: str) -> None:
    report = _fails(operation, payload)
    assert report.startswith(f"{operation} request does not match the DynamoDB model:\n")
    assert message in report


def test_every_problem_is_reported_at_once() -> None:
    report = _fails(
        "PutItem",
        {"Item": {"n": {"N": 5}}, "ReturnValues": "ALL", "Extra": 1},
    )
    assert 'Missing required parameter in input: "TableName"' in report
    assert "Invalid type for parameter Item.n.N" in report
    assert "Invalid value for parameter ReturnValues, value: ALL" in report
    assert 'Unknown parameter in input: "Extra"' in report
    assert len(report.splitlines()) == 5


def test_unknown_operation_is_rejected() -> None:
    with pytest.raises(AssertionError, match="'GetItems' is not a DynamoDB operation"):
        validate_request("GetItems", {})


_HEADERS = {
    "X-Amz-Target": "DynamoDB_20120810.GetItem",
    "Content-Type": "application/x-amz-json-1.0",
}
_BODY = json.dumps({"TableName": "payments", "Key": {"pk": {"S": "m"}}}).encode()


def test_valid_http_request_returns_its_operation() -> None:
    assert validate_http_request("POST", _HEADERS, _BODY) == "GetItem"
    lowered = {name.lower(): value for name, value in _HEADERS.items()}
    assert validate_http_request("POST", lowered, _BODY.decode()) == "GetItem"


@pytest.mark.parametrize(
    ("method", "headers", "body", "message"),
    [
        ("GET", _HEADERS, _BODY, "method is 'GET', DynamoDB takes POST"),
        (
            "POST",
            {**_HEADERS, "X-Amz-Target": "DynamoDB_20120810.Fetch"},
            _BODY,
            "X-Amz-Target is 'DynamoDB_20120810.Fetch', expected DynamoDB_20120810.<Operation>",
        ),
        (
            "POST",
            {**_HEADERS, "X-Amz-Target": "DynamoDBStreams_20120810.GetRecords"},
            _BODY,
            "X-Amz-Target is 'DynamoDBStreams_20120810.GetRecords'",
        ),
        (
            "POST",
            {"Content-Type": "application/x-amz-json-1.0"},
            _BODY,
            "X-Amz-Target header is missing",
        ),
        (
            "POST",
            {**_HEADERS, "Content-Type": "application/json"},
            _BODY,
            "Content-Type is 'application/json', expected 'application/x-amz-json-1.0'",
        ),
        ("POST", _HEADERS, b"{not json", "body is not JSON"),
        ("POST", _HEADERS, b'{"Limit": NaN}', "body is not JSON: NaN is not valid JSON"),
        ("POST", _HEADERS, b"[1, 2]", "body is JSON list, expected an object"),
    ],
)
def test_http_request_mistakes_are_reported(
    method: str, headers: dict[str, str], body: bytes, message: str
) -> None:
    with pytest.raises(AssertionError) as info:
        validate_http_request(method, headers, body)
    assert str(info.value).startswith("invalid DynamoDB HTTP request:\n")
    assert message in str(info.value)


def test_http_request_payload_is_validated_against_its_operation() -> None:
    body = json.dumps({"TableName": "payments", "Key": {"pk": {"S": "m"}}, "Limit": 5})
    with pytest.raises(AssertionError, match=re.escape("GetItem request does not match")) as info:
        validate_http_request("POST", _HEADERS, body)
    assert 'Unknown parameter in input: "Limit"' in str(info.value)
