"""The cost of exactly-once writes: client CPU, requests and bytes per write, with the
mechanism (``once``: write token, or tokened transaction) and without it (``plain``: the same
plan sent as one call, the send path before it), against the instant server.

Each side runs in its own process (``benchmarks._write_child``); sides alternate for a few
rounds and the result per side is the median over rounds.
"""

from __future__ import annotations

from benchmarks._context import Context
from benchmarks._results import Result, Table, ratio, rotations, summarize
from dynamorm._core.codec import item_size
from dynamorm._orm.exactly_once import HISTORY, new_token
from dynamorm._orm.meta import TOKEN_ATTRIBUTE

KINDS = {
    "save": "save (versioned, ~1 KB item)",
    "create": "create (~0.5 KB item)",
    "increment": "update by key with add (unversioned)",
}
FORMS = ("once", "plain")
CALLS, WARMUP, ROUNDS = 2000, 200, 5
QUICK_CALLS, QUICK_WARMUP, QUICK_ROUNDS = 20, 2, 1
CHILD_TIMEOUT = 600.0
REQUESTS = {"save": (1, 1), "create": (1, 1), "increment": (2, 1)}
"""Requests per write (once, plain): the transaction form reads the item back."""
WCU = {"save": "1 (1 KB item: +19..45 bytes)", "create": "1", "increment": "2 + 0.5 RCU vs 1"}


def run(ctx: Context) -> Result:
    """Measure each kind with and without the mechanism."""
    calls, warmup, rounds = (
        (QUICK_CALLS, QUICK_WARMUP, QUICK_ROUNDS) if ctx.quick else (CALLS, WARMUP, ROUNDS)
    )
    sides = [f"{kind}-{form}" for kind in KINDS for form in FORMS]
    cpu: dict[str, list[float]] = {side: [] for side in sides}
    size: dict[str, int] = {}
    for side in rotations(sides, rounds):
        args = [side, ctx.server_url, str(calls), str(warmup)]
        measured = ctx.run_child("benchmarks._write_child", args, timeout=CHILD_TIMEOUT)
        cpu[side].append(measured["cpu_us"])
        size[side] = int(measured["bytes"])
    rows = {side: summarize(side, cpu[side], "µs") for side in sides}
    token = {TOKEN_ATTRIBUTE: {"S": new_token()}}
    history = {TOKEN_ATTRIBUTE: {"S": " ".join(new_token() for _ in range(HISTORY))}}
    table = [
        [
            KINDS[kind],
            f"{rows[f'{kind}-once'].median:,.0f} / {rows[f'{kind}-plain'].median:,.0f} µs",
            f"{size[f'{kind}-once']:,} / {size[f'{kind}-plain']:,}",
            "{} / {}".format(*REQUESTS[kind]),
            WCU[kind],
        ]
        for kind in KINDS
    ]
    return Result(
        name="exactly_once",
        title="Exactly-once writes: cost per write, with the mechanism / without (plain)",
        rows=list(rows.values()),
        ratios=[
            ratio(f"{kind}: once / plain CPU", rows[f"{kind}-once"], rows[f"{kind}-plain"])
            for kind in KINDS
        ],
        tables=[
            Table(
                "Per write (once / plain):",
                ["Write", "Client CPU", "Request bytes", "Requests", "WCU"],
                table,
            )
        ],
        notes=[
            f"Stored bytes added per item: {item_size(token)} (one token), "
            f"{item_size(history)} (a version-checked write's history of {HISTORY}).",
            "plain = the same write plan sent as a single call with no token and no resolution "
            "(the library before exactly-once writes); once = as shipped.",
            f"{rounds} rounds; each side runs in a fresh process: {warmup} warm-up writes, then "
            f"{calls} timed writes; CPU is process time (the server's is not included).",
        ],
    )
