"""The reconcile handler's cold start with S3 on ``dynamorm.S3Client`` vs on boto3 (the example
before S3Client), on DynamoDB Local + moto's S3: a fresh process imports the handler and
reconciles a small settlement file (read from S3, report written to S3); wall time from spawn
to exit. Both sides run the same handler code; only the S3 helpers differ.
"""

from __future__ import annotations

import json
import os

from benchmarks._context import Context, run_child
from benchmarks._results import Result, phases_table, ratio, rotations, summarize

SIDES = ("dynamorm", "boto3")
RUNS, QUICK_RUNS = 9, 1
ROWS = 20


def run(ctx: Context) -> Result:
    """Cold start of reconcile (import + one small file), S3Client / boto3."""
    from examples.payment.local import LocalPlatform

    runs = QUICK_RUNS if ctx.quick else RUNS
    walls: dict[str, list[float]] = {side: [] for side in SIDES}
    phases: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    with LocalPlatform() as local:
        local.add_customer("acme", "m-cold", "c-cold", "4111111111111111")
        env = dict(os.environ)  # LocalPlatform's endpoints, partners and secrets
        text = "merchant_id,payment_id,amount,currency\n" + "".join(
            f"m-cold,pay_0000000000000_{i:08x},1000,EUR\n" for i in range(ROWS)
        )
        warm = [] if ctx.quick else ["warm-dynamorm", "warm-boto3"]  # .pyc files first
        order = [*warm, *rotations(list(SIDES), runs)]
        for n, label in enumerate(order):
            side = label.removeprefix("warm-")
            event = local.upload_settlement("acme", f"cold-{n}-{side}.csv", text)
            wall, inside = run_child(
                ctx.python, "benchmarks._reconcile_child", [side, json.dumps(event)], env=env
            )
            if label.startswith("warm-"):
                continue
            walls[side].append(wall)
            phases[side].append(inside)
    rows = {s: summarize(f"{s} S3: reconcile cold start", walls[s], "ms") for s in SIDES}

    return Result(
        name="reconcile_cold_start",
        title="Reconcile handler cold start: S3 on dynamorm.S3Client vs on boto3",
        rows=list(rows.values()),
        ratios=[ratio("reconcile cold start: S3Client / boto3", rows["dynamorm"], rows["boto3"])],
        tables=[
            phases_table(
                "Phases timed inside the child (medians):",
                ["S3 side", "import + init", "first file"],
                phases,
            )
        ],
        notes=[
            f"{runs} fresh processes per side, alternating; each reconciles its own {ROWS}-row "
            "file (unknown ids) on DynamoDB Local + moto's S3: ranged GET of the file, one "
            "transaction, the report uploaded. The same handler code on both sides; the boto3 "
            "side swaps in the example's former S3 helpers (benchmarks/_objects_boto3.py).",
        ],
    )
