"""Deadline-bound DB views: every request, retry and sleep stops before the deadline."""

from __future__ import annotations

import json
import math
import random
import time
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest

from dynamorm import (
    DB,
    ConfigurationError,
    Credentials,
    DeadlineExceeded,
    EndpointUnreachable,
    OutcomeUnknown,
    ReadTimeout,
    Request,
    Response,
    RetryPolicy,
)
from dynamorm._io import client as client_module
from dynamorm._io.deadline import deadline_buffer
from dynamorm._orm.meta import Attr
from dynamorm._orm.model import Model, field
from dynamorm._runtime.aws_lambda import LocalContext
from tests.faults import fault_server, hang, reply


def ok(payload: dict[str, Any]) -> Response:
    body = json.dumps(payload).encode()
    return Response(200, {"x-amz-crc32": str(zlib.crc32(body))}, body)


class Clock:
    """A hand-moved monotonic clock; sleeping advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class SlowTransport:
    """Answers after ``latency`` seconds of fake time; times out like a socket would."""

    def __init__(self, clock: Clock, latency: float) -> None:
        self.clock = clock
        self.latency = latency
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        if request.read_timeout < self.latency:
            self.clock.now += request.read_timeout
            raise ReadTimeout(
                f"http://fake did not answer within {request.read_timeout:g}s",
                endpoint="http://fake",
            )
        self.clock.now += self.latency
        return ok({})


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(client_module, "_monotonic", fake)
    return fake


def make_db(transport: Any, clock: Clock | None = None, **kw: Any) -> DB:
    db = DB(
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        credentials=Credentials("AKIDEXAMPLE", "secret"),
        transport=transport,
        retry=kw.pop("retry", RetryPolicy(3, base_delay=0.01, max_delay=0.02)),
        **kw,
    )
    if clock is not None:
        db.client._sleep = clock.sleep
    return db


GET = {"TableName": "payments", "Key": {"pk": {"S": "a"}}}
PUT = {"TableName": "payments", "Item": {"pk": {"S": "a"}}}


def test_buffer_scales_with_memory() -> None:
    assert deadline_buffer(128) == 0.5
    assert deadline_buffer(512) == 0.125
    assert deadline_buffer(10240) == 0.05
    assert deadline_buffer(None) == 0.1
    sizes = [128, 256, 512, 1024, 1769, 3008, 10240]
    buffers = [deadline_buffer(m) for m in sizes]
    assert buffers == sorted(buffers, reverse=True)


def test_context_deadline_is_remaining_time_less_memory_buffer(clock: Clock) -> None:
    db = make_db(SlowTransport(clock, 0.0))
    view = db.with_deadline(LocalContext(2.0, memory_mb=128, clock=clock))
    assert view.client.deadline == pytest.approx(clock.now + 1.5)
    view = db.with_deadline(LocalContext(2.0, memory_mb=1024, clock=clock))
    assert view.client.deadline == pytest.approx(clock.now + 2.0 - 0.0625)
    view = db.with_deadline(LocalContext(2.0, memory_mb=1024, clock=clock), buffer=0.25)
    assert view.client.deadline == pytest.approx(clock.now + 1.75)


def test_seconds_deadline_has_no_buffer_unless_asked(clock: Clock) -> None:
    db = make_db(SlowTransport(clock, 0.0))
    assert db.with_deadline(1.5).client.deadline == pytest.approx(clock.now + 1.5)
    assert db.with_deadline(1.5, buffer=0.5).client.deadline == pytest.approx(clock.now + 1.0)


def test_context_memory_falls_back_to_environment(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    class BareContext:
        def get_remaining_time_in_millis(self) -> int:
            return 3000

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
    view = make_db(SlowTransport(clock, 0.0)).with_deadline(BareContext())
    assert view.client.deadline == pytest.approx(clock.now + 3.0 - 0.125)


def test_view_shares_connections_credentials_hooks_and_prefix(clock: Clock) -> None:
    transport = SlowTransport(clock, 0.0)
    db = make_db(transport, clock, table_prefix="prod_")
    view = db.with_deadline(5.0)
    assert view is not db
    assert isinstance(view, DB)
    assert view.client.transport is db.client.transport
    assert view.client.credentials is db.client.credentials
    assert view.client.hooks is db.client.hooks
    assert view.table_name("payments") == "prod_payments"
    assert db.client.deadline is None
    seen: list[str] = []
    db.client.hooks.append(lambda event: seen.append(event.operation))
    view.client.call("GetItem", GET)
    assert seen == ["GetItem"]
    assert len(transport.requests) == 1


def test_view_of_view_keeps_the_earlier_deadline(clock: Clock) -> None:
    db = make_db(SlowTransport(clock, 0.0))
    short = db.with_deadline(1.0)
    assert short.with_deadline(10.0).client.deadline == short.client.deadline
    assert short.with_deadline(0.5).client.deadline == pytest.approx(clock.now + 0.5)


def test_handler_stops_before_deadline_and_says_how_much_was_done(clock: Clock) -> None:
    transport = SlowTransport(clock, 0.4)
    context = LocalContext(2.0, memory_mb=128, clock=clock)
    start = clock.now
    view = make_db(transport, clock).with_deadline(context)
    for _ in range(3):
        view.client.call("GetItem", GET)
    with pytest.raises(DeadlineExceeded) as info:
        view.client.call("GetItem", GET)
    assert clock.now <= start + 1.5  # the buffer is left for the handler
    message = str(info.value)
    assert message.startswith("GetItem: deadline leaves no time to retry after 1 attempt(s)")
    assert "3 requests completed under this deadline in 1.500s" in message
    assert "2.000s left in the Lambda invocation less a 0.500s safety buffer" in message
    assert "may or may not" not in message
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value.last_error, ReadTimeout)
    assert transport.requests[-1].read_timeout == pytest.approx(0.3)


def test_write_whose_response_never_came_is_reported_as_unknown(clock: Clock) -> None:
    view = make_db(SlowTransport(clock, 1.0), clock).with_deadline(0.5)
    with pytest.raises(OutcomeUnknown) as info:
        view.client.call("PutItem", PUT)
    message = str(info.value)
    assert "0 requests completed under this deadline" in message
    assert "the write may or may not have been applied" in message
    assert info.value.operation == "PutItem"
    assert info.value.attempts == 1


def test_backoff_never_sleeps_past_the_deadline(clock: Clock) -> None:
    answers = iter([ReadTimeout("slow", endpoint="x")] * 10)

    def flaky(request: Request) -> Response:
        clock.now += min(0.1, request.read_timeout)  # a socket gives up at its timeout
        raise next(answers)

    retry = RetryPolicy(10, base_delay=0.2, max_delay=0.2, rng=random.Random(3))
    view = make_db(flaky, clock, retry=retry).with_deadline(0.5)
    deadline = view.client.deadline
    assert deadline is not None
    with pytest.raises(DeadlineExceeded):
        view.client.call("GetItem", GET)
    assert clock.now <= deadline
    assert all(s < 0.2 for s in clock.slept)


def test_flow_sleep_is_clamped_to_the_deadline(clock: Clock) -> None:
    view = make_db(SlowTransport(clock, 0.0), clock).with_deadline(1.0)
    view.client.sleep(5.0)
    assert clock.slept == [pytest.approx(1.0)]
    view.client.sleep(5.0)
    assert clock.slept[-1] == 0.0
    assert view.client.remaining() == pytest.approx(0.0)


def test_connect_failure_after_the_deadline_is_a_deadline_error(clock: Clock) -> None:
    def unreachable(request: Request) -> Response:
        clock.now += request.connect_timeout
        raise EndpointUnreachable("could not connect to http://x within 0.2s", endpoint="x")

    view = make_db(unreachable, clock).with_deadline(0.2)
    with pytest.raises(DeadlineExceeded) as info:
        view.client.call("PutItem", PUT)
    assert isinstance(info.value.last_error, EndpointUnreachable)
    assert "the deadline passed during attempt 1: could not connect" in str(info.value)
    assert "may or may not" not in str(info.value)  # nothing was sent


def test_connect_failure_before_the_deadline_stays_what_it_is(clock: Clock) -> None:
    def unreachable(request: Request) -> Response:
        raise EndpointUnreachable("could not connect to http://x: refused", endpoint="x")

    with pytest.raises(EndpointUnreachable):
        make_db(unreachable, clock).with_deadline(5.0).client.call("GetItem", GET)


def test_zero_time_left_sends_nothing(clock: Clock) -> None:
    transport = SlowTransport(clock, 0.0)
    view = make_db(transport, clock).with_deadline(LocalContext(0.0, clock=clock))
    with pytest.raises(DeadlineExceeded, match="before attempt 1 could start"):
        view.client.call("GetItem", GET)
    assert transport.requests == []


@pytest.mark.parametrize(
    ("value", "kw", "message"),
    [
        ("soon", {}, r"expected a Lambda context .*\(or seconds, for with_deadline\), got str"),
        (True, {}, "expected a Lambda context .* got bool"),
        (math.nan, {}, "finite seconds"),
        (math.inf, {}, "finite seconds"),
        (1.0, {"buffer": -0.1}, "buffer must be seconds >= 0"),
        (1.0, {"buffer": "x"}, "buffer must be seconds >= 0"),
    ],
)
def test_bad_deadline_arguments(value: Any, kw: dict[str, Any], message: str) -> None:
    db = make_db(SlowTransport(Clock(), 0.0))
    with pytest.raises(ConfigurationError, match=message):
        db.with_deadline(value, **kw)


def test_handler_given_two_seconds_against_a_hanging_server_returns_in_time() -> None:
    with fault_server(reply(200, {}), hang(4.0)) as server:
        db = DB(
            region="us-east-1",
            endpoint_url=server.url,
            credentials=Credentials("AKIDEXAMPLE", "secret"),
        )
        context = LocalContext(2.0, memory_mb=128)
        started = time.monotonic()
        view = db.with_deadline(context)
        view.client.call("GetItem", GET)
        with pytest.raises(DeadlineExceeded) as info:
            view.client.call("GetItem", GET)
        elapsed = time.monotonic() - started
        db.close()
    assert elapsed < 2.0
    assert context.get_remaining_time_in_millis() > 0
    assert "1 request completed under this deadline" in str(info.value)


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    amount: Attr[int] = field(default=0)


def test_view_counts_its_capacity_into_the_parent_and_keeps_the_clock(clock: Clock) -> None:
    item = {"merchant_id": {"S": "m1"}, "amount": {"N": "5"}}
    answer = ok({"Item": item, "ConsumedCapacity": {"TableName": "payments", "CapacityUnits": 0.5}})
    db = make_db(lambda request: answer, clock)
    db.get(Payment, merchant_id="m1")
    db.clock = lambda: datetime(2024, 5, 1, tzinfo=UTC)
    view = db.with_deadline(5.0)
    assert view.get(Payment, merchant_id="m1").amount == 5
    view.get(Payment, merchant_id="m1")
    assert view.consumed.total == 1.0
    assert db.consumed.total == 1.5
    assert view.clock is db.clock


def test_view_repr_shows_the_time_left(clock: Clock) -> None:
    view = make_db(SlowTransport(clock, 0.0)).with_deadline(2.5)
    assert repr(view.client).endswith(", 2.500s before its deadline)")
    clock.now += 10
    assert repr(view.client).endswith(", 0.000s before its deadline)")
