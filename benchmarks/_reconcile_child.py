"""One measured process for the reconcile cold-start benchmark.

    python -m benchmarks._reconcile_child SIDE EVENT_JSON

SIDE ``dynamorm``: the reconcile handler as it is (S3 through ``dynamorm.S3Client``);
``boto3``: the same handler with the example's former S3 helpers on boto3
(benchmarks/_objects_boto3.py). Imports the handler (its init phase), reconciles the file the
S3 event names, prints one JSON line.
"""

from __future__ import annotations

import sys
import time

T0 = time.perf_counter()

import importlib  # noqa: E402
import json  # noqa: E402


def main() -> None:
    side, event = sys.argv[1], json.loads(sys.argv[2])
    if side == "boto3":
        sys.modules["examples.payment.objects"] = importlib.import_module(
            "benchmarks._objects_boto3"
        )
    reconcile = importlib.import_module("examples.payment.reconcile")
    from dynamorm import LocalContext

    t1 = time.perf_counter()
    [result] = reconcile.handler(event, LocalContext(60, memory_mb=256))["files"]
    t2 = time.perf_counter()
    assert result["status"] == "done", result
    loaded = "boto3" in sys.modules
    print(json.dumps({"init_ms": (t1 - T0) * 1000, "first_ms": (t2 - t1) * 1000, "boto3": loaded}))


if __name__ == "__main__":
    main()
