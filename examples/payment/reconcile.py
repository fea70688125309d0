"""S3 ``ObjectCreated`` on ``settlements/<partner>/<name>.csv``: reconcile a settlement file.

The file (``merchant_id,payment_id,amount,currency``, one row a line, a header first) is read
as a stream from a byte offset, never loaded. Rows are read 99 at a time, their payments with
one ``batch_get``; then each transaction settles the matching payments of a run of rows (status,
hold released, settlement ledger entries, outbox event, each payment's audit record), records
every row's outcome (settled, mismatch, unknown, duplicate, malformed with its line number) and
moves the file's checkpoint past those rows. A settled row is 7 actions, any other 1, so a
transaction holds 14 settled rows, or up to 98 others. The checkpoint is versioned, so rows
commit once: a re-delivered event, a concurrent run or a resumed one settles nothing twice.

When the invocation's remaining time falls under ``MARGIN`` the handler stops between transactions
and continues in a follow-up invocation (an asynchronous self-invoke on Lambda; locally the
continuation event is returned). At the end a report object lists every row's outcome.
"""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from dynamorm import (
    DB,
    AlreadyExists,
    LambdaContextLike,
    VersionConflict,
    key,
)

from . import objects
from .models import (
    Hold,
    LedgerEntry,
    Payment,
    SettlementBatch,
    SettlementRow,
    WebhookEvent,
)
from .platform import Platform, platform

HEADER = ["merchant_id", "payment_id", "amount", "currency"]
READ_ROWS = 99  # rows whose payments one batch_get reads (at most 100 keys)
ROW_ACTIONS = 98  # a transaction's actions for rows: with the checkpoint, 99 of DynamoDB's 100
SETTLE_ACTIONS = 7  # the row, the payment, its audit record, the hold, 2 ledger legs, the outbox
MARGIN = 10.0  # seconds kept for the checkpoint and the follow-up invocation


def handler(event: dict[str, Any], context: LambdaContextLike) -> dict[str, Any]:
    """The Lambda entry point: each record of an S3 event, or a continuation."""
    app = platform()
    results = [reconcile(app, *target, context) for target in targets(event)]
    pending = [r["continuation"] for r in results if "continuation" in r]
    if pending:
        follow_up = {"continuation": pending}
        if not _invoke_self(follow_up, context):
            return {"files": results, "continuation": follow_up}
    return {"files": results}


def targets(event: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(bucket, key, etag) of each file the event names."""
    if "continuation" in event:
        return [(c["bucket"], c["key"], c["etag"]) for c in event["continuation"]]
    found = []
    for record in event.get("Records", []):
        s3 = record["s3"]
        obj = s3["object"]
        found.append((s3["bucket"]["name"], unquote_plus(obj["key"]), obj.get("eTag", "")))
    return found


def _invoke_self(event: dict[str, Any], context: LambdaContextLike) -> bool:
    """On Lambda: continue in a new asynchronous invocation of this function."""
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if not function or os.environ.get("RECONCILE_CONTINUE") != "invoke":
        return False
    import boto3

    boto3.client("lambda").invoke(
        FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode()
    )
    return True


class Row:
    """One line of the file: its fields, or what is wrong with it."""

    __slots__ = ("amount", "currency", "end", "error", "line", "merchant_id", "payment_id")

    def __init__(
        self,
        line: int,
        merchant_id: str = "",
        payment_id: str = "",
        amount: int | None = None,
        currency: str = "",
        *,
        error: str = "",
    ) -> None:
        self.line = line
        self.merchant_id = merchant_id
        self.payment_id = payment_id
        self.amount = amount
        self.currency = currency
        self.error = error
        self.end = 0  # the byte offset after the row's line


def parse_row(line: int, raw: bytes) -> Row:
    """One CSV line as a Row; a malformed one carries what is wrong (never the raw text)."""
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return Row(line, error="not UTF-8")
    fields = next(csv.reader([text]), [])
    if len(fields) != len(HEADER):
        return Row(line, error=f"expected {len(HEADER)} fields, got {len(fields)}")
    merchant, payment, amount, currency = (f.strip() for f in fields)
    if not merchant or not payment:
        return Row(line, error="merchant_id and payment_id are required")
    if not amount.isdigit():
        return Row(line, merchant, payment, error="amount is not a whole number of minor units")
    return Row(line, merchant, payment, int(amount), currency)


def partner_of(object_key: str) -> str | None:
    parts = object_key.split("/")
    if len(parts) < 3 or parts[0] != "settlements" or not parts[1]:
        return None
    return parts[1]


def reconcile(
    app: Platform, bucket: str, object_key: str, etag: str, context: LambdaContextLike
) -> dict[str, Any]:
    """Reconcile one file from its checkpoint; return its summary (and a continuation)."""
    partner = partner_of(object_key)
    if partner is None:
        return {
            "file": object_key,
            "status": "ignored",
            "reason": "not under settlements/<partner>/",
        }
    db = app.partner(partner).with_actor("reconcile").with_deadline(context)
    file_id = f"{bucket}/{object_key}@{etag.strip(chr(34))}"
    batch = _start(db, SettlementBatch(file_id=file_id, bucket=bucket, key=object_key))
    if batch.status == "done":
        return _summary(batch, replayed=True)
    batch = _bump(db, batch)
    offset, line = batch.offset, batch.line
    read: list[Row] = []
    for raw in objects.lines(bucket, object_key, start=offset, etag=etag or None, context=context):
        line += 1
        offset += len(raw)
        if line == 1 and raw.decode("utf-8", "replace").strip().split(",") == HEADER:
            continue
        read.append(parse_row(line, raw))
        read[-1].end = offset
        if len(read) == READ_ROWS:
            batch, stopped = _commit_rows(db, batch, read, context)
            read = []
            if stopped or _low_on_time(context):
                return _continuation(batch, etag)
    if read:
        batch, stopped = _commit_rows(db, batch, read, context)
        if stopped:
            return _continuation(batch, etag)
    if offset != batch.offset:  # a header (or blank tail) with no rows after it
        batch = _commit(db, batch, [], offset, line)
    if _low_on_time(context):
        return _continuation(batch, etag)
    return _finish(app, db, batch, partner, context)


def _start(db: DB, fresh: SettlementBatch) -> SettlementBatch:
    try:
        return db.create(fresh)
    except AlreadyExists:
        return db.get(SettlementBatch, file_id=fresh.file_id, consistent=True)


def _bump(db: DB, batch: SettlementBatch) -> SettlementBatch:
    """Count the invocation; the version check makes a concurrent run of the file lose here."""
    return db.update(batch, SettlementBatch.invocations.add(1))


def _low_on_time(context: LambdaContextLike) -> bool:
    return context.get_remaining_time_in_millis() / 1000 < MARGIN


def _continuation(batch: SettlementBatch, etag: str) -> dict[str, Any]:
    summary = _summary(batch)
    summary["status"] = "continuing"
    summary["continuation"] = {"bucket": batch.bucket, "key": batch.key, "etag": etag}
    return summary


Outcome = tuple[Row, str, Payment | None]


def _commit_rows(
    db: DB, batch: SettlementBatch, rows: list[Row], context: LambdaContextLike
) -> tuple[SettlementBatch, bool]:
    """Commit ``rows`` in as few transactions as their actions allow; (the checkpoint, True
    if time ran low and the rest was left for the continuation)."""
    found = _payments(db, rows)
    seen: set[tuple[str, str]] = set()
    group: list[Outcome] = []
    cost = 0
    for row in rows:
        outcome, payment = _match(row, found, seen)
        actions = SETTLE_ACTIONS if outcome == "settled" else 1
        if cost + actions > ROW_ACTIONS:
            batch = _commit(db, batch, group, group[-1][0].end, group[-1][0].line)
            group, cost = [], 0
            if _low_on_time(context):
                return batch, True
        group.append((row, outcome, payment))
        cost += actions
    batch = _commit(db, batch, group, group[-1][0].end, group[-1][0].line)
    return batch, False


def _payments(db: DB, rows: list[Row]) -> dict[tuple[str, str], Payment]:
    """The rows' payments, read with one batch_get (at most READ_ROWS keys)."""
    wanted = sorted({(r.merchant_id, r.payment_id) for r in rows if not r.error})
    if not wanted:
        return {}
    keys = [{"merchant_id": m, "payment_id": p} for m, p in wanted]
    return {(p.merchant_id, p.payment_id): p for p in db.batch_get(Payment, keys)}


def _commit(
    db: DB, batch: SettlementBatch, group: list[Outcome], offset: int, line: int
) -> SettlementBatch:
    """Record a run of rows' outcomes, settle its matches and advance the checkpoint past it,
    in one transaction; return the new checkpoint."""
    now = datetime.now(UTC)
    counts = {"settled": 0, "mismatch": 0, "unknown": 0, "malformed": 0, "duplicate": 0}
    with db.transaction() as tx:
        for row, outcome, payment in group:
            counts[outcome] += 1
            tx.create(
                SettlementRow(
                    file_id=batch.file_id,
                    line=row.line,
                    outcome=outcome,
                    merchant_id=row.merchant_id,
                    payment_id=row.payment_id,
                    reported_amount=row.amount,
                    expected_amount=None if payment is None else payment.amount,
                    detail=row.error,
                )
            )
            if outcome == "settled" and payment is not None:
                _settle(tx, payment, batch.file_id, now)
        tx.update(
            batch,
            SettlementBatch.offset.set(offset),
            SettlementBatch.line.set(line),
            SettlementBatch.settled.add(counts["settled"]),
            SettlementBatch.mismatched.add(counts["mismatch"]),
            SettlementBatch.unknown.add(counts["unknown"]),
            SettlementBatch.malformed.add(counts["malformed"]),
            SettlementBatch.duplicate.add(counts["duplicate"]),
        )
    return db.get(SettlementBatch, file_id=batch.file_id, consistent=True)


def _match(
    row: Row, found: dict[tuple[str, str], Payment], seen: set[tuple[str, str]]
) -> tuple[str, Payment | None]:
    if row.error:
        return "malformed", None
    ident = (row.merchant_id, row.payment_id)
    payment = found.get(ident)
    if payment is None:
        return "unknown", None
    if payment.status != "authorized" or ident in seen:
        return "duplicate", payment
    if payment.amount != row.amount or payment.currency != row.currency:
        return "mismatch", payment
    seen.add(ident)
    return "settled", payment


def _settle(tx: Any, payment: Payment, file_id: str, now: datetime) -> None:
    m, pid = payment.merchant_id, payment.payment_id
    tx.update(
        payment,
        Payment.status.set("settled"),
        Payment.status_key.set(f"{m}#settled"),
        Payment.settled_at.set(now),
        Payment.settlement_file.set(file_id),
        condition=Payment.status == "authorized",
    )
    tx.delete(key(Hold, hold_id=f"{m}#{pid}"))
    for account, amount in (
        (f"merchant#{m}", -payment.amount),
        (f"settlement#{m}", payment.amount),
    ):
        tx.create(
            LedgerEntry(
                account=account,
                entry_id=f"{pid}#settlement",
                payment_id=pid,
                kind="settlement",
                amount=amount,
                currency=payment.currency,
            )
        )
    tx.create(
        WebhookEvent(
            merchant_id=m,
            event_id=f"evt_{pid}_settled",
            type="payment.settled",
            payment_id=pid,
            payload=json.dumps({"payment_id": pid, "amount": payment.amount}, sort_keys=True),
        )
    )


REPORT_HEADER = "line,outcome,merchant_id,payment_id,reported_amount,expected_amount,detail\n"


def _finish(
    app: Platform, db: DB, batch: SettlementBatch, partner: str, context: LambdaContextLike
) -> dict[str, Any]:
    """Write the report (streamed from the recorded rows), then mark the file done."""
    name = batch.key.rsplit("/", 1)[-1].removesuffix(".csv")
    report_key = f"reports/{partner}/{name}.report.csv"
    bucket = app.settings.export_bucket or batch.bucket

    def chunks() -> Any:
        yield REPORT_HEADER.encode()
        rows = db.query(SettlementRow).where(SettlementRow.file_id == batch.file_id)
        for r in rows:
            fields = [
                r.line,
                r.outcome,
                r.merchant_id,
                r.payment_id,
                "" if r.reported_amount is None else r.reported_amount,
                "" if r.expected_amount is None else r.expected_amount,
                r.detail,
            ]
            yield (",".join(_csv_cell(f) for f in fields) + "\n").encode()

    objects.upload(bucket, report_key, chunks(), content_type="text/csv", context=context)
    try:
        batch = db.update(
            batch, SettlementBatch.status.set("done"), SettlementBatch.report_key.set(report_key)
        )
    except VersionConflict:  # another run finished it meanwhile
        batch = db.get(SettlementBatch, file_id=batch.file_id, consistent=True)
    return _summary(batch)


def _csv_cell(value: object) -> str:
    text = str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _summary(batch: SettlementBatch, *, replayed: bool = False) -> dict[str, Any]:
    return {
        "file": batch.key,
        "status": "already reconciled" if replayed else batch.status,
        "lines": batch.line,
        "settled": batch.settled,
        "mismatched": batch.mismatched,
        "unknown": batch.unknown,
        "malformed": batch.malformed,
        "duplicate": batch.duplicate,
        "invocations": batch.invocations,
        "report": batch.report_key,
    }
