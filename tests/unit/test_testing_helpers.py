"""``dynamorm.testing``: event builders read back by the library's own parsers, and
``LambdaFunction`` loading, invoking and cleaning up a handler module (no engine needed)."""

from __future__ import annotations

import base64
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from dynamorm import (
    Attr,
    ConfigurationError,
    LocalContext,
    Model,
    batch_item_failures,
    field,
    stream_records,
)
from dynamorm.testing import (
    LambdaFunction,
    http_api_event,
    s3_event,
    stream_event,
    stream_insert,
    stream_modify,
    stream_record,
    stream_remove,
)


class Card(Model, table="cards"):
    account: Attr[str] = field(pk=True)
    card: Attr[str] = field(sk=True)
    limit: Attr[int] = field(default=0)
    expires_at: Attr[datetime | None] = field(ttl=True, default=None)


OLD = Card(account="a1", card="c1", limit=100, expires_at=datetime(2030, 1, 1, tzinfo=UTC))
NEW = Card(account="a1", card="c1", limit=250, expires_at=datetime(2030, 1, 1, tzinfo=UTC))


def test_stream_records_round_trip_through_stream_records() -> None:
    event = stream_event(
        stream_insert(OLD, table_prefix="p_"),
        stream_modify(OLD, NEW, table_prefix="p_"),
        stream_remove(NEW, table_prefix="p_", expired=True),
    )
    json.dumps(event)  # plain JSON, as Lambda delivers it
    inserted, modified, removed = stream_records(event, Card, table_prefix="p_")
    assert (inserted.event_name, inserted.old, inserted.new) == ("INSERT", None, OLD)
    assert (modified.old, modified.new) == (OLD, NEW)
    assert (removed.old, removed.new, removed.expired) == (NEW, None, True)
    assert modified.keys == {"account": "a1", "card": "c1"}
    assert inserted.table == "p_cards"
    sequences = [int(r.sequence_number) for r in (inserted, modified, removed)]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == 3
    assert batch_item_failures([modified]) == {
        "batchItemFailures": [{"itemIdentifier": modified.sequence_number}]
    }


@pytest.mark.parametrize(
    ("view", "images"),
    [
        ("KEYS_ONLY", (None, None)),
        ("NEW_IMAGE", (None, NEW)),
        ("OLD_IMAGE", (OLD, None)),
        ("NEW_AND_OLD_IMAGES", (OLD, NEW)),
    ],
)
def test_each_view_type_carries_the_images_it_promises(view: Any, images: Any) -> None:
    (record,) = stream_records(stream_event(stream_modify(OLD, NEW, view_type=view)), Card)
    assert (record.old, record.new, record.view_type) == (*images, view)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: stream_record("INSERT", old=OLD), "a INSERT record needs new= only"),
        (lambda: stream_record("MODIFY", new=NEW), "needs old= and new="),
        (lambda: stream_record("UPSERT", new=NEW), "event_name must be"),  # type: ignore[arg-type]
        (lambda: stream_modify(OLD, Card(account="a2", card="c1")), "same item"),
        (lambda: stream_insert(NEW, expired=True), "only a REMOVE"),
        (lambda: stream_insert({"account": "a1"}), "expected a model instance"),
        (lambda: s3_event("bucket"), "at least one object key"),
    ],
)
def test_builders_reject_what_lambda_would_never_send(call: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        call()


def test_http_api_event_is_payload_2_0() -> None:
    event = http_api_event(
        "post",
        "/payments/p1",
        body={"amount": 1250},
        headers={"X-Request-Id": "r1"},
        query={"expand": ["card", "merchant"], "v": "2"},
        path_parameters={"id": "p1"},
        route_key="POST /payments/{id}",
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /payments/{id}"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/payments/p1"
    assert event["rawQueryString"] == "expand=card&expand=merchant&v=2"
    assert event["queryStringParameters"] == {"expand": "card,merchant", "v": "2"}
    assert event["pathParameters"] == {"id": "p1"}
    assert event["headers"]["x-request-id"] == "r1"
    assert event["headers"]["content-type"] == "application/json"
    assert (json.loads(event["body"]), event["isBase64Encoded"]) == ({"amount": 1250}, False)
    raw = http_api_event("PUT", "/f", body=b"\x00\xff")
    assert raw["isBase64Encoded"] is True
    assert base64.b64decode(raw["body"]) == b"\x00\xff"
    bare = http_api_event()
    assert "body" not in bare
    assert "queryStringParameters" not in bare
    assert bare["routeKey"] == "GET /"


def test_s3_event_has_one_record_per_key_encoded_as_s3_does() -> None:
    event = s3_event("uploads", "in/a file.csv", "in/b+c.csv", size=42)
    keys = [r["s3"]["object"]["key"] for r in event["Records"]]
    assert keys == ["in/a+file.csv", "in/b%2Bc.csv"]
    assert [unquote_plus(k) for k in keys] == ["in/a file.csv", "in/b+c.csv"]
    record = event["Records"][0]
    assert (record["eventSource"], record["eventName"]) == ("aws:s3", "ObjectCreated:Put")
    assert record["s3"]["bucket"]["arn"] == "arn:aws:s3:::uploads"
    assert record["s3"]["object"]["size"] == 42


HANDLER = """
import os
from dynamorm import Attr, Model, field

loaded = os.environ["MARKER"]  # the init phase sees the environment


class Thing(Model, table="things"):
    pk: Attr[str] = field(pk=True)


def handler(event, context):
    return {
        "event": event,
        "left_ms": context.get_remaining_time_in_millis(),
        "memory": context.memory_limit_in_mb,
        "function": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
        "loaded": loaded,
    }
"""


def test_lambda_function_loads_invokes_and_restores_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "things_handler.py").write_text(HANDLER)
    monkeypatch.setenv("MARKER", "before")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    path_before = list(sys.path)
    function = LambdaFunction(
        tmp_path / "things_handler.py",
        environment={"MARKER": "set"},
        memory_mb=512,
        function_name="things",
        tables=False,
    )
    with function:
        response = function.invoke({"a": 1}, timeout=1.5)
        assert response["event"] == {"a": 1}
        assert 0 < response["left_ms"] <= 1500
        assert (response["memory"], response["function"], response["loaded"]) == (
            "512",
            "things",
            "set",
        )
        assert isinstance(function.last_context, LocalContext)
        assert "things_handler" in sys.modules
        assert function.module.Thing.__meta__.table == "things"
    assert os.environ["MARKER"] == "before"
    assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ
    assert "things_handler" not in sys.modules
    assert sys.path == path_before
    with pytest.raises(ConfigurationError, match="not loaded"):
        function.invoke({})


def test_lambda_function_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="needs AWS_ENDPOINT_URL_DYNAMODB"):
        LambdaFunction(tmp_path / "h.py")  # never creates tables on whatever AWS is configured
    with pytest.raises(ConfigurationError, match="no handler file"):
        LambdaFunction(tmp_path / "missing.py", tables=False).load()
    (tmp_path / "no_handler.py").write_text("x = 1\n")
    function = LambdaFunction(tmp_path / "no_handler.py", tables=False)
    with pytest.raises(ConfigurationError, match="has no function 'handler'"):
        function.load()
    function.close()


def test_s3_event_carries_the_real_etag_when_given() -> None:
    event = s3_event("uploads", "in/a.csv", etag='"9b2cf535f27731c974343645a3985328"')
    assert event["Records"][0]["s3"]["object"]["eTag"] == "9b2cf535f27731c974343645a3985328"
    made_up = s3_event("uploads", "in/a.csv")["Records"][0]["s3"]["object"]["eTag"]
    assert made_up == s3_event("uploads", "in/a.csv")["Records"][0]["s3"]["object"]["eTag"]
    assert made_up != "9b2cf535f27731c974343645a3985328"
