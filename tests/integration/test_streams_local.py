"""Stream parsing against real records: written to a local DynamoDB, read back with GetRecords
from its DynamoDB Streams API, reshaped into the event Lambda delivers, and parsed."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

from dynamorm import DB, HTTPTransport
from dynamorm._core.errors import InvalidStreamEvent
from dynamorm._core.protocol import parse_response
from dynamorm._io.client import send_signed
from dynamorm._orm.meta import Attr
from dynamorm._orm.model import Model, field
from dynamorm._runtime.streams import StreamRecord, stream_records

pytestmark = pytest.mark.integration

_STREAMS_MODEL = ServiceModel(
    Loader().load_service_model("dynamodbstreams", "service-2"), "dynamodbstreams"
)
_TARGET = _STREAMS_MODEL.metadata["targetPrefix"]  # DynamoDBStreams_20120810

# The suite's wire guard checks DynamoDB requests against DynamoDB's model; these requests go
# to the DynamoDB Streams API instead and are checked against its own model in streams_call.
_send = HTTPTransport.__call__


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    status: Attr[str] = field(default="pending")


def streams_call(db: DB, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One DynamoDB Streams API call, signed with our signer, sent with our transport."""
    report = ParamValidator().validate(
        payload, _STREAMS_MODEL.operation_model(operation).input_shape
    )
    assert not report.has_errors(), report.generate_report()
    client = db.client
    creds = client.credentials.get()
    body = json.dumps(payload).encode()
    headers = {
        "host": client.endpoint.netloc,
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": f"{_TARGET}.{operation}",
    }
    transport = client.transport
    assert isinstance(transport, HTTPTransport)
    response = send_signed(
        lambda request: _send(transport, request),
        client.endpoint,
        headers,
        body,
        creds,
        region=client.region,
        service="dynamodb",
        user_agent=client.user_agent,
        timeouts=(client.connect_timeout, client.read_timeout),
        remaining=None,
    )
    return parse_response(operation, response.status, response.headers, response.body)


def lambda_event(db: DB, table: str, expected: int) -> dict[str, Any]:
    """Read every record of the table's stream and shape them as Lambda's event."""
    arn = db.client.call("DescribeTable", {"TableName": table})["Table"]["LatestStreamArn"]
    shards = streams_call(db, "DescribeStream", {"StreamArn": arn})["StreamDescription"]["Shards"]
    records: list[dict[str, Any]] = []
    for shard in shards:
        iterator = streams_call(
            db,
            "GetShardIterator",
            {"StreamArn": arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"},
        )["ShardIterator"]
        for _ in range(20):
            page = streams_call(db, "GetRecords", {"ShardIterator": iterator})
            records += page["Records"]
            iterator = page.get("NextShardIterator")
            if not iterator or (len(records) >= expected and not page["Records"]):
                break
    assert len(records) == expected, records
    return {"Records": [{**record, "eventSourceARN": arn} for record in records]}


def write_history(db: DB, view: str) -> str:
    """Create the table with a stream, then insert, modify and delete one payment."""
    table = db.table_name("payments")
    db.client.call(
        "CreateTable",
        {
            "TableName": table,
            "KeySchema": [
                {"AttributeName": "merchant_id", "KeyType": "HASH"},
                {"AttributeName": "payment_id", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "merchant_id", "AttributeType": "S"},
                {"AttributeName": "payment_id", "AttributeType": "S"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": view},
        },
    )
    first = Payment(merchant_id="m1", payment_id="p1", amount=1200)
    db.client.call("PutItem", {"TableName": table, "Item": first.to_item()})
    db.client.call(
        "PutItem", {"TableName": table, "Item": {**first.to_item(), "status": {"S": "settled"}}}
    )
    db.client.call("DeleteItem", {"TableName": table, "Key": Payment.__meta__.key(first)})
    return table


PENDING = Payment(merchant_id="m1", payment_id="p1", amount=1200)
SETTLED = Payment(merchant_id="m1", payment_id="p1", amount=1200, status="settled")
# view type -> expected (old, new) for the INSERT, MODIFY and REMOVE records
EXPECTED: dict[str, list[tuple[Payment | None, Payment | None]]] = {
    "KEYS_ONLY": [(None, None), (None, None), (None, None)],
    "NEW_IMAGE": [(None, PENDING), (None, SETTLED), (None, None)],
    "OLD_IMAGE": [(None, None), (PENDING, None), (SETTLED, None)],
    "NEW_AND_OLD_IMAGES": [(None, PENDING), (PENDING, SETTLED), (SETTLED, None)],
}


@pytest.mark.parametrize("view", list(EXPECTED))
def test_real_stream_records_come_out_typed(db: DB, table_prefix: str, view: str) -> None:
    table = write_history(db, view)
    event = lambda_event(db, table, expected=3)
    records = stream_records(event, Payment, table_prefix=table_prefix)
    assert [r.event_name for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    for record, (old, new) in zip(records, EXPECTED[view], strict=True):
        assert isinstance(record, StreamRecord)
        assert record.view_type == view
        assert record.table == table
        assert record.keys == {"merchant_id": "m1", "payment_id": "p1"}
        assert (record.old, record.new) == (old, new)
        assert record.approximate_creation_time is not None
        assert abs(record.approximate_creation_time.timestamp() - time.time()) < 3600
        assert record.expired is False
    sequence = [int(r.sequence_number) for r in records]
    assert sequence == sorted(sequence)


def test_real_records_of_another_table_are_refused(db: DB, table_prefix: str) -> None:
    table = write_history(db, "NEW_IMAGE")
    event = lambda_event(db, table, expected=3)
    with pytest.raises(
        InvalidStreamEvent, match=f"comes from table '{table}', expected 'payments'"
    ):
        stream_records(event, Payment)
