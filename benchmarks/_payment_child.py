"""One measured process for the payment handler benchmarks.

    python -m benchmarks._payment_child SIDE MODE [N]

SIDE: ``dynamorm`` (examples/payment/process.py), ``dynamorm+pyjwt`` (the same, PyJWT imported
first; cold only) or ``boto3`` (benchmarks/_payment_boto3.py).
MODE ``cold``: import the handler module (its init phase) and serve one payment; ``cpu``: serve
N payments after a warm-up and report the process CPU time per payment. Prints one JSON line.
"""

from __future__ import annotations

import sys
import time

T0 = time.perf_counter()
# As on Lambda (the runtime and the layer have no `cryptography`): PyJWT then loads without it,
# on both sides alike; HS256 needs only hmac.
sys.modules["cryptography"] = None  # type: ignore[assignment]

import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

TYPE_CHECKING = False  # the harness loads no module the handler does not (typing included)
if TYPE_CHECKING:
    from typing import Any

MODULES = {
    "dynamorm": "examples.payment.process",
    "dynamorm+pyjwt": "examples.payment.process",  # after `import jwt`: PyJWT's share
    "boto3": "benchmarks._payment_boto3",
}
WARM_UP = 30


class Context:
    function_name = "payments-process"
    memory_limit_in_mb = "512"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:payments-process"
    aws_request_id = "benchmark"

    def __init__(self) -> None:
        self.deadline = time.monotonic() + 10.0

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def events(count: int, token: str, tag: str) -> list[dict[str, Any]]:
    body = json.dumps({"amount": 1250, "currency": "EUR", "customer_id": "c1"})
    return [
        {
            "version": "2.0",
            "rawPath": "/payments",
            "headers": {
                "authorization": f"Bearer {token}",
                "content-type": "application/json",
                "idempotency-key": f"{tag}-{i}",
            },
            "requestContext": {"http": {"method": "POST", "path": "/payments"}, "requestId": "r"},
            "body": body,
            "isBase64Encoded": False,
        }
        for i in range(count)
    ]


def main() -> None:
    side, mode = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if mode == "cold":
        if side == "dynamorm+pyjwt":
            importlib.import_module("jwt")
        module = importlib.import_module(MODULES[side])
        t1 = time.perf_counter()
        [event] = events(1, os.environ["PAYMENT_TOKEN"], "cold")
        t2 = time.perf_counter()
        answer = module.handler(event, Context())
        t3 = time.perf_counter()
        assert answer["statusCode"] == 201, answer
        result = {"init_ms": (t1 - T0) * 1000, "first_ms": (t3 - t2) * 1000}
    else:
        module = importlib.import_module(MODULES[side])
        bearer = os.environ["PAYMENT_TOKEN"]  # minted by the parent: no JWT library loads here
        for event in events(WARM_UP, bearer, "warm"):
            assert module.handler(event, Context())["statusCode"] == 201
        batch = events(count, bearer, "measured")
        contexts = [Context() for _ in batch]
        cpu = time.process_time()
        for event, context in zip(batch, contexts, strict=True):
            module.handler(event, context)
        cpu = time.process_time() - cpu
        result = {"us_per_payment": cpu / count * 1e6}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
