"""The writers of an ``AsyncDB``: ``AsyncTransaction``, ``AsyncBatchWriter``, batch chunks.

A transaction's actions and commit are the flows of ``TransactionBase`` driven by ``adrive``
(``async with db.transaction() as tx: await tx.create(a)``; adding an action is awaited as it
may read a unique field's stored value or take a data key). Batch chunks (of writes, and of
``AsyncDB.batch_get``) run the flows of ``batch_flow`` on tasks instead of threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from dynamorm._io.async_drive import adrive
from dynamorm._orm.batch_flow import ChunkOutcome, Chunks, Entry, settled, skipped
from dynamorm._orm.batch_write import BatchWriterBase
from dynamorm._orm.keys import Key
from dynamorm._orm.model import Model
from dynamorm._orm.results import Capacity
from dynamorm._orm.transaction import TransactionBase

if TYPE_CHECKING:
    from dynamorm._core.expressions import Condition, UpdateAction
    from dynamorm._orm.base import DBBase

E = TypeVar("E", bound=Entry)


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

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        await adrive(self._exit(exc_type), self._db.client)


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


async def run_chunks(db: DBBase, job: Chunks[E]) -> list[ChunkOutcome[E]]:
    """``batch_flow.run_chunks`` on tasks: one flow per chunk, ``job.parallel`` at a time;
    once a chunk fails, chunks not yet started are not sent."""
    import asyncio

    gate = asyncio.Semaphore(job.parallel)
    failed = False

    async def run(chunk: Sequence[E]) -> ChunkOutcome[E]:
        nonlocal failed
        async with gate:
            if failed:
                return skipped(chunk)
            accounting = _AsyncAccounting(db, job.kind)
            outcome = settled(await adrive(job.start(chunk), accounting), accounting.consumed)
            failed = failed or bool(outcome.failed)
            return outcome

    return list(await asyncio.gather(*(run(chunk) for chunk in job.chunks)))


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
        job = self._take()
        if job is not None:
            self._flushed(job, await run_chunks(self._db, job))

    async def __aenter__(self) -> AsyncBatchWriter:
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            await self.flush()
        else:
            self._discard(exc)
