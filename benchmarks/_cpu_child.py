"""One side of the CPU-per-GetItem benchmark, run in its own process.

``python -m benchmarks._cpu_child SIDE URL CALLS WARMUP [--profile]`` builds the side's client,
warms it up, then times ``CALLS`` GetItem calls and prints one JSON line with the process CPU time
and the wall time per call in microseconds. With ``--profile`` it also prints the top functions
of a cProfile run (on process CPU time, so waiting for the server is not counted) to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

SIDES = ("dynamorm", "boto3-client", "boto3-resource", "pydynox")
_ARGS: dict[str, Any] = {
    "region_name": "us-east-1",
    "aws_access_key_id": "AKID",
    "aws_secret_access_key": "SECRET",
}


def make_call(side: str, url: str) -> Callable[[], Any]:
    """A no-argument function that does one GetItem of key ``k`` with ``side``'s client."""
    if side == "dynamorm":
        from dynamorm import DB

        call = DB(region="us-east-1", endpoint_url=url, credentials=("AKID", "SECRET")).client.call
        payload = {"TableName": "t", "Key": {"pk": {"S": "k"}}}
        return lambda: call("GetItem", payload)
    if side == "pydynox":
        from pydynox import DynamoDBClient

        client = DynamoDBClient(
            region="us-east-1", endpoint_url=url, access_key="AKID", secret_key="SECRET"
        )
        get = client.sync_get_item
        return lambda: {"Item": get("t", {"pk": "k"})}
    import boto3

    if side == "boto3-client":
        get_item = boto3.client("dynamodb", endpoint_url=url, **_ARGS).get_item
        key = {"pk": {"S": "k"}}
        return lambda: get_item(TableName="t", Key=key)
    if side == "boto3-resource":
        table = boto3.resource("dynamodb", endpoint_url=url, **_ARGS).Table("t")
        return lambda: table.get_item(Key={"pk": "k"})
    raise SystemExit(f"unknown side {side!r}; choose from {', '.join(SIDES)}")


def main(argv: list[str]) -> None:
    """Measure one side and print ``{"cpu_us": ..., "wall_us": ...}``."""
    side, url, calls_text, warmup_text, *flags = argv
    calls, warmup = int(calls_text), int(warmup_text)
    call = make_call(side, url)
    first = call()
    if not first.get("Item"):
        raise SystemExit(f"{side}: GetItem returned no Item: {first!r}")
    for _ in range(warmup):
        call()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(json.dumps({"cpu_us": cpu / calls * 1e6, "wall_us": wall / calls * 1e6}))
    if "--profile" in flags:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(calls):
            call()
        profiler.disable()
        print(f"\n=== cProfile: {side}, {calls} calls, sorted by own CPU time ===", file=sys.stderr)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main(sys.argv[1:])
