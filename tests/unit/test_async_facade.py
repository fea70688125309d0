"""The blocking facade the integration suite runs ``AsyncDB`` through (tests/async_facade.py)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

import pytest

from tests.async_facade import Blocking, LoopThread, blocking, in_thread, is_async_api


class Item:
    """A plain value: comes back as it is."""

    def __init__(self, n: int) -> None:
        self.n = n


class Query:
    def __init__(self, store: FakeAsyncDB, limit: int | None = None) -> None:
        self.store, self.limit = store, limit

    def where(self, limit: int) -> Query:  # a builder step: sync, returns an async object
        return Query(self.store, limit)

    async def all(self) -> list[Item]:
        return [item async for item in self]

    async def __aiter__(self) -> AsyncIterator[Item]:
        for n in range(self.limit or 3):
            await asyncio.sleep(0)
            self.store.threads.add(threading.current_thread().name)
            yield Item(n)


class Transaction:
    def __init__(self, store: FakeAsyncDB) -> None:
        self.store = store
        self.pending: list[int] = []

    def add(self, n: int) -> None:
        self.pending.append(n)

    async def __aenter__(self) -> Transaction:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None:
            await asyncio.sleep(0)
            self.store.committed += self.pending
        return isinstance(exc, KeyError)  # suppresses KeyError, to show the flag comes through


class FakeAsyncDB:
    def __init__(self) -> None:
        self.committed: list[int] = []
        self.threads: set[str] = set()
        self.clock: Any = None
        self.closed = False

    def table_name(self, name: str) -> str:
        return f"p_{name}"

    async def get(self, n: int) -> Item:
        await asyncio.sleep(0)
        self.threads.add(threading.current_thread().name)
        if n < 0:
            raise LookupError(f"no item {n}")
        return Item(n)

    def query(self) -> Query:
        return Query(self)

    def transaction(self) -> Transaction:
        return Transaction(self)

    def with_deadline(self, seconds: float) -> FakeAsyncDB:
        return self

    async def same(self, other: object) -> bool:
        return other is self

    async def __aenter__(self) -> FakeAsyncDB:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.closed = True


@pytest.fixture
def runner() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.close()
    assert not loop.thread.is_alive()


@pytest.fixture
def fake(runner: LoopThread) -> tuple[FakeAsyncDB, Any]:
    target = FakeAsyncDB()
    return target, blocking(target, runner)


def test_coroutines_run_on_the_loop_thread_and_return_plain_values(fake: Any) -> None:
    target, db = fake
    assert isinstance(db, Blocking)
    got = db.get(7)
    assert type(got) is Item
    assert got.n == 7
    assert db.table_name("x") == "p_x"
    assert target.threads == {"async-facade"}
    with pytest.raises(LookupError, match="no item -1"):
        db.get(-1)


def test_builders_iteration_and_terminal_methods(fake: Any) -> None:
    _, db = fake
    q = db.query().where(2)
    assert isinstance(q, Blocking)
    assert [i.n for i in q] == [0, 1]
    assert [i.n for i in db.query().all()] == [0, 1, 2]
    first = next(iter(db.query()))  # abandoning the iterator closes the async generator
    assert first.n == 0


def test_async_context_managers_commit_and_pass_the_suppress_flag(fake: Any) -> None:
    target, db = fake
    with db.transaction() as tx:
        tx.add(1)
        tx.add(2)
    assert target.committed == [1, 2]
    with db.transaction() as tx:
        tx.add(3)
        raise KeyError("suppressed by __aexit__")

    def fail_inside() -> None:
        with db.transaction() as tx:
            tx.add(4)
            raise ValueError("not suppressed")

    with pytest.raises(ValueError, match="not suppressed"):
        fail_inside()
    assert target.committed == [1, 2]
    with db.with_deadline(1.0) as same:
        assert same.table_name("t") == "p_t"
    assert target.closed


def test_attributes_set_through_the_facade_reach_the_target_and_facades_are_unwrapped(
    fake: Any,
) -> None:
    target, db = fake
    db.clock = lambda: 42
    assert target.clock() == 42
    assert db.clock() == 42
    assert db.same(db) is True  # a facade passed as an argument arrives as the async object


def test_what_is_async(fake: Any) -> None:
    target, _ = fake
    assert is_async_api(target)
    assert is_async_api(Query(target))
    assert is_async_api(Transaction(target))
    assert not is_async_api(Item(1))
    assert not is_async_api({"a": 1})


def test_blocking_inside_the_loop_is_refused_and_in_thread_runs_a_sync_helper(
    runner: LoopThread,
) -> None:
    async def nested() -> None:
        runner.run(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="cannot block inside its own event loop"):
        runner.run(nested())

    def helper(n: int) -> str:
        return f"{n} on {threading.current_thread().name}"

    async def use() -> str:
        return await in_thread(helper)(3)

    got = runner.run(use())
    assert got.startswith("3 on ")
    assert "async-facade" not in got


def test_calls_run_in_the_callers_context(runner: LoopThread) -> None:
    actor: contextvars.ContextVar[str] = contextvars.ContextVar("actor", default="nobody")

    async def who() -> str:
        await asyncio.sleep(0)
        return actor.get()

    token = actor.set("clerk")
    try:
        assert runner.run(who()) == "clerk"
    finally:
        actor.reset(token)
    assert runner.run(who()) == "nobody"
