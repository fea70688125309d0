"""X-Ray and OpenTelemetry adapters against the real SDKs, and the import-cost guarantee."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import zlib
from typing import Any

import pytest
from aws_xray_sdk.core import AWSXRayRecorder
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from dynamorm import (
    DB,
    ConditionFailed,
    ConfigurationError,
    Credentials,
    Request,
    Response,
    RetryPolicy,
    ServiceUnavailable,
    Throttled,
)
from dynamorm._runtime.otel import OTelHook
from dynamorm._runtime.xray import XRayHook


def ok(payload: dict[str, Any]) -> Response:
    body = json.dumps(payload).encode()
    return Response(200, {"x-amz-crc32": str(zlib.crc32(body))}, body)


def err(status: int, type_name: str) -> Response:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{type_name}", "message": "no"})
    return Response(status, {"x-amzn-requestid": "RID-7"}, body.encode())


def make_db(answer: Response) -> DB:
    def transport(request: Request) -> Response:
        return answer

    return DB(
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:9",
        credentials=Credentials("AKIDEXAMPLE", "secret"),
        transport=transport,
        retry=RetryPolicy(2, base_delay=0.0, max_delay=0.0),
    )


GET = {"TableName": "payments", "Key": {"pk": {"S": "a"}}}


# --- X-Ray ----------------------------------------------------------------------------------


class Captured:
    """An X-Ray emitter keeping the documents the recorder would send to the daemon."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.documents.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str | None) -> None:
        """Nothing is sent, so the address does not matter."""


def recorder() -> tuple[AWSXRayRecorder, Captured]:
    emitter = Captured()
    rec = AWSXRayRecorder()
    rec.configure(emitter=emitter, sampling=False, context_missing="IGNORE_ERROR", plugins=())
    return rec, emitter


def traced(answer: Response, call: dict[str, Any] = GET) -> dict[str, Any]:
    rec, emitter = recorder()
    db = make_db(answer)
    db.client.hooks.append(XRayHook(rec))
    rec.begin_segment("payments-api")
    with contextlib.suppress(Exception):
        db.client.call("GetItem", call)
    rec.end_segment()
    (segment,) = emitter.documents
    (sub,) = segment["subsegments"]
    assert isinstance(sub, dict)
    return sub


def test_xray_subsegment_for_a_request() -> None:
    sub = traced(ok({"Item": {}, "ConsumedCapacity": {"CapacityUnits": 0.5}}))
    assert (sub["name"], sub["namespace"]) == ("DynamoDB", "aws")
    assert sub["aws"] == {
        "operation": "GetItem",
        "region": "eu-west-1",
        "retries": 0,
        "table_name": "payments",
        "consumed_capacity": 0.5,
    }
    assert 0 <= sub["end_time"] - sub["start_time"] < 60
    assert not sub.get("fault")
    assert not sub.get("error")


def test_xray_client_error_is_an_error_not_a_fault() -> None:
    sub = traced(err(400, "ConditionalCheckFailedException"))
    assert sub["error"] is True
    assert not sub.get("fault")
    assert sub["http"]["response"]["status"] == 400
    assert sub["aws"]["request_id"] == "RID-7"
    (exc,) = sub["cause"]["exceptions"]
    assert exc["type"] == ConditionFailed.__name__


def test_xray_throttle_and_server_fault_flags() -> None:
    throttled = traced(err(400, "ThrottlingException"))
    assert throttled["throttle"] is True
    assert throttled["error"] is True
    assert throttled["aws"]["retries"] == 1
    assert throttled["cause"]["exceptions"][0]["type"] == Throttled.__name__
    fault = traced(err(500, "InternalServerError"))
    assert fault["fault"] is True
    assert not fault.get("error")
    assert fault["cause"]["exceptions"][0]["type"] == ServiceUnavailable.__name__


def test_xray_outside_a_segment_records_nothing() -> None:
    rec, emitter = recorder()
    db = make_db(ok({}))
    db.client.hooks.append(XRayHook(rec))
    assert db.client.call("GetItem", GET) == {}
    assert emitter.documents == []


# --- OpenTelemetry --------------------------------------------------------------------------


def otel() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_otel_span_is_a_child_of_the_current_span() -> None:
    provider, exporter = otel()
    db = make_db(ok({"Item": {}, "ConsumedCapacity": {"CapacityUnits": 1.5}}))
    db.client.hooks.append(OTelHook(provider))
    with provider.get_tracer("test").start_as_current_span("handler") as parent:
        db.client.call("GetItem", GET)
    request, handler = exporter.get_finished_spans()
    assert handler.name == "handler"
    assert request.name == "DynamoDB.GetItem"
    assert request.kind is SpanKind.CLIENT
    assert request.parent is not None
    assert request.parent.span_id == parent.get_span_context().span_id
    attrs = dict(request.attributes or {})
    assert attrs["rpc.system"] == "aws-api"
    assert attrs["rpc.method"] == "GetItem"
    assert attrs["db.system"] == "dynamodb"
    assert attrs["cloud.region"] == "eu-west-1"
    assert attrs["aws.dynamodb.table_names"] == ("payments",)
    assert attrs["dynamorm.consumed_capacity"] == 1.5
    assert attrs["dynamorm.attempts"] == 1
    assert request.start_time is not None
    assert request.end_time is not None
    assert request.start_time <= request.end_time
    assert request.status.status_code is StatusCode.UNSET


def test_otel_span_records_the_error() -> None:
    provider, exporter = otel()
    db = make_db(err(400, "ConditionalCheckFailedException"))
    db.client.hooks.append(OTelHook(provider))
    with pytest.raises(ConditionFailed):
        db.client.call("PutItem", {"TableName": "payments", "Item": {"pk": {"S": "a"}}})
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ConditionalCheckFailedException"
    assert span.attributes["aws.request_id"] == "RID-7"
    (event,) = span.events
    assert event.name == "exception"


# --- optional dependencies ------------------------------------------------------------------


def test_missing_sdks_give_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aws_xray_sdk.core", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'dynamorm-py\[xray\]'"):
        XRayHook()
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'dynamorm-py\[otel\]'"):
        OTelHook()


def test_importing_dynamorm_and_its_runtime_loads_no_sdk() -> None:
    code = (
        "import sys, dynamorm\n"
        "import dynamorm._runtime.aws_lambda, dynamorm._runtime.observe\n"
        "import dynamorm._runtime.streams, dynamorm._runtime.xray, dynamorm._runtime.otel\n"
        "heavy = ('botocore', 'boto3', 'aws_xray_sdk', 'opentelemetry', 'wrapt', 'logging')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
