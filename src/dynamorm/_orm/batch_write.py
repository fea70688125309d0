"""The batch writer: puts and deletes sent with BatchWriteItem, 25 per request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from dynamorm._core.errors import (
    BatchDeadlineExceeded,
    BatchIncomplete,
    ConfigurationError,
    ValidationError,
)
from dynamorm._io.drive import drive
from dynamorm._orm.batch_flow import (
    WRITE_CHUNK,
    ChunkOutcome,
    Chunks,
    Entry,
    key_ident,
    run_chunks,
    write_flow,
)
from dynamorm._orm.crud import NOTHING, sealing
from dynamorm._orm.keys import Key
from dynamorm._orm.meta import Item, ModelMeta
from dynamorm._orm.results import Capacity
from dynamorm._orm.writes import batch_put_written, refuse_batch, stamp_for_batch_put

if TYPE_CHECKING:
    from dynamorm._core.steps import Flow
    from dynamorm._orm.base import DBBase
    from dynamorm._orm.model import Model


class WriteRequest(Entry):
    """One put or delete of a batch write, as ``BatchIncomplete.unprocessed`` reports it.

    ``action`` is ``"put"`` or ``"delete"``; ``obj`` what was given (the instance, or the
    ``Key`` of a delete by key); ``model`` its model class; ``key`` the primary key by attribute
    name; ``table`` the physical table. Retry with ``w.put(r.obj)`` or ``w.delete(r.obj)``.
    """

    __slots__ = ("_key", "action", "model", "obj", "stamps")

    def __init__(
        self,
        action: Literal["put", "delete"],
        meta: ModelMeta,
        table: str,
        obj: Model | Key[Any],
        key: Item,
    ) -> None:
        names = [f.stored for f in meta.key_fields]
        wire = {"DeleteRequest": {"Key": key}} if action == "delete" else {}
        super().__init__(table, key_ident(key, names), wire)
        self.action: Literal["put", "delete"] = action
        self.model: type[Model] = meta.model
        self.obj: Model | Key[Any] = obj
        self._key = key
        self.stamps: dict[str, Any] = {}

    @property
    def key(self) -> dict[str, Any]:
        """The primary key by attribute name."""
        return key_values(self.model.__meta__, self._key)

    def __repr__(self) -> str:
        key = ", ".join(f"{name}={value!r}" for name, value in self.key.items())
        return f"WriteRequest({self.action} {self.model.__name__}({key}))"


def key_values(meta: ModelMeta, item: Item) -> dict[str, Any]:
    """The primary key values of an encoded item or key, by attribute name."""
    return {f.name: f.decode(item[f.stored]) for f in meta.key_fields}


def describe(requests: list[Any], limit: int = 3) -> str:
    """The first few of ``requests`` for a message: ``a, b, c and 4 more``."""
    shown = ", ".join(repr(r) for r in requests[:limit])
    more = len(requests) - limit
    return f"{shown} and {more} more" if more > 0 else shown


class BatchWriterBase:
    """What ``BatchWriter`` and ``AsyncBatchWriter`` share: the queue and its checks, the
    chunks a flush sends and what its outcomes mean."""

    def __init__(self, db: DBBase, *, parallel: int = 1) -> None:
        if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
            raise ConfigurationError(f"parallel must be an int >= 1, got {parallel!r}")
        self._db = db
        self._parallel = parallel
        self._pending: dict[tuple[str, Any], WriteRequest] = {}
        self._key_names: dict[str, tuple[str, ...]] = {}
        self.written: int = 0
        """Requests written so far (all flushes)."""
        self.consumed: Capacity = Capacity()
        """Capacity consumed by this writer's requests so far."""

    @property
    def pending(self) -> int:
        """Requests added and not yet sent."""
        return len(self._pending)

    def _put(self, obj: Model, check_version: bool) -> Flow[bool]:
        """Queue a put (a data key first for encrypted fields); True when a flush is due."""
        meta = self._db._meta(obj)
        refuse_batch(meta)
        request = WriteRequest("put", meta, self._db._table(meta), obj, meta.key(obj))
        self._check(meta, request)
        with (yield sealing(self._db, meta)) if meta.encrypted else NOTHING:
            item, request.stamps = stamp_for_batch_put(
                meta, obj, self._db.clock(), check_version=check_version
            )
        request.wire = {"PutRequest": {"Item": item}}
        return self._add(meta, request)

    def _delete(self, target: Model | Key[Any], check_version: bool) -> bool:
        """Queue a delete; True when a flush is due."""
        if isinstance(target, Key):
            meta, stored = target.meta, target.item
        elif isinstance(target, type):
            name = target.__name__
            raise ValidationError(
                f"delete() takes an instance or key({name}, ...), not the class {name}", path=name
            )
        else:
            meta = self._db._meta(target)
            stored = meta.key(target)
        refuse_batch(meta)
        if check_version and meta.version is not None:
            raise ValidationError(
                f"{meta.name} has a version field ({meta.version.name}) and a batch delete "
                "cannot check it; delete it with db.delete() or a transaction, or pass "
                "check_version=False to delete without the check",
                path=meta.version.where,
            )
        request = WriteRequest("delete", meta, self._db._table(meta), target, stored)
        self._check(meta, request)
        return self._add(meta, request)

    def _check(self, meta: ModelMeta, request: WriteRequest) -> None:
        earlier = self._pending.get((request.table, request.ident))
        if earlier is not None:
            raise ValidationError(
                f"{request!r}: the key is already in this batch ({earlier!r}); DynamoDB rejects "
                "two requests for one key in a BatchWriteItem, so flush() before writing it again",
                path=meta.name,
            )

    def _add(self, meta: ModelMeta, request: WriteRequest) -> bool:
        self._key_names.setdefault(request.table, tuple(f.stored for f in meta.key_fields))
        self._pending[request.table, request.ident] = request
        return len(self._pending) >= WRITE_CHUNK * self._parallel

    def _take(self) -> Chunks[WriteRequest] | None:
        """The pending requests (now taken) as chunks to send; None if there are none."""
        if not self._pending:
            return None
        requests = list(self._pending.values())
        self._pending.clear()
        client = self._db.client
        retry, remaining, names = client.retry, client.remaining, dict(self._key_names)
        return Chunks(
            "BatchWriteItem",
            requests,
            WRITE_CHUNK,
            lambda chunk: write_flow(chunk, names, retry, remaining),
            self._parallel,
        )

    def _flushed(
        self, job: Chunks[WriteRequest], outcomes: list[ChunkOutcome[WriteRequest]]
    ) -> None:
        """Count what a flush wrote and update its instances; ``BatchIncomplete`` for the rest."""
        requests = job.entries
        failed: list[WriteRequest] = []
        for outcome in outcomes:
            self.consumed = self.consumed + outcome.consumed
            self.written += len(outcome.done)
            for request in outcome.done:
                if request.action == "put":
                    item = request.wire["PutRequest"]["Item"]
                    batch_put_written(request.model.__meta__, request.obj, item, request.stamps)
            failed += outcome.failed
        if failed:
            order = {id(r): i for i, r in enumerate(requests)}
            failed.sort(key=lambda r: order[id(r)])
            what = f"BatchWriteItem: {len(failed)} request(s) not written"
            raise incomplete(what, outcomes, failed, written=self.written)

    def _discard(self, exc: BaseException) -> None:
        """A block that raised: nothing more is sent, the pending requests are dropped."""
        if self._pending:
            exc.add_note(
                f"dynamorm: the batch writer discarded {len(self._pending)} unsent request(s) "
                "because its block raised"
            )
            self._pending.clear()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pending={len(self._pending)}, written={self.written})"


class BatchWriter(BatchWriterBase):
    """Collects puts and deletes and sends them with BatchWriteItem, 25 per request.

    Use it as ``with db.batch_write() as w:`` (flushed when the block ends normally; a block that
    raises sends nothing more and discards what is pending) or call :meth:`flush` yourself.
    Pending requests are flushed automatically whenever ``25 * parallel`` are waiting, so memory
    stays bounded; what an automatic flush wrote stays written if something later fails.
    Not thread safe: use one writer per thread.
    """

    def put(self, obj: Model, *, check_version: bool = True) -> None:
        """Queue a full-item put (an upsert) of ``obj``, stamped like ``db.put``.

        BatchWriteItem cannot carry conditions, so versioned models are refused unless
        ``check_version=False`` (then the version is bumped without a check).
        """
        if drive(self._put(obj, check_version), self._db.client):
            self.flush()

    def delete(self, target: Model | Key[Any], *, check_version: bool = True) -> None:
        """Queue a delete of an instance, or of a key: ``w.delete(key(Payment, merchant_id="m1",
        payment_id="p1"))``.

        Versioned models are refused unless ``check_version=False`` (the delete cannot be
        conditioned on the version).
        """
        if self._delete(target, check_version):
            self.flush()

    def flush(self) -> None:
        """Send everything pending; raise ``BatchIncomplete`` listing what was not written.

        Unprocessed items are retried with backoff and full jitter, bounded by the client's
        retry attempts and deadline. After a failure no further chunk is sent; the error's
        ``unprocessed`` lists exactly the requests of this flush that were not written (a
        ``BatchDeadlineExceeded`` when the deadline stopped it).
        """
        job = self._take()
        if job is not None:
            self._flushed(job, run_chunks(self._db, job))

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.flush()
        else:
            self._discard(exc)


def incomplete(
    what: str,
    outcomes: Sequence[ChunkOutcome[Any]],
    unprocessed: list[Any],
    *,
    written: int = 0,
    result: Any = None,
) -> BatchIncomplete:
    """The error for a batch whose ``unprocessed`` entries were not done, ``what`` naming them.

    The reason is the first chunk that failed on its own (others were not started after it).
    """
    cause = next(o for o in outcomes if o.failed and not o.skipped)
    message = f"{what} ({describe(unprocessed)})"
    if cause.error is not None:
        message += f": {cause.error}"
    elif cause.deadline:
        message += f": the deadline leaves no time for attempt {cause.attempts + 1}"
    else:
        message += f": still unprocessed after {cause.attempts} attempts"
    if written:
        message += f"; {written} written"
    kind = BatchDeadlineExceeded if cause.deadline else BatchIncomplete
    error = kind(
        message, unprocessed=unprocessed, written=written, error=cause.error, result=result
    )
    error.__cause__ = cause.error
    return error
