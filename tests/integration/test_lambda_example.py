"""The example Lambda handler, run through the local invoke harness against a local DynamoDB:
warm reuse, valid EMF lines, and a handler given 2 seconds that never runs past them."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from dynamorm import DB, lambda_db, reset_lambda_db
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB
from tests.integration.test_lambda_deadline import SlowProxy
from tests.unit.test_observe import emf_problems

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lambda"


def _example_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


local_invoke = _example_module("local_invoke")  # the example's own harness


@pytest.fixture
def handler_module(
    dynamodb_local: LocalDynamoDB, table_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    env = local_invoke.lambda_environment(
        dynamodb_local.endpoint, region=dynamodb_local.region, table_prefix=table_prefix
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "path", list(sys.path))
    module = local_invoke.load_handler()
    local_invoke.seed(module)
    yield module
    reset_lambda_db()
    sys.modules.pop("handler", None)


def emf_lines(text: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.startswith('{"_aws"')]
    for line in lines:
        assert emf_problems(line) == [], line
    return [json.loads(line) for line in lines]


def test_example_handler_runs_cold_then_warm(
    handler_module: ModuleType, table_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = local_invoke.EVENT
    capsys.readouterr()
    first, _ = local_invoke.invoke(handler_module, event)
    assert first == {"statusCode": 200, "status": "captured", "version": 1}
    cold_lines = emf_lines(capsys.readouterr().out)
    assert {(line["Operation"], line["Table"]) for line in cold_lines} == {
        ("GetItem", f"{table_prefix}payments"),
        ("UpdateItem", f"{table_prefix}payments"),
    }
    assert all(line["Errors"] == 0 and line["Requests"] == 1 for line in cold_lines)
    assert len({line["RequestId"] for line in cold_lines}) == 1
    warm, _ = local_invoke.invoke(handler_module, {**event, "status": "refunded"})
    assert warm == {"statusCode": 200, "status": "refunded", "version": 2}
    assert handler_module.db is lambda_db()  # the DB built in the init phase is reused
    assert len(emf_lines(capsys.readouterr().out)) == 2
    missing, _ = local_invoke.invoke(handler_module, {**event, "order": "order#nope"})
    assert missing["statusCode"] == 404


def test_handler_given_two_seconds_never_runs_past_them(
    dynamodb_local: LocalDynamoDB,
    table_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstream = int(dynamodb_local.endpoint.rsplit(":", 1)[1])
    env = local_invoke.lambda_environment(
        dynamodb_local.endpoint, region=dynamodb_local.region, table_prefix=table_prefix
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "path", list(sys.path))
    local_invoke.seed(local_invoke.load_handler())
    proxy = SlowProxy(upstream, delay=0.8)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
        module = local_invoke.load_handler()  # a cold start whose endpoint is the slow proxy
        capsys.readouterr()
        response, took = local_invoke.invoke(module, local_invoke.EVENT, timeout=2.0, memory_mb=128)
    finally:
        proxy.close()
        reset_lambda_db()
        sys.modules.pop("handler", None)
    assert took < 2.0  # the invocation's own budget: Lambda would have killed it past this
    assert response["statusCode"] == 503
    assert response["retryable"] is True
    body = response["body"]
    assert body.startswith("UpdateItem: deadline leaves no time to retry after 1 attempt(s)")
    assert "1 request completed under this deadline" in body
    assert "the last UpdateItem may or may not have been applied" in body
    (get, update) = sorted(emf_lines(capsys.readouterr().out), key=lambda d: str(d["Operation"]))
    assert (get["Operation"], get["Errors"]) == ("GetItem", 0)
    assert (update["Operation"], update["Errors"]) == ("UpdateItem", 1)
    key, secret = LOCAL_CREDENTIALS
    with DB(
        region=dynamodb_local.region,
        endpoint_url=dynamodb_local.endpoint,
        credentials=(key, secret),
        table_prefix=table_prefix,
    ) as direct:
        stored = direct.get(
            module.Payment, pk=local_invoke.EVENT["account"], sk=local_invoke.EVENT["order"]
        )
    # The write did reach the table: "may or may not have been applied" was the honest answer.
    assert (stored.status, stored.version) == ("captured", 1)
