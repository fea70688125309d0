"""@idempotent against DynamoDB Local: replay, payloads, locks, failures, concurrency."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dynamorm import (
    DB,
    ConfigurationError,
    DeadlineExceeded,
    IdempotencyInProgress,
    IdempotencyKeyError,
    IdempotencyPayloadMismatch,
    IdempotencyRecord,
    IdempotencyResultError,
)
from dynamorm._orm.model import Attr, Model, field
from dynamorm.local import LOCAL_CREDENTIALS
from tests.async_facade import idempotent

pytestmark = [pytest.mark.integration, pytest.mark.sync_and_async]


class Receipt(Model, table="receipts"):
    order_id: Attr[str] = field(pk=True)
    amount: Attr[int] = field(default=0)


class Context:
    """A Lambda context stand-in."""

    def __init__(self, millis: int = 30_000) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def api_event(order_id: str, *, request_id: str = "r1", amount: int = 5) -> dict[str, Any]:
    """An API Gateway (REST) proxy event; request ids and timestamps differ per delivery."""
    return {
        "httpMethod": "POST",
        "path": "/orders",
        "headers": {"X-Amzn-Trace-Id": f"Root={request_id}"},
        "requestContext": {"requestId": request_id, "requestTimeEpoch": time.time_ns()},
        "body": json.dumps({"order_id": order_id, "amount": amount}),
        "isBase64Encoded": False,
    }


@pytest.fixture
def idb(db: DB) -> DB:
    [report] = db.ensure_tables(IdempotencyRecord)
    assert report.ttl_enabled
    return db


def records(db: DB) -> list[IdempotencyRecord]:
    return db.scan(IdempotencyRecord).consistent().all()


def test_a_repeat_replays_the_result_without_running(idb: DB) -> None:
    runs: list[str] = []

    @idempotent(idb, key="body.order_id", cache_size=0)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        runs.append(event["requestContext"]["requestId"])
        return {"statusCode": 201, "body": json.dumps({"charged": True})}

    first = handler(api_event("o1", request_id="a"), Context())
    again = handler(api_event("o1", request_id="b"), Context())  # a genuine retry
    assert first == again == {"statusCode": 201, "body": '{"charged": true}'}
    assert runs == ["a"]
    [record] = records(idb)
    assert record.status == "COMPLETED"
    assert record.id.startswith(f"{__name__}.test_a_repeat_replays_the_result_without_running")
    assert record.id.endswith("#" + __import__("hashlib").sha256(b'"o1"').hexdigest())
    with pytest.raises(IdempotencyPayloadMismatch):
        handler(api_event("o1", amount=6), Context())
    assert handler(api_event("o2"), Context())["statusCode"] == 201
    assert runs == ["a", "r1"]


def test_the_local_cache_replays_without_a_request(idb: DB) -> None:
    sent: list[str] = []
    idb.client.hooks.append(lambda event: sent.append(event.operation))
    runs = 0

    @idempotent(idb, key="id", name="cached")
    def work(order: dict[str, Any]) -> int:
        nonlocal runs
        runs += 1
        return 42

    assert work({"id": "k"}) == 42
    count = len(sent)
    assert work({"id": "k"}) == 42
    assert (runs, len(sent)) == (1, count)
    with pytest.raises(IdempotencyPayloadMismatch):
        work({"id": "k", "extra": 1})


def test_missing_key_raises_before_anything_is_written(idb: DB) -> None:
    runs = 0

    @idempotent(idb, key="body.order_id")
    def handler(event: dict[str, Any], context: Any) -> str:
        nonlocal runs
        runs += 1
        return "ok"

    for event in ({"body": json.dumps({"other": 1})}, {"body": "not json"}, {}):
        with pytest.raises(IdempotencyKeyError):
            handler(event, Context())
    assert runs == 0
    assert records(idb) == []


def test_a_failure_releases_the_record_so_a_retry_runs(idb: DB) -> None:
    attempts = 0

    @idempotent(idb, key=lambda order: order["id"])
    def charge(order: dict[str, Any]) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("card declined")
        return "charged"

    with pytest.raises(RuntimeError, match="card declined"):
        charge({"id": "o1"})
    assert records(idb) == []
    assert charge({"id": "o1"}) == "charged"
    assert attempts == 2


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ((1, 2), "a tuple, which would not replay as itself"),
        ({1: "a"}, "non-str key 1"),
        (float("nan"), "JSON cannot hold"),
        ("x" * 500_000, "over DynamoDB's 409600-byte limit"),
    ],
)
def test_an_unstorable_result_is_a_typed_error_and_leaves_no_record(
    idb: DB, result: Any, message: str
) -> None:
    runs = 0

    @idempotent(idb, key="id")
    def work(order: dict[str, Any]) -> Any:
        nonlocal runs
        runs += 1
        return result

    with pytest.raises(IdempotencyResultError, match=message):
        work({"id": "o1"})
    assert records(idb) == []
    with pytest.raises(IdempotencyResultError):
        work({"id": "o1"})
    assert runs == 2


def test_models_replay_as_models(idb: DB) -> None:
    @idempotent(idb, key="order_id", cache_size=0)
    def receipt(order: dict[str, Any]) -> Receipt:
        return Receipt(order_id=order["order_id"], amount=order["amount"])

    first = receipt({"order_id": "o1", "amount": 7})
    again = receipt({"order_id": "o1", "amount": 7})
    assert type(again) is Receipt
    assert again == first


def test_expired_records_are_absent_before_ttl_deletes_them(idb: DB) -> None:
    runs = 0

    @idempotent(idb, key="id", expires_after=timedelta(minutes=5), cache_size=0)
    def work(order: dict[str, Any]) -> int:
        nonlocal runs
        runs += 1
        return runs

    assert work({"id": "o1"}) == 1
    assert work({"id": "o1"}) == 1
    real = idb.clock
    idb.clock = lambda: real() + timedelta(minutes=6)
    assert work({"id": "o1"}) == 2


def test_a_concurrent_duplicate_raises_in_progress_or_waits(idb: DB) -> None:
    started, finish = threading.Event(), threading.Event()

    @idempotent(idb, key="id", name="slow", in_progress_expiry=30)
    def slow(order: dict[str, Any]) -> str:
        started.set()
        finish.wait(10)
        return "done"

    @idempotent(idb, key="id", name="slow", in_progress_expiry=30, wait=10)
    def patient(order: dict[str, Any]) -> str:
        raise AssertionError("a duplicate must not run")

    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(slow({"id": "o1"})))
    worker.start()
    assert started.wait(10)
    with pytest.raises(IdempotencyInProgress) as caught:
        slow({"id": "o1"})
    assert 25 < caught.value.expires_in <= 30
    threading.Timer(0.3, finish.set).start()
    assert patient({"id": "o1"}) == "done"
    worker.join()
    assert results == ["done"]


def test_a_remaining_time_of_zero_is_honoured(idb: DB) -> None:
    runs: list[str] = []

    @idempotent(idb, key="id", cache_size=0)
    def handler(event: dict[str, Any], context: Any) -> str:
        runs.append(event["id"])
        return "ran"

    with pytest.raises(DeadlineExceeded):
        handler({"id": "o1"}, Context(0))  # no time left: nothing runs, nothing is written
    assert runs == []
    assert records(idb) == []
    assert handler({"id": "o1"}, Context()) == "ran"


def test_record_writes_stop_at_the_invocation_deadline(idb: DB) -> None:
    inside = threading.Event()
    release = threading.Event()

    @idempotent(idb, key="id", cache_size=0)
    def handler(event: dict[str, Any], context: Any) -> str:
        if context.millis < 30_000:
            inside.set()
            release.wait(10)
            return "late"
        return "fresh"

    late: list[BaseException] = []

    def run_late() -> None:
        try:
            handler({"id": "o1"}, Context(1500))  # lock: 1.5 s; deadline: 1.4 s
        except DeadlineExceeded as exc:
            late.append(exc)

    worker = threading.Thread(target=run_late)
    worker.start()
    assert inside.wait(10)
    time.sleep(1.6)
    assert handler({"id": "o1"}, Context()) == "fresh"  # the lock expired with the invocation
    release.set()
    worker.join()
    assert len(late) == 1  # its completion was not sent after its deadline
    [record] = records(idb)
    assert json.loads(record.data or "") == {"json": "fresh"}


def test_db_may_be_chosen_per_call(idb: DB) -> None:
    other = DB(
        region=idb.region,
        endpoint_url=idb.client.endpoint.url,
        credentials=LOCAL_CREDENTIALS,
        table_prefix=f"{idb.table_prefix}b_",  # dropped with the test's own prefix
    )
    other.ensure_tables(IdempotencyRecord)
    accounts = {"a": idb, "b": other}
    chosen: list[DB] = []

    def account(event: dict[str, Any], context: Any) -> DB:
        chosen.append(accounts[event["account"]])
        return chosen[-1]

    @idempotent(account, key=lambda e, _c: f"{e['account']}/{e['id']}", cache_size=0)
    def handler(event: dict[str, Any], context: Any) -> str:
        return f"{event['account']}:{event['id']}"

    assert handler({"account": "b", "id": "o1"}, Context()) == "b:o1"
    assert handler({"account": "b", "id": "o1"}, Context()) == "b:o1"  # replayed from b
    assert handler({"account": "a", "id": "o1"}, Context()) == "a:o1"
    assert [r.data for r in records(other)] == ['{"json":"b:o1"}']
    assert [r.data for r in records(idb)] == ['{"json":"a:o1"}']
    assert chosen == [other, other, idb]

    @idempotent(lambda event: "not a DB", key="id")  # type: ignore[arg-type]
    def broken(event: dict[str, Any]) -> None:
        raise AssertionError("must not run")

    with pytest.raises(ConfigurationError, match="returned a str, not a DB"):
        broken({"id": "x"})
    with pytest.raises(ConfigurationError, match="takes a DB or a callable"):
        idempotent(42, key="id")  # type: ignore[arg-type]


def test_a_stale_worker_cannot_release_a_newer_record(idb: DB) -> None:
    inside, release = threading.Event(), threading.Event()

    @idempotent(idb, key="id", in_progress_expiry=0, cache_size=0)
    def work(order: dict[str, Any]) -> str:
        if order.get("slow"):
            inside.set()
            release.wait(10)
            raise RuntimeError("late failure")
        return "fresh"

    errors: list[BaseException] = []

    def stale() -> None:
        try:
            work({"id": "o1", "slow": True})
        except RuntimeError as exc:
            errors.append(exc)

    worker = threading.Thread(target=stale)
    worker.start()
    assert inside.wait(10)
    time.sleep(0.01)

    @idempotent(idb, key="id", name=work.__dynamorm_idempotency__.name, payload=None)  # type: ignore[attr-defined]
    def same(order: dict[str, Any]) -> str:
        return "fresh"

    assert same({"id": "o1"}) == "fresh"
    release.set()
    worker.join()
    assert len(errors) == 1
    [record] = records(idb)
    assert record.status == "COMPLETED"


def test_16_threads_with_one_key_run_it_once(idb: DB) -> None:
    runs = 0
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    @idempotent(idb, key="id", wait=30, cache_size=0)
    def work(order: dict[str, Any]) -> int:
        nonlocal runs
        with lock:
            runs += 1
        time.sleep(0.2)
        return 7

    results: list[int] = []

    def call() -> None:
        barrier.wait()
        value = work({"id": "o1"})
        with lock:
            results.append(value)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runs == 1
    assert results == [7] * 16


def _process_call(endpoint: str, prefix: str, log: str, start_at: float) -> None:
    db = DB(
        region="us-east-1",
        endpoint_url=endpoint,
        credentials=LOCAL_CREDENTIALS,
        table_prefix=prefix,
    )

    @idempotent(db, key="id", name="cross-process", wait=30)
    def work(order: dict[str, Any]) -> int:
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        time.sleep(0.3)
        return 11

    time.sleep(max(0.0, start_at - time.time()))
    with open(log + ".results", "a") as handle:
        handle.write(f"{work({'id': 'o1'})}\n")


@pytest.mark.sync_only  # the processes make their own DB
def test_separate_processes_with_one_key_run_it_once(
    idb: DB, table_prefix: str, tmp_path: Path
) -> None:
    log = str(tmp_path / "runs")
    spawn = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0
    endpoint = idb.client.endpoint.url
    processes = [
        spawn.Process(target=_process_call, args=(endpoint, table_prefix, log, start_at))
        for _ in range(4)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(60)
    assert [p.exitcode for p in processes] == [0] * 4
    assert len(Path(log).read_text().splitlines()) == 1
    assert Path(log + ".results").read_text().splitlines() == ["11"] * 4


def test_options_are_checked_when_decorating(idb: DB) -> None:
    from dynamorm import ConfigurationError

    bad: list[Callable[[], object]] = [
        lambda: idempotent(idb, key=""),
        lambda: idempotent(idb, key="id", expires_after=0),
        lambda: idempotent(idb, key="id", wait=-1),
        lambda: idempotent(idb, key="id", cache_size=-1),
        lambda: idempotent(idb, key="id", name="a#b")(lambda order: None),
    ]
    for make in bad:
        with pytest.raises(ConfigurationError):
            make()
