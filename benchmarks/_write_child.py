"""One side of the exactly-once write benchmark, run in its own process.

``python -m benchmarks._write_child SIDE URL CALLS WARMUP`` times ``CALLS`` writes of one kind
against the instant server and prints one JSON line with the process CPU time and wall time per
call (µs) and the request body size (bytes). SIDE is ``KIND-FORM``: KIND is ``save`` (a
version-checked save of a loaded ~1 KB item), ``create`` or ``increment`` (``update`` by key with
``add``); FORM is ``once`` (the library as shipped) or ``plain`` (the same plan sent as a single
call with no write token and no resolution: the send path before exactly-once writes).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from itertools import count
from typing import TYPE_CHECKING, Any, cast

from benchmarks._server import item
from dynamorm import DB, Attr, Model, field, key
from dynamorm._core.steps import Call
from dynamorm._io.transport import HTTPTransport, Request, Response
from dynamorm._orm import crud
from dynamorm._orm.base import DBBase
from dynamorm._orm.meta import AV
from dynamorm._orm.results import Capacity
from dynamorm._orm.writes import WritePlan, extend_plan

if TYPE_CHECKING:
    from dynamorm._core.steps import Flow


class Payment(Model, table="payments"):
    pk: Attr[str] = field(pk=True)
    sk: Attr[str] = field(sk=True)
    merchant: Attr[str] = field(default="")
    amount: Attr[int] = field(default=0)
    currency: Attr[str] = field(default="EUR")
    status: Attr[str] = field(default="")
    attempts: Attr[int] = field(default=0)
    description: Attr[str] = field(default="")
    version: Attr[int] = field(version=True)


class Counter(Model, table="counters"):
    pk: Attr[str] = field(pk=True)
    sk: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)


def _plain(db: DBBase, plan: WritePlan) -> Flow[tuple[dict[str, Any], Capacity]]:
    """The send path before exactly-once writes: one call, retried blindly."""
    yield from extend_plan(plan, db)
    response = yield Call(plan.operation, plan.request())
    if plan.obj is None:  # update by key returns the item: the instant server's stands in
        response.setdefault("Attributes", response.get("Item"))
    capacity = db._account(response, "write", plan.operation)
    plan.succeeded(response.get("Attributes"))
    return response, capacity


class _Sizes(HTTPTransport):
    """Records the size of the last request body."""

    last = 0

    def __call__(self, request: Request) -> Response:
        _Sizes.last = len(request.body)
        return super().__call__(request)


def make_write(side: str, url: str) -> Callable[[], object]:
    """A no-argument function doing one write of ``side``."""
    kind, _, form = side.partition("-")
    if form == "plain":
        crud.send_flow = _plain
    elif form != "once":
        raise SystemExit(f"unknown form {form!r}")
    db = DB(
        region="us-east-1", endpoint_url=url, credentials=("AKID", "SECRET"), transport=_Sizes()
    )
    numbers = count()
    if kind == "save":
        obj = Payment.__meta__.from_item(cast("dict[str, AV]", item()))

        def save() -> object:
            obj.amount += 1
            return db.save(obj)

        return save
    if kind == "create":
        full = cast("dict[str, AV]", item())
        stored = {k: v for k, v in full.items() if k in Payment.__meta__.by_stored}

        def create() -> object:
            obj = Payment.__meta__.from_item(stored)
            obj.sk = f"p{next(numbers)}"
            obj._dm_src = None
            return db.create(obj)

        return create
    if kind == "increment":
        target = key(Counter, pk="k", sk="s")
        return lambda: db.update(target, Counter.amount.add(1))
    raise SystemExit(f"unknown kind {kind!r}")


def main(argv: list[str]) -> None:
    side, url, calls_text, warmup_text = argv
    calls, warmup = int(calls_text), int(warmup_text)
    write = make_write(side, url)
    for _ in range(warmup + 1):
        write()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        write()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    result = {"cpu_us": cpu / calls * 1e6, "wall_us": wall / calls * 1e6, "bytes": _Sizes.last}
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
