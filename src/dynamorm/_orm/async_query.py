"""``AsyncQuery`` and ``AsyncScan``: the builders of ``Query``/``Scan`` with awaitable terminals.

Each page request is a ``_pages.Segment`` flow driven by ``adrive``; the bookkeeping is the
shared ``_pages.Walk`` (``_pages.Merge`` for one page). A parallel scan runs one task per
segment (at most ``MAX_WORKERS`` at once) feeding a small bounded queue, as the blocking scan
does with threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar

from dynamorm._io.async_drive import adrive
from dynamorm._orm._pages import (
    MAX_WORKERS,
    Merge,
    Page,
    Plan,
    Segment,
    Walk,
    _Fetched,
    segments,
)
from dynamorm._orm.query import QueryBuilder, ScanBuilder, _Reader

if TYPE_CHECKING:
    from dynamorm._orm._cursor import State
    from dynamorm._orm.base import DBBase
    from dynamorm._orm.model import Model

M = TypeVar("M", bound="Model")
_DONE = object()


async def _pages_of(segment: Segment[M]) -> AsyncIterator[tuple[int, _Fetched[M]]]:
    while (request := segment.next()) is not None:
        yield segment.number, await adrive(request, segment.db.client)


async def _sources(segments: list[Segment[M]]) -> AsyncGenerator[tuple[int, _Fetched[M]]]:
    """``(segment number, page)`` for every pending segment; concurrently for several."""
    if len(segments) == 1:
        async for result in _pages_of(segments[0]):
            yield result
        return
    workers = min(len(segments), MAX_WORKERS)
    pending = list(reversed(segments))
    results: asyncio.Queue[Any] = asyncio.Queue(workers)

    async def work() -> None:
        try:
            while pending:
                async for result in _pages_of(pending.pop()):
                    await results.put(result)
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
    db: DBBase, plan: Plan[M], state: State, max_items: int | None, page_size: int | None
) -> AsyncIterator[Page[M]]:
    """Every page from ``state`` on (as ``_pages.iterate``)."""
    walk = Walk(plan, state, max_items=max_items, page_size=page_size)
    async with aclosing(_sources(segments(db, plan, state, walk.want))) as source:
        with walk:
            async for segment, fetched in source:
                yield walk.take(segment, fetched)
                if walk.done:
                    return


async def one_page(db: DBBase, plan: Plan[M], state: State, limit: int | None) -> Page[M]:
    """One request per pending segment, merged into one page (as ``_pages.one_page``)."""
    with Merge(plan, state) as merge:
        async for segment, result in _sources(segments(db, plan, state, lambda: limit, 1)):
            merge.fetched[segment] = result
    return merge.page()


class _AsyncPages(_Reader[M]):
    """The awaitable terminals: ``await q.page()``, ``async for item in q``, ..."""

    async def page(self, cursor: str | None = None, limit: int | None = None) -> Page[M]:
        """One page: a single request (one per segment for a parallel scan); see
        ``Query.page``."""
        return await one_page(self._db, *self._page_args(cursor, limit))

    def pages(self, cursor: str | None = None) -> AsyncIterator[Page[M]]:
        """Every page, lazily, from the start or from ``cursor``, up to the ``limit()``."""
        return iterate(*self._walk_args(cursor, counting=False))

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
        total = 0
        async for page in iterate(*self._walk_args(None, counting=True)):
            total += page.count
        return total if self._limit is None else min(total, self._limit)


class AsyncQuery(QueryBuilder[M], _AsyncPages[M]):
    """``db.query(Model)`` on an ``AsyncDB``: the builder of ``Query``, awaitable terminals."""


class AsyncScan(ScanBuilder[M], _AsyncPages[M]):
    """``db.scan(Model)`` on an ``AsyncDB``: the builder of ``Scan``, awaitable terminals."""
