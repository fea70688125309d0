"""@idempotent and unique constraints under the fault proxy (lost, reset, garbled answers)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from dynamorm import DB, IdempotencyRecord, RetryPolicy, UniqueViolation
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB
from tests.async_facade import idempotent
from tests.faults import FaultProxy
from tests.integration.test_unique import Customer

pytestmark = [pytest.mark.integration, pytest.mark.sync_and_async]

# Faults after which the request was applied but the client cannot know it.
LOST = ("lose", "reset_after", "timeout", "5xx_after", "truncate", "garble", "bad_crc")


@dataclass
class Env:
    direct: DB
    faulty: DB
    proxy: FaultProxy


@pytest.fixture(scope="module")
def env(dynamodb_local: LocalDynamoDB, make_db: Callable[..., DB]) -> Iterator[Env]:
    host, _, port = dynamodb_local.endpoint.rpartition("://")[2].rpartition(":")
    proxy = FaultProxy((host, int(port)))
    prefix = f"if{secrets.token_hex(3)}_"

    def connect(url: str, timeout: float) -> DB:
        return make_db(
            region=dynamodb_local.region,
            endpoint_url=url,
            credentials=LOCAL_CREDENTIALS,
            table_prefix=prefix,
            retry=RetryPolicy(6, base_delay=0.001, max_delay=0.01),
            timeout=(2.0, timeout),
        )

    direct, faulty = connect(dynamodb_local.endpoint, 10.0), connect(proxy.url, 0.8)
    direct.ensure_tables(IdempotencyRecord, Customer)
    try:
        yield Env(direct, faulty, proxy)
    finally:
        proxy.close()
        for model in (IdempotencyRecord, Customer):
            direct.delete_table(model)


def record(env: Env, name: str) -> list[IdempotencyRecord]:
    return [
        r for r in env.direct.scan(IdempotencyRecord).consistent() if r.id.startswith(name + "#")
    ]


@pytest.mark.parametrize("fault", LOST)
@pytest.mark.parametrize("step", ["acquire", "complete"])
def test_a_lost_answer_neither_runs_the_function_twice_nor_leaves_a_stuck_record(
    env: Env, fault: str, step: str
) -> None:
    name = f"faults-{step}-{fault}-{secrets.token_hex(3)}"
    runs = 0

    @idempotent(env.faulty, key="id", name=name, cache_size=0)
    def work(order: dict[str, Any]) -> str:
        nonlocal runs
        runs += 1
        if step == "complete":
            env.proxy.arm("PutItem", fault)  # the completion's answer is lost
        return "done"

    env.proxy.disarm()
    if step == "acquire":
        env.proxy.arm("PutItem", fault)
    try:
        assert work({"id": "o1"}) == "done"
    finally:
        env.proxy.disarm()
    assert runs == 1
    [stored] = record(env, name)
    assert stored.status == "COMPLETED"
    assert work({"id": "o1"}) == "done"  # a repeat replays
    assert runs == 1


@pytest.mark.parametrize("fault", ["lose", "5xx_after"])
def test_a_lost_release_answer_still_frees_the_key(env: Env, fault: str) -> None:
    name = f"faults-release-{fault}-{secrets.token_hex(3)}"
    attempts = 0

    @idempotent(env.faulty, key="id", name=name)
    def work(order: dict[str, Any]) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            env.proxy.arm("DeleteItem", fault)
            raise RuntimeError("declined")
        return "done"

    env.proxy.disarm()
    try:
        with pytest.raises(RuntimeError, match="declined"):
            work({"id": "o1"})
    finally:
        env.proxy.disarm()
    assert record(env, name) == []
    assert work({"id": "o1"}) == "done"


def test_16_threads_with_one_key_under_lost_answers_run_it_once(env: Env) -> None:
    name = f"faults-16-{secrets.token_hex(3)}"
    runs = 0
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    @idempotent(env.faulty, key="id", name=name, wait=60, cache_size=0)
    def work(order: dict[str, Any]) -> int:
        nonlocal runs
        with lock:
            runs += 1
        return 7

    results: list[Any] = []

    def call() -> None:
        barrier.wait()
        try:
            value: Any = work({"id": "o1"})
        except Exception as exc:  # reported below, so a failure names its cause
            value = repr(exc)
        with lock:
            results.append(value)

    env.proxy.disarm()
    env.proxy.arm("PutItem", "lose", times=6)
    try:
        threads = [threading.Thread(target=call) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        env.proxy.disarm()
    assert runs == 1
    assert results == [7] * 16


def test_16_threads_taking_one_unique_value_under_lost_answers_yield_one_winner(
    env: Env,
) -> None:
    email = f"race-{secrets.token_hex(3)}@x.com"
    barrier = threading.Barrier(16)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait()
        try:
            env.faulty.create(Customer(customer_id=f"{email}-{i}", email=email))
            outcome = "won"
        except UniqueViolation:
            outcome = "lost"
        except Exception as exc:  # reported below, so a failure names its cause
            outcome = repr(exc)
        with lock:
            outcomes.append(outcome)

    env.proxy.disarm()
    env.proxy.arm("TransactWriteItems", "lose", times=6)
    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        env.proxy.disarm()
    assert outcomes.count("won") == 1, outcomes
    assert outcomes.count("lost") == 15, outcomes
    holders = [c for c in env.direct.scan(Customer).consistent() if c.email == email]
    assert len(holders) == 1
