"""Request hooks around every call, and the CloudWatch Embedded Metric Format emitter."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import zlib
from typing import Any

import pytest

from dynamorm import (
    DB,
    ConditionFailed,
    ConfigurationError,
    Credentials,
    DeadlineExceeded,
    Request,
    Response,
    RetryPolicy,
    Throttled,
)
from dynamorm._io.events import RequestEvent
from dynamorm._runtime.aws_lambda import LocalContext
from dynamorm._runtime.context import mask_partner_id, partner_context
from dynamorm._runtime.observe import EMFMetrics

UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def emf_problems(line: str) -> list[str]:
    """Check one log line against the Embedded Metric Format specification."""
    problems: list[str] = []
    if len(line.encode()) > 1024 * 1024:
        problems.append("document over 1 MB")
    doc = json.loads(line)
    if not isinstance(doc, dict):
        return ["root is not an object"]
    meta = doc.get("_aws")
    if not isinstance(meta, dict):
        return ["_aws metadata object missing"]
    if not isinstance(meta.get("Timestamp"), int) or meta["Timestamp"] < 0:
        problems.append("_aws.Timestamp must be epoch milliseconds")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return [*problems, "_aws.CloudWatchMetrics must be a non-empty array"]
    for d in directives:
        namespace = d.get("Namespace")
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= 1024:
            problems.append(f"bad Namespace {namespace!r}")
        dimension_sets = d.get("Dimensions")
        if not isinstance(dimension_sets, list):
            problems.append("Dimensions must be an array of dimension sets")
            dimension_sets = []
        for dims in dimension_sets:
            if not isinstance(dims, list) or len(dims) > 30:
                problems.append(f"dimension set {dims!r} must be an array of at most 30 names")
                continue
            for name in dims:
                value = doc.get(name)
                if not isinstance(value, str) or not 1 <= len(value) <= 1024:
                    problems.append(f"dimension {name!r} must be a string member, got {value!r}")
        metrics = d.get("Metrics")
        if not isinstance(metrics, list) or not 1 <= len(metrics) <= 100:
            problems.append("Metrics must be an array of 1 to 100 definitions")
            metrics = []
        for m in metrics:
            name, unit = m.get("Name"), m.get("Unit", "None")
            if not isinstance(name, str) or not 1 <= len(name) <= 1024:
                problems.append(f"bad metric name {name!r}")
                continue
            if unit not in UNITS:
                problems.append(f"metric {name}: unknown unit {unit!r}")
            value = doc.get(name)
            values = value if isinstance(value, list) else [value]
            if not 1 <= len(values) <= 100 or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values
            ):
                problems.append(f"metric {name} must be a number or 1..100 numbers, got {value!r}")
    return problems


def ok(payload: dict[str, Any]) -> Response:
    body = json.dumps(payload).encode()
    return Response(200, {"x-amz-crc32": str(zlib.crc32(body))}, body)


def err(status: int, type_name: str, message: str = "boom") -> Response:
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{type_name}", "message": message}
    )
    return Response(status, {"x-amzn-requestid": "RID"}, body.encode())


def make_db(*answers: Response) -> DB:
    queue = list(answers)

    def transport(request: Request) -> Response:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return DB(
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:9",
        credentials=Credentials("AKIDEXAMPLE", "secret"),
        transport=transport,
        retry=RetryPolicy(3, base_delay=0.0, max_delay=0.0),
    )


GET = {"TableName": "payments", "Key": {"pk": {"S": "a"}}, "ReturnConsumedCapacity": "TOTAL"}


# --- hooks ----------------------------------------------------------------------------------


def test_hook_sees_operation_table_attempts_capacity_and_duration() -> None:
    db = make_db(
        err(400, "ThrottlingException"),
        ok({"Item": {}, "ConsumedCapacity": {"TableName": "payments", "CapacityUnits": 0.5}}),
    )
    events: list[RequestEvent] = []
    db.client.hooks.append(events.append)
    before = time.time()
    assert db.client.call("GetItem", GET) == {
        "Item": {},
        "ConsumedCapacity": {"TableName": "payments", "CapacityUnits": 0.5},
    }
    (event,) = events
    assert (event.operation, event.table, event.region) == ("GetItem", "payments", "eu-west-1")
    assert event.attempts == 2
    assert event.consumed_capacity == 0.5
    assert event.error is None
    assert event.duration >= 0
    assert before <= event.started <= time.time()
    assert "GetItem payments: ok" in repr(event)


def test_hook_sees_the_error() -> None:
    db = make_db(err(400, "ConditionalCheckFailedException", "exists"))
    events: list[RequestEvent] = []
    db.client.hooks.append(events.append)
    with pytest.raises(ConditionFailed):
        db.client.call("PutItem", {"TableName": "payments", "Item": {"pk": {"S": "a"}}})
    (event,) = events
    assert isinstance(event.error, ConditionFailed)
    assert event.attempts == 1
    assert event.consumed_capacity is None
    assert "ConditionFailed" in repr(event)


@pytest.mark.parametrize(
    ("operation", "payload", "table"),
    [
        ("ListTables", {}, None),
        (
            "BatchWriteItem",
            {"RequestItems": {"orders": [], "audit": []}, "ReturnConsumedCapacity": "TOTAL"},
            "audit,orders",
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": "payments", "Item": {}}},
                    {"ConditionCheck": {"TableName": "limits", "Key": {}}},
                    {"Update": {"TableName": "payments", "Key": {}}},
                ]
            },
            "limits,payments",
        ),
    ],
)
def test_hook_table_names_for_multi_table_requests(
    operation: str, payload: dict[str, Any], table: str | None
) -> None:
    capacity = [{"TableName": "a", "CapacityUnits": 1.0}, {"TableName": "b", "CapacityUnits": 2.5}]
    db = make_db(ok({"ConsumedCapacity": capacity}))
    events: list[RequestEvent] = []
    db.client.hooks.append(events.append)
    db.client.call(operation, payload)
    assert events[0].table == table
    assert events[0].consumed_capacity == 3.5


def test_failing_hook_is_logged_and_does_not_break_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = make_db(ok({"Item": {}}))
    seen: list[str] = []

    def broken(event: RequestEvent) -> None:
        raise RuntimeError("metrics backend down")

    db.client.hooks.extend([broken, lambda event: seen.append(event.operation)])
    with caplog.at_level(logging.ERROR, logger="dynamorm"):
        assert db.client.call("GetItem", GET) == {"Item": {}}
    assert seen == ["GetItem"]
    assert "request hook" in caplog.text
    assert "failed" in caplog.text
    assert "metrics backend down" in caplog.text


# --- EMF ------------------------------------------------------------------------------------


def lines_of(out: io.StringIO) -> list[dict[str, Any]]:
    text = out.getvalue()
    for line in text.splitlines():
        assert emf_problems(line) == [], line
    return [json.loads(line) for line in text.splitlines()]


def test_emf_lines_are_valid_and_aggregate_per_operation_and_table() -> None:
    out = io.StringIO()
    metrics = EMFMetrics("Payments", out=out)
    db = make_db(
        ok({"Item": {}, "ConsumedCapacity": {"CapacityUnits": 0.5}}),
        ok({"Item": {}, "ConsumedCapacity": {"CapacityUnits": 1.0}}),
        err(400, "ProvisionedThroughputExceededException"),
    )
    db.client.hooks.append(metrics)
    db.client.call("GetItem", GET)
    db.client.call("GetItem", GET)
    with pytest.raises(Throttled):
        db.client.call("ListTables", {})
    assert out.getvalue() == ""  # nothing is written before the flush
    assert metrics.flush() == 2
    get, listing = lines_of(out)
    directive = get["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Payments"
    assert directive["Dimensions"] == [["Operation", "Table"]]
    names = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert names == {
        "Requests": "Count",
        "Errors": "Count",
        "Throttles": "Count",
        "Retries": "Count",
        "Latency": "Milliseconds",
        "ConsumedCapacity": "None",
    }
    assert (get["Operation"], get["Table"], get["Requests"], get["Errors"]) == (
        "GetItem",
        "payments",
        2,
        0,
    )
    assert get["ConsumedCapacity"] == 1.5
    assert len(get["Latency"]) == 2
    assert abs(get["_aws"]["Timestamp"] - time.time() * 1000) < 60_000
    assert (listing["Operation"], listing["Table"]) == ("ListTables", "-")
    assert (listing["Errors"], listing["Throttles"], listing["Retries"]) == (1, 1, 2)
    assert "ConsumedCapacity" not in listing
    assert metrics.flush() == 0  # flushed series are forgotten


def test_emf_partner_dimension_is_masked_by_default() -> None:
    out = io.StringIO()
    db = make_db(ok({}))
    db.client.hooks.extend([EMFMetrics(out=out), EMFMetrics(out=out, mask_partner=False)])
    with partner_context("acme-payments"):
        db.client.call("ListTables", {})
    for metrics in db.client.hooks:
        assert isinstance(metrics, EMFMetrics)
        metrics.flush()
    masked, raw = lines_of(out)
    assert masked["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["Operation", "Table", "Partner"]
    ]
    assert masked["Partner"] == mask_partner_id("acme-payments") != "acme-payments"
    assert raw["Partner"] == "acme-payments"


def test_emf_series_flushes_itself_at_100_values() -> None:
    out = io.StringIO()
    metrics = EMFMetrics(out=out)
    db = make_db(ok({}))
    db.client.hooks.append(metrics)
    for _ in range(99):
        db.client.call("ListTables", {})
    assert out.getvalue() == ""
    db.client.call("ListTables", {})
    (full,) = lines_of(out)
    assert full["Requests"] == 100
    assert len(full["Latency"]) == 100
    db.client.call("ListTables", {})
    metrics.flush()
    assert [line["Requests"] for line in lines_of(out)] == [100, 1]


def test_emf_flush_after_flushes_even_when_the_handler_fails() -> None:
    out = io.StringIO()
    metrics = EMFMetrics(out=out, properties={"Service": "payments"})
    db = make_db(ok({}))
    db.client.hooks.append(metrics)

    @metrics.flush_after
    def handler(event: dict[str, Any], context: LocalContext) -> str:
        """Docs stay."""
        db.client.call("ListTables", {})
        if event.get("fail"):
            raise ValueError("bad input")
        return "done"

    context = LocalContext()
    assert handler({}, context) == "done"
    with pytest.raises(ValueError, match="bad input"):
        handler({"fail": True}, context)
    first, second = lines_of(out)
    assert first["RequestId"] == second["RequestId"] == context.aws_request_id
    assert first["Service"] == "payments"
    assert handler.__name__ == "handler"
    assert handler.__doc__ == "Docs stay."


def test_emf_is_thread_safe() -> None:
    out = io.StringIO()
    metrics = EMFMetrics(out=out)
    db = make_db(ok({}))
    db.client.hooks.append(metrics)

    def work() -> None:
        for _ in range(60):
            db.client.call("ListTables", {})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    metrics.flush()
    lines = lines_of(out)
    assert sum(line["Requests"] for line in lines) == 240
    assert sum(len(line["Latency"]) for line in lines) == 240


def test_emf_writes_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = EMFMetrics()
    db = make_db(ok({}))
    db.client.hooks.append(metrics)
    db.client.call("ListTables", {})
    metrics.flush()
    (line,) = capsys.readouterr().out.splitlines()
    assert emf_problems(line) == []
    assert repr(metrics) == "EMFMetrics(namespace='DynamORM', 0 pending series)"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"namespace": ""}, "namespace must be a str of 1 to 255"),
        ({"namespace": "x" * 256}, "namespace must be a str of 1 to 255"),
        ({"properties": {"Latency": 1}}, r"reserved names: \['Latency'\]"),
        ({"properties": {"Flag": True}}, "'Flag' must be a str or number"),
    ],
)
def test_emf_bad_configuration(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        EMFMetrics(**kw)


def test_emf_validator_catches_what_cloudwatch_rejects() -> None:
    good = {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [["Op"]], "Metrics": [{"Name": "Lat"}]}
            ],
        },
        "Op": "GetItem",
        "Lat": [1.0],
    }
    assert emf_problems(json.dumps(good)) == []
    assert emf_problems(json.dumps({**good, "Op": 3})) != []
    assert emf_problems(json.dumps({**good, "Lat": list(range(101))})) != []
    assert emf_problems(json.dumps({"Op": "x"})) == ["_aws metadata object missing"]


def test_db_takes_hooks_in_its_constructor() -> None:
    events: list[RequestEvent] = []
    db = DB(
        region="us-east-1",
        credentials=("a", "b"),
        transport=lambda request: Response(200, {}, b'{"TableNames": []}'),
        hooks=[events.append],
    )
    db.client.call("ListTables", {})
    assert [e.operation for e in events] == ["ListTables"]


def test_emf_does_not_count_a_request_that_was_never_sent() -> None:
    out = io.StringIO()
    metrics = EMFMetrics("Payments", out=out)
    db = make_db(ok({"Item": {}}))
    db.client.hooks.append(metrics)
    with pytest.raises(DeadlineExceeded):
        db.with_deadline(0.0).client.call("GetItem", GET)  # the deadline has already passed
    metrics.flush()
    (line,) = out.getvalue().splitlines()
    assert emf_problems(line) == []
    doc = json.loads(line)
    assert (doc["Requests"], doc["Errors"], doc["Retries"]) == (0, 1, 0)
    assert "Latency" not in doc
