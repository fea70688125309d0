"""Consumed capacity, as DynamoDB reports it with ``ReturnConsumedCapacity``: :class:`Capacity`
totals, and :class:`Usage` (units by table, operation and partner: what ``db.costs`` prices).

Every DB handle owns one :class:`Usage`; its deadline and actor views share it, and the DB of a
``MultiAccount`` partner rolls its usage up to the base DB's (with the partner's id). Recording
is a few dictionary updates per request; pricing happens in :mod:`dynamorm._features.cost`,
only when asked.
"""

from __future__ import annotations

from _thread import allocate_lock  # threading.Lock, without loading threading
from collections.abc import Callable, Mapping

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from typing import Any, ClassVar


class Capacity:
    """Capacity units consumed by one or more requests, in total and per table.

    ``read`` and ``write`` are the read and write units; ``total`` is DynamoDB's
    ``CapacityUnits`` (for operations that report only that, it is counted under the kind of
    the operation). Capacities add up with ``+``.
    """

    __slots__ = ("by_table", "read", "total", "write")

    def __init__(
        self,
        read: float = 0.0,
        write: float = 0.0,
        total: float = 0.0,
        by_table: Mapping[str, float] | None = None,
    ) -> None:
        self.read: float = read
        self.write: float = write
        self.total: float = total
        self.by_table: dict[str, float] = dict(by_table or {})

    @classmethod
    def from_response(cls, response: Mapping[str, Any], *, kind: str = "read") -> Capacity:
        """Sum the ``ConsumedCapacity`` of a response (one entry or a list of them).

        ``kind`` ("read" or "write") says where units go when DynamoDB reports only a total.
        """
        raw = response.get("ConsumedCapacity")
        entries = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
        out = cls()
        for entry in entries:
            units = float(entry.get("CapacityUnits", 0.0))
            read = entry.get("ReadCapacityUnits")
            write = entry.get("WriteCapacityUnits")
            if read is None and write is None:
                read, write = (units, 0.0) if kind == "read" else (0.0, units)
            out.read += float(read or 0.0)
            out.write += float(write or 0.0)
            out.total += units
            table = entry.get("TableName")
            if table:
                out.by_table[table] = out.by_table.get(table, 0.0) + units
        return out

    def __add__(self, other: Capacity) -> Capacity:
        tables = dict(self.by_table)
        for name, units in other.by_table.items():
            tables[name] = tables.get(name, 0.0) + units
        return Capacity(
            self.read + other.read, self.write + other.write, self.total + other.total, tables
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Capacity):
            return NotImplemented
        return (self.read, self.write, self.total, self.by_table) == (
            other.read,
            other.write,
            other.total,
            other.by_table,
        )

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Capacity(read={self.read:g}, write={self.write:g}, total={self.total:g})"


UsageKey = tuple[str, str, str | None, str]
"""``(physical table, operation, partner id or None, region)``."""

Listener = Callable[[UsageKey, float, float], None]
"""Called after each recorded request with its key, read units and write units."""


class Usage:
    """Read and write units (and request counts) per :data:`UsageKey`, and units per index.

    ``partner`` names the partner account whose DB records here; ``parent`` receives every
    record too (a partner's usage rolls up to its base DB). ``listeners`` (budgets, alerts)
    are called after each record, outside the lock.
    """

    __slots__ = ("_lock", "costs", "indexes", "lines", "listeners", "parent", "partner")

    def __init__(self, partner: str | None = None, parent: Usage | None = None) -> None:
        self.partner: str | None = partner
        self.parent: Usage | None = parent
        self.lines: dict[UsageKey, list[float]] = {}
        """``[read units, write units, requests]`` per key."""
        self.indexes: dict[tuple[str, str], float] = {}
        """Capacity units per ``(table, index)`` (``ReturnConsumedCapacity=INDEXES``)."""
        self.listeners: list[Listener] = []
        self.costs: Any = None
        """The ``db.costs`` object priced from this usage, made on first access."""
        self._lock = allocate_lock()

    def record(self, response: Mapping[str, Any], operation: str, kind: str, region: str) -> None:
        """Add a response's ``ConsumedCapacity`` (one entry or a list) under ``operation``.

        ``kind`` ("read"/"write") places units DynamoDB reports only as a total.
        """
        raw = response.get("ConsumedCapacity")
        if raw is None:
            return
        entries = raw if type(raw) is list else (raw,)
        partner = self.partner if self.parent is None else self._partner()
        for entry in entries:
            if type(entry) is not dict:
                continue
            read = entry.get("ReadCapacityUnits")
            write = entry.get("WriteCapacityUnits")
            if read is None and write is None:
                units = float(entry.get("CapacityUnits", 0.0))
                read, write = (units, 0.0) if kind == "read" else (0.0, units)
            else:
                read, write = float(read or 0.0), float(write or 0.0)
            key = (entry.get("TableName") or "-", operation, partner, region)
            indexes = (
                _index_units(key[0], entry)
                if "GlobalSecondaryIndexes" in entry or "LocalSecondaryIndexes" in entry
                else None
            )
            handle: Usage | None = self
            while handle is not None:
                handle._add(key, read, write, indexes)
                handle = handle.parent

    def _partner(self) -> str | None:
        handle: Usage | None = self
        while handle is not None:
            if handle.partner is not None:
                return handle.partner
            handle = handle.parent
        return None

    def _add(
        self,
        key: UsageKey,
        read: float,
        write: float,
        indexes: dict[tuple[str, str], float] | None,
    ) -> None:
        with self._lock:
            line = self.lines.get(key)
            if line is None:
                line = self.lines[key] = [0.0, 0.0, 0.0]
            line[0] += read
            line[1] += write
            line[2] += 1
            if indexes:
                for name, units in indexes.items():
                    self.indexes[name] = self.indexes.get(name, 0.0) + units
        if self.listeners:
            for listener in tuple(self.listeners):
                listener(key, read, write)

    def snapshot(self) -> tuple[dict[UsageKey, list[float]], dict[tuple[str, str], float]]:
        """Copies of ``lines`` and ``indexes``, taken under the lock."""
        with self._lock:
            return {k: list(v) for k, v in self.lines.items()}, dict(self.indexes)

    def clear(self) -> None:
        """Forget everything recorded so far (listeners stay)."""
        with self._lock:
            self.lines.clear()
            self.indexes.clear()


def _index_units(table: str, entry: Mapping[str, Any]) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for group in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        found = entry.get(group)
        if isinstance(found, dict):
            for name, detail in found.items():
                if isinstance(detail, dict):
                    out[(table, str(name))] = float(detail.get("CapacityUnits", 0.0))
    return out
