"""The example Lambda handler through the ``lambda_function`` fixture, against a local DynamoDB:
warm reuse, valid EMF lines, a handler given 2 seconds that never runs past them, and the
example's own local invoke harness."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from dynamorm import lambda_db
from dynamorm.local import LocalDynamoDB
from dynamorm.testing import LambdaFunction
from tests.integration.test_lambda_deadline import SlowProxy
from tests.unit.test_observe import emf_problems

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lambda"
HANDLER = EXAMPLE / "handler.py"


def _example_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


local_invoke = _example_module("local_invoke")  # the example's own harness
EVENT = local_invoke.EVENT
Load = Callable[..., LambdaFunction]


def emf_lines(text: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.startswith('{"_aws"')]
    for line in lines:
        assert emf_problems(line) == [], line
    return [json.loads(line) for line in lines]


def test_example_handler_runs_cold_then_warm(
    lambda_function: Load, table_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    function = lambda_function(HANDLER, function_name="payments-status")
    local_invoke.seed(function)
    capsys.readouterr()
    first = function.invoke(EVENT)
    assert first == {"statusCode": 200, "status": "captured", "version": 1}
    cold_lines = emf_lines(capsys.readouterr().out)
    assert {(line["Operation"], line["Table"]) for line in cold_lines} == {
        ("GetItem", f"{table_prefix}payments"),
        ("UpdateItem", f"{table_prefix}payments"),
    }
    assert all(line["Errors"] == 0 and line["Requests"] == 1 for line in cold_lines)
    assert len({line["RequestId"] for line in cold_lines}) == 1
    assert function.last_context is not None
    assert function.last_context.function_name == "payments-status"
    warm = function.invoke({**EVENT, "status": "refunded"})
    assert warm == {"statusCode": 200, "status": "refunded", "version": 2}
    assert function.module.db is lambda_db()  # the DB built in the init phase is reused
    assert len(emf_lines(capsys.readouterr().out)) == 2
    missing = function.invoke({**EVENT, "order": "order#nope"})
    assert missing["statusCode"] == 404


def test_handler_given_two_seconds_never_runs_past_them(
    lambda_function: Load, capsys: pytest.CaptureFixture[str]
) -> None:
    direct = lambda_function(HANDLER)  # creates the table; its admin DB seeds it
    local_invoke.seed(direct)
    upstream = int(direct.environment["AWS_ENDPOINT_URL_DYNAMODB"].rsplit(":", 1)[1])
    proxy = SlowProxy(upstream, delay=0.8)
    try:
        slow = lambda_function(  # a cold start whose endpoint is the slow proxy
            HANDLER, environment={"AWS_ENDPOINT_URL_DYNAMODB": proxy.url}, tables=False
        )
        capsys.readouterr()
        response = slow.invoke(EVENT, timeout=2.0)
        assert slow.last_context is not None
        left = slow.last_context.get_remaining_time_in_millis()
    finally:
        proxy.close()
    assert left > 0  # the invocation's own budget: Lambda would have killed it past this
    assert response["statusCode"] == 503
    assert response["retryable"] is True
    body = response["body"]
    assert body.startswith("UpdateItem: deadline leaves no time to retry after 1 attempt(s)")
    assert "1 request completed under this deadline" in body
    assert "the last UpdateItem may or may not have been applied" in body
    (get, update) = sorted(emf_lines(capsys.readouterr().out), key=lambda d: str(d["Operation"]))
    assert (get["Operation"], get["Errors"]) == ("GetItem", 0)
    assert (update["Operation"], update["Errors"]) == ("UpdateItem", 1)
    stored = direct.db.get(direct.module.Payment, pk=EVENT["account"], sk=EVENT["order"])
    # The write did reach the table: "may or may not have been applied" was the honest answer.
    assert (stored.status, stored.version) == ("captured", 1)


def test_the_local_invoke_harness_runs_cold_then_warm(
    dynamodb_local: LocalDynamoDB, table_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--endpoint", dynamodb_local.endpoint, "--table-prefix", table_prefix]
    assert local_invoke.main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]
    assert lines[0] == (
        f"engine: endpoint {dynamodb_local.endpoint} (already running; from endpoint argument)"
    )
    assert lines[1].startswith("first invocation, ")
    assert lines[1].endswith('{"statusCode": 200, "status": "captured", "version": 1}')
    assert lines[2].endswith('{"statusCode": 200, "status": "captured", "version": 2}')
