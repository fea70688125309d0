"""Idempotency: DynamORM's ``@idempotent`` vs Powertools' (boto3) against one instant server.

CPU per idempotent call, in two modes: ``first`` (a conditional put, the handler, the
completion) and ``replay`` (the conditional put fails with the stored ``COMPLETED`` record and
its result is returned without running the handler). Each side runs in its own process
(``benchmarks._idempotency_child``); sides alternate for a few rounds. Then cold start: a fresh
process imports the library, wraps a handler and completes one first call.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time

from benchmarks._context import Context
from benchmarks._results import Result, Row, Table, ratio, ratio_above_floor, rotations, summarize
from benchmarks._server import InstantServer

SIDES = ("dynamorm", "powertools")
MODES = ("first", "replay")
CALLS, WARMUP, ROUNDS = 1500, 150, 5
QUICK_CALLS, QUICK_WARMUP, QUICK_ROUNDS = 20, 2, 1
COLD_RUNS, QUICK_COLD_RUNS = 15, 1
CHILD_TIMEOUT = 600.0

_CONTEXT = """\
class Context:
    function_name = "bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "req"
    def get_remaining_time_in_millis(self):
        return 30_000
"""
DYNAMORM = (
    """\
import sys, time
t0 = time.perf_counter()
from dynamorm import DB, idempotent
t1 = time.perf_counter()
db = DB(region="us-east-1", endpoint_url=sys.argv[1], credentials=("AKID", "SECRET"))
@idempotent(db, key="order_id", name="bench")
def handler(event, context):
    return {"statusCode": 200, "body": "charged"}
t2 = time.perf_counter()
"""
    + _CONTEXT
    + """\
assert handler({"order_id": "o1"}, Context())["statusCode"] == 200
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""
)
POWERTOOLS = (
    """\
import sys, time
t0 = time.perf_counter()
import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer, IdempotencyConfig, idempotent,
)
t1 = time.perf_counter()
client = boto3.client(
    "dynamodb", region_name="us-east-1", endpoint_url=sys.argv[1],
    aws_access_key_id="AKID", aws_secret_access_key="SECRET",
)
layer = DynamoDBPersistenceLayer(table_name="idempotency", boto3_client=client)
@idempotent(persistence_store=layer, config=IdempotencyConfig(event_key_jmespath="order_id"))
def handler(event, context):
    return {"statusCode": 200, "body": "charged"}
t2 = time.perf_counter()
"""
    + _CONTEXT
    + """\
assert handler({"order_id": "o1"}, Context())["statusCode"] == 200
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""
)
COLD = {"python -c pass": "pass", "dynamorm": DYNAMORM, "powertools + boto3": POWERTOOLS}
PHASES = ("import", "wrap handler", "first call")


def _server(ctx: Context, mode: str) -> InstantServer:
    env = ctx.child_env(import_benchmarks=True)
    env["IDEMPOTENCY_SERVER_MODE"] = mode
    return InstantServer(ctx.python, env, module="benchmarks._idempotency_server")


def _cpu(ctx: Context) -> tuple[dict[str, Row], dict[str, Row]]:
    calls, warmup, rounds = (
        (QUICK_CALLS, QUICK_WARMUP, QUICK_ROUNDS) if ctx.quick else (CALLS, WARMUP, ROUNDS)
    )
    labels = [f"{side}, {mode}" for mode in MODES for side in SIDES]
    cpu: dict[str, list[float]] = {label: [] for label in labels}
    wall: dict[str, list[float]] = {label: [] for label in labels}
    for mode in MODES:
        with _server(ctx, mode) as server:
            for side in rotations(SIDES, rounds):
                args = [side, server.url, mode, str(calls), str(warmup)]
                got = ctx.run_child("benchmarks._idempotency_child", args, timeout=CHILD_TIMEOUT)
                cpu[f"{side}, {mode}"].append(got["cpu_us"])
                wall[f"{side}, {mode}"].append(got["wall_us"])
    return (
        {label: summarize(label, cpu[label], "µs") for label in labels},
        {label: summarize(label, wall[label], "µs") for label in labels},
    )


def _spawn(ctx: Context, script: str, url: str, env: dict[str, str]) -> list[float]:
    start = time.perf_counter()
    done = subprocess.run(
        [ctx.python, "-c", script, url],
        env=env,
        cwd=ctx.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({done.returncode}):\n{done.stderr.strip()}")
    return [elapsed * 1000, *(float(x) * 1000 for x in done.stdout.split())]


def _cold(ctx: Context) -> tuple[dict[str, Row], list[list[str]]]:
    runs = QUICK_COLD_RUNS if ctx.quick else COLD_RUNS
    env = ctx.child_env()
    samples: dict[str, list[list[float]]] = {label: [] for label in COLD}
    with _server(ctx, "first") as server:
        for script in COLD.values():
            _spawn(ctx, script, server.url, env)  # untimed: writes the .pyc files
        for label in rotations(list(COLD), runs):
            samples[label].append(_spawn(ctx, COLD[label], server.url, env))
    rows = {label: summarize(label, [s[0] for s in samples[label]], "ms") for label in COLD}
    phases = [
        [
            label,
            *(
                f"{statistics.median(s[k] for s in samples[label]):.1f} ms"
                for k in range(1, 1 + len(PHASES))
            ),
        ]
        for label in COLD
        if label != "python -c pass"
    ]
    return rows, phases


def run(ctx: Context) -> Result:
    """CPU per first call and per replay, and cold start; ratios dynamorm / powertools."""
    cpu, wall = _cpu(ctx)
    cold, phases = _cold(ctx)
    floor = cold["python -c pass"]
    return Result(
        name="idempotency",
        title="Idempotent handler: CPU per call (first call, replay) and cold start, vs Powertools",
        rows=[*cpu.values(), *cold.values()],
        ratios=[
            ratio(
                "CPU per first call: dynamorm / powertools",
                cpu["dynamorm, first"],
                cpu["powertools, first"],
            ),
            ratio(
                "CPU per replay: dynamorm / powertools",
                cpu["dynamorm, replay"],
                cpu["powertools, replay"],
            ),
            ratio(
                "cold start: dynamorm / powertools", cold["dynamorm"], cold["powertools + boto3"]
            ),
            ratio_above_floor(
                "cold start above python -c pass: dynamorm / powertools",
                cold["dynamorm"],
                cold["powertools + boto3"],
                floor,
            ),
        ],
        tables=[
            Table(
                "Wall time per call (medians; includes waiting for the server):",
                ["Side", "Wall per call"],
                [[label, f"{w.median:,.0f} µs"] for label, w in wall.items()],
            ),
            Table(
                "Cold start phases timed inside the child (medians):",
                ["Side", *PHASES],
                phases,
            ),
        ],
        notes=[
            "Both sides wrap the same handler keyed on event['order_id'] (Powertools: "
            "event_key_jmespath), local caches off, no payload validation, and talk to one "
            "instant server (benchmarks._idempotency_server) that acknowledges writes or, in "
            "replay mode, fails every PutItem with the stored COMPLETED record (ALL_OLD).",
            "first: every call uses a new key (conditional PutItem, handler, completion write); "
            "replay: the stored result is returned and the handler does not run (checked).",
            f"CPU: process CPU time of the child over the timed calls; {os.cpu_count()} CPUs. "
            "Cold start: wall time from spawn to exit of a child that imports the library, wraps "
            "the handler and completes one first call; Powertools brings in boto3.",
        ],
    )
