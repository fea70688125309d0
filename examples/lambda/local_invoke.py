"""Run the example handler locally, as Lambda would, against the embedded DynamoDB.

    python examples/lambda/local_invoke.py [--timeout 3] [--memory 128] [--engine moto]

It starts a local engine, sets the environment Lambda gives a function, imports ``handler``
(its init phase), creates the table with one payment, then invokes the handler with a
:class:`dynamorm.LocalContext` (a Lambda context whose remaining time you choose) and prints the
response. The EMF metric lines the handler flushes appear on stdout, as they would in CloudWatch.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from dynamorm import DB, LocalContext, reset_lambda_db
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB

HERE = Path(__file__).resolve().parent
EVENT = {"account": "acct-0042", "order": "order#2024-05-01T12:00:00Z", "status": "captured"}


def lambda_environment(
    endpoint: str, *, region: str, memory_mb: int = 128, table_prefix: str = "local_"
) -> dict[str, str]:
    """The variables Lambda sets for a function (plus the endpoint and table prefix)."""
    key, secret = LOCAL_CREDENTIALS
    return {
        "AWS_LAMBDA_FUNCTION_NAME": "payments-status",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "TABLE_PREFIX": table_prefix,
    }


def load_handler() -> ModuleType:
    """Import the handler module afresh: a cold start (its init phase runs again)."""
    reset_lambda_db()
    sys.modules.pop("handler", None)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module("handler")


def seed(module: ModuleType) -> None:
    """Create the table and the payment the example event names (with a DB of its own, so
    this set-up traffic stays out of the function's metrics)."""
    payment = module.Payment
    with DB(table_prefix=os.environ.get("TABLE_PREFIX", "")) as admin:
        admin.create_table(payment)
        admin.create(
            payment(pk=EVENT["account"], sk=EVENT["order"], merchant="merchant-7", amount=125000)
        )


def invoke(
    module: ModuleType, event: dict[str, Any], *, timeout: float = 3.0, memory_mb: int = 128
) -> tuple[Any, float]:
    """Call the handler like Lambda does; return its response and the seconds it took."""
    context = LocalContext(timeout, memory_mb=memory_mb, function_name="payments-status")
    started = time.monotonic()
    response = module.handler(event, context)
    return response, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    """Start an engine, seed it, invoke the handler twice (cold, then warm)."""
    parser = argparse.ArgumentParser(description="Run the example handler as Lambda would.")
    parser.add_argument("--timeout", type=float, default=3.0, help="invocation budget, seconds")
    parser.add_argument("--memory", type=int, default=128, help="function memory, MB")
    parser.add_argument("--engine", default=None, help="dynamodb-local or moto")
    args = parser.parse_args(argv)
    with LocalDynamoDB(args.engine) as local:
        os.environ.update(
            lambda_environment(local.endpoint, region=local.region, memory_mb=args.memory)
        )
        module = load_handler()
        seed(module)
        for label in ("first", "warm"):
            response, took = invoke(module, EVENT, timeout=args.timeout, memory_mb=args.memory)
            print(f"{label} invocation, {took * 1000:.1f} ms: {json.dumps(response)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
