"""A 1 MB Query page to typed objects: items/s of dynamorm, boto3 resource and PynamoDB.

Every side reads the same page from the same server (``benchmarks._page_data``: 1,000 items of
about 1 KB) and reads every attribute of every item back. Each side runs in its own process
(``benchmarks._decode_child``) and is timed on process CPU time; the sides alternate for a few
rounds (order rotated every round) and the median over rounds is reported.
"""

from __future__ import annotations

import statistics
import sys

from benchmarks._context import Context
from benchmarks._page_data import ITEMS, PageServer, page_body
from benchmarks._results import Ratio, Result, Row, Table, rotations, summarize

SIDES = {
    "dynamorm page()": "dynamorm-page",
    "dynamorm page(), no msgspec": "dynamorm-page-stdlib",
    "dynamorm decode_page() alone": "dynamorm-decode",
    "boto3 resource Table.query": "boto3-resource",
    "PynamoDB Model.query": "pynamodb",
    "pydynox Model.sync_query": "pydynox",
}
OURS, STDLIB, DECODER, BOTO3, PYNAMODB, PYDYNOX = SIDES
TARGETS = {BOTO3: 10.0, PYNAMODB: 6.0}
"""dynamorm page() must read at least this many times the items/s of each reference side."""

ROUNDS, BUDGET, WARMUP, MIN_PAGES = 5, 2.0, 2, 3
QUICK_ROUNDS, QUICK_BUDGET, QUICK_WARMUP, QUICK_MIN_PAGES = 1, 0.0, 0, 1
CHILD_TIMEOUT = 600.0


def _measure(
    ctx: Context, url: str, side: str, settings: tuple[float, int, int], *flags: str
) -> dict[str, str | float]:
    budget, warmup, min_pages = settings
    args = [side, url, str(budget), str(warmup), str(min_pages), *flags]
    return ctx.run_child("benchmarks._decode_child", args, timeout=CHILD_TIMEOUT)


def _cpu_ratio(ours: Row, theirs: Row) -> Ratio:
    """dynamorm's CPU per item over the other side's (the inverse of the items/s ratio)."""
    return Ratio(
        f"CPU per item: {ours.label} / {theirs.label}",
        theirs.median / ours.median,
        1 / TARGETS[theirs.label],
    )


def run(ctx: Context) -> Result:
    """Measure items/s of each side on the same page; ratios against boto3 and PynamoDB."""
    rounds, budget, warmup, min_pages = (
        (QUICK_ROUNDS, QUICK_BUDGET, QUICK_WARMUP, QUICK_MIN_PAGES)
        if ctx.quick
        else (ROUNDS, BUDGET, WARMUP, MIN_PAGES)
    )
    rate: dict[str, list[float]] = {label: [] for label in SIDES}
    wall: dict[str, list[float]] = {label: [] for label in SIDES}
    pages: dict[str, list[float]] = {label: [] for label in SIDES}
    types: dict[str, list[str]] = {}
    labels = list(SIDES)
    with PageServer(ctx.python, ctx.child_env(import_benchmarks=True)) as server:
        for label in rotations(labels, rounds):
            measured = _measure(ctx, server.url, SIDES[label], (budget, warmup, min_pages))
            rate[label].append(ITEMS / (float(measured["cpu_ms"]) / 1e3))
            wall[label].append(float(measured["wall_ms"]))
            pages[label].append(float(measured["pages"]))
            types[label] = [str(measured[k]) for k in ("amount", "fee", "codes")]
        if ctx.profile:
            sys.stdout.flush()
            for side in SIDES.values():
                _measure(ctx, server.url, side, (0.0, 1, 3), "--profile")
    rows = {label: summarize(label, rate[label], "items/s") for label in labels}
    ratios = [_cpu_ratio(rows[OURS], rows[theirs]) for theirs in (BOTO3, PYNAMODB)]
    speedups = []
    for theirs in (BOTO3, PYNAMODB, PYDYNOX):
        for mine in (OURS, STDLIB, DECODER):
            value = rows[mine].median / rows[theirs].median
            target = TARGETS.get(theirs) if mine == OURS else None
            met = "—" if target is None else ("yes" if value >= target else "**no**")
            goal = "—" if target is None else f">= {target:g}x"
            speedups.append([f"{mine} vs {theirs}", f"{value:.1f}x", goal, met])
    size_kb = len(page_body()) / 1000
    return Result(
        name="decode_page",
        title=f"1 MB Query page to typed objects ({ITEMS:,} items, every attribute read back)",
        rows=list(rows.values()),
        ratios=ratios,
        figures={
            "CPU per item": {
                label: rows[BOTO3].median / rows[label].median
                for label in (OURS, STDLIB, BOTO3, PYNAMODB, PYDYNOX)
            }
        },
        tables=[
            Table(
                "Items/s over the reference sides (higher is better; the targets above, "
                "inverted), for page(), page() without msgspec and decode_page() alone:",
                ["Speed-up in items/s", "Measured", "Target", "Met"],
                speedups,
            ),
            Table(
                "Per side: wall time per page (medians; includes waiting for the server), timed "
                "pages per round, and the Python types of `amount` (N int), `fee` (N decimal) "
                "and the elements of `codes` (NS):",
                ["Side", "Wall per page", "Pages per round", "amount", "fee", "codes"],
                [
                    [
                        label,
                        f"{statistics.median(wall[label]):,.1f} ms",
                        f"{statistics.median(pages[label]):g}",
                        *types[label],
                    ]
                    for label in labels
                ],
            ),
        ],
        notes=[
            f"{rounds} rounds; in each, every side runs in a fresh process: one page checked "
            f"value by value, {warmup} warm-up pages, then pages until {budget:g} s of process "
            f"CPU time (at least {min_pages}). Sides alternate (order rotated every round); "
            "samples are per-round items/s, the table shows their median.",
            f"Server: a separate process on 127.0.0.1 answering every request with the same "
            f"{size_kb:,.0f} KB Query response (Content-Length, x-amz-crc32, no LastEvaluatedKey)"
            "; its CPU is not in the client's process time.",
            "page(), Table.query and Model.query include building, signing and sending the "
            "request, the CRC check, parsing and decoding; decode_page() alone starts from the "
            "response body already in memory (no request, no HTTP).",
            "page() uses msgspec (a default dependency) for this page; 'no msgspec' is the same "
            "call in a process where msgspec cannot be imported (`pip install --no-deps`): the "
            "standard-library decoder.",
            "pydynox 1.8 returns the fractional numbers inside the list of maps as floats; its "
            "read-back turns them into Decimal(repr(x)) to pass the value check (exact for this "
            "page's prices) and the nested map is a dataclass (MapAttribute(Card)).",
        ],
    )
