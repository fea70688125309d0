"""Run the example handler locally, as Lambda would, against the embedded DynamoDB.

    python examples/lambda/local_invoke.py [--timeout 3] [--memory 128] [--engine moto]
                                           [--endpoint URL] [--table-prefix local_]

It starts a local engine and says which, then loads ``handler.py`` with
:class:`dynamorm.testing.LambdaFunction`: the environment Lambda gives a function, a fresh
import (its init phase) and the table of its model. It stores one payment, then invokes the
handler twice (cold, then warm) with a Lambda context whose remaining time is ``--timeout``,
and prints the responses. The EMF metric lines the handler flushes appear on stdout, as they
would in CloudWatch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from dynamorm.local import LocalDynamoDB
from dynamorm.testing import LambdaFunction

HANDLER = Path(__file__).resolve().parent / "handler.py"
EVENT = {"account": "acct-0042", "order": "order#2024-05-01T12:00:00Z", "status": "captured"}


def seed(function: LambdaFunction) -> None:
    """Store the payment the example event names (through the function's own admin DB, so
    this set-up traffic stays out of the function's metrics)."""
    payment = function.module.Payment
    function.db.create(
        payment(pk=EVENT["account"], sk=EVENT["order"], merchant="merchant-7", amount=125000)
    )


def main(argv: list[str] | None = None) -> int:
    """Start an engine, load and seed the function, invoke it twice (cold, then warm)."""
    parser = argparse.ArgumentParser(description="Run the example handler as Lambda would.")
    parser.add_argument("--timeout", type=float, default=3.0, help="invocation budget, seconds")
    parser.add_argument("--memory", type=int, default=128, help="function memory, MB")
    parser.add_argument("--engine", default=None, help="dynamodb-local or moto")
    parser.add_argument("--endpoint", default=None, help="a local DynamoDB already running")
    parser.add_argument("--table-prefix", default="local_", help="prefix of the table's name")
    args = parser.parse_args(argv)
    with LocalDynamoDB(args.engine, endpoint=args.endpoint) as local:
        print(f"engine: {local.describe()}", flush=True)
        environment = {
            "AWS_ENDPOINT_URL_DYNAMODB": local.endpoint,
            "TABLE_PREFIX": args.table_prefix,
        }
        with LambdaFunction(
            HANDLER,
            environment=environment,
            timeout=args.timeout,
            memory_mb=args.memory,
            function_name="payments-status",
        ) as function:
            seed(function)
            for label in ("first", "warm"):
                started = time.monotonic()
                response = function.invoke(EVENT)
                took = time.monotonic() - started
                print(f"{label} invocation, {took * 1000:.1f} ms: {json.dumps(response)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
