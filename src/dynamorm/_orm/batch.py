"""``db.batch_get``: BatchGetItem in chunks of 100 with retries of unprocessed keys (the
job; ``DB`` runs its chunks on threads, ``AsyncDB`` on tasks)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dynamorm._core.errors import ConfigurationError, ValidationError
from dynamorm._core.expressions import Path, build_expressions
from dynamorm._orm.base import DBBase
from dynamorm._orm.batch_flow import GET_CHUNK, ChunkOutcome, Chunks, GetKey, get_flow
from dynamorm._orm.crud import NOTHING, opening
from dynamorm._orm.keys import Key
from dynamorm._orm.model import Model
from dynamorm._orm.results import Capacity

if TYPE_CHECKING:
    from dynamorm._core.steps import Flow
    from dynamorm._orm.meta import ModelMeta

# bound to the class, not to "Model": a string bound makes typing compile() it, and the
# first compile() of a process costs ~2 ms (CPython creates its AST types)
M = TypeVar("M", bound=Model)


class BatchGetResult(Generic[M]):
    """What ``db.batch_get`` read: ``items`` found (in the order their keys were given),
    ``missing`` keys (no such item), ``unprocessed`` keys (not read; only with ``partial=True``)
    and the ``consumed`` capacity. Keys are dicts by attribute name. Iterating yields the items.
    """

    __slots__ = ("consumed", "items", "missing", "unprocessed")

    def __init__(
        self,
        items: list[M],
        missing: list[dict[str, Any]],
        unprocessed: list[dict[str, Any]],
        consumed: Capacity,
    ) -> None:
        self.items: list[M] = items
        self.missing: list[dict[str, Any]] = missing
        self.unprocessed: list[dict[str, Any]] = unprocessed
        self.consumed: Capacity = consumed

    def __iter__(self) -> Iterator[M]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return (
            f"BatchGetResult({len(self.items)} found, {len(self.missing)} missing, "
            f"{len(self.unprocessed)} unprocessed, {self.consumed!r})"
        )


class GetJob(Chunks[GetKey], Generic[M]):
    """A ``batch_get`` ready to run: its chunks of keys, the flow of one chunk, how many run
    at once, and :meth:`finish` (a flow) to make the result."""

    def __init__(
        self,
        meta: ModelMeta,
        entries: list[GetKey],
        start: Callable[[Sequence[GetKey]], Any],
        parallel: int,
        partial: bool,
    ) -> None:
        super().__init__("BatchGetItem", entries, GET_CHUNK, start, parallel)
        self.meta = meta
        self.partial = partial

    def finish(self, db: DBBase, outcomes: list[ChunkOutcome[GetKey]]) -> Flow[BatchGetResult[M]]:
        """The result of the chunks' ``outcomes`` (their data keys opened for encrypted
        fields); ``BatchIncomplete`` for keys not read unless ``partial``."""
        from dynamorm._orm.batch_write import incomplete, key_values

        meta, entries = self.meta, self.entries
        found: list[tuple[int, Any]] = []
        answered: set[int] = set()
        unprocessed: list[GetKey] = []
        consumed = Capacity()
        for outcome in outcomes:
            consumed = consumed + outcome.consumed
            found += [(entry.position, item) for entry, item in outcome.found]
            answered.update(entry.position for entry in outcome.done)
            unprocessed += outcome.failed
        found.sort(key=lambda pair: pair[0])
        hit = {position for position, _ in found}
        stored = [item for _, item in found]
        with (yield opening(db, meta, stored)) if meta.encrypted else NOTHING:
            items: list[M] = [meta.from_item(item) for item in stored]
        result = BatchGetResult[M](
            items,
            [
                key_values(meta, e.wire)
                for e in entries
                if e.position in answered and e.position not in hit
            ],
            [key_values(meta, e.wire) for e in sorted(unprocessed, key=lambda e: e.position)],
            consumed,
        )
        if not unprocessed:
            return result
        cause = next(o for o in outcomes if o.failed and not o.skipped)
        if self.partial and (cause.error is None or cause.deadline or cause.error.retryable):
            return result
        what = f"BatchGetItem: {len(unprocessed)} key(s) of {meta.name} not read"
        raise incomplete(what, outcomes, result.unprocessed, result=result)


def get_job(
    db: DBBase,
    model: type[M],
    keys: Iterable[Mapping[str, Any] | Key[M] | M],
    *,
    consistent: bool,
    projection: Sequence[Path[Any]] | None,
    parallel: int | None,
    partial: bool,
) -> GetJob[M]:
    """``db.batch_get``'s keys (checked, deduplicated) and options as a :class:`GetJob`."""
    if parallel is None:
        parallel = db.default_parallelism
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise ConfigurationError(f"parallel must be an int >= 1, got {parallel!r}")
    meta = db._meta(model)
    table = db._table(meta)
    names = tuple(f.stored for f in meta.key_fields)
    entries: dict[Any, GetKey] = {}
    for given in keys:
        if isinstance(given, Mapping):
            stored = meta.key_from(given)
        elif isinstance(given, Key) and given.meta is meta:
            stored = given.item
        elif isinstance(given, model):
            stored = meta.key(given)
        else:
            raise ValidationError(
                f"batch_get({meta.name}) takes dicts of key fields, key({meta.name}, ...) "
                f"or {meta.name} instances, got {given!r}",
                path=meta.name,
            )
        entry = GetKey(table, stored, names, len(entries))
        entries.setdefault(entry.ident, entry)
    options: dict[str, Any] = {"ConsistentRead": True} if consistent else {}
    if projection is not None:
        paths = [*projection, *(Path[Any](name) for name in names)]
        options.update(build_expressions(projection=paths))
    retry, remaining = db.client.retry, db.client.remaining
    return GetJob(
        meta,
        list(entries.values()),
        lambda chunk: get_flow(chunk, {table: names}, {table: options}, retry, remaining),
        parallel,
        partial,
    )
