"""Field encryption: client CPU per write and per read of a model with two encrypted fields
against the same model without encryption, and KMS calls per 1,000 writes and reads.

Each side runs in its own process (``benchmarks._encryption_child``) on an in-process transport
that answers DynamoDB and KMS, so the time is the library's own (encode, encrypt, sign, parse,
decrypt, decode) with no network to dilute the difference. Sides alternate for a few rounds.
"""

from __future__ import annotations

from benchmarks._context import Context
from benchmarks._results import Result, Table, ratio, rotations, summarize

SIDES = {"plain model": "plain", "encrypted model": "encrypted"}
CALLS, WARMUP, ROUNDS = 2000, 200, 5
QUICK_CALLS, QUICK_WARMUP, QUICK_ROUNDS = 20, 5, 1
CHILD_TIMEOUT = 600.0
PEERS = "1,000 per encrypted attribute (Go DynamORM, pydynox: one KMS call per value)"


def run(ctx: Context) -> Result:
    """CPU per write and read of each side; ratios encrypted / plain; KMS call counts."""
    calls, warmup, rounds = (
        (QUICK_CALLS, QUICK_WARMUP, QUICK_ROUNDS) if ctx.quick else (CALLS, WARMUP, ROUNDS)
    )
    labels = list(SIDES)
    writes: dict[str, list[float]] = {label: [] for label in labels}
    reads: dict[str, list[float]] = {label: [] for label in labels}
    counts: dict[str, dict[str, float]] = {}
    for label in rotations(labels, rounds):
        measured = ctx.run_child(
            "benchmarks._encryption_child",
            [SIDES[label], str(calls), str(warmup)],
            timeout=CHILD_TIMEOUT,
        )
        writes[label].append(measured["write_us"])
        reads[label].append(measured["read_us"])
        counts[label] = measured
    write_rows = {label: summarize(f"{label}: create", writes[label], "µs") for label in labels}
    read_rows = {label: summarize(f"{label}: get", reads[label], "µs") for label in labels}
    sealed = counts["encrypted model"]
    return Result(
        name="encryption",
        title="Field encryption: client CPU per write and read, and KMS calls",
        rows=[*write_rows.values(), *read_rows.values()],
        ratios=[
            ratio(
                "encrypted / plain, CPU per create",
                write_rows["encrypted model"],
                write_rows["plain model"],
            ),
            ratio(
                "encrypted / plain, CPU per get",
                read_rows["encrypted model"],
                read_rows["plain model"],
            ),
        ],
        tables=[
            Table(
                "KMS calls (fresh DB each, default DataKeyPolicy; 2 encrypted fields per item):",
                ["Work", "DynamORM", "Peers"],
                [
                    ["1,000 writes", f"{sealed['kms_per_1000_writes']:.0f}", PEERS],
                    ["1,000 reads (GetItem)", f"{sealed['kms_per_1000_reads']:.0f}", PEERS],
                    ["one 1,000-item page", f"{sealed['kms_per_1000_item_page']:.0f}", PEERS],
                ],
            )
        ],
        notes=[
            f"{rounds} rounds; in each, every side runs in a fresh process: {warmup} warm-up "
            f"creates and gets, then {calls} timed creates and {calls} timed gets "
            "(process CPU time). Sides alternate; the table shows the medians of per-round means.",
            "Item: ~1 KB (a key, a holder name, an 800-byte note, a card number and an expiry); "
            "the encrypted model encrypts the card number and the expiry (AES-256-GCM, one "
            "envelope each). Transport: in-process fake DynamoDB and KMS (no network).",
            "Peers' KMS counts are from their documented behaviour (REFERENCES.md), not measured.",
        ],
    )
