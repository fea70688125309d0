"""Lambda cold start: a fresh process imports the example handler module (its init phase) and
runs its first invocation (GetItem, then a version-checked write), vs the same handler on boto3.

Each side runs as ``python -c SCRIPT FOLDER`` in a new process with the environment Lambda gives
a function (region, credentials from variables, ``AWS_ENDPOINT_URL_DYNAMODB`` pointing at the
instant server). The parent measures wall time from spawn to exit; the child times its two
phases. Sides alternate, each is run once untimed first (so .pyc files exist).
"""

from __future__ import annotations

import statistics

from benchmarks._context import Context
from benchmarks._results import Result, Table, ratio, ratio_above_floor, rotations, summarize
from benchmarks._server import ROOT
from benchmarks._spawn import PEAK_RSS, spawn

TARGET, TARGET_PYDYNOX = 0.12, 0.45
RUNS, QUICK_RUNS = 21, 2
CHILD_TIMEOUT = 60.0
EXAMPLE = ROOT / "examples" / "lambda"
BENCHMARKS = ROOT / "benchmarks"

# The same invocation for every side: a payment the instant server's item matches.
CHILD = """\
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from {module} import handler
t1 = time.perf_counter()

class Context:
    memory_limit_in_mb = "128"
    aws_request_id = "cold-start-benchmark"

    def __init__(self):
        self.deadline = time.monotonic() + 3.0

    def get_remaining_time_in_millis(self):
        return int((self.deadline - time.monotonic()) * 1000)

event = {{"account": "k", "order": "order#2024-05-01T12:00:00Z", "status": "refunded"}}
response = handler(event, Context())
t2 = time.perf_counter()
assert response["statusCode"] == 200, response
print("PHASES", t1 - t0, t2 - t1, file=sys.stderr)
""" + PEAK_RSS.replace("{", "{{").replace("}", "}}")

SIDES = {
    "python -c pass": ("pass", ""),
    "dynamorm handler": (CHILD.format(module="handler"), str(EXAMPLE)),
    "boto3 handler": (CHILD.format(module="_boto3_handler"), str(BENCHMARKS)),
    "pydynox handler": (CHILD.format(module="_pydynox_handler"), str(BENCHMARKS)),
}
PHASES = ("import + init", "first invocation")


def _lambda_env(ctx: Context) -> dict[str, str]:
    env = ctx.child_env()
    env.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "AWS_SESSION_TOKEN": "FQoGZXIvYXdzEBENCHMARKTOKEN",
            "AWS_ENDPOINT_URL_DYNAMODB": ctx.server_url,
            "AWS_LAMBDA_FUNCTION_NAME": "payments-status",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "TABLE_PREFIX": "",
        }
    )
    return env


def _spawn(ctx: Context, label: str, env: dict[str, str]) -> list[float]:
    """Run one child; return wall time, CPU time, peak RSS (MB) and the child's phase times
    (times in ms)."""
    script, folder = SIDES[label]
    done = spawn([ctx.python, "-c", script, folder], env=env, cwd=ctx.root, timeout=CHILD_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{label} child failed ({done.returncode}):\n{done.stderr.strip()}")
    phases = [line.split()[1:] for line in done.stderr.splitlines() if line.startswith("PHASES")]
    return [
        done.wall * 1000,
        done.cpu * 1000,
        0.0 if label == "python -c pass" else done.peak_rss_mb(),
        *(float(x) * 1000 for x in (phases or [[]])[-1]),
    ]


def _phase_medians(samples: list[list[float]]) -> list[str]:
    return [f"{statistics.median(s[3 + k] for s in samples):.1f} ms" for k in range(len(PHASES))]


def run(ctx: Context) -> Result:
    """Measure the example handler's cold start on each side; ratios against boto3 and
    pydynox."""
    runs = QUICK_RUNS if ctx.quick else RUNS
    env = _lambda_env(ctx)
    labels = list(SIDES)
    for label in labels:
        _spawn(ctx, label, env)
    samples: dict[str, list[list[float]]] = {label: [] for label in labels}
    for label in rotations(labels, runs):
        samples[label].append(_spawn(ctx, label, env))
    rows = {label: summarize(label, [s[0] for s in samples[label]], "ms") for label in labels}
    cpu = {label: summarize(label, [s[1] for s in samples[label]], "ms") for label in labels}
    rss = {label: summarize(label, [s[2] for s in samples[label]], "MB") for label in labels[1:]}
    floor, ours, boto3 = rows["python -c pass"], rows["dynamorm handler"], rows["boto3 handler"]
    pydynox = rows["pydynox handler"]
    phases = [
        [
            label,
            f"{cpu[label].median:.1f} ms",
            f"{rss[label].median:.1f} MB",
            *_phase_medians(samples[label]),
        ]
        for label in labels[1:]
    ]
    return Result(
        name="lambda_cold_start",
        title="Lambda cold start: example handler import + init + first invocation (wall time)",
        rows=list(rows.values()),
        ratios=[
            ratio("dynamorm handler / boto3 handler", ours, boto3, TARGET),
            ratio("dynamorm handler / pydynox handler", ours, pydynox, TARGET_PYDYNOX),
            ratio_above_floor("(dynamorm - floor) / (boto3 - floor)", ours, boto3, floor),
            ratio("child CPU: dynamorm / boto3", cpu["dynamorm handler"], cpu["boto3 handler"]),
            ratio("peak RSS: dynamorm / boto3", rss["dynamorm handler"], rss["boto3 handler"]),
            ratio("peak RSS: dynamorm / pydynox", rss["dynamorm handler"], rss["pydynox handler"]),
        ],
        figures={
            "time": {label: rows[label].median / boto3.median for label in labels[1:]},
            "peak RSS": {
                label: rss[label].median / rss["boto3 handler"].median for label in labels[1:]
            },
        },
        tables=[
            Table(
                "Medians seen from inside: the child's CPU time, its peak resident set size "
                "(VmHWM, printed at exit) and the phases it timed itself (interpreter start-up "
                "excluded):",
                ["Side", "child CPU", "peak RSS", *PHASES],
                phases,
            )
        ],
        notes=[
            f"{runs} timed runs per side, sides alternating, each run once untimed first; wall "
            "time from spawn to exit, measured by the parent.",
            "dynamorm: examples/lambda/handler.py as shipped (model, lambda_db with prewarm and "
            "an EMF hook, a deadline view per invocation; its put is an UpdateItem). boto3: "
            "benchmarks/_boto3_handler.py, a boto3.resource Table doing get_item and a "
            "conditional put_item. pydynox: benchmarks/_pydynox_handler.py, a pydynox 1.8 model "
            "with a VersionAttribute doing sync_get and sync_save.",
            "All read region, credentials and AWS_ENDPOINT_URL_DYNAMODB from the environment, "
            "as on Lambda, and talk to the same instant server (every answer is its GetItem "
            "response).",
        ],
    )
