"""Planning: what N operations of a model cost, feature by feature.

::

    estimate = estimate_cost(Payment, 1_000_000, {"create": 1, "update": 2, "get": 3})
    print(estimate)            # a table: units and USD per line (item, indexes, audit...)
    estimate.total             # USD

The arithmetic follows DynamoDB's rules: a write costs one unit per started KB of the item, a
read one per started 4 KB (half for eventually consistent reads); each secondary index the
item is in takes a write of its projection; a TransactWriteItems action costs twice. An audited
model (and a create, put or delete of one with unique fields) writes through
TransactWriteItems, so its item and index writes double (the ``transactions`` line), and it
adds the audit record (and the record's two index writes) or one sentinel per unique field; an
audited ``update`` reads the item back (a transaction returns no values). ``idempotent=True``
adds the two writes of an idempotency record per operation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dynamorm._core.errors import ConfigurationError
from dynamorm._features.cost import PriceTable

if TYPE_CHECKING:
    from dynamorm._orm.meta import ModelMeta

OPERATIONS = ("create", "put", "update", "save", "delete", "get")
AUDIT_OVERHEAD_BYTES = 400
"""An audit record's size besides its changes (key, actor, time, ids, index keys)."""
UPDATE_CHANGE_BYTES = 256
"""The changes an update or save is assumed to record (a few fields)."""
SENTINEL_BYTES = 100
IDEMPOTENCY_RECORD_BYTES = 1024
AUDIT_INDEXES = 2
"""The audit table's indexes (``by-actor``, ``by-time``), each projecting the whole record."""


class EstimateLine:
    """Units and USD of one line of an estimate, for all the operations."""

    __slots__ = ("name", "read_units", "usd", "write_units")

    def __init__(self, name: str) -> None:
        self.name: str = name
        self.read_units: float = 0.0
        self.write_units: float = 0.0
        self.usd: float = 0.0

    def __repr__(self) -> str:
        return (
            f"EstimateLine({self.name}: {self.write_units:g} WU, {self.read_units:g} RU, "
            f"${self.usd:.2f})"
        )


class CostEstimate:
    """The estimated cost of ``count`` operations: ``lines`` by feature, ``total`` USD."""

    def __init__(self, model: str, count: int, mix: dict[str, float]) -> None:
        self.model: str = model
        self.count: int = count
        self.mix: dict[str, float] = mix
        self.lines: dict[str, EstimateLine] = {}

    @property
    def total(self) -> float:
        """USD for all the operations."""
        return sum(line.usd for line in self.lines.values())

    @property
    def per_operation(self) -> float:
        """USD per operation on average."""
        return self.total / self.count if self.count else 0.0

    def _add(self, name: str, *, write: float = 0.0, read: float = 0.0, usd: float) -> None:
        line = self.lines.get(name)
        if line is None:
            line = self.lines[name] = EstimateLine(name)
        line.write_units += write
        line.read_units += read
        line.usd += usd

    def __str__(self) -> str:
        rows = [f"{self.count:,} operations of {self.model} ({_mix_text(self.mix)})"]
        rows.append(f"{'line':<22}{'write units':>16}{'read units':>16}{'USD':>12}")
        for line in self.lines.values():
            rows.append(
                f"{line.name:<22}{line.write_units:>16,.0f}{line.read_units:>16,.0f}"
                f"{line.usd:>12,.2f}"
            )
        rows.append(f"{'total':<22}{'':>16}{'':>16}{self.total:>12,.2f}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return f"CostEstimate({self.model}, {self.count:,} operations, ${self.total:,.2f})"


def _mix_text(mix: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {share:.0%}" for name, share in mix.items())


def estimate_cost(
    model: type[Any],
    count: int,
    mix: Mapping[str, float] | None = None,
    *,
    item_bytes: int | None = None,
    sample: Any = None,
    region: str = "us-east-1",
    prices: PriceTable | None = None,
    table: str | None = None,
    idempotent: bool = False,
    consistent_reads: bool = False,
) -> CostEstimate:
    """Estimate ``count`` operations of ``model`` split by ``mix`` (weights of ``create``,
    ``put``, ``update``, ``save``, ``delete``, ``get``; default: all creates).

    The item size is ``item_bytes``, else that of ``sample`` (an instance), else 1 KB.
    ``prices`` (default :meth:`PriceTable.default`) are looked up for ``region`` and ``table``
    (a physical name; default the model's logical one).
    """
    meta: ModelMeta | None = getattr(model, "__meta__", None)
    if meta is None or meta.table is None:
        raise ConfigurationError(f"estimate_cost() takes a model with a table, got {model!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ConfigurationError(f"count must be an int >= 0, got {count!r}")
    weights = dict(mix or {"create": 1.0})
    unknown = sorted(set(weights) - set(OPERATIONS))
    if unknown or any(
        isinstance(w, bool) or not isinstance(w, int | float) or w < 0 for w in weights.values()
    ):
        raise ConfigurationError(
            f"mix maps operations ({', '.join(OPERATIONS)}) to weights >= 0, got {mix!r}"
        )
    total_weight = sum(weights.values())
    if not total_weight:
        raise ConfigurationError("mix needs a weight above 0")
    shares = {name: w / total_weight for name, w in weights.items() if w}
    size = _item_bytes(meta, item_bytes, sample)
    prices = prices or PriceTable.default()
    name = table or meta.table
    write_price = prices.unit_price(region, name, "write")
    read_price = prices.unit_price(region, name, "read")
    unique = sum(1 for info in meta.fields.values() if getattr(info.spec, "unique", False))
    audited = meta.audit is not None
    estimate = CostEstimate(meta.name, count, shares)
    for operation, share in shares.items():
        n = count * share
        if operation == "get":
            units = math.ceil(size / 4096) * (1.0 if consistent_reads else 0.5)
            estimate._add("reads", read=n * units, usd=n * units * read_price)
            continue

        def write(line: str, units: float, n: float = n) -> None:
            estimate._add(line, write=n * units, usd=n * units * write_price)

        # unique fields need a transaction when their values are written or released (updates
        # are assumed to leave them alone); an audited write always does
        sentinels = unique if operation in ("create", "put", "delete") else 0
        transactional = audited or sentinels > 0
        item_units = math.ceil(size / 1024)
        write("item", item_units)
        index_units = _index_units(meta, size)
        if index_units:
            write("indexes", index_units)
        if transactional:
            write("transactions", item_units + index_units)
        if audited:
            changes = UPDATE_CHANGE_BYTES if operation in ("update", "save") else size
            record = math.ceil((AUDIT_OVERHEAD_BYTES + changes) / 1024)
            write("audit records", 2 * record * (1 + AUDIT_INDEXES))
        if sentinels:
            write("unique sentinels", 2 * sentinels * math.ceil(SENTINEL_BYTES / 1024))
        if transactional and operation == "update":  # a transaction returns no values
            units = math.ceil(size / 4096)
            estimate._add("read-backs", read=n * units, usd=n * units * read_price)
        if idempotent:
            write("idempotency records", 2 * math.ceil(IDEMPOTENCY_RECORD_BYTES / 1024))
    return estimate


def _item_bytes(meta: ModelMeta, item_bytes: int | None, sample: Any) -> int:
    if item_bytes is not None:
        if isinstance(item_bytes, bool) or not isinstance(item_bytes, int) or item_bytes < 1:
            raise ConfigurationError(f"item_bytes must be an int >= 1, got {item_bytes!r}")
        return item_bytes
    if sample is not None:
        from dynamorm._core.codec import item_size

        return int(item_size(meta.to_item(sample)))
    return 1024


def _index_units(meta: ModelMeta, size: int) -> int:
    """Write units of one write to every secondary index (projection ALL or INCLUDE: the
    item's size; KEYS_ONLY: one unit)."""
    units = 0
    for index in meta.indexes.values():
        units += 1 if index.projection == "KEYS_ONLY" else math.ceil(size / 1024)
    return units
