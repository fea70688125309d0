"""The writers of an ``AsyncDB``: ``AsyncTransaction``, ``AsyncBatchWriter`` and batch gets.

A transaction's actions and commit are the flows of ``TransactionBase`` driven by ``adrive``
(``async with db.transaction() as tx: await tx.create(a)``; adding an action is awaited as it
may read a unique field's stored value or take a data key). Batch chunks run the flows of
``batch_flow`` on tasks instead of threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from dynamorm._io.async_drive import adrive
from dynamorm._orm.batch import BatchGetResult, get_job
from dynamorm._orm.batch_flow import WRITE_CHUNK, ChunkOutcome, Entry, chunked, settled, skipped
from dynamorm._orm.batch_write import BatchWriterBase
from dynamorm._orm.keys import Key
from dynamorm._orm.model import Model
from dynamorm._orm.results import Capacity
from dynamorm._orm.transaction import TransactionBase

if TYPE_CHECKING:
    from dynamorm._core.expressions import Condition, Path, UpdateAction
    from dynamorm._orm.base import DBBase

E = TypeVar("E", bound=Entry)
M = TypeVar("M", bound=Model)


class AsyncTransaction(TransactionBase):
    """Writes committed together, atomically, when the ``async with`` block exits without an
    error; the same rules as :class:`~dynamorm.Transaction`."""

    async def create(self, obj: Model, *, condition: Condition | None = None) -> None:
        """Add a conditional create (fails the transaction if the item exists)."""
        await adrive(self._create(obj, condition), self._db.client)

    async def put(
        self, obj: Model, *, condition: Condition | None = None, check_version: bool = True
    ) -> None:
        """Add an upsert of the instance's declared fields (as ``db.put``)."""
        await adrive(self._put(obj, condition, check_version), self._db.client)

    async def update(
        self,
        target: Model | Key[Any],
        *actions: UpdateAction,
        condition: Condition | None = None,
        check_version: bool = True,
    ) -> None:
        """Add an update of an existing item (as ``db.update``)."""
        await adrive(self._update(target, actions, condition, check_version), self._db.client)

    async def save(self, obj: Model, *, condition: Condition | None = None) -> None:
        """Add the instance's changes (as ``db.save``); nothing is added if nothing changed."""
        await adrive(self._save(obj, condition), self._db.client)

    async def delete(
        self,
        target: Model | Key[Any],
        *,
        condition: Condition | None = None,
        check_version: bool = True,
    ) -> None:
        """Add a delete (as ``db.delete``)."""
        await adrive(self._delete(target, condition, check_version), self._db.client)

    async def check(
        self,
        target: Model | Key[Any],
        condition: Condition | None = None,
        *,
        check_version: bool = True,
    ) -> None:
        """Add a condition on an item that is not written (as ``Transaction.check``)."""
        await adrive(self._check(target, condition, check_version), self._db.client)

    async def __aenter__(self) -> AsyncTransaction:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._state = "abandoned"
            return
        await adrive(self._commit(), self._db.client)


class _AsyncAccounting:
    """The AsyncDB's client for one chunk's flow: each answer's consumed capacity recorded."""

    __slots__ = ("client", "consumed", "db", "kind")

    def __init__(self, db: DBBase, kind: str) -> None:
        self.db = db
        self.client: Any = db.client
        self.kind = kind
        self.consumed: list[Capacity] = []

    async def call(self, operation: str, payload: dict[str, Any], **options: Any) -> Any:
        response = await self.client.call(operation, payload, **options)
        self.consumed.append(self.db._account(response, self.kind, operation))
        return response

    async def sleep(self, seconds: float) -> None:
        await self.client.sleep(seconds)


async def run_chunks(
    db: DBBase,
    operation: str,
    kind: str,
    chunks: Sequence[Sequence[E]],
    *,
    start: Callable[[Sequence[E]], Any],
    parallel: int,
) -> list[ChunkOutcome[E]]:
    """``batch_flow.run_chunks`` on tasks: one flow per chunk, ``parallel`` at a time; once a
    chunk fails, chunks not yet started are not sent."""
    import asyncio

    gate = asyncio.Semaphore(parallel)
    failed = False

    async def run(chunk: Sequence[E]) -> ChunkOutcome[E]:
        nonlocal failed
        async with gate:
            if failed:
                return skipped(chunk)
            accounting = _AsyncAccounting(db, kind)
            outcome = settled(await adrive(start(chunk), accounting), accounting.consumed)
            failed = failed or bool(outcome.failed)
            return outcome

    return list(await asyncio.gather(*(run(chunk) for chunk in chunks)))


class AsyncBatchWriter(BatchWriterBase):
    """``db.batch_write()`` on an ``AsyncDB``: ``async with db.batch_write() as w: await
    w.put(a)``; the same rules as :class:`~dynamorm.BatchWriter` (a block that raises sends
    nothing more; ``25 * parallel`` pending requests flush on their own)."""

    async def put(self, obj: Model, *, check_version: bool = True) -> None:
        """Queue a full-item put (an upsert) of ``obj`` (as ``BatchWriter.put``)."""
        if await adrive(self._put(obj, check_version), self._db.client):
            await self.flush()

    async def delete(self, target: Model | Key[Any], *, check_version: bool = True) -> None:
        """Queue a delete of an instance or a key (as ``BatchWriter.delete``)."""
        if self._delete(target, check_version):
            await self.flush()

    async def flush(self) -> None:
        """Send everything pending; ``BatchIncomplete`` lists what was not written."""
        requests, start = self._take()
        if requests:
            outcomes = await run_chunks(
                self._db,
                "BatchWriteItem",
                "write",
                chunked(requests, WRITE_CHUNK),
                start=start,
                parallel=self._parallel,
            )
            self._flushed(requests, outcomes)

    async def __aenter__(self) -> AsyncBatchWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.flush()
        else:
            self._discard(exc)


async def batch_get(
    db: DBBase,
    model: type[M],
    keys: Iterable[Mapping[str, Any] | Key[M] | M],
    *,
    consistent: bool,
    projection: Sequence[Path[Any]] | None,
    parallel: int | None,
    partial: bool,
) -> BatchGetResult[M]:
    """``AsyncDB.batch_get``: the same job as ``batch.batch_get``, its chunks on tasks."""
    job = get_job(
        db,
        model,
        keys,
        consistent=consistent,
        projection=projection,
        parallel=parallel,
        partial=partial,
    )
    outcomes = await run_chunks(
        db, "BatchGetItem", "read", job.chunks, start=job.start, parallel=job.parallel
    )
    return await adrive(job.finish(db, outcomes), db.client)
