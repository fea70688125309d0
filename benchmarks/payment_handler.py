"""The payment process handler (examples/payment/process.py) vs the same handler on boto3 +
Powertools idempotency (benchmarks/_payment_boto3.py), against an instant server.

(a) CPU per processed payment: a warm process serves N payments (each a new idempotency key:
JWT check, validation, idempotency record written twice, one 7-action transaction); the child
reports its own CPU time, so the server's is not counted. (b) Cold start: a fresh process
imports the handler module (its init phase) and serves one payment; wall time from spawn to
exit. The instant server answers DynamoDB by operation and STS AssumeRole, so both sides run
their whole path (assume the partner role, then write).
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from benchmarks._context import Context, run_child
from benchmarks._results import (
    Result,
    phases_table,
    ratio,
    ratio_above_floor,
    rotations,
    summarize,
)
from benchmarks._server import ROOT, InstantServer

CPU_TARGET = 0.3
COLD_TARGET = 0.2
PAYMENTS, QUICK_PAYMENTS = 400, 20
RUNS, QUICK_RUNS = 11, 2
CPU_RUNS, QUICK_CPU_RUNS = 3, 1
SIDES = ("dynamorm", "boto3")
COLD_SIDES = ("dynamorm", "dynamorm+pyjwt", "boto3")  # +pyjwt: what the stdlib verifier saves
PARTNERS = {
    "acme": {
        "role_arn": "arn:aws:iam::111111111111:role/payments-partner",
        "external_id": "acme-ext-7f3c",
        "table_prefix": "acme_",
    }
}


def environment(ctx: Context, server: str) -> dict[str, str]:
    env = ctx.child_env(import_benchmarks=True)
    env.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "AWS_ENDPOINT_URL_DYNAMODB": server,
            "AWS_ENDPOINT_URL_STS": server,
            "AWS_LAMBDA_FUNCTION_NAME": "payments-process",
            "DYNAMORM_PARTNERS": json.dumps(PARTNERS),
            "JWT_SECRET": "bench-" + "0" * 40,
            "CURSOR_SECRET": "bench-cursor-secret-0000",
            "TABLE_PREFIX": "platform_",
            "POWERTOOLS_SERVICE_NAME": "payments",
        }
    )
    env["PAYMENT_TOKEN"] = _token(env["JWT_SECRET"])
    return env


def _token(secret: str) -> str:
    """A bearer token for the children, minted here: the client's JWT library is not part
    of the handler's cold start."""
    import jwt

    now = int(time.time())
    claims = {
        "iss": "https://auth.payments.example",
        "aud": "payments-api",
        "sub": "bench",
        "partner": "acme",
        "merchant": "m1",
        "scope": "payments:write",
        "iat": now,
        "exp": now + 3600,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def _child(python: str, env: dict[str, str], *args: str) -> tuple[float, dict[str, Any]]:
    return run_child(python, "benchmarks._payment_child", args, env=env)


def _spawn_pass(python: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-c", "pass"], env=env, cwd=ROOT, check=True, timeout=60)
    return (time.perf_counter() - start) * 1000


def run(ctx: Context) -> Result:
    """CPU per payment and cold start, dynamorm / boto3 + Powertools."""
    payments = QUICK_PAYMENTS if ctx.quick else PAYMENTS
    runs = QUICK_RUNS if ctx.quick else RUNS
    cpu_runs = QUICK_CPU_RUNS if ctx.quick else CPU_RUNS
    with InstantServer(ctx.python, module="benchmarks._payment_server") as server:
        env = environment(ctx, server.url)
        for side in SIDES:
            _child(ctx.python, env, side, "cold")  # .pyc files exist before anything is timed
        cpu: dict[str, list[float]] = {side: [] for side in SIDES}
        for side in rotations(list(SIDES), cpu_runs):
            cpu[side].append(
                _child(ctx.python, env, side, "cpu", str(payments))[1]["us_per_payment"]
            )
        cold: dict[str, list[float]] = {side: [] for side in COLD_SIDES}
        phases: dict[str, list[dict[str, float]]] = {side: [] for side in COLD_SIDES}
        floor: list[float] = []
        for side in rotations([*COLD_SIDES, "floor"], runs):
            if side == "floor":
                floor.append(_spawn_pass(ctx.python, env))
                continue
            wall, inside = _child(ctx.python, env, side, "cold")
            cold[side].append(wall)
            phases[side].append(inside)
    cpu_rows = {s: summarize(f"{s}: CPU per payment", cpu[s], "µs") for s in SIDES}
    cold_rows = {s: summarize(f"{s}: cold start", cold[s], "ms") for s in COLD_SIDES}
    floor_row = summarize("python -c pass (interpreter start-up)", floor, "ms")

    return Result(
        name="payment_handler",
        title="Payment process handler: CPU per payment and cold start vs boto3 + Powertools",
        rows=[*cpu_rows.values(), *cold_rows.values(), floor_row],
        ratios=[
            ratio(
                "CPU per payment: dynamorm / boto3+Powertools",
                cpu_rows["dynamorm"],
                cpu_rows["boto3"],
                CPU_TARGET,
            ),
            ratio(
                "cold start: dynamorm / boto3+Powertools",
                cold_rows["dynamorm"],
                cold_rows["boto3"],
                COLD_TARGET,
            ),
            ratio_above_floor(
                "cold start above interpreter start-up: dynamorm / boto3+Powertools",
                cold_rows["dynamorm"],
                cold_rows["boto3"],
                floor_row,
            ),
            ratio(
                "cold start, dynamorm handler + PyJWT import / boto3+Powertools",
                cold_rows["dynamorm+pyjwt"],
                cold_rows["boto3"],
            ),
        ],
        tables=[
            phases_table(
                "Cold start phases timed inside the child (medians):",
                ["Side", "import + init", "first payment"],
                phases,
            )
        ],
        notes=[
            f"CPU: {cpu_runs} warm processes per side, each {payments} payments after 30 "
            "untimed ones; process CPU time / payments. Cold start: "
            f"{runs} fresh processes per side, alternating; wall time from spawn to exit.",
            "Both sides: HS256 token verification (dynamorm side: the example's stdlib verifier, "
            "examples/payment/tokens.py, held to PyJWT's decisions in the tests; boto3 side: "
            "PyJWT; the `dynamorm+pyjwt` row imports PyJWT before the same dynamorm handler, to "
            "show what that choice is worth), the same validation, the partner's role "
            "assumed once per process (STS answered by the instant server), an idempotency "
            "record written before and after (dynamorm @idempotent; Powertools "
            "idempotent_function with DynamoDBPersistenceLayer), and one TransactWriteItems "
            "(dynamorm, 8 actions built from models: customer check, payment, unique sentinel, "
            "audit record, hold, two ledger entries, outbox event; boto3, 7: the same items as "
            "hand-written AttributeValues, without the customer check).",
            "The token is minted by the parent (no JWT library loads in a child for the client's "
            "side). `cryptography` is hidden from the children, as on Lambda (neither the "
            "runtime nor the layer has it), so PyJWT loads without it.",
        ],
    )
