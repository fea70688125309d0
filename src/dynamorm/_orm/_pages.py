"""Pages and the pagination loops behind queries and scans.

The loops are written once for every reader: one request per page and segment, the deadline
checked before each request, items capped at the reader's limit (the cursor then resumes right
after the last item delivered), and parallel scans run by a few worker threads feeding a small
bounded queue, so memory stays constant however large the table is. Item pages are fetched as
raw bytes and decoded straight to instances by the plan's page decoder (msgspec for large pages,
see ``fast_decode``); only ``Select=COUNT`` pages go through the JSON-decoding ``Client.call``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from dynamorm._core.errors import DeadlineExceeded, DynamORMError, ProtocolError
from dynamorm._core.steps import Blocking, Call
from dynamorm._io.drive import drive
from dynamorm._orm._cursor import CursorCodec, Key, State
from dynamorm._orm.results import Capacity

if TYPE_CHECKING:
    from dynamorm._core.steps import Flow
    from dynamorm._orm.base import DBBase
    from dynamorm._orm.fast_decode import DecodedPage

M = TypeVar("M")

MAX_WORKERS = 16
"""Threads a parallel scan uses at most (segments beyond that wait for a free worker)."""

_POLL = 0.05  # seconds a worker waits on the full queue before checking for a stop


class Page(Generic[M]):
    """One page of a query or scan.

    ``items`` are model instances; ``cursor`` resumes after this page (None when there is no
    more); ``consumed`` is the capacity the page's request(s) used; ``count`` and
    ``scanned_count`` are DynamoDB's counts of items matched and evaluated. A filtered page may
    hold fewer items than its limit, even none, and still have a cursor.
    """

    __slots__ = ("consumed", "count", "cursor", "items", "scanned_count")

    def __init__(
        self,
        items: list[M],
        cursor: str | None,
        consumed: Capacity,
        count: int,
        scanned_count: int,
    ) -> None:
        self.items: list[M] = items
        self.cursor: str | None = cursor
        self.consumed: Capacity = consumed
        self.count: int = count
        self.scanned_count: int = scanned_count

    def __iter__(self) -> Iterator[M]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        more = ", more" if self.cursor else ""
        return f"Page({len(self.items)} items, scanned {self.scanned_count}{more}, {self.consumed})"


class Plan(Generic[M]):
    """A query or scan ready to send page by page: its fixed payload and how to read results.

    ``decode`` turns a raw response body into a decoded page; ``resume`` gives the key to
    resume after one of its items (its table key, plus the index key when reading an index).
    """

    __slots__ = (
        "codec",
        "counting",
        "decode",
        "filtered",
        "operation",
        "payload",
        "resume",
        "sealed",
        "what",
    )

    def __init__(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        codec: CursorCodec,
        decode: Callable[[bytes], DecodedPage[M]],
        resume: Callable[[M], Key],
        filtered: bool,
        counting: bool,
        what: str,
        sealed: bool = False,
    ) -> None:
        self.operation = operation
        self.sealed = sealed
        """Items with encrypted fields: decoding may open data keys (KMS), a blocking step."""
        self.payload = payload
        self.codec = codec
        self.decode = decode
        self.resume = resume
        self.filtered = filtered
        self.counting = counting
        self.what = what


class _Fetched(Generic[M]):
    __slots__ = ("consumed", "count", "items", "last_key", "scanned")

    def __init__(
        self, items: list[M], last_key: Key | None, count: int, scanned: int, consumed: Capacity
    ) -> None:
        self.items = items
        self.last_key = last_key
        self.count = count
        self.scanned = scanned
        self.consumed = consumed


def fetch(
    db: DBBase, plan: Plan[M], segment: int, start: Key | None, limit: int | None
) -> Flow[_Fetched[M]]:
    """One page request of one segment, decoded (a flow: one ``Call``, and a ``Blocking``
    decode for items with encrypted fields)."""
    payload = dict(plan.payload)
    if plan.codec.segments > 1:
        payload["Segment"] = segment
        payload["TotalSegments"] = plan.codec.segments
    if limit is not None:
        payload["Limit"] = limit
    if start is not None:
        payload["ExclusiveStartKey"] = start
    if plan.counting:
        response = yield Call(plan.operation, payload)
        count = response.get("Count", 0)
        return _Fetched(
            [],
            response.get("LastEvaluatedKey") or None,
            count,
            response.get("ScannedCount", count),
            db._account(response, "read", plan.operation),
        )
    body: bytes = yield Call(plan.operation, payload, raw=True)
    decode = plan.decode
    try:
        page: DecodedPage[M] = (
            (yield Blocking(lambda: decode(body))) if plan.sealed else decode(body)
        )
    except DynamORMError:
        raise
    except ValueError as exc:  # valid checksum and length, but not a Query/Scan response
        raise ProtocolError(
            f"{plan.operation}: malformed response page: {exc}", status=200
        ) from None
    return _Fetched(
        page.items,
        page.last_evaluated_key or None,
        page.count,
        page.scanned_count,
        db._account({"ConsumedCapacity": page.consumed_capacity}, "read", plan.operation),
    )


def check_deadline(db: DBBase, pages: int) -> None:
    """``DeadlineExceeded`` if the deadline passed before page ``pages + 1``'s request."""
    remaining = db.client.remaining()
    if remaining is not None and remaining <= 0:
        raise DeadlineExceeded(f"the deadline passed before page {pages + 1} could be requested")


class Segment(Generic[M]):
    """One segment's pages from ``start``: the request of each in turn (a flow, for either
    driver), the deadline checked before it, until the last page or ``max_pages``."""

    __slots__ = ("db", "max_pages", "more", "number", "pages", "plan", "start", "want")

    def __init__(
        self,
        db: DBBase,
        plan: Plan[M],
        number: int,
        start: Key | None,
        want: Callable[[], int | None],
        *,
        max_pages: int | None,
    ) -> None:
        self.db = db
        self.plan = plan
        self.number = number
        self.start = start
        self.want = want
        self.max_pages = max_pages
        self.pages = 0
        self.more = True

    def next(self) -> Flow[_Fetched[M]] | None:
        """The next page's request, or None after the last page."""
        if not self.more:
            return None
        check_deadline(self.db, self.pages)
        return self._fetch()

    def _fetch(self) -> Flow[_Fetched[M]]:
        fetched = yield from fetch(self.db, self.plan, self.number, self.start, self.want())
        self.pages += 1
        self.more = fetched.last_key is not None and self.pages != self.max_pages
        self.start = fetched.last_key
        return fetched


def segments(
    db: DBBase,
    plan: Plan[M],
    state: State,
    want: Callable[[], int | None],
    max_pages: int | None = None,
) -> list[Segment[M]]:
    """The pending segments of ``state``, in order; ``want`` gives each request's ``Limit``."""
    return [
        Segment(db, plan, number, start, want, max_pages=max_pages)
        for number, start in sorted(state.items())
    ]


def _pages_of(segment: Segment[M]) -> Generator[tuple[int, _Fetched[M]]]:
    """``(segment number, page)`` for the pages of one segment, one request each."""
    while (request := segment.next()) is not None:
        yield segment.number, drive(request, segment.db.client)


def _sources(pending: list[Segment[M]]) -> Generator[tuple[int, _Fetched[M]]]:
    """``(segment number, page)`` for every pending segment; in parallel for several."""
    return _pages_of(pending[0]) if len(pending) == 1 else _parallel(pending)


def _parallel(segments: list[Segment[M]]) -> Generator[tuple[int, _Fetched[M]]]:
    """Worker threads fetch segments into a bounded queue; pages come out as they arrive.

    A worker's error is raised here (the other workers stop); so is closing this generator.
    """
    import queue
    import threading

    workers = min(len(segments), MAX_WORKERS)
    pending = list(reversed(segments))
    lock = threading.Lock()
    results: queue.Queue[tuple[int, _Fetched[M]] | BaseException | None] = queue.Queue(workers)
    stop = threading.Event()

    def put(result: tuple[int, _Fetched[M]] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                results.put(result, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            while not stop.is_set():
                with lock:
                    if not pending:
                        break
                    segment = pending.pop()
                for result in _pages_of(segment):
                    if not put(result):
                        return
        except Exception as exc:
            put(exc)
            return
        put(None)

    for n in range(workers):
        threading.Thread(target=work, name=f"dynamorm-scan-{n}", daemon=True).start()
    try:
        finished = 0
        while finished < workers:
            result = results.get()
            if result is None:
                finished += 1
            elif isinstance(result, BaseException):
                raise result
            else:
                yield result
    finally:
        stop.set()


class Walk(Generic[M]):
    """The bookkeeping of walking pages (sync or async): how many items to ask for, the
    cursor state after each page, the ``max_items`` cap and the deadline message."""

    __slots__ = ("delivered", "max_items", "page_size", "pages", "plan", "state")

    def __init__(
        self, plan: Plan[M], state: State, *, max_items: int | None, page_size: int | None
    ) -> None:
        self.plan = plan
        self.state = state
        self.max_items = max_items
        self.page_size = page_size
        self.delivered = 0
        self.pages = 0

    def want(self) -> int | None:
        """The ``Limit`` of the next request."""
        if self.max_items is None or self.plan.filtered:
            return self.page_size
        left = max(self.max_items - self.delivered, 1)
        return left if self.page_size is None else min(self.page_size, left)

    def take(self, segment: int, fetched: _Fetched[M]) -> Page[M]:
        """The page a fetched response makes (capped at ``max_items``); state advanced."""
        plan = self.plan
        keep = None
        if self.max_items is not None and not plan.counting:
            keep = self.max_items - self.delivered
        items = _advance(plan, self.state, segment, fetched, keep)
        self.delivered += fetched.count if plan.counting else len(items)
        self.pages += 1
        return Page(
            items, plan.codec.encode(self.state), fetched.consumed, fetched.count, fetched.scanned
        )

    @property
    def done(self) -> bool:
        """True once ``max_items`` items (or counted) were delivered."""
        return self.max_items is not None and self.delivered >= self.max_items

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        """A ``DeadlineExceeded`` raised in the ``with`` block says how far the walk got, with
        the cursor that resumes it."""
        if isinstance(exc, DeadlineExceeded):
            noun = "counted" if self.plan.counting else "delivered"
            _annotate(
                exc,
                self.plan,
                self.plan.codec.encode(self.state),
                f"{self.pages} page(s), {self.delivered} item(s) {noun}",
            )


def _advance(
    plan: Plan[M], state: State, segment: int, fetched: _Fetched[M], keep: int | None
) -> list[M]:
    """Record a segment's progress in ``state``; return the page's items (the first ``keep``)."""
    items = fetched.items
    if keep is not None and keep < len(items):
        state[segment] = plan.resume(items[keep - 1])
        return items[:keep]
    if fetched.last_key is None:
        state.pop(segment, None)
    else:
        state[segment] = fetched.last_key
    return items


def _annotate(exc: DeadlineExceeded, plan: Plan[Any], cursor: str | None, progress: str) -> None:
    resume = "; exc.cursor resumes after them" if cursor else ""
    exc.message = f"{exc.message}; {plan.what}: {progress} before the deadline{resume}"
    exc.args = (exc.message,)
    exc.cursor = cursor


def iterate(
    db: DBBase, plan: Plan[M], state: State, max_items: int | None, page_size: int | None
) -> Iterator[Page[M]]:
    """Every page from ``state`` on, lazily, until done or ``max_items`` items (or counted)."""
    walk = Walk(plan, state, max_items=max_items, page_size=page_size)
    with walk, closing(_sources(segments(db, plan, state, walk.want))) as source:
        for segment, fetched in source:
            yield walk.take(segment, fetched)
            if walk.done:
                return


def one_page(db: DBBase, plan: Plan[M], state: State, limit: int | None) -> Page[M]:
    """One request per pending segment (concurrently for several), merged into one page."""
    with Merge(plan, state) as merge:
        for segment, result in _sources(segments(db, plan, state, lambda: limit, 1)):
            merge.fetched[segment] = result
    return merge.page()


class Merge(Generic[M]):
    """The page of one request per pending segment (``one_page``, sync or async): a
    ``DeadlineExceeded`` in the ``with`` block carries the cursor it started from."""

    __slots__ = ("before", "fetched", "plan", "state")

    def __init__(self, plan: Plan[M], state: State) -> None:
        self.plan = plan
        self.state = state
        self.before = plan.codec.encode(state)
        self.fetched: dict[int, _Fetched[M]] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        if isinstance(exc, DeadlineExceeded):
            _annotate(exc, self.plan, self.before, "no page delivered")

    def page(self) -> Page[M]:
        """One page of every segment's response (``state`` advanced)."""
        plan, state, fetched = self.plan, self.state, self.fetched
        items: list[M] = []
        consumed = Capacity()
        count = scanned = 0
        for segment in sorted(fetched):
            result = fetched[segment]
            items += _advance(plan, state, segment, result, None)
            consumed = consumed + result.consumed
            count += result.count
            scanned += result.scanned
        return Page(items, plan.codec.encode(state), consumed, count, scanned)
