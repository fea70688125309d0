"""Cost tracking: consumed capacity priced per table, operation and partner, and budgets.

Every request the ORM sends asks DynamoDB for its consumed capacity, and the DB records the
units per table, operation and partner (:class:`dynamorm._orm.results.Usage`). ``db.costs``
prices them with a :class:`PriceTable` (replaceable) and raises budget alerts::

    db.costs.budget(0.01, callback=alert)                      # one invocation over $0.01
    db.costs.budget(5.0, partner="acme", window=3600, callback=alert)   # acme over $5 an hour
    with db.costs.invocation():
        handle(event)

Prices are US dollars. Provisioned capacity is billed per hour whatever is used; a request on a
provisioned table is priced at the unit-hour price spread over the 3,600 units an hour holds
(its share at full utilisation, so a lower bound of what it really costs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Literal, TypeVar

from dynamorm._core.errors import ConfigurationError
from dynamorm._orm.results import Usage, UsageKey

Mode = Literal["on_demand", "provisioned"]
TableClass = Literal["STANDARD", "STANDARD_INFREQUENT_ACCESS"]
Kind = Literal["read", "write"]

READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
_MODES = ("on_demand", "provisioned")
_CLASSES = ("STANDARD", "STANDARD_INFREQUENT_ACCESS")
_log = logging.getLogger("dynamorm.cost")
_F = TypeVar("_F", bound=Callable[..., object])
_K = TypeVar("_K")


class UnitPrices:
    """US dollar prices of one region and table class: per million on-demand read and write
    request units, and per provisioned read and write capacity unit-hour."""

    __slots__ = ("rcu_hour", "read_request", "wcu_hour", "write_request")

    def __init__(
        self, *, read_request: float, write_request: float, rcu_hour: float, wcu_hour: float
    ) -> None:
        for name, value in (
            ("read_request", read_request),
            ("write_request", write_request),
            ("rcu_hour", rcu_hour),
            ("wcu_hour", wcu_hour),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigurationError(f"{name} must be a price >= 0 in USD, got {value!r}")
        self.read_request: float = float(read_request)
        self.write_request: float = float(write_request)
        self.rcu_hour: float = float(rcu_hour)
        self.wcu_hour: float = float(wcu_hour)

    def per_unit(self, kind: Kind, mode: Mode) -> float:
        """USD for one read or write unit on an on-demand or provisioned table."""
        if mode == "on_demand":
            return (self.read_request if kind == "read" else self.write_request) / 1_000_000
        return (self.rcu_hour if kind == "read" else self.wcu_hour) / 3600

    def __repr__(self) -> str:
        return (
            f"UnitPrices(read_request={self.read_request:g}, write_request={self.write_request:g}"
            f", rcu_hour={self.rcu_hour:g}, wcu_hour={self.wcu_hour:g})"
        )


# us-east-1 list prices after the November 2024 on-demand reduction (USD).
_US_EAST_1 = {
    "STANDARD": UnitPrices(
        read_request=0.125, write_request=0.625, rcu_hour=0.00013, wcu_hour=0.00065
    ),
    "STANDARD_INFREQUENT_ACCESS": UnitPrices(
        read_request=0.155, write_request=0.78, rcu_hour=0.00016, wcu_hour=0.00081
    ),
}


class PriceTable:
    """Prices per region and table class, and how each table is billed. Immutable: the
    ``with_*`` methods return a new table.

    ``PriceTable.default()`` knows us-east-1 (list prices, late 2024); add other regions with
    :meth:`with_prices`. Tables are on-demand, Standard class unless :meth:`with_table` says
    otherwise (by physical name, as DynamoDB reports it: ``db.table_name("payments")``).
    Pricing a region the table does not know raises ``ConfigurationError``.
    """

    __slots__ = ("_prices", "_tables", "default_class", "default_mode")

    def __init__(
        self,
        prices: Mapping[tuple[str, TableClass], UnitPrices],
        *,
        tables: Mapping[str, tuple[Mode, TableClass]] | None = None,
        default_mode: Mode = "on_demand",
        default_class: TableClass = "STANDARD",
    ) -> None:
        for (region, table_class), unit in prices.items():
            _check_billing("on_demand", table_class)
            if not isinstance(region, str) or not isinstance(unit, UnitPrices):
                raise ConfigurationError(
                    f"prices map (region, table class) to UnitPrices, got {region!r}: {unit!r}"
                )
        for mode, table_class in (tables or {}).values():
            _check_billing(mode, table_class)
        _check_billing(default_mode, default_class)
        self._prices: dict[tuple[str, TableClass], UnitPrices] = dict(prices)
        self._tables: dict[str, tuple[Mode, TableClass]] = dict(tables or {})
        self.default_mode: Mode = default_mode
        self.default_class: TableClass = default_class

    @classmethod
    def default(cls) -> PriceTable:
        """us-east-1 list prices (Standard and Standard-IA; on-demand and provisioned)."""
        return cls({("us-east-1", name): unit for name, unit in _US_EAST_1.items()})  # type: ignore[misc]

    def with_prices(
        self,
        region: str,
        table_class: TableClass = "STANDARD",
        *,
        read_request: float,
        write_request: float,
        rcu_hour: float,
        wcu_hour: float,
    ) -> PriceTable:
        """A copy with the prices of ``region`` and ``table_class`` set (per million request
        units, per capacity unit-hour)."""
        unit = UnitPrices(
            read_request=read_request,
            write_request=write_request,
            rcu_hour=rcu_hour,
            wcu_hour=wcu_hour,
        )
        return self._copy(prices={**self._prices, (region, table_class): unit})

    def with_table(
        self, table: str, *, mode: Mode = "on_demand", table_class: TableClass = "STANDARD"
    ) -> PriceTable:
        """A copy that bills physical table ``table`` as ``mode`` and ``table_class``."""
        _check_billing(mode, table_class)
        return self._copy(tables={**self._tables, table: (mode, table_class)})

    def billing(self, table: str) -> tuple[Mode, TableClass]:
        """How ``table`` (a physical name; several comma-joined share one billing or get the
        default) is billed."""
        found = {self._tables.get(name) for name in table.split(",")}
        only = found.pop() if len(found) == 1 else None
        return only if only is not None else (self.default_mode, self.default_class)

    def unit_price(self, region: str, table: str, kind: Kind) -> float:
        """USD for one read or write unit on ``table`` in ``region``."""
        mode, table_class = self.billing(table)
        unit = self._prices.get((region, table_class))
        if unit is None:
            known = ", ".join(sorted({r for r, _ in self._prices})) or "none"
            raise ConfigurationError(
                f"no {table_class} prices for region {region!r} (known: {known}); add them "
                f"with PriceTable.with_prices({region!r}, ...)"
            )
        return unit.per_unit(kind, mode)

    def price(self, region: str, table: str, read_units: float, write_units: float) -> float:
        """USD for ``read_units`` and ``write_units`` on ``table`` in ``region``."""
        cost = 0.0
        if read_units:
            cost += read_units * self.unit_price(region, table, "read")
        if write_units:
            cost += write_units * self.unit_price(region, table, "write")
        return cost

    def _copy(
        self,
        *,
        prices: Mapping[tuple[str, TableClass], UnitPrices] | None = None,
        tables: Mapping[str, tuple[Mode, TableClass]] | None = None,
    ) -> PriceTable:
        return PriceTable(
            self._prices if prices is None else prices,
            tables=self._tables if tables is None else tables,
            default_mode=self.default_mode,
            default_class=self.default_class,
        )

    def __repr__(self) -> str:
        regions = sorted({r for r, _ in self._prices})
        return f"PriceTable(regions={regions}, tables={len(self._tables)})"


def _check_billing(mode: object, table_class: object) -> None:
    if mode not in _MODES:
        raise ConfigurationError(f"billing mode must be one of {_MODES}, got {mode!r}")
    if table_class not in _CLASSES:
        raise ConfigurationError(f"table class must be one of {_CLASSES}, got {table_class!r}")


def kind_of(operation: str) -> Kind | None:
    """``read`` or ``write`` for a data operation; None for control-plane calls (free)."""
    if operation in READ_OPERATIONS:
        return "read"
    return "write" if operation in WRITE_OPERATIONS else None


class CostLine:
    """Priced usage of one table, operation and partner (None: the DB's own account)."""

    __slots__ = (
        "operation",
        "partner",
        "read_units",
        "region",
        "requests",
        "table",
        "usd",
        "write_units",
    )

    def __init__(
        self,
        key: UsageKey,
        read_units: float,
        write_units: float,
        requests: int,
        usd: float,
    ) -> None:
        self.table: str = key[0]
        self.operation: str = key[1]
        self.partner: str | None = key[2]
        self.region: str = key[3]
        self.read_units: float = read_units
        self.write_units: float = write_units
        self.requests: int = requests
        self.usd: float = usd

    def __repr__(self) -> str:
        return (
            f"CostLine({self.table} {self.operation} partner={self.partner!r}: "
            f"{self.requests} requests, {self.read_units:g} RU, {self.write_units:g} WU, "
            f"${self.usd:.6f})"
        )


class BudgetAlert:
    """What a budget callback receives: ``scope`` is ``"invocation"`` or ``"window"``,
    ``spent`` the USD that crossed ``limit``, ``partner`` the partner budgeted (or None) and
    ``window`` its seconds (None for an invocation budget)."""

    __slots__ = ("limit", "partner", "scope", "spent", "window")

    def __init__(
        self,
        scope: Literal["invocation", "window"],
        limit: float,
        spent: float,
        partner: str | None,
        window: float | None,
    ) -> None:
        self.scope: Literal["invocation", "window"] = scope
        self.limit: float = limit
        self.spent: float = spent
        self.partner: str | None = partner
        self.window: float | None = window

    def __repr__(self) -> str:
        return (
            f"BudgetAlert({self.scope}, spent=${self.spent:.6f} > limit=${self.limit:.6f}, "
            f"partner={'-' if self.partner is None else _masked(self.partner)})"
        )


class Budget:
    """A threshold on the cost of one invocation (``window=None``) or of a rolling window of
    seconds, for one partner or for everything; made by :meth:`Costs.budget`."""

    def __init__(
        self,
        limit: float,
        callback: Callable[[BudgetAlert], object] | None,
        partner: str | None,
        window: float | None,
    ) -> None:
        self.limit: float = limit
        self.callback: Callable[[BudgetAlert], object] | None = callback
        self.partner: str | None = partner
        self.window: float | None = window
        self._events: list[tuple[float, float]] = []
        self._spent = 0.0
        self._armed = True
        self._lock = threading.Lock()

    def _matches(self, partner: str | None) -> bool:
        return self.partner is None or partner == self.partner

    def _observe(self, now: float, usd: float) -> float | None:
        """Add a windowed cost; the window's spend when it crosses the limit, else None."""
        assert self.window is not None
        with self._lock:
            self._events.append((now, usd))
            self._spent += usd
            horizon = now - self.window
            while self._events and self._events[0][0] <= horizon:
                self._spent -= self._events.pop(0)[1]
            if self._spent <= self.limit:
                self._armed = True
                return None
            if not self._armed:
                return None
            self._armed = False
            return self._spent

    def __repr__(self) -> str:
        scope = "invocation" if self.window is None else f"{self.window:g}s window"
        who = "all" if self.partner is None else _masked(self.partner)
        return f"Budget(${self.limit:g} per {scope}, partner={who})"


class Invocation:
    """The cost of the work inside one :meth:`Costs.invocation` block (USD so far)."""

    __slots__ = ("_alerted", "by_partner", "spent")

    def __init__(self) -> None:
        self.spent: float = 0.0
        self.by_partner: dict[str | None, float] = {}
        """USD per partner id (None: the DB's own account)."""
        self._alerted: set[int] = set()

    def __repr__(self) -> str:
        return f"Invocation(spent=${self.spent:.6f})"


class Costs:
    """``db.costs``: the DB's consumed capacity (and its partners') priced with ``prices``.

    Totals are computed when read, so replacing ``prices`` re-prices everything recorded.
    Budgets price each request as it is recorded and call their callback (and log a warning
    on the ``dynamorm.cost`` logger) when a threshold is crossed.
    """

    def __init__(self, usage: Usage, region: str) -> None:
        self._usage = usage
        self.region: str = region
        self.prices: PriceTable = PriceTable.default()
        self._budgets: list[Budget] = []
        self._invocation: Invocation | None = None
        self._clock: Callable[[], float] = time.monotonic

    # --- totals -----------------------------------------------------------------------------

    def lines(self) -> list[CostLine]:
        """Every (table, operation, partner) recorded so far, priced."""
        lines, _ = self._usage.snapshot()
        return [
            CostLine(
                key, read, write, int(requests), self.prices.price(key[3], key[0], read, write)
            )
            for key, (read, write, requests) in sorted(lines.items(), key=_sort_key)
        ]

    @property
    def total(self) -> float:
        """USD of everything recorded so far."""
        return sum(line.usd for line in self.lines())

    @property
    def read_units(self) -> float:
        """Read units recorded so far."""
        return sum(line.read_units for line in self.lines())

    @property
    def write_units(self) -> float:
        """Write units recorded so far (index writes included)."""
        return sum(line.write_units for line in self.lines())

    def by_table(self) -> dict[str, float]:
        """USD per physical table."""
        return self._group(lambda line: line.table)

    def by_operation(self) -> dict[str, float]:
        """USD per DynamoDB operation."""
        return self._group(lambda line: line.operation)

    def by_partner(self) -> dict[str | None, float]:
        """USD per partner id (None: the DB's own account)."""
        return self._group(lambda line: line.partner)

    def by_index(self) -> dict[tuple[str, str], float]:
        """Write units per ``(table, index)``, where DynamoDB reported them (writes of models
        with secondary indexes ask for ``INDEXES`` detail). Already part of the totals."""
        _, indexes = self._usage.snapshot()
        return indexes

    def reset(self) -> None:
        """Forget what was recorded (budgets and prices stay)."""
        self._usage.clear()

    def _group(self, key: Callable[[CostLine], _K]) -> dict[_K, float]:
        out: dict[_K, float] = {}
        for line in self.lines():
            name = key(line)
            out[name] = out.get(name, 0.0) + line.usd
        return out

    # --- budgets ----------------------------------------------------------------------------

    def budget(
        self,
        limit: float,
        *,
        callback: Callable[[BudgetAlert], object] | None = None,
        partner: str | None = None,
        window: float | None = None,
    ) -> Budget:
        """Alert when the cost of one :meth:`invocation` (``window=None``) or of the last
        ``window`` seconds goes over ``limit`` USD, for ``partner`` or for all traffic.

        The alert calls ``callback`` with a :class:`BudgetAlert` and logs a warning; it fires
        once per invocation, or once each time a window's spend rises over the limit. The
        prices must cover this DB's region (checked now).
        """
        if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:
            raise ConfigurationError(f"a budget limit is USD > 0, got {limit!r}")
        if window is not None and (
            isinstance(window, bool) or not isinstance(window, int | float) or not window > 0
        ):
            raise ConfigurationError(f"a budget window is seconds > 0, got {window!r}")
        if callback is not None and not callable(callback):
            raise ConfigurationError(f"callback must be callable, got {callback!r}")
        self.prices.unit_price(self.region, "-", "write")
        budget = Budget(float(limit), callback, partner, None if window is None else float(window))
        if not self._budgets:
            self._usage.listeners.append(self._observe)
        self._budgets.append(budget)
        return budget

    def remove_budget(self, budget: Budget) -> None:
        """Stop a budget."""
        self._budgets.remove(budget)
        if not self._budgets:
            self._usage.listeners.remove(self._observe)

    @contextmanager
    def invocation(self) -> Iterator[Invocation]:
        """Count the cost of the requests made inside the block (one Lambda invocation) for
        invocation budgets. One invocation at a time per DB, as Lambda runs them; requests
        from threads the block starts count too."""
        outer = self._invocation
        current = self._invocation = Invocation()
        try:
            yield current
        finally:
            self._invocation = outer

    def per_invocation(self, handler: _F) -> _F:
        """Decorate a Lambda handler so each call runs inside :meth:`invocation`."""
        import functools

        @functools.wraps(handler)
        def wrapped(*args: object, **kwargs: object) -> object:
            with self.invocation():
                return handler(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    def _observe(self, key: UsageKey, read: float, write: float) -> None:
        table, _, partner, region = key
        try:
            usd = self.prices.price(region, table, read, write)
        except ConfigurationError as exc:
            _log.error("cost budget: this request could not be priced: %s", exc)
            return
        alerts: list[tuple[Budget, BudgetAlert]] = []
        current = self._invocation
        if current is not None:
            current.spent += usd
            current.by_partner[partner] = current.by_partner.get(partner, 0.0) + usd
        now = self._clock()
        for budget in tuple(self._budgets):
            if not budget._matches(partner):
                continue
            if budget.window is None:
                if current is None or id(budget) in current._alerted:
                    continue
                spent = (
                    current.spent
                    if budget.partner is None
                    else current.by_partner.get(budget.partner, 0.0)
                )
                if spent > budget.limit:
                    current._alerted.add(id(budget))
                    alerts.append(
                        (
                            budget,
                            BudgetAlert("invocation", budget.limit, spent, budget.partner, None),
                        )
                    )
                continue
            crossed = budget._observe(now, usd)
            if crossed is not None:
                alerts.append(
                    (
                        budget,
                        BudgetAlert("window", budget.limit, crossed, budget.partner, budget.window),
                    )
                )
        for budget, alert in alerts:
            _log.warning(
                "cost budget exceeded: %s spent $%.6f, over the $%.6f limit (partner %s)",
                "one invocation" if alert.scope == "invocation" else f"{alert.window:g}s",
                alert.spent,
                alert.limit,
                "-" if alert.partner is None else _masked(alert.partner),
            )
            if budget.callback is not None:
                try:
                    budget.callback(alert)
                except Exception:
                    _log.exception("cost budget callback %r failed", budget.callback)

    def __repr__(self) -> str:
        return f"Costs(region={self.region!r}, budgets={len(self._budgets)})"


def _sort_key(item: tuple[UsageKey, list[float]]) -> tuple[str, str, str, str]:
    table, operation, partner, region = item[0]
    return (table, operation, partner or "", region)


def _masked(partner: str) -> str:
    from dynamorm._runtime.context import mask_partner_id

    return mask_partner_id(partner)
