"""One side of the async benchmarks, run in its own process.

``python -m benchmarks._async_child SIDE URL MODE CALLS WARMUP INFLIGHT [--profile]``:

* ``MODE=cpu``: after one checked call and ``WARMUP`` calls, ``INFLIGHT`` tasks share ``CALLS``
  GetItems (each task awaits its next call as soon as its last one is answered, so ``INFLIGHT``
  requests are in flight all the time); prints CPU and wall time per call in microseconds.
* ``MODE=fanout``: after the warm-up, ``CALLS`` GetItems of distinct keys are started at once
  (``asyncio.gather``; each passes a semaphore of 64 first) and all results kept; prints the
  wall time, the CPU time, items/s, the RSS before the fan-out and the peak RSS (``VmHWM``)
  after it.

Every side runs on the standard asyncio event loop, on one client made once.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from dynamorm import Attr, Model, field

SIDES = ("dynamorm", "aiodynamo", "pydynox")
Get = Callable[[int], Awaitable[Any]]
FANOUT_INFLIGHT = 64
"""Fan-out tasks past a semaphore at once (dynamorm's default pool bound; aiohttp's is 100)."""


class Card(Model):
    brand: Attr[str]
    last4: Attr[str]
    exp_month: Attr[int]
    exp_year: Attr[int]
    holder: Attr[str]


class Line(Model):
    sku: Attr[str]
    qty: Attr[int]


class Payment(Model, table="payments"):
    """The instant server's item (``benchmarks._server.item``) as a typed model."""

    pk: Attr[str] = field(pk=True)
    sk: Attr[str]
    merchant: Attr[str]
    amount: Attr[int]
    currency: Attr[str]
    status: Attr[str]
    attempts: Attr[int]
    version: Attr[int]
    paid: Attr[bool]
    refunded_at: Attr[str | None] = field(default=None)
    description: Attr[str]
    tags: Attr[set[str]]
    scores: Attr[set[Decimal]]
    card: Attr[Card]
    lines: Attr[list[Line]]
    blob: Attr[bytes]


@asynccontextmanager
async def _dynamorm(url: str) -> AsyncIterator[Get]:
    from dynamorm import AsyncDB

    async with AsyncDB(region="us-east-1", endpoint_url=url, credentials=("AKID", "SECRET")) as db:
        yield lambda i: db.get(Payment, pk=f"k{i}")


@asynccontextmanager
async def _aiodynamo(url: str) -> AsyncIterator[Get]:
    import aiohttp
    from aiodynamo.client import Client
    from aiodynamo.credentials import Key, StaticCredentials
    from aiodynamo.http.aiohttp import AIOHTTP
    from yarl import URL

    async with aiohttp.ClientSession() as session:
        client = Client(
            AIOHTTP(session), StaticCredentials(Key("AKID", "SECRET")), "us-east-1", URL(url)
        )
        table = client.table("t")
        yield lambda i: table.get_item({"pk": f"k{i}"})


@asynccontextmanager
async def _pydynox(url: str) -> AsyncIterator[Get]:
    import logging

    from pydynox import DynamoDBClient

    # Its "slow operation" warnings (every queued call of a fan-out) would cost it CPU here.
    logging.getLogger("pydynox").setLevel(logging.ERROR)
    client = DynamoDBClient(
        region="us-east-1", endpoint_url=url, access_key="AKID", secret_key="SECRET"
    )
    yield lambda i: client.get_item("t", {"pk": f"k{i}"})


CLIENTS = {"dynamorm": _dynamorm, "aiodynamo": _aiodynamo, "pydynox": _pydynox}


def _check(side: str, got: Any) -> None:
    """Fail unless ``got`` is the instant server's item as ``side`` returns it."""
    if isinstance(got, Payment):
        card = got.card.holder
    else:
        card = (got or {}).get("card", {}).get("holder")
    if card != "A. N. Example":
        raise SystemExit(f"{side}: GetItem did not return the item: {got!r}")


async def _share(get: Get, calls: int, inflight: int) -> None:
    """``calls`` GetItems done by ``inflight`` tasks, each awaiting one call at a time."""
    per, extra = divmod(calls, inflight)

    async def task(first: int, count: int) -> None:
        for i in range(first, first + count):
            await get(i)

    counts = [per + (1 if t < extra else 0) for t in range(inflight)]
    starts = [sum(counts[:t]) for t in range(inflight)]
    await asyncio.gather(*(task(s, c) for s, c in zip(starts, counts, strict=True)))


def _rss_kb(field_name: str) -> int:
    status = open("/proc/self/status").read()  # noqa: SIM115
    return int(status.split(f"{field_name}:")[1].split()[0])


async def _cpu(side: str, url: str, calls: int, warmup: int, inflight: int) -> dict[str, float]:
    async with CLIENTS[side](url) as get:
        _check(side, await get(0))
        await _share(get, warmup, inflight)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await _share(get, calls, inflight)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"cpu_us": cpu / calls * 1e6, "wall_us": wall / calls * 1e6}


async def _fanout(side: str, url: str, calls: int, warmup: int, inflight: int) -> dict[str, float]:
    async with CLIENTS[side](url) as get:
        _check(side, await get(0))
        await _share(get, warmup, inflight)
        before = _rss_kb("VmRSS")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        gate = asyncio.Semaphore(FANOUT_INFLIGHT)

        async def gated(i: int) -> Any:
            async with gate:
                return await get(i)

        results = await asyncio.gather(*(gated(i) for i in range(calls)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        peak = _rss_kb("VmHWM")
        if len(results) != calls:
            raise SystemExit(f"{side}: {len(results)} results, expected {calls}")
        _check(side, results[-1])
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "items_per_s": calls / wall,
        "rss_before_mb": before / 1024,
        "peak_rss_mb": peak / 1024,
    }


MODES = {"cpu": _cpu, "fanout": _fanout}


def main(argv: list[str]) -> None:
    """Measure one side in one mode and print its JSON line."""
    side, url, mode, calls_text, warmup_text, inflight_text, *flags = argv
    if side not in CLIENTS or mode not in MODES:
        raise SystemExit(f"usage: SIDE ({', '.join(SIDES)}) URL MODE ({', '.join(MODES)}) ...")
    calls, warmup, inflight = int(calls_text), int(warmup_text), int(inflight_text)
    print(json.dumps(asyncio.run(MODES[mode](side, url, calls, warmup, inflight))))
    if "--profile" in flags:
        import cProfile
        import pstats

        async def again() -> None:
            async with CLIENTS[side](url) as get:
                profiler.enable()
                await _share(get, calls, inflight)
                profiler.disable()

        profiler = cProfile.Profile(time.process_time)
        asyncio.run(again())
        print(f"\n=== cProfile: {side}, {calls} calls, by own CPU time ===", file=sys.stderr)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main(sys.argv[1:])
