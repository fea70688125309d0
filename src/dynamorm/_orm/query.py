"""DB operations: query and scan, through immutable builders.

::

    q = db.query(Payment).where(Payment.merchant_id == "m1").filter(Payment.amount > 1000)
    page = q.page(limit=50)            # one request; page.cursor continues it
    for payment in q: ...              # every page, lazily

Every builder method returns a new builder, so a builder can be shared and extended freely.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from dynamorm._core.errors import InvalidOperator, MultipleResults, NotFound, ValidationError
from dynamorm._core.expressions import Condition, Path, build_expressions, split_key_condition
from dynamorm._orm._cursor import CursorCodec, Key, State
from dynamorm._orm._pages import Page, Plan, iterate, one_page
from dynamorm._orm.base import DBBase
from dynamorm._orm.meta import SENTINEL_ATTR, Attr, IndexInfo, ModelMeta
from dynamorm._orm.model import Model

if TYPE_CHECKING:
    from dynamorm._orm.fast_decode import DecodedPage

__all__ = ["Page", "Query", "Scan"]

# bound to the class, not to "Model": a string bound makes typing compile() it, and the
# first compile() of a process costs ~2 ms (CPython creates its AST types)
M = TypeVar("M", bound=Model)

MAX_SEGMENTS = 1_000_000


def _positive(method: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{method}() takes an int >= 1, got {value!r}")
    return value


def _condition(method: str, condition: object, model: type[Any]) -> Condition:
    if not isinstance(condition, Condition):
        hint = " (== between mismatched types gives a bool)" if isinstance(condition, bool) else ""
        raise InvalidOperator(
            f"{method}() takes a condition such as Model.attr == value, got {condition!r}{hint}"
        )
    for path in condition.paths():
        if isinstance(path, Attr) and not any(
            vars(cls).get(path.info.name) is path for cls in model.__mro__
        ):
            name = model.__name__
            raise InvalidOperator(
                f"{method}() got {path.info.where}, an attribute of another model; a {name} "
                f"query or scan takes conditions on {name}'s own attributes "
                f"(e.g. {name}.{path.info.name})",
                path=path.info.where,
            )
    return condition


def _and(first: Condition | None, second: Condition) -> Condition:
    return second if first is None else first & second


def _keys(info: IndexInfo | None, meta: ModelMeta) -> tuple[str, str | None]:
    """Stored names of the partition and sort key of an index, or of the table (None)."""
    if info is None:
        assert meta.pk is not None
        return meta.pk.stored, meta.sk.stored if meta.sk else None
    return info.pk.stored, info.sk.stored if info.sk else None


def _label(info: IndexInfo | None, meta: ModelMeta) -> str:
    pk, sk = _keys(info, meta)
    keys = pk if sk is None else f"{pk}, {sk}"
    where = "the table" if info is None else f"{info.kind} {info.name!r}"
    return f"{where} ({keys})"


def _partition_value(key: Condition | None) -> dict[str, dict[str, Any]]:
    """``{stored partition key name: its AttributeValue}`` of a key condition (empty: a scan)."""
    if key is None:
        return {}
    part = key.args[0] if key.op == "AND" else key
    path, value = part.args
    return {path.name: value.av}


def _resume_key(meta: ModelMeta, names: list[str]) -> Callable[[Any], Key]:
    """The key to resume after an item: its key attributes exactly as they were stored.

    They come from the item's loaded snapshot rather than being re-encoded, so a value another
    writer stored in a different (but decodable) form still resumes at the right place.
    """

    def key(obj: Any) -> Key:
        item = meta.loaded_item(obj)
        assert item is not None  # a decoded instance keeps the item it was read from
        return {name: item[name] for name in names}

    return key


def _page_decoder(
    db: DBBase, model: type[M], *, partial: bool
) -> Callable[[bytes], DecodedPage[M]]:
    """Raw Query/Scan bodies to pages of ``model`` (``partial``: projected items; ``db``
    opens the data keys of encrypted fields)."""
    from dynamorm._orm.fast_decode import decode_page  # off the import path: first query only

    def decode(body: bytes) -> DecodedPage[M]:
        return decode_page(model, body, partial=partial, db=db)

    return decode


class _Reader(Generic[M]):
    """What queries and scans share: filter, limits, projection, consistency, the terminals."""

    _operation = ""

    def __init__(self, db: DBBase, model: type[M]) -> None:
        meta = db._meta(model)
        self._db = db
        self._model = model
        self._meta_info = meta
        self._table_name = db._table(meta)
        self._index: IndexInfo | None = None
        self._filter: Condition | None = None
        self._limit: int | None = None
        self._page_size: int | None = None
        self._consistent = False
        self._projection: tuple[Path[Any], ...] = ()

    def _copy(self) -> Self:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    # --- builder methods ----------------------------------------------------------------------

    def index(self, name: str) -> Self:
        """Read a secondary index (GSI or LSI) of the model by name."""
        info = self._meta_info.indexes.get(name) if isinstance(name, str) else None
        if info is None:
            known = ", ".join(repr(n) for n in self._meta_info.indexes) or "none"
            raise ValidationError(
                f"{self._meta_info.name} has no index {name!r} (indexes: {known})", path=str(name)
            )
        new = self._copy()
        new._index = info
        return new

    def filter(self, condition: Condition) -> Self:
        """Keep only items matching ``condition`` (applied by DynamoDB after reading).

        Several calls are joined with AND. Filtered-out items still consume read capacity.
        """
        new = self._copy()
        new._filter = _and(self._filter, _condition("filter", condition, self._model))
        return new

    def limit(self, n: int) -> Self:
        """Return at most ``n`` items in total from iteration, ``all()`` and ``count()``."""
        new = self._copy()
        new._limit = _positive("limit", n)
        return new

    def page_size(self, n: int) -> Self:
        """Evaluate at most ``n`` items per request (DynamoDB's ``Limit``)."""
        new = self._copy()
        new._page_size = _positive("page_size", n)
        return new

    def consistent(self, enabled: bool = True) -> Self:
        """Strongly consistent reads (the table or an LSI; GSIs refuse them)."""
        new = self._copy()
        new._consistent = bool(enabled)
        return new

    def project(self, *paths: Path[Any]) -> Self:
        """Read only these attributes (the key attributes are always read too)."""
        if not paths:
            raise ValidationError("project() needs at least one attribute path")
        for path in paths:
            if not isinstance(path, Path):
                raise ValidationError(
                    f"project() takes attribute paths such as Model.attr, got {path!r}"
                )
        new = self._copy()
        new._projection = paths
        return new

    # --- terminals ----------------------------------------------------------------------------

    def _page_args(
        self, cursor: str | None, limit: int | None
    ) -> tuple[Plan[M], State, int | None]:
        """``page()``'s plan, start state and request limit."""
        if limit is not None:
            _positive("page", limit)
        plan = self._plan(counting=False)
        state = self._start(plan, cursor)
        return plan, state, limit or self._page_size or self._default_page()

    def _only(self, items: list[M]) -> M:
        """``one()``'s answer from the first two items."""
        if not items:
            raise NotFound(f"no {self._meta_info.name} matched the {self._operation.lower()}")
        if len(items) > 1:
            raise MultipleResults(
                f"more than one {self._meta_info.name} matched the {self._operation.lower()} "
                "passed to one(); use first(), or narrow the key condition or filter"
            )
        return items[0]

    def _walk_args(
        self, cursor: str | None, *, counting: bool
    ) -> tuple[DBBase, Plan[M], State, int | None, int | None]:
        """``iterate``'s arguments: every page (or count) from ``cursor`` up to the
        ``limit()``, at ``page_size()``, else the DB's (memory-aware) default page size."""
        plan = self._plan(counting=counting)
        page_size = self._page_size or self._db.default_page_size
        return self._db, plan, self._start(plan, cursor), self._limit, page_size

    def _default_page(self) -> int | None:
        sizes = [n for n in (self._limit, self._db.default_page_size) if n]
        return min(sizes) if sizes else None

    # --- request building ---------------------------------------------------------------------

    def _plan(self, *, counting: bool) -> Plan[M]:
        raise NotImplementedError

    def _segments(self) -> int:
        return 1

    def _start(self, plan: Plan[M], cursor: str | None) -> State:
        if cursor is None:
            return dict.fromkeys(range(plan.codec.segments))
        return plan.codec.decode(cursor)

    def _build(
        self,
        index: IndexInfo | None,
        *,
        key: Condition | None,
        binding: tuple[str, ...],
        counting: bool,
        **extra: Any,
    ) -> Plan[M]:
        meta = self._meta_info
        if meta.encrypted:
            from dynamorm._orm.sealed import refuse_encrypted

            refuse_encrypted(meta, key, "a key condition")
            refuse_encrypted(meta, self._filter, "a filter")
        if self._consistent and index is not None and index.kind == "GSI":
            raise ValidationError(
                f"consistent() is not possible on GSI {index.name!r}: global secondary indexes "
                "are eventually consistent (read the table or an LSI instead)",
                path=index.name,
            )
        # A LastEvaluatedKey holds the table key, plus the index key when reading an index.
        key_fields = list(meta.key_fields)
        if index is not None:
            key_fields += [f for f in (index.pk, index.sk) if f is not None]
        key_types = {f.stored: f.key_type or "" for f in key_fields}
        key_names = list(key_types)
        projection = None
        if self._projection and not counting:
            projection = [*self._projection, *(Path[Any](n) for n in key_names)]
        payload: dict[str, Any] = {"TableName": self._table_name}
        if index is not None:
            payload["IndexName"] = index.name
        flt = self._filter
        if meta.unique:  # unique sentinels share the table; DynamoDB filters them out
            flt = _and(flt, Path[Any](SENTINEL_ATTR).not_exists())
        payload.update(build_expressions(key=key, filter=flt, projection=projection))
        payload.update(extra)
        if self._consistent:
            payload["ConsistentRead"] = True
        if counting:
            payload["Select"] = "COUNT"
        payload["ReturnConsumedCapacity"] = "TOTAL"
        partial = bool(self._projection) or (index is not None and index.projection != "ALL")
        what = f"{self._operation} {meta.name} on {self._table_name}"
        if index is not None:
            what += f" index {index.name!r}"
        codec = CursorCodec(
            (self._operation, self._table_name, index.name if index else "", *binding),
            key_names=key_types,
            segments=self._segments(),
            secret=self._db.cursor_secret,
            fixed=_partition_value(key),
        )
        return Plan(
            self._operation,
            payload,
            codec=codec,
            decode=_page_decoder(self._db, self._model, partial=partial),
            resume=_resume_key(meta, key_names),
            filtered=flt is not None,
            counting=counting,
            what=what,
            sealed=bool(meta.encrypted),
        )

    def __repr__(self) -> str:
        index = f", index={self._index.name!r}" if self._index else ""
        return f"{type(self).__name__}({self._meta_info.name}{index})"


class _Pages(_Reader[M]):
    """The blocking terminals of queries and scans (``AsyncQuery``/``AsyncScan`` await theirs)."""

    def page(self, cursor: str | None = None, limit: int | None = None) -> Page[M]:
        """One page: a single request (one per segment for a parallel scan).

        ``limit`` caps the items DynamoDB evaluates for it (per segment), by default the
        ``page_size()``, else the smaller of the ``limit()`` and the DB's default page size. Pass
        the previous page's ``cursor`` to continue.
        """
        return one_page(self._db, *self._page_args(cursor, limit))

    def pages(self, cursor: str | None = None) -> Iterator[Page[M]]:
        """Every page, lazily, from the start or from ``cursor``, up to the ``limit()``."""
        return iterate(*self._walk_args(cursor, counting=False))

    def __iter__(self) -> Iterator[M]:
        for page in self.pages():
            yield from page.items

    def all(self) -> list[M]:
        """Every item (up to the ``limit()``) in a list."""
        return list(self)

    def first(self) -> M | None:
        """The first item, or None."""
        for item in self.limit(1):
            return item
        return None

    def one(self) -> M:
        """The only item; ``NotFound`` if there is none, ``MultipleResults`` if there are more."""
        return self._only(list(self.limit(2)))

    def count(self) -> int:
        """How many items match (``Select=COUNT`` over every page, up to the ``limit()``)."""
        total = sum(page.count for page in iterate(*self._walk_args(None, counting=True)))
        return total if self._limit is None else min(total, self._limit)


class QueryBuilder(_Reader[M]):
    """What ``Query`` and ``AsyncQuery`` share: the key condition, order and plan."""

    _operation = "Query"

    def __init__(self, db: DBBase, model: type[M]) -> None:
        super().__init__(db, model)
        self._where: Condition | None = None
        self._forward = True

    def where(self, condition: Condition) -> Self:
        """The key condition: ``pk == value``, optionally ``&`` one sort key condition.

        The index is the one named by ``index()``, else inferred from the attributes: the
        table key first, then the one GSI or LSI whose keys match. Several calls join with AND.
        """
        new = self._copy()
        new._where = _and(self._where, _condition("where", condition, self._model))
        return new

    def reverse(self, enabled: bool = True) -> Self:
        """Descending sort key order."""
        new = self._copy()
        new._forward = not enabled
        return new

    def _plan(self, *, counting: bool) -> Plan[M]:
        meta = self._meta_info
        if self._where is None:
            pk = meta.pk.name if meta.pk else "pk"
            raise ValidationError(
                f"a {meta.name} query needs a key condition: .where({meta.name}.{pk} == value) "
                "(use db.scan() to read everything)"
            )
        index, key = self._resolve(self._where)
        self._check_filter(index)
        key_text = str(sorted(build_expressions(key=key).items()))
        direction = "forward" if self._forward else "reverse"
        extra = {} if self._forward else {"ScanIndexForward": False}
        return self._build(
            index, key=key, binding=(direction, key_text), counting=counting, **extra
        )

    def _resolve(self, where: Condition) -> tuple[IndexInfo | None, Condition]:
        """The index to read (None: the table) and the key condition."""
        meta = self._meta_info
        if self._index is not None:
            key, rest = split_key_condition(where, *_keys(self._index, meta))
            if rest is not None:
                raise self._not_keys(rest, self._index)
            return self._index, key
        names = where.attribute_names()
        matches: list[tuple[IndexInfo, Condition]] = []
        error: ValidationError | None = None
        for info in (None, *meta.lsis, *meta.gsis):
            pk, sk = _keys(info, meta)
            try:
                key, rest = split_key_condition(where, pk, sk)
            except ValidationError as exc:
                if error is None and pk in names:
                    error = exc
                continue
            if rest is None and info is None:
                return None, key
            if rest is None and info is not None:
                matches.append((info, key))
            elif error is None and pk in names and rest is not None:
                error = self._not_keys(rest, info)
        if len(matches) == 1:
            return matches[0]
        if matches:
            found = ", ".join(_label(info, meta) for info, _ in matches)
            raise ValidationError(
                f"the {meta.name} key condition {where.describe()} matches several indexes: "
                f"{found}; choose one with .index(name)"
            )
        if error is not None:
            raise error
        keys = "; ".join(_label(info, meta) for info in (None, *meta.lsis, *meta.gsis))
        raise ValidationError(
            f"no key of {meta.name} matches the key condition {where.describe()}: it needs the "
            f"partition key of the table or of an index compared with == (keys: {keys}); "
            "use db.scan() to read without a key"
        )

    def _not_keys(self, rest: Condition, info: IndexInfo | None) -> ValidationError:
        names = ", ".join(sorted(rest.attribute_names()))
        return ValidationError(
            f"{names} in where() is not a key attribute of {_label(info, self._meta_info)}; "
            "move that condition to .filter()",
            path=names,
        )

    def _check_filter(self, index: IndexInfo | None) -> None:
        if self._filter is None:
            return
        keys = {n for n in _keys(index, self._meta_info) if n is not None}
        clash = sorted(self._filter.attribute_names() & keys)
        if clash:
            raise ValidationError(
                f"filter() uses {', '.join(clash)}, a key attribute of "
                f"{_label(index, self._meta_info)}: DynamoDB refuses filters on the key "
                "being queried; put that condition in where()",
                path=clash[0],
            )


class Query(QueryBuilder[M], _Pages[M]):
    """An immutable query builder: ``db.query(Model).where(key condition)...``."""


class ScanBuilder(_Reader[M]):
    """What ``Scan`` and ``AsyncScan`` share: the segments and plan."""

    _operation = "Scan"

    def __init__(self, db: DBBase, model: type[M], segments: int = 1) -> None:
        super().__init__(db, model)
        if isinstance(segments, bool) or not isinstance(segments, int):
            raise ValidationError(f"segments must be an int, got {segments!r}")
        if not 1 <= segments <= MAX_SEGMENTS:
            raise ValidationError(f"segments must be 1 to {MAX_SEGMENTS:,}, got {segments}")
        self._segment_count = segments

    def _segments(self) -> int:
        return self._segment_count

    def _plan(self, *, counting: bool) -> Plan[M]:
        return self._build(
            self._index, key=None, binding=(str(self._segment_count),), counting=counting
        )


class Scan(ScanBuilder[M], _Pages[M]):
    """An immutable scan builder: ``db.scan(Model, segments=4).filter(...)``."""
