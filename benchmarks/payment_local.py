"""The payment platform against DynamoDB Local (+ moto's S3/STS/KMS), through its handlers:

(c) payments per second with concurrent invocations of the process handler (threads of one
warm process, each invocation a new payment), and the Python heap peak of one invocation;
(d) reconcile throughput (rows/s) on a large generated settlement file streamed from S3, and
its heap peak for two file sizes (flat: the file is never loaded).

Both engines are local and share this machine's cores with the client, so the absolute rates
say more about DynamoDB Local than about the library; the memory figures are the point.
"""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
from typing import Any

from benchmarks._context import Context
from benchmarks._results import Result, Row, Table

THREADS = 4
PER_THREAD, QUICK_PER_THREAD = 50, 5
SMALL_FILE, LARGE_FILE = 1_000, 5_000
QUICK_SMALL, QUICK_LARGE = 100, 300
STREAM_MB = 64
MATCHED = 100  # rows of the file that settle real payments; the rest are unknown ids


def _payment(local: Any, key: str) -> dict[str, Any]:
    from examples.payment import process
    from examples.payment.local import context, http_event

    event = http_event(
        "POST",
        "/payments",
        token=local.token("acme", "m-bench"),
        body={"amount": 1000, "currency": "EUR", "customer_id": "c-bench"},
        headers={"idempotency-key": key},
    )
    answer: dict[str, Any] = process.handler(event, context(30))
    if answer["statusCode"] != 201:
        raise RuntimeError(f"payment refused: {answer}")
    return answer


def _throughput(local: Any, per_thread: int) -> tuple[float, float]:
    """(payments/s, heap peak of one invocation in KiB)."""
    _payment(local, "warm-up")
    tracemalloc.start()
    _payment(local, "measured-alone")
    peak = tracemalloc.get_traced_memory()[1] / 1024
    tracemalloc.stop()

    def worker(n: int) -> None:
        for i in range(per_thread):
            _payment(local, f"t{n}-{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return THREADS * per_thread / (time.perf_counter() - start), peak


def _settlement_file(paid: list[str], rows: int) -> bytes:
    lines = ["merchant_id,payment_id,amount,currency"]
    lines += [f"m-bench,{pid},1000,EUR" for pid in paid]
    lines += [f"m-bench,pay_0000000000000_{i:08x},1000,EUR" for i in range(rows - len(paid))]
    return ("\n".join(lines) + "\n").encode()


def _reconcile(local: Any, rows: int, *, traced: bool) -> tuple[float, float, int]:
    """(rows/s, heap peak KiB or 0, file bytes) for a file of ``rows`` rows."""
    from examples.payment import reconcile
    from examples.payment.local import context

    paid = [
        json.loads(_payment(local, f"r{rows}-{traced}-{i}")["body"])["payment_id"]
        for i in range(MATCHED)
    ]
    data = _settlement_file(paid, rows)
    event = local.upload_settlement("acme", f"bench-{rows}-{traced}.csv", data)
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    [result] = reconcile.handler(event, context(900, "reconcile"))["files"]
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 1024 if traced else 0.0
    if traced:
        tracemalloc.stop()
    if result["status"] != "done" or result["settled"] != MATCHED:
        raise RuntimeError(f"reconcile did not finish as expected: {result}")
    return rows / elapsed, peak, len(data)


def _row(label: str, unit: str, value: float, samples: int) -> Row:
    return Row(label, unit, value, value, value, samples)


def _stream_peak(local: Any, megabytes: int) -> tuple[float, float, int]:
    """(MB/s, heap peak KiB, lines) reading a generated settlement file of ``megabytes`` MB
    from S3 the way reconcile does (the part of reconcile whose memory could grow with a file)."""
    from examples.payment import objects
    from examples.payment.local import SETTLEMENT_BUCKET

    line = b"m-bench,pay_0000000000000_00000000,1000,EUR\n"
    data = line * (megabytes * 1024 * 1024 // len(line))
    key = f"settlements/acme/stream-{megabytes}mb.csv"
    etag = objects.s3().put(SETTLEMENT_BUCKET, key, data)
    size = len(data)
    del data
    tracemalloc.start()
    start = time.perf_counter()
    count = sum(1 for _ in objects.lines(SETTLEMENT_BUCKET, key, etag=etag))
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 1024
    tracemalloc.stop()
    return size / 1e6 / elapsed, peak, count


def run(ctx: Context) -> Result:
    """Payments/s and reconcile rows/s on DynamoDB Local, with heap peaks."""
    from examples.payment.local import LocalPlatform

    per_thread = QUICK_PER_THREAD if ctx.quick else PER_THREAD
    small, large = (QUICK_SMALL, QUICK_LARGE) if ctx.quick else (SMALL_FILE, LARGE_FILE)
    with LocalPlatform() as local:
        local.add_customer("acme", "m-bench", "c-bench", "4111111111111111")
        rate, invocation_peak = _throughput(local, per_thread)
        rows_per_s, _, large_bytes = _reconcile(local, large, traced=False)
        _, small_peak, small_bytes = _reconcile(local, small, traced=True)
        _, large_peak, _ = _reconcile(local, large, traced=True)
        stream_rate, stream_peak, stream_lines = _stream_peak(local, STREAM_MB)
        engine = "?" if local.dynamodb is None else local.dynamodb.engine
    count = THREADS * per_thread
    return Result(
        name="payment_local",
        title=f"Payment platform on {engine} (local engines): throughput and memory",
        rows=[
            _row(f"process: {THREADS} concurrent invocations", "payments/s", rate, count),
            _row("process: heap peak of one invocation", "KiB", invocation_peak, 1),
            _row(f"reconcile: {large:,}-row file", "rows/s", rows_per_s, large),
            _row(f"S3 line stream of a {STREAM_MB} MB file: heap peak", "KiB", stream_peak, 1),
            _row(f"S3 line stream of a {STREAM_MB} MB file", "MB/s", stream_rate, stream_lines),
        ],
        ratios=[],
        tables=[
            Table(
                "Reconcile heap peak (tracemalloc) by file size: it follows the report (rows of "
                "one query page, and the report's upload held up to one 8 MiB part), not the file:",
                ["rows", "file size", "heap peak"],
                [
                    [f"{small:,}", f"{small_bytes / 1024:.0f} KiB", f"{small_peak:.0f} KiB"],
                    [f"{large:,}", f"{large_bytes / 1024:.0f} KiB", f"{large_peak:.0f} KiB"],
                ],
            )
        ],
        notes=[
            f"{THREADS} threads x {per_thread} payments in one warm process against DynamoDB "
            "Local (each payment: idempotency record twice + one 8-action transaction). One "
            "run; the engines run on the same 2 cores as the client.",
            f"Reconcile: {MATCHED} rows settle real payments, the rest are unknown ids (each "
            "row's outcome is still written, 14 rows per transaction); rows/s is measured "
            "without tracemalloc, the heap peaks with it.",
            f"S3 line stream: a {STREAM_MB} MB settlement file read line by line from moto's "
            "S3 exactly as reconcile reads it (256 KiB ranged chunks); the heap peak is what "
            "the file costs in memory, whatever its size.",
        ],
    )
