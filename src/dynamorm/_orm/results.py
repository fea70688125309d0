"""Consumed capacity, as DynamoDB reports it with ``ReturnConsumedCapacity``."""

from __future__ import annotations

from collections.abc import Mapping
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
