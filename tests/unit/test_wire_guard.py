"""The suite-wide guard really checks what goes over HTTP against botocore's model."""

from __future__ import annotations

import pytest

from dynamorm import DB
from tests.faults import fault_server, reply


def test_guard_rejects_a_request_that_does_not_match_the_model() -> None:
    with fault_server(reply(200, {})) as server:
        db = DB(region="us-east-1", endpoint_url=server.url, credentials=("a", "b"))
        db.client.call("PutItem", {"TableName": "table", "Item": {"pk": {"S": "1"}}})
        with pytest.raises(AssertionError, match="does not match the DynamoDB model"):
            db.client.call("PutItem", {"TableName": "table", "Item": {"pk": {"X": "1"}}})
        assert len(server.requests) == 1
