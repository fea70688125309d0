"""Async GetItem against the instant server: dynamorm ``AsyncDB`` beside aiodynamo and pydynox.

Two benchmarks, each side in its own process (``benchmarks._async_child``), sides alternating
over rounds (order rotated every round), medians reported:

* ``async_cpu_per_call``: process CPU per GetItem with 50 requests in flight;
* ``async_fanout``: 10,000 GetItems started at once: items/s, CPU per item and peak RSS.
"""

from __future__ import annotations

from benchmarks._context import Context
from benchmarks._results import Ratio, Result, Table, ratio, rotations, summarize

SIDES = {
    "dynamorm AsyncDB.get (typed)": "dynamorm",
    "aiodynamo on aiohttp (dicts)": "aiodynamo",
    "pydynox async client (dicts)": "pydynox",
}
OURS, AIODYNAMO, PYDYNOX = SIDES
TARGET = 0.5
"""dynamorm's CPU per call must be at most this fraction of aiodynamo's."""

INFLIGHT = 50
CALLS, WARMUP, ROUNDS = 3000, 300, 5
FANOUT, FANOUT_ROUNDS = 10_000, 3
QUICK_CALLS, QUICK_WARMUP, QUICK_ROUNDS, QUICK_INFLIGHT, QUICK_FANOUT = 40, 5, 1, 5, 50
CHILD_TIMEOUT = 600.0

_SETUP = (
    "Every side runs on the standard asyncio event loop (uvloop is not installed) with one "
    "client made once; the server is the instant server (a separate process on 127.0.0.1 "
    "returning a fixed 1.3 KB GetItem response), whose CPU is not in the client's process time."
)
_SIDES_NOTE = (
    "dynamorm decodes every item into a typed model (nested model, list of models, sets, "
    "bytes) and verifies the x-amz-crc32; aiodynamo (on an aiohttp ClientSession, its faster "
    "transport) and pydynox (Rust core on a tokio runtime: its process CPU includes the "
    "runtime's worker threads) return plain dicts and do not check the CRC32. pydynox's "
    "'slow operation' log warnings are silenced so that logging does not cost it CPU."
)


def _measure(
    ctx: Context, side: str, mode: str, counts: tuple[int, int, int], *flags: str
) -> dict[str, float]:
    """Run one side in ``mode`` with (calls, warm-up calls, tasks in flight)."""
    args = [side, ctx.server_url, mode, *(str(n) for n in counts), *flags]
    return ctx.run_child("benchmarks._async_child", args, timeout=CHILD_TIMEOUT)


def run_cpu(ctx: Context) -> Result:
    """CPU per GetItem of each side with ``INFLIGHT`` requests in flight."""
    calls, warmup, rounds, inflight = (
        (QUICK_CALLS, QUICK_WARMUP, QUICK_ROUNDS, QUICK_INFLIGHT)
        if ctx.quick
        else (CALLS, WARMUP, ROUNDS, INFLIGHT)
    )
    cpu: dict[str, list[float]] = {label: [] for label in SIDES}
    wall: dict[str, list[float]] = {label: [] for label in SIDES}
    for label in rotations(list(SIDES), rounds):
        measured = _measure(ctx, SIDES[label], "cpu", (calls, warmup, inflight))
        cpu[label].append(measured["cpu_us"])
        wall[label].append(measured["wall_us"])
    rows = {label: summarize(label, cpu[label], "µs") for label in SIDES}
    if ctx.profile:
        for side in SIDES.values():
            _measure(ctx, side, "cpu", (calls, 0, inflight), "--profile")
    return Result(
        name="async_cpu_per_call",
        title=f"Async client CPU per GetItem, {inflight} requests in flight (process CPU time)",
        rows=list(rows.values()),
        ratios=[
            ratio(f"{OURS} / {AIODYNAMO}", rows[OURS], rows[AIODYNAMO], TARGET),
            ratio(f"{OURS} / {PYDYNOX}", rows[OURS], rows[PYDYNOX]),
        ],
        tables=[
            Table(
                "Wall time per call (medians; with this many in flight, mostly the server's pace):",
                ["Side", "Wall per call"],
                [
                    [label, f"{summarize(label, w, 'µs').median:,.0f} µs"]
                    for label, w in wall.items()
                ],
            )
        ],
        notes=[
            f"{rounds} rounds; in each, every side runs in a fresh process: one checked call, "
            f"{warmup} warm-up calls, then {calls} timed calls shared by {inflight} tasks, each "
            "awaiting its next GetItem as soon as the last one is answered. Samples are per-round "
            "means; the table shows their median.",
            _SETUP,
            _SIDES_NOTE,
        ],
    )


def run_fanout(ctx: Context) -> Result:
    """``FANOUT`` GetItems started at once (``asyncio.gather``): items/s, CPU, peak RSS."""
    items, rounds = (QUICK_FANOUT, QUICK_ROUNDS) if ctx.quick else (FANOUT, FANOUT_ROUNDS)
    warmup = QUICK_WARMUP if ctx.quick else WARMUP
    got: dict[str, list[dict[str, float]]] = {label: [] for label in SIDES}
    for label in rotations(list(SIDES), rounds):
        got[label].append(_measure(ctx, SIDES[label], "fanout", (items, warmup, INFLIGHT)))

    def median(label: str, key: str, unit: str, scale: float = 1.0) -> float:
        return summarize(label, [m[key] * scale for m in got[label]], unit).median

    rate = {label: summarize(label, [m["items_per_s"] for m in got[label]], "items/s")
            for label in SIDES}  # fmt: skip
    cpu = {label: median(label, "cpu_s", "µs", 1e6 / items) for label in SIDES}
    peak = {label: median(label, "peak_rss_mb", "MB") for label in SIDES}
    before = {label: median(label, "rss_before_mb", "MB") for label in SIDES}
    return Result(
        name="async_fanout",
        title=f"Async fan-out: {items:,} GetItems started at once (throughput, peak memory)",
        rows=list(rate.values()),
        ratios=[
            Ratio(f"CPU per item: {OURS} / {AIODYNAMO}", cpu[OURS] / cpu[AIODYNAMO]),
            Ratio(f"CPU per item: {OURS} / {PYDYNOX}", cpu[OURS] / cpu[PYDYNOX]),
            Ratio(f"peak RSS: {OURS} / {AIODYNAMO}", peak[OURS] / peak[AIODYNAMO]),
            Ratio(f"peak RSS: {OURS} / {PYDYNOX}", peak[OURS] / peak[PYDYNOX]),
        ],
        tables=[
            Table(
                "Medians per side: CPU per item, RSS before the fan-out (after the warm-up) and "
                "peak RSS (all results kept until the end):",
                ["Side", "CPU per item", "RSS before", "peak RSS"],
                [
                    [
                        label,
                        f"{cpu[label]:,.0f} µs",
                        f"{before[label]:.1f} MB",
                        f"{peak[label]:.1f} MB",
                    ]
                    for label in SIDES
                ],
            )
        ],
        notes=[
            f"{rounds} rounds; in each, every side runs in a fresh process: one checked call and "
            f"{warmup} warm-up calls ({INFLIGHT} in flight), then {items:,} GetItems of distinct "
            "keys started at once with asyncio.gather, each "
            "passing an asyncio.Semaphore(64) first (without it, AsyncDB's requests queued for a "
            "pool slot past the 3 s connect timeout fail with EndpointUnreachable), every result "
            "kept. Each side's own "
            "connection limit applies (its default). Items/s is on wall time, so the instant "
            "server (Python, one thread per connection, on the same two cores) bounds it; CPU per "
            "item and peak RSS (VmHWM of the client process) show what the client itself spends.",
            _SETUP,
            _SIDES_NOTE,
        ],
    )
