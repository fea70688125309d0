"""One side of the idempotency benchmark, run in its own process.

``python -m benchmarks._idempotency_child SIDE URL MODE CALLS WARMUP`` wraps a handler with the
side's idempotency decorator, then times ``CALLS`` calls and prints one JSON line with the process
CPU time and wall time per call in microseconds. ``MODE`` is ``first`` (every call has a new key:
a conditional put, the handler, the completion) or ``replay`` (the conditional put fails and the
stored result is returned without running the handler). Local caches are off on both sides.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

SIDES = ("dynamorm", "powertools")
RESULT = {"statusCode": 200, "body": "charged"}


class Context:
    """A Lambda context stand-in."""

    function_name = "bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "req"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def make_handler(side: str, url: str, runs: list[int]) -> Callable[[dict[str, Any], Any], Any]:
    """The side's idempotent handler; ``runs`` counts the handler's executions."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        runs.append(1)
        return RESULT

    if side == "dynamorm":
        from dynamorm import DB, idempotent

        db = DB(region="us-east-1", endpoint_url=url, credentials=("AKID", "SECRET"))
        return idempotent(db, key="order_id", name="bench", cache_size=0)(handler)
    if side == "powertools":
        import boto3
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
        )
        from aws_lambda_powertools.utilities.idempotency import (
            idempotent as powertools_idempotent,
        )

        client = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="AKID",
            aws_secret_access_key="SECRET",
        )
        layer = DynamoDBPersistenceLayer(table_name="idempotency", boto3_client=client)
        config = IdempotencyConfig(event_key_jmespath="order_id")
        wrapped: Callable[[dict[str, Any], Any], Any] = powertools_idempotent(
            persistence_store=layer, config=config
        )(handler)
        return wrapped
    raise SystemExit(f"unknown side {side!r}; choose from {', '.join(SIDES)}")


def main(argv: list[str]) -> None:
    """Measure one side in one mode and print ``{"cpu_us": ..., "wall_us": ...}``."""
    side, url, mode, calls_text, warmup_text = argv
    calls, warmup = int(calls_text), int(warmup_text)
    runs: list[int] = []
    handler = make_handler(side, url, runs)
    context = Context()
    events = [{"order_id": f"{mode}-{i}"} for i in range(calls + warmup + 1)]
    if handler(events[0], context) != RESULT or len(runs) != (mode == "first"):
        raise SystemExit(f"{side} {mode}: wrong result or {len(runs)} runs")
    for event in events[1 : warmup + 1]:
        handler(event, context)
    timed = events[warmup + 1 :]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for event in timed:
        handler(event, context)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    expected = calls + warmup + 1 if mode == "first" else 0
    if len(runs) != expected:
        raise SystemExit(f"{side} {mode}: the handler ran {len(runs)} times, not {expected}")
    print(json.dumps({"cpu_us": cpu / calls * 1e6, "wall_us": wall / calls * 1e6}))


if __name__ == "__main__":
    main(sys.argv[1:])
