"""Issue 13 item 5(d) at full size: a 100 MB settlement file reconciled end to end through the
reconcile handler, on DynamoDB Local + moto's S3: rows/s and memory over the run.

The file is generated and streamed to S3 (never held whole), then reconciled in one long
invocation. Memory is the process's resident set (``VmRSS``; ``VmHWM`` reset before the run
through ``/proc/self/clear_refs``), sampled as the rows go by: flat means the last samples are
where the first ones were, whatever the file's size.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from benchmarks._context import Context
from benchmarks._results import Result, Row, Table

FILE_MB, QUICK_FILE_MB = 100, 0.05
MATCHED, QUICK_MATCHED = 1_000, 5  # rows that settle real payments; the rest: unknown ids
LINE = "m-bench,pay_0000000000000_{:08x},1000,EUR\n"
SAMPLES = 10


def _status(field: str) -> int:
    """A ``/proc/self/status`` memory figure in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} is not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")  # resets VmHWM to the current RSS
    except OSError:
        return False
    return True


def settlement_lines(paid: list[str], total_bytes: int) -> Iterator[bytes]:
    """A settlement file of about ``total_bytes``: the header, the paid rows, then unknown ids
    (in 1 MiB chunks, so it is never held whole)."""
    yield b"merchant_id,payment_id,amount,currency\n"
    yield "".join(f"m-bench,{pid},1000,EUR\n" for pid in paid).encode()
    per_chunk = (1024 * 1024) // len(LINE.format(0))
    rows = total_bytes // len(LINE.format(0))
    for start in range(0, rows, per_chunk):
        yield "".join(LINE.format(i) for i in range(start, min(rows, start + per_chunk))).encode()


def _one(label: str, unit: str, value: float) -> Row:
    return Row(label, unit, value, value, value, 1)


def run(ctx: Context) -> Result:
    """Reconcile a generated settlement file of FILE_MB MB; rows/s and RSS over the run."""
    from dynamorm.testing import s3_event
    from examples.payment import objects, process, reconcile
    from examples.payment.local import SETTLEMENT_BUCKET, LocalPlatform, context, http_event

    megabytes = QUICK_FILE_MB if ctx.quick else FILE_MB
    matched = QUICK_MATCHED if ctx.quick else MATCHED
    with LocalPlatform() as local:
        local.add_customer("acme", "m-bench", "c-bench", "4111111111111111")
        paid = []
        for i in range(matched):
            event = http_event(
                "POST",
                "/payments",
                token=local.token("acme", "m-bench"),
                body={"amount": 1000, "currency": "EUR", "customer_id": "c-bench"},
                headers={"idempotency-key": f"big-{i}"},
            )
            answer: dict[str, Any] = process.handler(event, context(30))
            paid.append(json.loads(answer["body"])["payment_id"])
        key = f"settlements/acme/big-{megabytes}mb.csv"
        size = objects.s3().upload(
            SETTLEMENT_BUCKET, key, settlement_lines(paid, int(megabytes * 1024 * 1024))
        )
        etag = objects.s3().get(SETTLEMENT_BUCKET, key, start=0, end=0).etag
        event = s3_event(SETTLEMENT_BUCKET, key, size=size, etag=etag)
        samples: list[tuple[float, int]] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(1.0):
                samples.append((time.perf_counter(), _status("VmRSS")))

        sampler = threading.Thread(target=sample, daemon=True)
        peak_reset = _reset_peak()
        before = _status("VmRSS")
        sampler.start()
        start = time.perf_counter()
        try:
            [result] = reconcile.handler(event, context(7200, "reconcile"))["files"]
        finally:
            done.set()
            sampler.join()
        elapsed = time.perf_counter() - start
        peak = _status("VmHWM")
        engine = "?" if local.dynamodb is None else local.dynamodb.engine
    if result["status"] != "done" or result["settled"] != matched:
        raise RuntimeError(f"reconcile did not finish as expected: {result}")
    lines = result["lines"] - 1
    picked = samples[:: max(1, len(samples) // SAMPLES)][:SAMPLES] + samples[-1:]
    return Result(
        name="payment_reconcile",
        title=f"Reconcile a {size / 1e6:.0f} MB settlement file end to end on {engine} + moto S3",
        rows=[
            _one("reconcile: rows", "rows/s", lines / elapsed),
            _one("reconcile: wall time", "s", elapsed),
            _one("resident set before the run", "MiB", before / 1024),
            _one(
                "resident set peak during the run" + ("" if peak_reset else " (process peak)"),
                "MiB",
                peak / 1024,
            ),
        ],
        ratios=[],
        tables=[
            Table(
                "Resident set as the file goes by (flat: the file is never held in memory):",
                ["elapsed", "rows done (est.)", "RSS"],
                [
                    [
                        f"{t - start:.0f} s",
                        f"{min(lines, int((t - start) * lines / elapsed)):,}",
                        f"{rss / 1024:.1f} MiB",
                    ]
                    for t, rss in picked
                ],
            )
        ],
        notes=[
            f"{lines:,} rows ({size / 1e6:.1f} MB): {matched:,} settle real payments (7 "
            f"actions each), the rest are unknown ids (1 action: the row's outcome); "
            f"{result['invocations']} invocation(s). 99 rows per batch_get, up to 98 rows per "
            "transaction with the checkpoint. Rows are about what DynamoDB Local sustains on "
            "this shared 2-core machine; the memory is the point.",
        ],
    )
