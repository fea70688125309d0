"""Cold start: a fresh process imports the library, builds a client and completes one GetItem.

Each side runs as ``python -c SCRIPT URL`` in a new process; the wall time from spawn to exit is
measured by the parent. Sides alternate (the order rotates every round) so that drift in machine
load hits all of them alike. Every side runs once untimed first, with bytecode writing allowed,
so that all timed runs load .pyc files.
"""

from __future__ import annotations

import importlib.util
import statistics
from collections.abc import Iterable
from pathlib import Path

from benchmarks._context import Context
from benchmarks._results import Result, Table, ratio, ratio_above_floor, rotations, summarize
from benchmarks._spawn import PEAK_RSS, spawn

FLOOR = "pass"

DYNAMORM = """\
import sys, time
t0 = time.perf_counter()
from dynamorm import DB
t1 = time.perf_counter()
db = DB(region="us-east-1", endpoint_url=sys.argv[1], credentials=("AKID", "SECRET"))
t2 = time.perf_counter()
r = db.client.call("GetItem", {"TableName": "t", "Key": {"pk": {"S": "k"}}})
t3 = time.perf_counter()
assert r["Item"]["pk"] == {"S": "k"}, r
print(t1 - t0, t2 - t1, t3 - t2)
"""

BOTO3 = """\
import sys, time
t0 = time.perf_counter()
import boto3
t1 = time.perf_counter()
c = boto3.client(
    "dynamodb", region_name="us-east-1", endpoint_url=sys.argv[1],
    aws_access_key_id="AKID", aws_secret_access_key="SECRET",
)
t2 = time.perf_counter()
r = c.get_item(TableName="t", Key={"pk": {"S": "k"}})
t3 = time.perf_counter()
assert r["Item"]["pk"] == {"S": "k"}, r
print(t1 - t0, t2 - t1, t3 - t2)
"""

PYDYNOX = """\
import sys, time
t0 = time.perf_counter()
from pydynox import DynamoDBClient
t1 = time.perf_counter()
c = DynamoDBClient(
    region="us-east-1", endpoint_url=sys.argv[1], access_key="AKID", secret_key="SECRET"
)
t2 = time.perf_counter()
r = c.sync_get_item("t", {"pk": "k"})
t3 = time.perf_counter()
assert r["pk"] == "k", r
print(t1 - t0, t2 - t1, t3 - t2)
"""

SIDES = {
    "python -c pass": FLOOR,
    "dynamorm": DYNAMORM + PEAK_RSS,
    "boto3 client": BOTO3 + PEAK_RSS,
    "pydynox client": PYDYNOX + PEAK_RSS,
}
PHASES = ("import", "build client", "first GetItem")
TARGET, TARGET_PYDYNOX = 0.15, 0.45
RUNS, QUICK_RUNS = 21, 2
CHILD_TIMEOUT = 60.0


def _pyc_exists(module: str, sibling: str = "__init__.py") -> bool:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return False
    source = Path(spec.origin).parent / sibling
    return Path(importlib.util.cache_from_source(str(source))).exists()


def _median_ms(values: Iterable[float]) -> str:
    return f"{statistics.median(values):.1f} ms"


def _spawn(ctx: Context, script: str, env: dict[str, str]) -> list[float]:
    """Run one child; return its wall time, its CPU time (user + sys), its peak RSS (MB) and the
    phase times it printed, times in ms."""
    done = spawn(
        [ctx.python, "-c", script, ctx.server_url], env=env, cwd=ctx.root, timeout=CHILD_TIMEOUT
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({done.returncode}):\n{done.stderr.strip()}")
    return [
        done.wall * 1000,
        done.cpu * 1000,
        0.0 if script == FLOOR else done.peak_rss_mb(),
        *(float(x) * 1000 for x in done.stdout.split()),
    ]


def run(ctx: Context) -> Result:
    """Measure cold start of each side; ratios dynamorm / boto3 and dynamorm / pydynox."""
    runs = QUICK_RUNS if ctx.quick else RUNS
    env = ctx.child_env()
    for script in SIDES.values():
        _spawn(ctx, script, env)
    pyc = _pyc_exists("dynamorm") and _pyc_exists("botocore", "client.py")
    samples: dict[str, list[list[float]]] = {label: [] for label in SIDES}
    labels = list(SIDES)
    for label in rotations(labels, runs):
        samples[label].append(_spawn(ctx, SIDES[label], env))
    rows = {label: summarize(label, [s[0] for s in samples[label]], "ms") for label in labels}
    cpu = {label: summarize(label, [s[1] for s in samples[label]], "ms") for label in labels}
    rss = {label: summarize(label, [s[2] for s in samples[label]], "MB") for label in labels[1:]}
    floor, ours, boto3 = rows["python -c pass"], rows["dynamorm"], rows["boto3 client"]
    pydynox = rows["pydynox client"]
    inside = []
    for label in labels:
        phase_cells = (_median_ms(s[k] for s in samples[label]) for k in range(3, 3 + len(PHASES)))
        timed = label != "python -c pass"
        inside.append(
            [
                label,
                _median_ms(s[1] for s in samples[label]),
                f"{rss[label].median:.1f} MB" if timed else "—",
                *(phase_cells if timed else ["—"] * len(PHASES)),
            ]
        )
    return Result(
        name="cold_start",
        title="Cold start: fresh process, import + client + one GetItem (wall time)",
        rows=list(rows.values()),
        ratios=[
            ratio("dynamorm / boto3 client", ours, boto3, TARGET),
            ratio("dynamorm / pydynox client", ours, pydynox, TARGET_PYDYNOX),
            ratio_above_floor("(dynamorm - floor) / (boto3 - floor)", ours, boto3, floor),
            ratio("child CPU time: dynamorm / boto3 client", cpu["dynamorm"], cpu["boto3 client"]),
            ratio("peak RSS: dynamorm / boto3 client", rss["dynamorm"], rss["boto3 client"]),
            ratio("peak RSS: dynamorm / pydynox client", rss["dynamorm"], rss["pydynox client"]),
        ],
        figures={
            "time": {label: rows[label].median / boto3.median for label in labels[1:]},
            "peak RSS": {
                label: rss[label].median / rss["boto3 client"].median for label in labels[1:]
            },
        },
        tables=[
            Table(
                "Medians seen from inside: the child's CPU time (user + sys, all of the process), "
                "its peak resident set size (VmHWM, printed by the child at exit) and the phases "
                "timed by the child itself (interpreter start-up excluded):",
                ["Side", "child CPU", "peak RSS", *PHASES],
                inside,
            )
        ],
        notes=[
            f"{runs} timed runs per side, sides alternating (order rotated every round), each "
            "side run once untimed first; wall time from spawn to exit, measured by the parent.",
            "Bytecode writing enabled in the children (PYTHONDONTWRITEBYTECODE removed); .pyc "
            f"files of dynamorm and botocore present before timing: {'yes' if pyc else 'NO'}.",
            "AWS_* variables and ~/.aws are hidden from the children; every side gets explicit "
            "region, endpoint and static credentials and talks to the same instant server.",
            "dynamorm returns the raw AttributeValue item (db.client.call), the boto3 client "
            "too; pydynox's client returns the item as Python values (its Rust core converts).",
        ],
    )
