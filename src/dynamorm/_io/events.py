"""Request hooks: the event every hook receives after each request, and how it is filled."""

from __future__ import annotations

import time
from collections.abc import Callable

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from typing import Any


class RequestEvent:
    """What request hooks receive after every ``Client.call``, successful or not.

    ``table`` is the physical table name (several, comma-joined, for batch and transaction
    requests; None when the request names none). ``started`` is epoch seconds; ``duration`` is
    seconds including retries and backoff; ``attempts`` counts requests sent.
    ``consumed_capacity`` is the response's total ``CapacityUnits`` when the request asked for
    ``ReturnConsumedCapacity`` (else None; after ``call_raw`` it is found in the raw body
    without decoding the items); ``error`` is the exception raised, or None.
    """

    __slots__ = (
        "attempts",
        "consumed_capacity",
        "duration",
        "error",
        "operation",
        "region",
        "started",
        "table",
    )

    def __init__(self, operation: str, table: str | None, region: str) -> None:
        self.operation: str = operation
        self.table: str | None = table
        self.region: str = region
        self.started: float = time.time()
        self.duration: float = 0.0
        self.attempts: int = 0
        self.consumed_capacity: float | None = None
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        outcome = "ok" if self.error is None else type(self.error).__name__
        return (
            f"RequestEvent({self.operation} {self.table or '-'}: {outcome}, "
            f"{self.duration * 1000:.1f} ms, {self.attempts} attempt(s))"
        )


Hook = Callable[[RequestEvent], None]
"""A request hook: called with a :class:`RequestEvent` after each request."""


def tables_of(payload: object) -> str | None:
    if not isinstance(payload, dict):
        return None
    name = payload.get("TableName")
    if isinstance(name, str):
        return name
    names: set[str] = set()
    items = payload.get("RequestItems")
    if isinstance(items, dict):
        names.update(items)
    actions = payload.get("TransactItems")
    if isinstance(actions, list):
        for action in actions:
            for body in action.values() if isinstance(action, dict) else ():
                table = body.get("TableName") if isinstance(body, dict) else None
                if isinstance(table, str):
                    names.add(table)
    return ",".join(sorted(names)) or None


def capacity_of(response: dict[str, Any]) -> float | None:
    raw = response.get("ConsumedCapacity")
    entries = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else None
    if entries is None:
        return None
    return float(sum(e.get("CapacityUnits", 0.0) for e in entries if isinstance(e, dict)))


_CAPACITY_WINDOW = 16 * 1024  # bytes of a raw body read for one ConsumedCapacity value


def raw_capacity_of(body: bytes) -> float | None:
    """The total consumed capacity in a raw response body, without decoding its items.

    ``"ConsumedCapacity"`` may also name an attribute inside an item, but such a value is an
    AttributeValue (``{"N": ...}``); the response's own entry is the one with ``CapacityUnits``.
    """
    import json
    import re

    decode = json.JSONDecoder().raw_decode
    for match in re.finditer(rb'"ConsumedCapacity"\s*:\s*', body):
        start = match.end()
        try:
            value = decode(body[start : start + _CAPACITY_WINDOW].decode("utf-8", "replace"))[0]
        except ValueError:  # longer than the window (an attribute holding a large value)
            continue
        if isinstance(value, list) or (isinstance(value, dict) and "CapacityUnits" in value):
            return capacity_of({"ConsumedCapacity": value})
    return None
