"""Request hooks and the built-in CloudWatch Embedded Metric Format (EMF) emitter.

A hook is any callable taking a :class:`~dynamorm._io.events.RequestEvent`; the client calls
every hook in ``db.client.hooks`` after each request. :class:`EMFMetrics` is such a hook: it
aggregates per operation and table and writes EMF JSON lines (stdout by default), which Lambda
ships to CloudWatch Logs and CloudWatch turns into metrics. It needs no dependency.
"""

from __future__ import annotations

import sys
from _thread import allocate_lock  # threading.Lock, without loading threading
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any

from dynamorm._core.errors import ConfigurationError, Throttled
from dynamorm._core.protocol import json_dumps
from dynamorm._io.events import RequestEvent

if TYPE_CHECKING:
    from typing import TypeVar

    from dynamorm._features.cost import PriceTable

    _EventT = TypeVar("_EventT")
    _ContextT = TypeVar("_ContextT")
    _ResultT = TypeVar("_ResultT")

_CONTEXT = "dynamorm._runtime.context"

MAX_VALUES = 100
"""EMF takes at most 100 values per metric in one document; a series flushes when it is full."""

_RESERVED = frozenset(
    {"_aws", "Operation", "Table", "Partner", "Requests", "Errors", "Throttles", "Retries"}
    | {"Latency", "ConsumedCapacity", "EstimatedCost", "RequestId"}
)


class _Series:
    """What was recorded for one (operation, table, partner) since the last flush."""

    __slots__ = (
        "capacity",
        "cost",
        "errors",
        "first",
        "latency",
        "requests",
        "retries",
        "throttles",
    )

    def __init__(self, first: float) -> None:
        self.first = first
        self.requests = 0
        self.errors = 0
        self.throttles = 0
        self.retries = 0
        self.latency: list[float] = []
        self.capacity: float | None = None
        self.cost: float | None = None


class EMFMetrics:
    """A request hook writing CloudWatch metrics in Embedded Metric Format.

    Per ``Operation`` and ``Table`` (plus ``Partner`` inside a ``partner_context``, masked unless
    ``mask_partner=False``) it records ``Requests``, ``Errors``, ``Throttles``, ``Retries``
    (Count), ``Latency`` (Milliseconds, every value) and ``ConsumedCapacity`` (when requests ask
    for ``ReturnConsumedCapacity``) and, given ``prices`` (a :class:`PriceTable`),
    ``EstimatedCost`` (USD: that capacity priced for the request's region and table).
    :meth:`flush` writes one JSON line per series to ``out`` (default: ``sys.stdout``); call it
    when an invocation ends, or decorate the handler with :meth:`flush_after`. ``properties``
    are extra string or number members on every line.
    """

    def __init__(
        self,
        namespace: str = "DynamORM",
        *,
        out: IO[str] | None = None,
        mask_partner: bool = True,
        properties: Mapping[str, str | int | float] | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255:
            raise ConfigurationError(
                f"EMF namespace must be a str of 1 to 255 characters, got {namespace!r}"
            )
        extra = dict(properties or {})
        clash = sorted(_RESERVED & set(extra))
        if clash:
            raise ConfigurationError(f"EMF properties may not use reserved names: {clash}")
        for name, value in extra.items():
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ConfigurationError(f"EMF property {name!r} must be a str or number")
        self.namespace = namespace
        self.out = out
        self.mask_partner = mask_partner
        self.properties = extra
        self.prices = prices
        self._series: dict[tuple[str, str, str | None], _Series] = {}
        self._lock = allocate_lock()

    def __call__(self, event: RequestEvent) -> None:
        """Record one request (the hook entry point)."""
        # Only partner_context (in the context module) sets a partner: while that module is
        # not loaded there is none, and a hook on a plain DB does not load it.
        context = sys.modules.get(_CONTEXT)
        partner = None if context is None else context.current_partner()
        if context is not None and partner is not None and self.mask_partner:
            partner = context.mask_partner_id(partner)
        key = (event.operation, event.table or "-", partner)
        cost = self._cost(event)
        full: tuple[tuple[str, str, str | None], _Series] | None = None
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series(event.started)
            if event.error is not None:
                series.errors += 1
                if isinstance(event.error, Throttled):
                    series.throttles += 1
            if event.attempts == 0:  # never sent (e.g. the deadline had passed): no request
                return
            series.requests += 1
            series.retries += max(0, event.attempts - 1)
            series.latency.append(round(event.duration * 1000.0, 3))
            if event.consumed_capacity is not None:
                series.capacity = (series.capacity or 0.0) + event.consumed_capacity
            if cost is not None:
                series.cost = (series.cost or 0.0) + cost
            if len(series.latency) >= MAX_VALUES:
                full = (key, self._series.pop(key))
        if full is not None:
            self._write([self._document(*full, None)])

    def flush(self, context: object = None) -> int:
        """Write every recorded series as one EMF line and forget them; return the line count.

        With a Lambda ``context``, each line also carries its ``RequestId``.
        """
        with self._lock:
            taken, self._series = self._series, {}
        request_id = getattr(context, "aws_request_id", None)
        lines = [self._document(key, series, request_id) for key, series in taken.items()]
        self._write(lines)
        return len(lines)

    def flush_after(
        self, handler: Callable[[_EventT, _ContextT], _ResultT]
    ) -> Callable[[_EventT, _ContextT], _ResultT]:
        """Decorate a Lambda handler so metrics are flushed when each invocation ends."""

        def flushing(event: _EventT, context: _ContextT) -> _ResultT:
            try:
                return handler(event, context)
            finally:
                self.flush(context)

        flushing.__name__ = getattr(handler, "__name__", "handler")
        flushing.__doc__ = handler.__doc__
        flushing.__wrapped__ = handler  # type: ignore[attr-defined]
        return flushing

    def _document(
        self, key: tuple[str, str, str | None], series: _Series, request_id: str | None
    ) -> str:
        operation, table, partner = key
        dimensions = ["Operation", "Table"] + (["Partner"] if partner is not None else [])
        metrics: list[dict[str, str]] = [
            {"Name": "Requests", "Unit": "Count"},
            {"Name": "Errors", "Unit": "Count"},
            {"Name": "Throttles", "Unit": "Count"},
            {"Name": "Retries", "Unit": "Count"},
        ]
        doc: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(series.first * 1000),
                "CloudWatchMetrics": [
                    {"Namespace": self.namespace, "Dimensions": [dimensions], "Metrics": metrics}
                ],
            },
            **self.properties,
            "Operation": operation,
            "Table": table,
            "Requests": series.requests,
            "Errors": series.errors,
            "Throttles": series.throttles,
            "Retries": series.retries,
        }
        if series.latency:  # EMF wants 1 to 100 values; none when no request was sent
            metrics.append({"Name": "Latency", "Unit": "Milliseconds"})
            doc["Latency"] = series.latency
        if partner is not None:
            doc["Partner"] = partner
        if series.capacity is not None:
            metrics.append({"Name": "ConsumedCapacity", "Unit": "None"})
            doc["ConsumedCapacity"] = series.capacity
        if series.cost is not None:
            metrics.append({"Name": "EstimatedCost", "Unit": "None"})
            doc["EstimatedCost"] = series.cost
        if request_id:
            doc["RequestId"] = str(request_id)
        return json_dumps(doc, ascii_only=True)

    def _cost(self, event: RequestEvent) -> float | None:
        """The request's consumed capacity priced (USD), when prices were given."""
        if self.prices is None or event.consumed_capacity is None or event.table is None:
            return None
        from dynamorm._features.cost import kind_of

        kind = kind_of(event.operation)
        if kind is None:
            return None
        try:
            price = self.prices.unit_price(event.region, event.table, kind)
        except ConfigurationError as exc:  # logged, and the other metrics still recorded
            import logging

            logging.getLogger("dynamorm.cost").error("EMF EstimatedCost not recorded: %s", exc)
            return None
        return event.consumed_capacity * price

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        out = self.out if self.out is not None else sys.stdout
        out.write("".join(line + "\n" for line in lines))
        out.flush()

    def __repr__(self) -> str:
        return f"EMFMetrics(namespace={self.namespace!r}, {len(self._series)} pending series)"
