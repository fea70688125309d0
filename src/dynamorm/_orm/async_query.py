"""``AsyncQuery`` and ``AsyncScan``: the builders of ``Query``/``Scan`` with awaitable terminals.

Each page request is the flow ``_pages.fetch`` driven by ``adrive``; the walk's bookkeeping is
the shared ``_pages.Walk``. A parallel scan runs one task per segment (at most
``MAX_WORKERS`` at once) feeding a small bounded queue, as the blocking scan does with threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from dynamorm._core.errors import DeadlineExceeded
from dynamorm._io.async_drive import adrive
from dynamorm._orm._pages import (
    MAX_WORKERS,
    Page,
    Plan,
    Walk,
    _annotate,
    _Fetched,
    check_deadline,
    fetch,
    merge,
)
from dynamorm._orm.query import QueryBuilder, ScanBuilder, _Reader

if TYPE_CHECKING:
    from dynamorm._orm._cursor import Key, State
    from dynamorm._orm.base import DBBase
    from dynamorm._orm.model import Model

M = TypeVar("M", bound="Model")
_DONE = object()


async def _segment(
    db: DBBase,
    plan: Plan[M],
    segment: int,
    start: Key | None,
    want: Callable[[], int | None],
    *,
    max_pages: int | None,
) -> AsyncIterator[_Fetched[M]]:
    pages = 0
    while True:
        check_deadline(db, pages)
        fetched = await adrive(fetch(db, plan, segment, start, want()), db.client)
        yield fetched
        pages += 1
        if fetched.last_key is None or pages == max_pages:
            return
        start = fetched.last_key


async def _sources(
    db: DBBase,
    plan: Plan[M],
    state: State,
    want: Callable[[], int | None],
    max_pages: int | None = None,
) -> AsyncGenerator[tuple[int, _Fetched[M]]]:
    """``(segment, page)`` for every pending segment; concurrently when there are several."""
    starts = sorted(state.items())
    if len(starts) == 1:
        ((segment, start),) = starts
        async for fetched in _segment(db, plan, segment, start, want, max_pages=max_pages):
            yield segment, fetched
        return
    workers = min(len(starts), MAX_WORKERS)
    pending = list(reversed(starts))
    results: asyncio.Queue[Any] = asyncio.Queue(workers)

    async def work() -> None:
        try:
            while pending:
                segment, start = pending.pop()
                async for fetched in _segment(db, plan, segment, start, want, max_pages=max_pages):
                    await results.put((segment, fetched))
        except Exception as exc:
            await results.put(exc)
            return
        await results.put(_DONE)

    tasks = [asyncio.ensure_future(work()) for _ in range(workers)]
    try:
        finished = 0
        while finished < workers:
            result = await results.get()
            if result is _DONE:
                finished += 1
            elif isinstance(result, BaseException):
                raise result
            else:
                yield result
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def iterate(
    db: DBBase, plan: Plan[M], state: State, *, max_items: int | None, page_size: int | None
) -> AsyncIterator[Page[M]]:
    """Every page from ``state`` on (as ``_pages.iterate``)."""
    walk = Walk(plan, state, max_items=max_items, page_size=page_size)
    source = _sources(db, plan, state, walk.want)
    try:
        async for segment, fetched in source:
            yield walk.take(segment, fetched)
            if walk.done:
                return
    except DeadlineExceeded as exc:
        walk.annotate(exc)
        raise
    finally:
        await source.aclose()


async def one_page(db: DBBase, plan: Plan[M], state: State, limit: int | None) -> Page[M]:
    """One request per pending segment, merged into one page (as ``_pages.one_page``)."""
    before = plan.codec.encode(state)
    fetched: dict[int, _Fetched[M]] = {}
    try:
        async for segment, result in _sources(db, plan, state, lambda: limit, max_pages=1):
            fetched[segment] = result
    except DeadlineExceeded as exc:
        _annotate(exc, plan, before, "no page delivered")
        raise
    return merge(plan, state, fetched)


class _AsyncPages(_Reader[M]):
    """The awaitable terminals: ``await q.page()``, ``async for item in q``, ..."""

    async def page(self, cursor: str | None = None, limit: int | None = None) -> Page[M]:
        """One page: a single request (one per segment for a parallel scan); see
        ``Query.page``."""
        return await one_page(self._db, *self._page_args(cursor, limit))

    def pages(self, cursor: str | None = None) -> AsyncIterator[Page[M]]:
        """Every page, lazily, from the start or from ``cursor``, up to the ``limit()``."""
        plan = self._plan(counting=False)
        state = self._start(plan, cursor)
        return iterate(
            self._db, plan, state, max_items=self._limit, page_size=self._effective_page_size()
        )

    async def __aiter__(self) -> AsyncIterator[M]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def all(self) -> list[M]:
        """Every item (up to the ``limit()``) in a list."""
        return [item async for item in self]

    async def first(self) -> M | None:
        """The first item, or None."""
        async for item in self.limit(1):
            return item
        return None

    async def one(self) -> M:
        """The only item; ``NotFound`` if there is none, ``MultipleResults`` if there are more."""
        return self._only([item async for item in self.limit(2)])

    async def count(self) -> int:
        """How many items match (``Select=COUNT`` over every page, up to the ``limit()``)."""
        plan = self._plan(counting=True)
        total = 0
        async for page in iterate(
            self._db,
            plan,
            self._start(plan, None),
            max_items=self._limit,
            page_size=self._effective_page_size(),
        ):
            total += page.count
        return total if self._limit is None else min(total, self._limit)


class AsyncQuery(QueryBuilder[M], _AsyncPages[M]):
    """``db.query(Model)`` on an ``AsyncDB``: the builder of ``Query``, awaitable terminals."""


class AsyncScan(ScanBuilder[M], _AsyncPages[M]):
    """``db.scan(Model)`` on an ``AsyncDB``: the builder of ``Scan``, awaitable terminals."""
