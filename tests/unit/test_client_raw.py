"""Client.call_raw: the same send path as call (retries, errors, deadlines, hooks), raw body out."""

from __future__ import annotations

import json
import time
import zlib

import pytest

from dynamorm import (
    ChecksumMismatch,
    DeadlineExceeded,
    ProtocolError,
    RequestEvent,
    Response,
    ServiceUnavailable,
    TableNotFound,
    Throttled,
)
from tests.unit.test_client import Recorder, RefreshingProvider, err, make_db, ok

QUERY = {"TableName": "t", "KeyConditionExpression": "pk = :v", "ExpressionAttributeValues": {}}


def raw_ok(body: bytes) -> Response:
    return Response(
        200, {"x-amz-crc32": str(zlib.crc32(body)), "content-length": str(len(body))}, body
    )


def test_returns_the_exact_verified_body() -> None:
    body = '{"Items": [{"pk": {"S": "caf\u00e9 \\u00e9"}}], "Count": 1 }'.encode()
    t = Recorder(raw_ok(body))
    assert make_db(t).client.call_raw("Query", QUERY) == body
    (req,) = t.requests
    assert req.headers["x-amz-target"] == "DynamoDB_20120810.Query"
    assert json.loads(req.body) == QUERY


def test_a_json_object_with_surrounding_whitespace_is_still_returned_as_is() -> None:
    body = b'  {"Count": 0, "Items": []}\n'
    assert make_db(Recorder(raw_ok(body))).client.call_raw("Query", QUERY) == body


@pytest.mark.parametrize(
    ("response", "exc", "message"),
    [
        (err(500, "InternalServerError"), ServiceUnavailable, "InternalServerError"),
        (Response(502, {}, b"<html>bad gateway</html>"), ServiceUnavailable, "non-JSON body"),
        (Response(200, {}, b"<html>proxy</html>"), ProtocolError, "not a JSON object"),
        (Response(200, {}, b"[]"), ProtocolError, "not a JSON object"),
        (Response(200, {"content-length": "50"}, b'{"a":1}'), ProtocolError, "truncated"),
        (Response(200, {"x-amz-crc32": "1"}, b"{}"), ChecksumMismatch, "CRC32"),
    ],
)
def test_faults_are_retried_then_typed_like_call(
    response: Response, exc: type[Exception], message: str
) -> None:
    for method in ("call", "call_raw"):
        t = Recorder(response)
        with pytest.raises(exc, match=message) as info:
            getattr(make_db(t).client, method)("Query", QUERY)
        assert len(t.requests) == 4, method
        assert str(info.value).startswith("Query: "), method


def test_service_errors_are_mapped_and_not_retried() -> None:
    t = Recorder(err(400, "ResourceNotFoundException", "no table t"))
    with pytest.raises(TableNotFound, match="no table t") as info:
        make_db(t).client.call_raw("Query", QUERY)
    assert info.value.request_id == "RID"
    assert info.value.attempts == 1
    assert len(t.requests) == 1


def test_throttling_is_retried_then_the_body_returned() -> None:
    body = b'{"Count":0,"Items":[]}'
    t = Recorder(err(400, "ThrottlingException"), raw_ok(body))
    assert make_db(t).client.call_raw("Query", QUERY) == body
    assert len(t.requests) == 2


def test_throttling_surfaces_with_attempt_count() -> None:
    t = Recorder(err(400, "ProvisionedThroughputExceededException"))
    with pytest.raises(Throttled) as info:
        make_db(t).client.call_raw("Query", QUERY)
    assert info.value.attempts == 4


def test_expired_token_refreshes_once() -> None:
    provider = RefreshingProvider()
    t = Recorder(err(400, "ExpiredTokenException"), ok({"Items": []}))
    assert make_db(t, credentials=provider).client.call_raw("Query", QUERY) == b'{"Items": []}'
    assert provider.loads == 1
    assert "Credential=AKID1/" in t.requests[1].headers["Authorization"]


def test_deadlines_apply_and_deadline_views_count_raw_calls() -> None:
    t = Recorder(ok({}))
    client = make_db(t).client
    with pytest.raises(DeadlineExceeded, match="before attempt 1"):
        client.call_raw("Query", QUERY, deadline=time.monotonic() - 1)
    assert t.requests == []
    view = client.with_deadline(30.0)
    view.call_raw("Query", QUERY)
    with pytest.raises(DeadlineExceeded, match="1 request completed under this deadline"):
        view.call_raw("Query", QUERY, deadline=time.monotonic() - 1)


def test_hooks_see_raw_calls_with_their_consumed_capacity() -> None:
    # An item attribute named ConsumedCapacity is an AttributeValue, not the response's entry.
    page = {
        "Items": [{"ConsumedCapacity": {"N": "99"}, "pk": {"S": "a"}}],
        "Count": 1,
        "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 2.5},
    }
    events: list[RequestEvent] = []
    t = Recorder(ok(page), ok({"Items": []}), err(400, "ResourceNotFoundException"))
    client = make_db(t, hooks=[events.append]).client
    assert json.loads(client.call_raw("Query", QUERY)) == page
    client.call_raw("Query", QUERY)
    with pytest.raises(TableNotFound):
        client.call_raw("Query", QUERY)
    first, second, third = events
    assert (first.operation, first.table, first.attempts, first.error) == ("Query", "t", 1, None)
    assert first.consumed_capacity == 2.5
    assert second.consumed_capacity is None
    assert isinstance(third.error, TableNotFound)


def test_hooks_read_a_list_of_capacities_from_a_raw_body() -> None:
    body = (
        b'{"Responses":{},"ConsumedCapacity" : '
        b'[{"TableName":"a","CapacityUnits":1},{"TableName":"b","CapacityUnits":0.5}]}'
    )
    events: list[RequestEvent] = []
    client = make_db(Recorder(raw_ok(body)), hooks=[events.append]).client
    client.call_raw("BatchGetItem", {"RequestItems": {}})
    assert events[0].consumed_capacity == 1.5
