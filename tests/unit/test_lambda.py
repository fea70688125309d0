"""The Lambda runtime: environment, tuning, the warm-reused DB, pre-warm and the local context."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dynamorm import DB, ConfigurationError, Credentials, InvalidModel, Request, Response
from dynamorm._io.events import RequestEvent
from dynamorm._orm.meta import Attr
from dynamorm._orm.model import Model, field
from dynamorm._runtime import aws_lambda
from dynamorm._runtime.aws_lambda import (
    LambdaEnv,
    LocalContext,
    is_lambda,
    lambda_db,
    lambda_env,
    remaining_time,
    reset_lambda_db,
    tuning,
    warm_up,
)
from tests.faults import fault_server, reply

LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "payments-api",
    "AWS_LAMBDA_FUNCTION_VERSION": "7",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_REGION": "eu-west-1",
}


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)


class Address(Model):
    city: Attr[str] = field(default="")


@pytest.fixture(autouse=True)
def _fresh_lambda_db() -> Iterator[None]:
    reset_lambda_db()
    yield
    reset_lambda_db()


@pytest.fixture
def on_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LAMBDA_ENV.items():
        monkeypatch.setenv(name, value)


def options(**kw: Any) -> dict[str, Any]:
    return {
        "region": "us-east-1",
        "endpoint_url": "http://127.0.0.1:9",
        "credentials": ("AKIDEXAMPLE", "secret"),
        **kw,
    }


def test_environment_outside_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LAMBDA_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert is_lambda() is False
    env = lambda_env()
    assert (env.function_name, env.memory_mb, env.region, env.function_version) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.usefixtures("on_lambda")
def test_environment_on_lambda() -> None:
    assert is_lambda() is True
    env = lambda_env()
    assert env.function_name == "payments-api"
    assert env.function_version == "7"
    assert env.memory_mb == 512
    assert env.region == "eu-west-1"
    assert env.initialization_type == "on-demand"
    assert "payments-api" in repr(env)


def test_bad_memory_size_is_ignored() -> None:
    assert LambdaEnv({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}).memory_mb is None
    assert LambdaEnv({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "0"}).memory_mb is None


def test_remaining_time_from_context() -> None:
    now = [50.0]
    context = LocalContext(2.5, clock=lambda: now[0])
    assert remaining_time(context) == 2.5
    now[0] += 1.0
    assert remaining_time(context) == 1.5
    assert context.get_remaining_time_in_millis() == 1500
    now[0] += 5.0
    assert remaining_time(context) == 0.0
    with pytest.raises(ConfigurationError, match="get_remaining_time_in_millis"):
        remaining_time(object())  # type: ignore[arg-type]


def test_local_context_looks_like_lambdas() -> None:
    context = LocalContext(3.0, memory_mb=1024, function_name="fn")
    assert context.memory_limit_in_mb == "1024"
    assert context.function_name == "fn"
    assert context.invoked_function_arn.endswith(":function:fn")
    assert len(context.aws_request_id) == 32
    assert context.aws_request_id != LocalContext().aws_request_id
    assert "fn" in repr(context)


@pytest.mark.parametrize(
    ("memory", "page_size", "parallelism"),
    [
        (128, 100, 1),
        (256, 100, 1),
        (512, 250, 2),
        (1024, 250, 2),
        (1769, 500, 3),
        (3008, 500, 4),
        (10240, 1000, 8),
    ],
)
def test_tuning_grows_with_memory(memory: int, page_size: int, parallelism: int) -> None:
    t = tuning(memory)
    assert (t.page_size, t.parallelism) == (page_size, parallelism)
    assert t.vcpus == pytest.approx(min(6.0, memory / 1769))


@pytest.mark.usefixtures("on_lambda")
def test_tuning_reads_the_function_memory_and_takes_overrides() -> None:
    assert tuning().memory_mb == 512
    t = tuning(page_size=40, parallelism=16)
    assert (t.page_size, t.parallelism) == (40, 16)
    assert "page_size=40" in repr(t)


@pytest.mark.parametrize(
    ("args", "kw", "message"),
    [
        ((0,), {}, "memory_mb must be a positive int"),
        ((True,), {}, "memory_mb must be a positive int"),
        ((128,), {"page_size": 0}, "page_size must be at least 1"),
        ((128,), {"parallelism": 2.5}, "parallelism must be an int"),
    ],
)
def test_tuning_rejects_bad_values(args: tuple[Any, ...], kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        tuning(*args, **kw)


def test_lambda_db_is_built_once_and_reused() -> None:
    db = lambda_db(Payment, **options(table_prefix="prod_"))
    assert isinstance(db, DB)
    assert lambda_db() is db
    assert lambda_db(Payment, **options(table_prefix="prod_")) is db
    assert db.table_name("payments") == "prod_payments"


def test_lambda_db_options_are_fixed_by_the_first_call() -> None:
    lambda_db(**options(table_prefix="prod_"))
    with pytest.raises(ConfigurationError, match=r"first called with table_prefix='prod_'.*'dev_'"):
        lambda_db(**options(table_prefix="dev_"))
    with pytest.raises(ConfigurationError, match=r"first called with no timeout, now timeout=5"):
        lambda_db(**options(table_prefix="prod_", timeout=5))


def test_lambda_db_is_safe_under_threads() -> None:
    seen: list[DB] = []
    barrier = threading.Barrier(8)

    def build() -> None:
        barrier.wait()
        seen.append(lambda_db(**options()))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8
    assert all(db is seen[0] for db in seen)


def test_lambda_db_checks_models_up_front() -> None:
    with pytest.raises(ConfigurationError, match="takes Model classes, got 'payments'"):
        lambda_db("payments", **options())  # type: ignore[arg-type]
    with pytest.raises(InvalidModel, match="Address has no table"):
        lambda_db(Address, **options())
    with pytest.raises(InvalidModel, match="must be 3 to 255 characters"):
        lambda_db(Payment, **options(table_prefix="p" * 250))
    db = lambda_db(Payment, **options())  # a failed first call kept nothing
    with pytest.raises(InvalidModel, match="Address has no table"):
        lambda_db(Address)
    assert lambda_db() is db


def test_lambda_db_hooks_are_added_once() -> None:
    events: list[RequestEvent] = []

    def hook(event: RequestEvent) -> None:
        events.append(event)

    db = lambda_db(hooks=[hook], **options())
    lambda_db(hooks=[hook])
    assert db.client.hooks == [hook]


def test_lambda_db_tracing_must_be_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMORM_TRACING", "zipkin")
    with pytest.raises(ConfigurationError, match="tracing must be 'xray' or 'otel', got 'zipkin'"):
        lambda_db(**options())


def test_lambda_db_tracing_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from dynamorm._runtime.otel import OTelHook

    monkeypatch.setenv("DYNAMORM_TRACING", "otel")
    db = lambda_db(**options())
    assert [type(h) for h in db.client.hooks] == [OTelHook]


def test_lambda_db_tracing_is_fixed_by_the_first_call() -> None:
    from dynamorm._runtime.xray import XRayHook

    db = lambda_db(tracing="xray", **options())
    assert [type(h) for h in db.client.hooks] == [XRayHook]
    assert lambda_db(tracing="xray") is db
    with pytest.raises(ConfigurationError, match="first called with tracing='xray', now "):
        lambda_db(tracing="otel")


def test_warm_up_opens_the_connection_the_first_request_reuses() -> None:
    with fault_server(reply(200, {"TableNames": []})) as server:
        db = lambda_db(prewarm=True, **options(endpoint_url=server.url))
        waited = 0
        while server.connections == 0 and waited < 200:  # the server counts it on its thread
            time.sleep(0.01)
            waited += 1
        assert server.connections == 1
        assert server.requests == []  # nothing billable was sent
        db.client.call("ListTables", {})
        assert server.connections == 1
        assert len(server.requests) == 1


def test_warm_up_reports_an_unreachable_endpoint_without_raising() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    db = DB(**options(endpoint_url=f"http://127.0.0.1:{port}", timeout=0.5))
    assert warm_up(db) is False


def test_warm_up_without_a_warmable_transport() -> None:
    db = DB(**options(transport=lambda request: None))
    assert warm_up(db) is False


def test_warm_up_derives_the_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    derived: list[tuple[str, ...]] = []

    def spy(secret: str, date: str, region: str, service: str) -> bytes:
        derived.append((secret, date, region, service))
        return b"k"

    monkeypatch.setattr(aws_lambda, "signing_key", spy)
    db = DB(**options(credentials=Credentials("AKIDEXAMPLE", "s3cret")))
    warm_up(db)
    ((secret, date, region, service),) = derived
    assert (secret, region, service) == ("s3cret", "us-east-1", "dynamodb")
    assert len(date) == 8
    assert date.isdigit()


def test_db_defaults_follow_the_function_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    plain = DB(region="us-east-1", credentials=("a", "b"))
    assert (plain.default_page_size, plain.default_parallelism) == (None, 1)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    small = DB(region="us-east-1", credentials=("a", "b"))
    assert (small.default_page_size, small.default_parallelism) == (100, 1)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "10240")
    big = DB(region="us-east-1", credentials=("a", "b"))
    assert (big.default_page_size, big.default_parallelism) == (1000, 8)
    chosen = DB(region="us-east-1", credentials=("a", "b"), page_size=25, parallelism=2)
    assert (chosen.default_page_size, chosen.default_parallelism) == (25, 2)
    with pytest.raises(ConfigurationError, match="parallelism"):
        DB(region="us-east-1", credentials=("a", "b"), parallelism=0)


def test_queries_scans_and_batches_use_the_db_defaults() -> None:
    sent: list[dict[str, Any]] = []

    def transport(request: Request) -> Response:
        payload = json.loads(request.body)
        sent.append(payload)
        return Response(200, {}, b'{"Items": [], "Count": 0, "ScannedCount": 0}')

    class Row(Model, table="rows"):
        row_id: Attr[str] = field(pk=True)

    db = DB(
        region="us-east-1",
        credentials=("a", "b"),
        transport=transport,
        page_size=40,
        parallelism=3,
    )
    db.query(Row).where(Row.row_id == "r").all()
    assert sent[-1]["Limit"] == 40
    db.query(Row).where(Row.row_id == "r").page_size(7).all()
    assert sent[-1]["Limit"] == 7
    sent.clear()
    db.scan(Row).all()
    assert sorted(p["Segment"] for p in sent) == [0, 1, 2]
    assert {p["TotalSegments"] for p in sent} == {3}
    assert db.batch_write()._parallel == 3
