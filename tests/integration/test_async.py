"""What only AsyncDB has to get right, on DynamoDB Local: cancellation, many tasks on one bounded
pool, deadline views under asyncio. (The rest of the suite runs on AsyncDB through the facade of
tests/async_facade.py; see tests/integration/conftest.py.)

Tables are made and read back with the synchronous ``db`` (an independent path); the async side
goes through a :class:`FaultProxy`, which injects faults and counts connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from dynamorm import (
    DB,
    AsyncDB,
    DeadlineExceeded,
    DeadlineOutcomeUnknown,
    NotFound,
    RetryPolicy,
)
from dynamorm._io.async_transport import AsyncHTTPTransport
from dynamorm._orm.keys import key
from dynamorm._orm.model import Attr, Model, field
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB
from tests.faults import FaultProxy

pytestmark = pytest.mark.integration

T = TypeVar("T")
READ_TIMEOUT = 1.0


class Acct(Model, table="async_accts"):
    pk: Attr[str] = field(pk=True)
    balance: Attr[int] = field(default=0)
    note: Attr[str] = field(default="")


class VAcct(Model, table="async_vaccts"):
    pk: Attr[str] = field(pk=True)
    balance: Attr[int] = field(default=0)
    version: Attr[int] = field(version=True)


@pytest.fixture(scope="module")
def proxy(dynamodb_local: LocalDynamoDB) -> Iterator[FaultProxy]:
    host, _, port = dynamodb_local.endpoint.rpartition("://")[2].rpartition(":")
    fault_proxy = FaultProxy((host, int(port)))
    yield fault_proxy
    fault_proxy.close()


@pytest.fixture
def tables(db: DB) -> DB:
    db.ensure_tables(Acct, VAcct)
    return db


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(main())


def connect(url: str, prefix: str, **options: Any) -> AsyncDB:
    options.setdefault("retry", RetryPolicy(4, base_delay=0.001, max_delay=0.01))
    options.setdefault("timeout", (2.0, READ_TIMEOUT))
    return AsyncDB(
        region="us-east-1",
        endpoint_url=url,
        credentials=LOCAL_CREDENTIALS,
        table_prefix=prefix,
        **options,
    )


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``check`` on the loop until it holds."""
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out waiting"
        await asyncio.sleep(0.002)


async def cancel_when(
    work: Awaitable[Any], ready: Callable[[], bool], extra: float = 0.0, *, must: bool = True
) -> bool:
    """Start ``work`` and cancel it once ``ready()`` (plus ``extra`` seconds); return whether
    it ended cancelled (``must``: it has to, as ``CancelledError``), not by finishing first."""
    task = asyncio.ensure_future(work)
    await until(ready)
    await asyncio.sleep(extra)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return True
    assert not must, "the task finished before it could be cancelled"
    return False


# --- a cancelled request leaves no connection in a bad state ------------------------------------


@pytest.mark.parametrize(("fault", "extra"), [("timeout", 0.0), ("trickle", 0.05), (None, 0.0)])
def test_a_read_cancelled_mid_answer_leaves_the_pool_clean(
    tables: DB, proxy: FaultProxy, table_prefix: str, fault: str | None, extra: float
) -> None:
    for n in range(4):
        tables.create(Acct(pk=f"a{n}", balance=n, note="x" * 200))

    async def main() -> None:
        async with connect(proxy.url, table_prefix) as adb:
            assert (await adb.get(Acct, pk="a0")).balance == 0  # one pooled connection
            proxy.disarm()
            if fault is not None:
                proxy.arm("GetItem", fault)
            # the answer is on its way (trickling, held back, or plain) when the task is cancelled
            await cancel_when(
                adb.get(Acct, pk="a1"),
                lambda: proxy.applied.get("GetItem", 0) >= 1,
                extra,
                must=fault is not None,
            )
            proxy.disarm()
            # A connection pooled with the rest of a1's answer unread would hand it to the next
            # request: each read must get its own item, one at a time and 20 at once.
            for n in (2, 3, 2, 0):
                assert (await adb.get(Acct, pk=f"a{n}")).balance == n
            got = await asyncio.gather(*(adb.get(Acct, pk=f"a{n % 4}") for n in range(20)))
            assert [a.balance for a in got] == [n % 4 for n in range(20)]

    run(main)
    proxy.disarm()


def test_a_read_cancelled_before_the_server_answers_frees_its_connection(
    tables: DB, proxy: FaultProxy, table_prefix: str
) -> None:
    """Cancel 30 reads held by the server: none of their connections comes back into the pool,
    and the pool still serves new reads (over new connections)."""
    tables.create(Acct(pk="held", balance=7))

    async def main() -> None:
        async with connect(proxy.url, table_prefix) as adb:
            proxy.disarm()
            proxy.arm("GetItem", "timeout", times=30)
            tasks = [asyncio.ensure_future(adb.get(Acct, pk="held")) for _ in range(30)]
            await until(lambda: proxy.applied.get("GetItem", 0) >= 10)
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError | Acct) for r in results)
            proxy.disarm()
            before = proxy.connections
            got = await asyncio.gather(*(adb.get(Acct, pk="held") for _ in range(5)))
            assert [a.balance for a in got] == [7] * 5
            assert proxy.connections > before  # the cancelled ones were not reused

    run(main)
    proxy.disarm()


# --- a cancelled write is applied once or not at all ----------------------------------------------

Write = Callable[[AsyncDB, str], Awaitable[Any]]


async def _add_by_key(adb: AsyncDB, pk: str) -> Any:
    return await adb.update(key(Acct, pk=pk), Acct.balance.add(5))


async def _versioned_save(adb: AsyncDB, pk: str) -> Any:
    obj = await adb.get(VAcct, pk=pk, consistent=True)
    obj.balance += 5
    return await adb.save(obj)


async def _transaction(adb: AsyncDB, pk: str) -> Any:
    async with adb.transaction() as tx:
        await tx.update(key(Acct, pk=pk), Acct.balance.add(5))
        await tx.create(Acct(pk=f"{pk}-twin", balance=5))


WRITES: dict[str, tuple[str, Write]] = {
    "add_by_key": ("TransactWriteItems", _add_by_key),
    "versioned_save": ("UpdateItem", _versioned_save),
    "transaction": ("TransactWriteItems", _transaction),
}


def _stored(db: DB, kind: str, pk: str) -> int:
    """How many times the write of ``kind`` on ``pk`` is stored: 0 or 1, else the test fails."""
    if kind == "versioned_save":
        versioned = db.get(VAcct, pk=pk, consistent=True)
        balance, version = versioned.balance, versioned.version
    else:
        balance, version = db.get(Acct, pk=pk, consistent=True).balance, None
    applied = {10: 0, 15: 1}[balance]  # KeyError: applied twice (20), or garbage
    assert version in (None, applied)
    if kind == "transaction":  # both writes or neither
        try:
            twin = db.get(Acct, pk=f"{pk}-twin", consistent=True)
        except NotFound:
            assert applied == 0
        else:
            assert (applied, twin.balance) == (1, 5)
    return applied


def _seed(db: DB, kind: str, pk: str) -> None:
    db.create(VAcct(pk=pk, balance=10) if kind == "versioned_save" else Acct(pk=pk, balance=10))


@pytest.mark.parametrize("kind", list(WRITES))
@pytest.mark.parametrize("fault", ["timeout", "lose", "5xx_before"])
def test_a_write_cancelled_after_a_fault_is_stored_once_or_not_at_all(
    tables: DB, proxy: FaultProxy, table_prefix: str, kind: str, fault: str
) -> None:
    """The write is cancelled while the client waits for an answer that will not come
    (``timeout``), while it resolves a lost answer (``lose``) or while it backs off before
    a retry (``5xx_before``)."""
    operation, write = WRITES[kind]
    pk = f"{kind}-{fault}"
    _seed(tables, kind, pk)

    async def main() -> None:
        async with connect(proxy.url, table_prefix, retry=RetryPolicy(6, base_delay=0.05)) as adb:
            proxy.disarm()
            proxy.arm(operation, fault, times=-1 if fault == "5xx_before" else 1)
            if fault == "5xx_before":  # backing off before its third attempt
                ready = lambda: proxy.injected.get(operation, 0) >= 2  # noqa: E731
            else:  # applied, the answer held back or lost
                ready = lambda: proxy.applied.get(operation, 0) >= 1  # noqa: E731
            # "lose": the client may resolve the lost answer before the cancel lands
            await cancel_when(write(adb, pk), ready, must=fault != "lose")
            proxy.disarm()
            # the pool and the table are fine: the next write goes through, once
            await adb.put(Acct(pk="probe", note=fault), check_version=False)

    run(main)
    proxy.disarm()
    applied = _stored(tables, kind, pk)
    if fault == "5xx_before":
        assert applied == 0  # never reached DynamoDB
    assert tables.get(Acct, pk="probe", consistent=True).note == fault


@pytest.mark.parametrize("kind", list(WRITES))
def test_writes_cancelled_at_any_moment_are_stored_once_or_not_at_all(
    tables: DB, proxy: FaultProxy, table_prefix: str, kind: str
) -> None:
    """No fault: cancel at a spread of moments (before sending, while sending, while reading
    the answer, after it); each write is stored 0 or 1 times, never half."""
    write = WRITES[kind][1]
    delays = [0.0, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064]
    for n in range(len(delays)):
        _seed(tables, kind, f"{kind}-{n}")

    async def main() -> None:
        async with connect(proxy.url, table_prefix) as adb:
            for n, delay in enumerate(delays):
                task = asyncio.ensure_future(write(adb, f"{kind}-{n}"))
                await asyncio.sleep(delay)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    proxy.disarm()
    run(main)
    for n in range(len(delays)):
        _stored(tables, kind, f"{kind}-{n}")  # 0 or 1 times, all or nothing


# --- many tasks on one bounded pool ------------------------------------------------------------


def test_60_tasks_share_one_bounded_pool(tables: DB, proxy: FaultProxy, table_prefix: str) -> None:
    async def task(adb: AsyncDB, n: int) -> int:
        await adb.create(VAcct(pk=f"t{n}", balance=n))
        for _ in range(3):
            obj = await adb.get(VAcct, pk=f"t{n}", consistent=True)
            obj.balance += 1
            await adb.save(obj)
        final: VAcct = await adb.get(VAcct, pk=f"t{n}", consistent=True)
        return final.balance

    async def main() -> list[int]:
        transport = AsyncHTTPTransport(max_connections=8)
        async with connect(proxy.url, table_prefix, transport=transport) as adb:
            return await asyncio.gather(*(task(adb, n) for n in range(60)))

    proxy.disarm()
    before = proxy.connections
    assert run(main) == [n + 3 for n in range(60)]
    assert proxy.connections - before >= 1
    assert proxy.peak_open <= 8  # 60 tasks, never more than the bound open at once


# --- deadline views under asyncio ----------------------------------------------------------------


def test_a_deadline_view_stops_every_task_that_shares_it(
    tables: DB, proxy: FaultProxy, table_prefix: str
) -> None:
    tables.create(Acct(pk="d", balance=1))

    async def main() -> tuple[list[Any], float]:
        async with connect(proxy.url, table_prefix) as adb:
            proxy.disarm()
            proxy.arm("GetItem", "timeout", times=-1)
            proxy.arm("UpdateItem", "timeout", times=-1)
            view = adb.with_deadline(0.6)
            started = time.monotonic()
            got = await asyncio.gather(
                *(view.get(Acct, pk="d") for _ in range(10)),
                *(view.update(key(Acct, pk="d"), Acct.note.set(f"n{n}")) for n in range(5)),
                return_exceptions=True,
            )
            took = time.monotonic() - started
            proxy.disarm()
            # the parent has no deadline: it still works, on the same pool
            assert (await adb.get(Acct, pk="d", consistent=True)).balance >= 1
            return got, took

    reads_and_writes, took = run(main)
    proxy.disarm()
    assert took < 0.6 + READ_TIMEOUT
    reads, writes = reads_and_writes[:10], reads_and_writes[10:]
    assert all(type(r) is DeadlineExceeded for r in reads), reads
    assert all(isinstance(w, DeadlineOutcomeUnknown) for w in writes), writes
    assert tables.get(Acct, pk="d", consistent=True).note in {f"n{n}" for n in range(5)}


def test_a_deadline_view_and_asyncio_timeout_compose(
    tables: DB, proxy: FaultProxy, table_prefix: str
) -> None:
    """``asyncio.timeout`` shorter than the view's deadline cancels the call (TimeoutError from
    asyncio); the view's own deadline, when shorter, raises DeadlineExceeded."""
    tables.create(Acct(pk="t", balance=1))

    async def main() -> None:
        async with connect(proxy.url, table_prefix) as adb:
            proxy.disarm()
            proxy.arm("GetItem", "timeout", times=-1)
            with pytest.raises(TimeoutError) as info:
                async with asyncio.timeout(0.2):
                    await adb.with_deadline(5.0).get(Acct, pk="t")
            assert not isinstance(info.value, DeadlineExceeded)
            with pytest.raises(DeadlineExceeded):
                async with asyncio.timeout(5.0):
                    await adb.with_deadline(0.2).get(Acct, pk="t")
            proxy.disarm()
            assert (await adb.get(Acct, pk="t")).balance == 1

    run(main)
    proxy.disarm()
