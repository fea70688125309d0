"""Client CPU per GetItem against the instant server (process CPU time, server excluded).

Each side runs in its own process (``benchmarks._cpu_child``): it warms up, then times a few
thousand calls with ``time.process_time``. Sides run alternately for a few rounds, all against
the same server; the result per side is the median over rounds.
"""

from __future__ import annotations

import sys

from benchmarks._context import Context
from benchmarks._results import Result, Table, ratio, rotations, summarize

SIDES = {
    "dynamorm": "dynamorm",
    "boto3 client": "boto3-client",
    "boto3 resource Table": "boto3-resource",
    "pydynox client": "pydynox",
}
TARGET = 0.4
CALLS, WARMUP, ROUNDS = 3000, 300, 5
QUICK_CALLS, QUICK_WARMUP, QUICK_ROUNDS = 30, 5, 1
CHILD_TIMEOUT = 600.0


def _measure(ctx: Context, side: str, calls: int, warmup: int, *flags: str) -> dict[str, float]:
    args = [side, ctx.server_url, str(calls), str(warmup), *flags]
    return ctx.run_child("benchmarks._cpu_child", args, timeout=CHILD_TIMEOUT)


def run(ctx: Context) -> Result:
    """Measure CPU per GetItem of each side; ratio dynamorm / boto3 client."""
    calls, warmup, rounds = (
        (QUICK_CALLS, QUICK_WARMUP, QUICK_ROUNDS) if ctx.quick else (CALLS, WARMUP, ROUNDS)
    )
    cpu: dict[str, list[float]] = {label: [] for label in SIDES}
    wall: dict[str, list[float]] = {label: [] for label in SIDES}
    labels = list(SIDES)
    for label in rotations(labels, rounds):
        measured = _measure(ctx, SIDES[label], calls, warmup)
        cpu[label].append(measured["cpu_us"])
        wall[label].append(measured["wall_us"])
    rows = {label: summarize(label, cpu[label], "µs") for label in labels}
    walls = {label: summarize(label, wall[label], "µs") for label in labels}
    if ctx.profile:
        sys.stdout.flush()
        for side in SIDES.values():
            _measure(ctx, side, calls, 0, "--profile")
    ours = rows["dynamorm"]
    return Result(
        name="cpu_per_call",
        title="Client CPU per GetItem (process CPU time, ~1 KB item, keep-alive)",
        rows=list(rows.values()),
        ratios=[
            ratio("dynamorm / boto3 client", ours, rows["boto3 client"], TARGET),
            ratio("dynamorm / boto3 resource Table", ours, rows["boto3 resource Table"]),
            ratio("dynamorm / pydynox client", ours, rows["pydynox client"]),
        ],
        figures={
            "CPU": {label: rows[label].median / rows["boto3 client"].median for label in labels}
        },
        tables=[
            Table(
                "Wall time per call (medians; includes waiting for the server):",
                ["Side", "Wall per call"],
                [[label, f"{w.median:,.0f} µs"] for label, w in walls.items()],
            )
        ],
        notes=[
            f"{rounds} rounds; in each, every side runs in a fresh process: one checked call, "
            f"{warmup} warm-up calls, then {calls} timed calls. Sides alternate (order rotated "
            "every round); samples are per-round means, the table shows their median.",
            "Server: a separate process on 127.0.0.1 returning a fixed 1.3 KB GetItem response "
            "with Content-Length and x-amz-crc32; its CPU is not in the client's process time.",
            "Every client signs each request (SigV4) and parses the JSON (dynamorm and boto3 "
            "also verify the CRC32); boto3 additionally validates parameters and, for the "
            "resource, (de)serializes Python types; pydynox (Rust core on a tokio runtime) "
            "returns Python values, and its process CPU includes its runtime's worker threads.",
        ],
    )
