"""The unprocessed-item retry flows of BatchGetItem and BatchWriteItem, written once.

A flow handles one chunk (at most 100 keys or 25 writes). It is a generator that does no I/O:
it yields :class:`~dynamorm._core.steps.Call` (send this payload, send me the response back) and
:class:`~dynamorm._core.steps.Sleep` (back off this long) steps, and returns a
:class:`ChunkOutcome`. A failed call is thrown into the flow, which records it and ends.
:func:`~dynamorm._io.drive.drive` runs a flow with blocking calls, and
:func:`~dynamorm._io.async_drive.adrive` the same flows with awaitables.

Items DynamoDB returns as unprocessed are retried with exponential backoff and full jitter
(``RetryPolicy.delay``), bounded by the policy's attempts and by the time ``remaining()``. An
answer that made progress (DynamoDB splits large batches by size) starts the count and the
backoff again: only attempts in a row that made none count against ``max_attempts``. Whatever
is still unprocessed is reported in the outcome, never dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dynamorm._core.errors import DeadlineExceeded, DynamORMError
from dynamorm._core.steps import Call, Sleep
from dynamorm._io.drive import drive
from dynamorm._orm.results import Capacity

if TYPE_CHECKING:
    from dynamorm._core.retry import RetryPolicy
    from dynamorm._orm.base import DBBase

GET_CHUNK = 100
WRITE_CHUNK = 25

AV = dict[str, Any]
Ident = tuple[Any, ...]


def key_ident(item: Mapping[str, AV], names: Sequence[str]) -> Ident:
    """A hashable identity of an item's primary key (numbers compare by value, as in DynamoDB)."""
    out: list[Any] = []
    for name in names:
        ((tag, raw),) = item[name].items()
        out.append((tag, Decimal(raw) if tag == "N" else raw))
    return tuple(out)


class Entry:
    """One key to read or one request to write, in one physical table."""

    __slots__ = ("ident", "table", "wire")

    def __init__(self, table: str, ident: Ident, wire: dict[str, Any]) -> None:
        self.table: str = table
        self.ident: Ident = ident
        self.wire: dict[str, Any] = wire


class GetKey(Entry):
    """One key of a batch_get, and the position it was first asked for at."""

    __slots__ = ("position",)

    def __init__(self, table: str, key: dict[str, AV], names: Sequence[str], position: int) -> None:
        super().__init__(table, key_ident(key, names), key)
        self.position = position


E = TypeVar("E", bound=Entry)


Step = Call | Sleep


class ChunkOutcome(Generic[E]):
    """What one chunk achieved: entries ``done`` (written, or answered for a read), ``found``
    items of a read, and ``failed`` entries with the reason (``error``, ``deadline``, or
    ``skipped``: not started because another chunk had failed)."""

    __slots__ = ("attempts", "consumed", "deadline", "done", "error", "failed", "found", "skipped")

    def __init__(self) -> None:
        self.done: list[E] = []
        self.found: list[tuple[E, dict[str, AV]]] = []
        self.failed: list[E] = []
        self.error: DynamORMError | None = None
        self.deadline = False
        self.attempts = 0
        self.skipped = False
        self.consumed = Capacity()

    def stop(
        self, failed: list[E], *, error: DynamORMError | None = None, deadline: bool = False
    ) -> ChunkOutcome[E]:
        self.failed = failed
        self.error = error
        self.deadline = deadline
        return self


def _flow(
    entries: Sequence[E],
    body: Callable[[Sequence[E]], dict[str, Any]],
    answer: Callable[[dict[str, Any], ChunkOutcome[E], dict[tuple[str, Ident], E]], set[Any]],
    retry: RetryPolicy,
    remaining: Callable[[], float | None],
    *,
    operation: str,
) -> Generator[Step, dict[str, Any], ChunkOutcome[E]]:
    outcome: ChunkOutcome[E] = ChunkOutcome()
    pending = list(entries)
    stalled = 0  # attempts in a row that wrote/read nothing; progress always terminates
    while True:
        left = remaining()
        if left is not None and left <= 0:
            return outcome.stop(pending, deadline=True)
        outcome.attempts += 1
        try:
            response = yield Call(operation, body(pending))
        except DynamORMError as exc:
            return outcome.stop(pending, error=exc, deadline=isinstance(exc, DeadlineExceeded))
        by_key = {(e.table, e.ident): e for e in pending}
        unprocessed = answer(response, outcome, by_key)
        still = [e for e in pending if (e.table, e.ident) in unprocessed]
        outcome.done += [e for e in pending if (e.table, e.ident) not in unprocessed]
        if not still:
            return outcome
        stalled = stalled + 1 if len(still) == len(pending) else 1
        pending = still
        left = remaining()
        wait = retry.delay(stalled, left)
        if wait is None:
            deadline = left is not None and stalled < retry.max_attempts
            return outcome.stop(pending, deadline=deadline)
        yield Sleep(wait)


def _grouped(entries: Sequence[E]) -> dict[str, list[E]]:
    groups: dict[str, list[E]] = {}
    for entry in entries:
        groups.setdefault(entry.table, []).append(entry)
    return groups


def write_flow(
    entries: Sequence[E],
    key_names: Mapping[str, Sequence[str]],
    retry: RetryPolicy,
    remaining: Callable[[], float | None],
) -> Generator[Step, dict[str, Any], ChunkOutcome[E]]:
    """BatchWriteItem for one chunk; ``entry.wire`` is a ``PutRequest``/``DeleteRequest``."""

    def body(pending: Sequence[E]) -> dict[str, Any]:
        items = {t: [e.wire for e in group] for t, group in _grouped(pending).items()}
        return {"RequestItems": items, "ReturnConsumedCapacity": "TOTAL"}

    def answer(
        response: dict[str, Any], outcome: ChunkOutcome[E], by_key: dict[tuple[str, Ident], E]
    ) -> set[Any]:
        left: set[Any] = set()
        for table, requests in (response.get("UnprocessedItems") or {}).items():
            names = key_names.get(table)
            if names is None:
                continue
            for request in requests:
                put = request.get("PutRequest")
                key = put["Item"] if put is not None else request["DeleteRequest"]["Key"]
                left.add((table, key_ident(key, names)))
        return left

    return _flow(entries, body, answer, retry, remaining, operation="BatchWriteItem")


def get_flow(
    entries: Sequence[E],
    key_names: Mapping[str, Sequence[str]],
    options: Mapping[str, dict[str, Any]],
    retry: RetryPolicy,
    remaining: Callable[[], float | None],
) -> Generator[Step, dict[str, Any], ChunkOutcome[E]]:
    """BatchGetItem for one chunk; ``entry.wire`` is a key, ``options`` per-table extras
    (``ConsistentRead``, ``ProjectionExpression``, ...). Found items go to ``outcome.found``."""

    def body(pending: Sequence[E]) -> dict[str, Any]:
        items = {
            t: {"Keys": [e.wire for e in group], **options.get(t, {})}
            for t, group in _grouped(pending).items()
        }
        return {"RequestItems": items, "ReturnConsumedCapacity": "TOTAL"}

    def answer(
        response: dict[str, Any], outcome: ChunkOutcome[E], by_key: dict[tuple[str, Ident], E]
    ) -> set[Any]:
        for table, items in (response.get("Responses") or {}).items():
            names = key_names.get(table)
            if names is None:
                continue
            for item in items:
                entry = by_key.get((table, key_ident(item, names)))
                if entry is not None:
                    outcome.found.append((entry, item))
        left: set[Any] = set()
        for table, spec in (response.get("UnprocessedKeys") or {}).items():
            names = key_names.get(table)
            if names is None:
                continue
            left.update((table, key_ident(key, names)) for key in spec.get("Keys", ()))
        return left

    return _flow(entries, body, answer, retry, remaining, operation="BatchGetItem")


class _Accounting:
    """The DB's client for one chunk's flow: each answer's consumed capacity is recorded."""

    __slots__ = ("client", "consumed", "db", "kind")

    def __init__(self, db: DBBase, kind: str) -> None:
        self.db = db
        self.client = db.client
        self.kind = kind
        self.consumed: list[Capacity] = []

    def call(self, operation: str, payload: dict[str, Any], **options: Any) -> dict[str, Any]:
        response = self.client.call(operation, payload, **options)
        self.consumed.append(self.db._account(response, self.kind, operation))
        return response

    def sleep(self, seconds: float) -> None:
        self.client.sleep(seconds)


def skipped(chunk: Sequence[E]) -> ChunkOutcome[E]:
    """The outcome of a chunk not started because another one had failed."""
    outcome = ChunkOutcome[E]().stop(list(chunk))
    outcome.skipped = True
    return outcome


def settled(outcome: ChunkOutcome[E], consumed: list[Capacity]) -> ChunkOutcome[E]:
    """``outcome`` with the capacity its answers consumed."""
    for capacity in consumed:
        outcome.consumed = outcome.consumed + capacity
    return outcome


class Chunks(Generic[E]):
    """A batch ready to send: its ``entries`` in ``chunks`` of ``size``, the flow of one chunk
    (``start``) and how many chunks run at once; ``operation`` is BatchGetItem or
    BatchWriteItem. ``run_chunks`` runs it on threads, ``async_writes.run_chunks`` on tasks."""

    def __init__(
        self,
        operation: str,
        entries: list[E],
        size: int,
        start: Callable[[Sequence[E]], Generator[Step, dict[str, Any], ChunkOutcome[E]]],
        parallel: int,
    ) -> None:
        self.operation = operation
        self.kind = "read" if operation == "BatchGetItem" else "write"
        self.entries = entries
        self.chunks = chunked(entries, size)
        self.start = start
        self.parallel = parallel


def run_chunks(db: DBBase, job: Chunks[E]) -> list[ChunkOutcome[E]]:
    """Run one flow per chunk, ``job.parallel`` at a time, through ``db.client``.

    Consumed capacity is added to the DB's total and to each outcome. Once a chunk fails, chunks
    not yet started are not sent (they come back failed, with no attempts).
    """
    stopped = threading.Event()
    chunks = job.chunks

    def run(chunk: Sequence[E]) -> ChunkOutcome[E]:
        if stopped.is_set():
            return skipped(chunk)
        accounting = _Accounting(db, job.kind)
        outcome = settled(drive(job.start(chunk), accounting), accounting.consumed)
        if outcome.failed:
            stopped.set()
        return outcome

    if job.parallel <= 1 or len(chunks) <= 1:
        return [run(chunk) for chunk in chunks]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(job.parallel, len(chunks))) as pool:
        return list(pool.map(run, chunks))


def chunked(entries: Sequence[E], size: int) -> list[Sequence[E]]:
    """``entries`` in consecutive chunks of at most ``size``."""
    return [entries[i : i + size] for i in range(0, len(entries), size)]
