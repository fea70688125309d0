"""``AsyncDB``: the ``DB`` surface, awaitable, for asyncio code.

Every method builds the same flow the ``DB`` method drives (``crud``, ``exactly_once``,
``transaction``, ``_pages``, ``batch_flow``, ``tables``) and runs it with ``adrive`` over an
``AsyncClient``: one implementation of each multi-step flow, two drivers. This module (and
asyncio) loads on first use of ``dynamorm.AsyncDB``, never on ``import dynamorm``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Literal, Never, overload

from dynamorm._io.async_client import AsyncClient
from dynamorm._io.async_drive import adrive
from dynamorm._orm.base import DBBase
from dynamorm._orm.crud import (
    create_flow,
    delete_flow,
    get_flow,
    get_request,
    put_flow,
    save_flow,
    update_flow,
)
from dynamorm._orm.db import configure

if TYPE_CHECKING:
    from datetime import datetime

    from dynamorm._core.expressions import Condition, Path, UpdateAction
    from dynamorm._core.retry import RetryPolicy
    from dynamorm._features.audit import AuditRecord
    from dynamorm._features.encryption import DataKeyPolicy
    from dynamorm._io.async_transport import AsyncTransport
    from dynamorm._io.events import Hook
    from dynamorm._orm.async_query import AsyncQuery, AsyncScan
    from dynamorm._orm.async_writes import AsyncBatchWriter, AsyncTransaction
    from dynamorm._orm.batch import BatchGetResult
    from dynamorm._orm.keys import Key, M
    from dynamorm._orm.model import Model
    from dynamorm._orm.tables import Billing, Progress, StreamView, TableReport
    from dynamorm._orm.transaction import ItemList


class AsyncDB(DBBase):
    """A handle on DynamoDB for one account and region, for asyncio code: the options and
    methods of :class:`~dynamorm.DB`, each I/O method awaitable. ``async with AsyncDB(...) as
    db:`` closes its connections on exit (or ``await db.close()``)."""

    client: AsyncClient  # type: ignore[assignment]  # DBBase's is the blocking Client
    """The ``AsyncClient``: ``await db.client.call("GetItem", {...})`` for raw DynamoDB JSON."""

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        credentials: Any = None,
        table_prefix: str = "",
        retry: RetryPolicy | None = None,
        timeout: float | tuple[float, float] | None = None,
        transport: AsyncTransport | None = None,
        cursor_secret: str | bytes | None = None,
        hooks: Iterable[Hook] = (),
        page_size: int | None = None,
        parallelism: int | None = None,
        kms_key_arn: str | None = None,
        kms_endpoint_url: str | None = None,
        data_keys: DataKeyPolicy | None = None,
    ) -> None:
        configure(
            self,
            AsyncClient,
            region=region,
            endpoint_url=endpoint_url,
            credentials=credentials,
            table_prefix=table_prefix,
            retry=retry,
            timeout=timeout,
            transport=transport,
            cursor_secret=cursor_secret,
            hooks=hooks,
            page_size=page_size,
            parallelism=parallelism,
            kms_key_arn=kms_key_arn,
            kms_endpoint_url=kms_endpoint_url,
            data_keys=data_keys,
        )

    # --- tables (the flows of dynamorm._orm.tables; waits are awaited sleeps) -----------------

    async def create_table(
        self,
        model: type[Model],
        *,
        billing: Billing = "PAY_PER_REQUEST",
        throughput: tuple[int, int] = (5, 5),
        stream: StreamView | None = None,
        wait: bool = True,
        timeout: float = 300.0,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Create ``model``'s table with its indexes, stream and TTL (as ``DB.create_table``)."""
        from dynamorm._orm import tables

        return await adrive(
            tables.create_table(
                self,
                model,
                billing=billing,
                throughput=throughput,
                stream=stream,
                wait=wait,
                timeout=timeout,
                progress=progress,
            ),
            self.client,
        )

    async def ensure_tables(
        self,
        *models: type[Model],
        timeout: float = 300.0,
        billing: Billing | None = None,
        stream: StreamView | Literal["off"] | None = None,
        progress: Progress | None = None,
    ) -> list[TableReport]:
        """Create missing tables, add missing GSIs, enable TTL (as ``DB.ensure_tables``)."""
        from dynamorm._orm import tables

        return await adrive(
            tables.ensure_tables(
                self, models, timeout=timeout, billing=billing, stream=stream, progress=progress
            ),
            self.client,
        )

    async def diff_tables(
        self,
        *models: type[Model],
        billing: Billing | None = None,
        stream: StreamView | Literal["off"] | None = None,
    ) -> list[TableReport]:
        """Compare each model with its table, changing nothing (as ``DB.diff_tables``)."""
        from dynamorm._orm import tables

        return await adrive(
            tables.diff_tables(self, models, billing=billing, stream=stream), self.client
        )

    async def delete_table(
        self,
        model: type[Model],
        *,
        wait: bool = True,
        timeout: float = 300.0,
        progress: Progress | None = None,
    ) -> None:
        """Delete ``model``'s table; with ``wait``, return once it is gone."""
        from dynamorm._orm import tables

        await adrive(
            tables.delete_table(self, model, wait=wait, timeout=timeout, progress=progress),
            self.client,
        )

    async def describe_table(self, model: type[Model]) -> dict[str, Any]:
        """DynamoDB's description of ``model``'s table."""
        from dynamorm._orm import tables

        return await adrive(tables.describe_table(self, model), self.client)

    # --- items ---------------------------------------------------------------------------------

    async def create(self, obj: M, *, condition: Condition | None = None) -> M:
        """Write a new item (as ``DB.create``): never overwrites, ``AlreadyExists`` if present."""
        return await adrive(create_flow(self, obj, condition), self.client)

    async def put(
        self, obj: M, *, condition: Condition | None = None, check_version: bool = True
    ) -> M:
        """Create or replace the item's declared fields (as ``DB.put``)."""
        return await adrive(put_flow(self, obj, condition, check_version), self.client)

    async def get(
        self,
        model: type[M] | Key[M],
        *args: Never,
        consistent: bool = False,
        projection: Sequence[Path[Any]] | None = None,
        **key: Any,
    ) -> M:
        """The item with the given key (as ``DB.get``); raises ``NotFound``."""
        target, payload, wanted = get_request(
            self, model, args, key, consistent=consistent, projection=projection
        )
        return await adrive(get_flow(self, target, payload, wanted), self.client)

    async def update(
        self,
        target: M | Key[M],
        *actions: UpdateAction,
        condition: Condition | None = None,
        check_version: bool = True,
    ) -> M:
        """Apply update actions to an existing item and return it as stored (as
        ``DB.update``)."""
        return await adrive(
            update_flow(self, target, actions, condition, check_version), self.client
        )

    async def save(self, obj: M, *, condition: Condition | None = None) -> M:
        """Write only what changed (as ``DB.save``)."""
        return await adrive(save_flow(self, obj, condition), self.client)

    async def delete(
        self,
        target: M | Key[M],
        *,
        condition: Condition | None = None,
        check_version: bool = True,
    ) -> None:
        """Delete the item (as ``DB.delete``)."""
        await adrive(delete_flow(self, target, condition, check_version), self.client)

    # --- queries, batches, transactions -------------------------------------------------------

    def query(self, model: type[M]) -> AsyncQuery[M]:
        """A query (as ``DB.query``): ``async for item in q``, ``await q.page()``."""
        from dynamorm._orm.async_query import AsyncQuery

        return AsyncQuery(self, model)

    def scan(self, model: type[M], *, segments: int | None = None) -> AsyncScan[M]:
        """A scan (as ``DB.scan``); ``segments=N`` scans N segments concurrently."""
        from dynamorm._orm.async_query import AsyncScan

        return AsyncScan(self, model, self.default_parallelism if segments is None else segments)

    async def batch_get(
        self,
        model: type[M],
        keys: Iterable[Mapping[str, Any] | Key[M] | M],
        *,
        consistent: bool = False,
        projection: Sequence[Path[Any]] | None = None,
        parallel: int | None = None,
        partial: bool = False,
    ) -> BatchGetResult[M]:
        """Read many items by key with BatchGetItem (as ``DB.batch_get``); ``parallel``
        requests run as concurrent tasks."""
        from dynamorm._orm.async_writes import run_chunks
        from dynamorm._orm.batch import get_job

        job = get_job(
            self,
            model,
            keys,
            consistent=consistent,
            projection=projection,
            parallel=parallel,
            partial=partial,
        )
        return await adrive(job.finish(self, await run_chunks(self, job)), self.client)

    def batch_write(self, *, parallel: int | None = None) -> AsyncBatchWriter:
        """A batch writer: ``async with db.batch_write() as w: await w.put(a)``."""
        from dynamorm._orm.async_writes import AsyncBatchWriter

        return AsyncBatchWriter(
            self, parallel=self.default_parallelism if parallel is None else parallel
        )

    def transaction(self, *, token: str | None = None) -> AsyncTransaction:
        """A write transaction: ``async with db.transaction() as tx: await tx.create(a)``."""
        from dynamorm._orm.async_writes import AsyncTransaction

        return AsyncTransaction(self, token)

    @overload
    async def transact_get(
        self, targets: Sequence[Key[M] | M | tuple[type[M], Mapping[str, Any]]]
    ) -> ItemList[M | None]: ...
    @overload
    async def transact_get(  # pyright: ignore[reportOverlappingOverload]
        self, targets: Sequence[Key[Any] | Model | tuple[type[Model], Mapping[str, Any]]]
    ) -> ItemList[Any]: ...
    async def transact_get(
        self, targets: Sequence[Key[Any] | Model | tuple[type[Model], Mapping[str, Any]]]
    ) -> ItemList[Any]:
        """Read up to 100 items in one consistent snapshot (as ``DB.transact_get``)."""
        from dynamorm._orm.transaction import transact_get

        return await adrive(transact_get(self, targets), self.client)

    # --- audit trail ---------------------------------------------------------------------------

    def audit_history(
        self,
        target: Any,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        record: type[AuditRecord] | None = None,
    ) -> AsyncQuery[AuditRecord]:
        """The audit records of one item, newest first (as ``DB.audit_history``)."""
        from dynamorm._features.audit_query import history

        return history(self, target, since=since, until=until, record=record, reader=self.query)

    def audit_by_actor(
        self,
        actor: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        record: type[AuditRecord] | None = None,
    ) -> AsyncQuery[AuditRecord]:
        """The records of one actor (index ``by-actor``), newest first."""
        from dynamorm._features.audit_query import by_actor

        return by_actor(actor, since=since, until=until, record=record, reader=self.query)

    async def audit_between(
        self, since: datetime, until: datetime, *, record: type[AuditRecord] | None = None
    ) -> AsyncIterator[AuditRecord]:
        """Every record from ``since`` to ``until`` (index ``by-time``), oldest first:
        ``async for record in db.audit_between(...)``."""
        from dynamorm._features.audit_query import days

        for query in days(self.query, since, until, record=record):
            async for found in query:
                yield found

    async def audit_export(
        self,
        out: IO[str],
        since: datetime,
        until: datetime,
        *,
        format: Literal["jsonl", "csv"] = "jsonl",
        record: type[AuditRecord] | None = None,
    ) -> int:
        """Stream the records from ``since`` to ``until`` to ``out`` as JSON Lines or CSV;
        return the count."""
        from dynamorm._features.audit_query import Exporter

        exporter = Exporter(out, format)
        async for found in self.audit_between(since, until, record=record):
            exporter.write(found)
        return exporter.count

    # --- connections ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close idle connections. The DB stays usable; connections reopen on demand."""
        await self.client.aclose()

    async def __aenter__(self) -> AsyncDB:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"AsyncDB(region={self.region!r}, endpoint_url={self.client.endpoint.url!r}, "
            f"table_prefix={self.table_prefix!r})"
        )
