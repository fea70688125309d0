"""The query, batch and transaction methods of ``DB``: each loads its machinery on first use.

Building a DB and reading an item never imports the query, batch or transaction modules (nor
the expression compiler they use): a Lambda cold start pays only for what it runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from dynamorm._orm.base import DBBase

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from typing import Any, overload

    from dynamorm._core.expressions import Path
    from dynamorm._orm.batch import BatchGetResult
    from dynamorm._orm.batch_write import BatchWriter
    from dynamorm._orm.keys import Key, M
    from dynamorm._orm.model import Model
    from dynamorm._orm.query import Query, Scan
    from dynamorm._orm.transaction import ItemList, Transaction
else:

    def overload(function: object) -> object:  # typing.overload; the implementation replaces it
        return function


class QueryMixin(DBBase):
    """The query and scan methods of ``DB``."""

    def query(self, model: type[M]) -> Query[M]:
        """A query on ``model``'s table or one of its indexes; add ``.where(key condition)``."""
        from dynamorm._orm.query import Query

        return Query(self, model)

    def scan(self, model: type[M], *, segments: int | None = None) -> Scan[M]:
        """A scan of ``model``'s table (or an index, with ``.index(name)``).

        ``segments=N`` scans N segments in parallel on worker threads; items then come in the
        order pages arrive, segment by segment. The default is the DB's ``parallelism`` (1,
        or derived from the function's memory on Lambda).
        """
        from dynamorm._orm.query import Scan

        return Scan(self, model, self.default_parallelism if segments is None else segments)


class BatchMixin(DBBase):
    """The batch_get, batch_write methods of ``DB``."""

    def batch_get(
        self,
        model: type[M],
        keys: Iterable[Mapping[str, Any] | Key[M] | M],
        *,
        consistent: bool = False,
        projection: Sequence[Path[Any]] | None = None,
        parallel: int | None = None,
        partial: bool = False,
    ) -> BatchGetResult[M]:
        """Read many items of ``model`` by key with BatchGetItem, 100 keys per request.

        ``keys`` are dicts of key fields by attribute name (``{"merchant_id": "m1",
        "payment_id": "p1"}``), ``key(Model, ...)`` objects and/or instances; a key given twice
        is read once. Unprocessed keys are retried with backoff and full jitter, bounded by the
        retry attempts and the deadline; keys still unread raise ``BatchIncomplete``
        (``BatchDeadlineExceeded`` at the deadline) carrying the partial result, or with
        ``partial=True`` come back in ``.unprocessed`` (a non-retryable error still raises).
        ``projection`` lists attribute paths (the key is always included); ``parallel`` sends
        up to N requests at once (default: the DB's ``parallelism``).
        """
        from dynamorm._io.drive import drive
        from dynamorm._orm.batch import get_job
        from dynamorm._orm.batch_flow import run_chunks

        job = get_job(
            self,
            model,
            keys,
            consistent=consistent,
            projection=projection,
            parallel=parallel,
            partial=partial,
        )
        return drive(job.finish(self, run_chunks(self, job)), self.client)

    def batch_write(self, *, parallel: int | None = None) -> BatchWriter:
        """A writer for many puts and deletes across models and tables (BatchWriteItem, 25 per
        request): ``with db.batch_write() as w: w.put(a); w.delete(b)``.

        ``parallel`` sends up to N requests at once (and auto-flushes every ``25 * N``
        requests); the default is the DB's ``parallelism``. See :class:`BatchWriter` for the
        failure rules.
        """
        from dynamorm._orm.batch_write import BatchWriter

        return BatchWriter(
            self, parallel=self.default_parallelism if parallel is None else parallel
        )


class TransactionMixin(DBBase):
    """The transaction, transact_get methods of ``DB``."""

    def transaction(self, *, token: str | None = None) -> Transaction:
        """A write transaction: ``with db.transaction() as tx: tx.create(a); tx.update(b, ...)``.

        ``token`` is the ClientRequestToken (default: a new UUID); reuse one to make a retried
        commit idempotent across invocations (DynamoDB remembers it for 10 minutes).
        """
        from dynamorm._orm.transaction import Transaction

        return Transaction(self, token)

    @overload
    def transact_get(
        self, targets: Sequence[Key[M] | M | tuple[type[M], Mapping[str, Any]]]
    ) -> ItemList[M | None]: ...
    @overload
    def transact_get(  # noqa: F811  # pyright: ignore[reportOverlappingOverload]  # mypy needs it for mixes
        self, targets: Sequence[Key[Any] | Model | tuple[type[Model], Mapping[str, Any]]]
    ) -> ItemList[Any]: ...
    def transact_get(  # noqa: F811 - overloads (typing.overload outside type checking)
        self, targets: Sequence[Key[Any] | Model | tuple[type[Model], Mapping[str, Any]]]
    ) -> ItemList[Any]:
        """Read up to 100 items in one consistent snapshot; None for a missing item.

        Targets are keys (``dynamorm.key(...)``), instances or ``(Model, {key values})``;
        with several models the result is typed ``ItemList[Any]``.
        """
        from dynamorm._io.drive import drive
        from dynamorm._orm.transaction import transact_get

        return drive(transact_get(self, targets), self.client)
