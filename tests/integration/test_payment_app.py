"""The payment example's three handlers on DynamoDB Local + moto's S3/STS, through real events:
success and error paths, duplicates, partner isolation, deadlines, resumable reconciliation."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dynamorm import ConnectionReset, IdempotencyRecord, ReadTimeout, TableNotFound, key
from dynamorm._io import transport as transport_module
from dynamorm._io.transport import Request, Response
from dynamorm.local import LocalDynamoDB
from examples.payment import objects, process, query, reconcile
from examples.payment.local import (
    EXPORT_BUCKET,
    LocalPlatform,
    context,
    http_event,
    mint_token,
)
from examples.payment.models import (
    Customer,
    Hold,
    LedgerEntry,
    Payment,
    SettlementRow,
    WebhookEvent,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local(dynamodb_local: LocalDynamoDB, moto_server: LocalDynamoDB) -> Iterator[LocalPlatform]:
    prefix = f"pay{secrets.token_hex(3)}_"
    with LocalPlatform(
        dynamodb_endpoint=dynamodb_local.endpoint, aws_endpoint=moto_server.endpoint, prefix=prefix
    ) as platform:
        platform.add_customer("acme", "m1", "alice", "4111111111111111")
        platform.add_customer("globex", "m1", "carol", "378282246310005")
        yield platform
        names = platform.app.db.client.call("ListTables", {"Limit": 100})["TableNames"]
        for name in names:
            if name.startswith(prefix):
                platform.app.db.client.call("DeleteTable", {"TableName": name})


def pay(
    local: LocalPlatform,
    idem: str,
    *,
    partner: str = "acme",
    merchant: str = "m1",
    token: str | None = None,
    ctx: Any = None,
    **body: Any,
) -> dict[str, Any]:
    request = {"amount": 1250, "currency": "EUR", "customer_id": "alice", **body}
    event = http_event(
        "POST",
        "/payments",
        token=token if token is not None else local.token(partner, merchant),
        body=request,
        headers={"idempotency-key": idem},
    )
    return process.handler(event, ctx or context())


def ask(local: LocalPlatform, method: str, path: str, partner: str = "acme", **kw: Any) -> Any:
    event = http_event(method, path, token=local.token(partner, "m1"), **kw)
    return query.handler(event, context())


def decoded(answer: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(answer["body"])
    return body


def written(local: LocalPlatform, payment_id: str) -> dict[str, int]:
    """How many of each item one payment's authorization wrote (all or nothing)."""
    db = local.partner_db("acme")
    ledger = [
        e for e in db.scan(LedgerEntry) if e.payment_id == payment_id and e.kind == "authorization"
    ]
    return {
        "payment": len(
            [
                p
                for p in db.query(Payment).where(Payment.merchant_id == "m1")
                if p.payment_id == payment_id
            ]
        ),
        "hold": len(db.batch_get(Hold, [{"hold_id": f"m1#{payment_id}"}]).items),
        "ledger": len(ledger),
        "outbox": len(
            [
                e
                for e in db.query(WebhookEvent).where(WebhookEvent.merchant_id == "m1")
                if e.payment_id == payment_id
            ]
        ),
        "audit": db.audit_history(key(Payment, merchant_id="m1", payment_id=payment_id)).count(),
    }


def payments_with_key(local: LocalPlatform, idem: str, partner: str = "acme") -> list[Payment]:
    db = local.partner_db(partner)
    return [
        p for p in db.query(Payment).where(Payment.merchant_id == "m1") if p.idempotency_key == idem
    ]


# --- process -----------------------------------------------------------------------------------


def test_a_payment_is_written_with_everything_it_implies(local: LocalPlatform) -> None:
    answer = pay(local, "ok-1", description="two flat whites")
    assert answer["statusCode"] == 201, answer
    body = decoded(answer)
    assert body["status"] == "authorized"
    assert answer["headers"]["Location"] == f"/payments/{body['payment_id']}"
    assert written(local, body["payment_id"]) == {
        "payment": 1,
        "hold": 1,
        "ledger": 2,
        "outbox": 1,
        "audit": 1,
    }
    record = (
        local.partner_db("acme")
        .audit_history(key(Payment, merchant_id="m1", payment_id=body["payment_id"]))
        .first()
    )
    assert record is not None
    assert (record.actor, record.operation, record.partner) == ("merchant:m1", "create", "acme")


def test_a_retry_replays_the_first_answer(local: LocalPlatform) -> None:
    first = pay(local, "retry-1")
    again = pay(local, "retry-1")
    assert again["statusCode"] == 201
    assert decoded(again) == decoded(first)
    assert len(payments_with_key(local, "retry-1")) == 1


def test_concurrent_duplicates_make_one_payment(local: LocalPlatform) -> None:
    answers: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: answers.append(pay(local, "race-1"))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(a["statusCode"] for a in answers)
    assert set(codes) <= {201, 409}
    assert 201 in codes
    assert {decoded(a)["payment_id"] for a in answers if a["statusCode"] == 201}.__len__() == 1
    assert len(payments_with_key(local, "race-1")) == 1


def test_the_same_key_with_another_body_is_422(local: LocalPlatform) -> None:
    assert pay(local, "mismatch-1")["statusCode"] == 201
    answer = pay(local, "mismatch-1", amount=999)
    assert answer["statusCode"] == 422
    assert decoded(answer)["error"] == "idempotency_key_reused"


def test_a_retry_after_the_idempotency_record_is_gone_finds_the_payment(
    local: LocalPlatform,
) -> None:
    first = decoded(pay(local, "expired-1"))
    acme = local.partner_db("acme")
    for record in acme.scan(IdempotencyRecord):
        acme.delete(record)  # as if its 24 h had passed
    again = pay(local, "expired-1")
    assert again["statusCode"] == 201
    assert decoded(again)["payment_id"] == first["payment_id"]
    for record in acme.scan(IdempotencyRecord):
        acme.delete(record)
    assert pay(local, "expired-1", amount=5)["statusCode"] == 422
    assert len(payments_with_key(local, "expired-1")) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": 12.5}, "amount"),
        ({"amount": True}, "amount"),
        ({"currency": "XXX"}, "currency"),
        ({"customer_id": "a b"}, "customer_id"),
        ({"description": "x" * 201}, "description"),
        ({"tip": 5}, "tip"),
    ],
)
def test_an_invalid_body_is_a_400_naming_the_field(
    local: LocalPlatform, change: dict[str, Any], field: str
) -> None:
    answer = pay(local, f"invalid-{field}", **change)
    assert answer["statusCode"] == 400
    assert decoded(answer)["field"] == field


def test_a_missing_idempotency_key_or_body_is_a_400(local: LocalPlatform) -> None:
    event = http_event("POST", "/payments", token=local.token("acme", "m1"), body={})
    assert decoded(process.handler(event, context()))["field"] == "Idempotency-Key"
    event = http_event(
        "POST",
        "/payments",
        token=local.token("acme", "m1"),
        body="{not json",
        headers={"idempotency-key": "k"},
    )
    assert process.handler(event, context())["statusCode"] == 400


def test_tokens_are_checked_before_anything_else(local: LocalPlatform) -> None:
    cases = {
        "": 401,
        "garbage": 401,
        mint_token(
            "another-secret" * 3, partner="acme", merchant="m1", scope="payments:write"
        ): 401,
        local.token("acme", "m1", ttl=-60): 401,
        local.token("acme", "m1", scope="payments:read"): 403,
        local.token("initech", "m1"): 403,
    }
    for token, status in cases.items():
        answer = pay(local, "auth-1", token=token)
        assert answer["statusCode"] == status, token
        body = decoded(answer)
        assert set(body) == {"error", "message", "request_id"}
        assert "initech" not in body["message"]
        if status == 401:
            assert answer["headers"]["WWW-Authenticate"].startswith("Bearer")
    assert payments_with_key(local, "auth-1") == []


def test_an_unknown_customer_is_a_404_and_writes_nothing(local: LocalPlatform) -> None:
    answer = pay(local, "nobody-1", customer_id="mallory")
    assert answer["statusCode"] == 404
    assert decoded(answer)["field"] == "customer_id"
    local.add_customer("acme", "m1", "mallory", "4000000000000002")
    assert pay(local, "nobody-1", customer_id="mallory")["statusCode"] == 201  # not replayed


def test_partners_never_see_each_other(local: LocalPlatform) -> None:
    acme = decoded(pay(local, "iso-1"))
    # The same merchant id exists at globex: its token still reaches globex's account only.
    assert ask(local, "GET", f"/payments/{acme['payment_id']}", "globex")["statusCode"] == 404
    listed = decoded(ask(local, "GET", "/payments", "globex", query={"limit": "100"}))
    assert acme["payment_id"] not in {p["payment_id"] for p in listed["items"]}
    carol = pay(local, "iso-1", partner="globex", customer_id="carol")
    assert carol["statusCode"] == 201  # same key, other partner: another payment
    assert decoded(carol)["payment_id"] != acme["payment_id"]
    assert pay(local, "iso-2", partner="globex")["statusCode"] == 404  # alice is acme's
    # Each partner's idempotency records live in its own account; the platform holds none.
    mine: dict[str, dict[str, IdempotencyRecord]] = {"acme": {}, "globex": {}}
    for partner, records in mine.items():
        records.update((r.id, r) for r in local.partner_db(partner).scan(IdempotencyRecord))
    assert mine["acme"]
    assert mine["globex"]
    assert not set(mine["acme"]) & set(mine["globex"])
    with pytest.raises(TableNotFound):
        local.app.db.scan(IdempotencyRecord).first()


# --- deadlines ---------------------------------------------------------------------------------


def _slow(
    monkeypatch: pytest.MonkeyPatch, operation: str, *, before: float = 0, after: float = 0
) -> None:
    """Delay one DynamoDB operation on the wire: before sending, or after its answer came."""
    inner: Callable[[Any, Request], Response] = transport_module.HTTPTransport.__call__

    def call(self: Any, request: Request) -> Response:
        hit = request.headers.get("x-amz-target", "").endswith(f".{operation}")
        if hit and before:
            time.sleep(before)
        response = inner(self, request)
        if hit and after:
            time.sleep(after)
            raise ReadTimeout("the answer was lost")
        return response

    monkeypatch.setattr(transport_module.HTTPTransport, "__call__", call)


def test_a_deadline_before_the_write_is_a_503_with_nothing_written(
    local: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The idempotency record's write eats the invocation's time: the transaction is not sent.
    _slow(monkeypatch, "PutItem", before=1.2)
    answer = pay(local, "late-1", ctx=context(1.0))
    assert answer["statusCode"] == 503
    assert answer["headers"]["Retry-After"] == "1"
    assert "acme" not in answer["body"]
    assert payments_with_key(local, "late-1") == []
    monkeypatch.undo()
    retry = pay(local, "late-1")
    assert retry["statusCode"] == 201
    assert written(local, decoded(retry)["payment_id"])["ledger"] == 2


def test_an_answer_lost_at_the_deadline_is_a_503_and_the_retry_finds_the_payment(
    local: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow(monkeypatch, "TransactWriteItems", after=1.2)
    answer = pay(local, "lost-1", ctx=context(1.0))
    assert answer["statusCode"] == 503
    monkeypatch.undo()
    retry = pay(local, "lost-1")
    assert retry["statusCode"] == 201
    [payment] = payments_with_key(local, "lost-1")
    assert decoded(retry)["payment_id"] == payment.payment_id
    assert written(local, payment.payment_id) == {
        "payment": 1,
        "hold": 1,
        "ledger": 2,
        "outbox": 1,
        "audit": 1,
    }


# --- query -------------------------------------------------------------------------------------


def test_listing_pages_with_signed_cursors(local: LocalPlatform) -> None:
    for i in range(5):
        assert pay(local, f"list-{i}", partner="globex", customer_id="carol")["statusCode"] == 201
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", "status": "authorized", **({"cursor": cursor} if cursor else {})}
        page = decoded(ask(local, "GET", "/payments", "globex", query=params))
        assert len(page["items"]) <= 2
        seen += [p["payment_id"] for p in page["items"]]
        cursor = page["cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) >= 5
    assert seen == sorted(seen, reverse=True)  # newest first
    first = decoded(ask(local, "GET", "/payments", "globex", query={"limit": "1"}))
    tampered = first["cursor"][:-2] + ("AA" if not first["cursor"].endswith("AA") else "BB")
    for bad in ({"cursor": tampered}, {"cursor": first["cursor"], "status": "settled"}):
        answer = ask(local, "GET", "/payments", "globex", query=bad)
        assert answer["statusCode"] == 400
        assert decoded(answer)["field"] == "cursor"
    # acme cannot use globex's cursor either (other account, other query)
    assert ask(local, "GET", "/payments", query={"cursor": first["cursor"]})["statusCode"] == 400


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"status": "lost"}, "status"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
    ],
)
def test_bad_query_parameters_are_400(
    local: LocalPlatform, params: dict[str, str], field: str
) -> None:
    answer = ask(local, "GET", "/payments", query=params)
    assert answer["statusCode"] == 400
    assert decoded(answer)["field"] == field


def test_get_one_and_the_time_range(local: LocalPlatform) -> None:
    created = decoded(pay(local, "get-1"))
    got = ask(local, "GET", f"/payments/{created['payment_id']}")
    assert got["statusCode"] == 200
    assert decoded(got)["amount"] == 1250
    assert ask(local, "GET", "/payments/pay_0_nope")["statusCode"] == 404
    assert ask(local, "GET", "/nowhere")["statusCode"] == 404
    window = {"from": created["created_at"], "to": created["created_at"]}
    items = decoded(ask(local, "GET", "/payments", query=window))["items"]
    assert created["payment_id"] in {p["payment_id"] for p in items}
    unauthenticated = query.handler(http_event("GET", "/payments"), context())
    assert unauthenticated["statusCode"] == 401


def test_export_streams_csv_behind_a_presigned_link(local: LocalPlatform) -> None:
    pay(local, "export-1", partner="globex", customer_id="carol")
    listed = decoded(ask(local, "GET", "/payments", "globex", query={"limit": "100"}))["items"]
    answer = ask(local, "POST", "/exports", "globex", body={})
    assert answer["statusCode"] == 201
    body = decoded(answer)
    assert body["expires_in"] == 900
    assert "X-Amz-Expires=900" in body["url"]
    with urllib.request.urlopen(body["url"], timeout=10) as download:
        lines = download.read().decode().splitlines()
    assert lines[0].startswith("payment_id,status,amount")
    assert body["rows"] == len(lines) - 1 == len(listed)
    reader = mint_token(local.jwt_secret, partner="globex", merchant="m1", scope="payments:read")
    event = http_event("POST", "/exports", token=reader, body={})
    assert query.handler(event, context())["statusCode"] == 403


# --- reconcile ---------------------------------------------------------------------------------


class Running:
    """A Lambda context whose remaining time drops low after ``calls`` reads of it."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.aws_request_id = "r"

    def get_remaining_time_in_millis(self) -> int:
        self.calls -= 1
        return 60_000 if self.calls >= 0 else 2_000


def _settlement(local: LocalPlatform, count: int) -> tuple[list[tuple[str, int]], list[str]]:
    paid = []
    for i in range(count):
        answer = pay(local, f"settle-{secrets.token_hex(4)}-{i}", amount=100 + i)
        paid.append((decoded(answer)["payment_id"], 100 + i))
    rows = ["merchant_id,payment_id,amount,currency"]
    rows += [f"m1,{pid},{amount},EUR" for pid, amount in paid]
    return paid, rows


def test_reconcile_settles_reports_and_ignores_a_redelivery(local: LocalPlatform) -> None:
    paid, rows = _settlement(local, 3)
    rows.append(f"m1,{paid[0][0]},{paid[0][1]},EUR")  # the same payment twice
    rows.append(f"m1,{paid[1][0]},1,EUR")  # mismatch (already settled above? no: line 3)
    rows.append("m1,pay_0000000000000_00000000,100,EUR")  # unknown
    rows.append("m1,not-enough-fields")  # malformed, line 8
    rows.append("m1,pay_x,12.50,EUR")  # malformed amount, line 9
    event = local.upload_settlement("acme", f"{secrets.token_hex(3)}.csv", "\n".join(rows))
    [result] = reconcile.handler(event, context(60))["files"]
    assert result["status"] == "done"
    assert (result["settled"], result["unknown"], result["malformed"]) == (3, 1, 2)
    assert result["duplicate"] == 2  # line 5 repeats line 2; line 6 names a settled payment
    report = objects.s3().get(EXPORT_BUCKET, result["report"]).body
    lines = report.decode().splitlines()
    assert lines[0].startswith("line,outcome")
    assert any(line.startswith("8,malformed,") and "expected 4 fields" in line for line in lines)
    assert any(line.startswith("9,malformed,") for line in lines)
    db = local.partner_db("acme")
    for pid, _ in paid:
        p = db.get(Payment, merchant_id="m1", payment_id=pid)
        assert p.status == "settled"
        assert db.audit_history(key(Payment, merchant_id="m1", payment_id=pid)).count() == 2
    again = reconcile.handler(event, context(60))["files"][0]
    assert again["status"] == "already reconciled"
    assert again["settled"] == 3


def test_reconcile_checkpoints_and_resumes_without_settling_twice(local: LocalPlatform) -> None:
    paid, rows = _settlement(local, 30)
    rows[5] = rows[5].rsplit(",", 2)[0] + ",999999,EUR"  # a mismatch, line 6
    event = local.upload_settlement("acme", f"{secrets.token_hex(3)}.csv", "\n".join(rows) + "\n")
    first = reconcile.handler(event, Running(1))  # time runs low after the first chunk
    [partial] = first["files"]
    assert partial["status"] == "continuing"
    assert partial["lines"] == 15  # header + 13 settled rows and the mismatch: 92 actions
    # A re-delivered S3 event meanwhile resumes from the checkpoint too.
    [resumed] = reconcile.handler(first["continuation"], context(60))["files"]
    assert resumed["status"] == "done"
    assert (resumed["settled"], resumed["mismatched"], resumed["invocations"]) == (29, 1, 2)
    [redelivered] = reconcile.handler(event, context(60))["files"]
    assert redelivered["settled"] == 29
    db = local.partner_db("acme")
    file_id = f"settlements/acme/{event['Records'][0]['s3']['object']['key'].split('/')[-1]}"
    outcomes = [
        r.outcome for r in db.scan(SettlementRow) if r.file_id.split("/", 1)[1].startswith(file_id)
    ]
    assert len(outcomes) == 30
    settlement_legs = [
        e for e in db.scan(LedgerEntry) if e.kind == "settlement" and e.payment_id in dict(paid)
    ]
    assert len(settlement_legs) == 2 * 29


def test_reconcile_interrupted_mid_chunk_commits_nothing_of_it(
    local: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    paid, rows = _settlement(local, 4)
    event = local.upload_settlement("acme", f"{secrets.token_hex(3)}.csv", "\n".join(rows))

    def crash(self: Any, request: Request) -> Response:
        raise ConnectionReset("the function was killed")

    original = transport_module.HTTPTransport.__call__

    def maybe_crash(self: Any, request: Request) -> Response:
        if request.headers.get("x-amz-target", "").endswith(".TransactWriteItems"):
            return crash(self, request)
        return original(self, request)

    monkeypatch.setattr(transport_module.HTTPTransport, "__call__", maybe_crash)
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the crash surfaces as
        reconcile.handler(event, context(60))
    monkeypatch.undo()
    db = local.partner_db("acme")
    assert all(
        db.get(Payment, merchant_id="m1", payment_id=pid).status == "authorized" for pid, _ in paid
    )
    [result] = reconcile.handler(event, context(60))["files"]
    assert (result["settled"], result["status"]) == (4, "done")


def test_the_demo_story_runs_and_adds_up(local: LocalPlatform) -> None:
    from examples.payment.demo import run

    summary = run(local)
    assert summary["duplicates refused"] == 7  # a replay, a changed body, 5 concurrent retries
    assert (summary["settled"], summary["mismatches"]) == (3, 1)
    assert summary["audit records"] > summary["payments"] > 0
    assert str(summary["estimated cost"]).startswith("$")


def test_card_data_is_encrypted_at_rest_and_never_audited(local: LocalPlatform) -> None:
    db = local.partner_db("acme")
    raw = db.client.call(
        "GetItem",
        {
            "TableName": f"{db.table_prefix}customers",
            "Key": {"merchant_id": {"S": "m1"}, "customer_id": {"S": "alice"}},
        },
    )["Item"]
    assert set(raw["card_number"]["M"]) == {"v", "edk", "nonce", "ct"}
    assert "4111111111111111" not in json.dumps(raw)
    alice = db.get(Customer, merchant_id="m1", customer_id="alice")
    assert alice.card_number == "4111111111111111"
    assert "4111" not in repr(alice).replace("card_last4='1111'", "")
    [created] = db.audit_history(key(Customer, merchant_id="m1", customer_id="alice"))
    assert created.changes["card_number"] == {"changed": True, "encrypted": True}
    assert "4111111111111111" not in repr(created.changes)
    partners = json.loads(os.environ["DYNAMORM_PARTNERS"])
    assert partners["acme"]["kms_key_arn"] != partners["globex"]["kms_key_arn"]  # a key each


def test_reconcile_memory_stays_flat_whatever_the_file_size(local: LocalPlatform) -> None:
    """Megabytes of settlement file in few rows (ids padded with blanks, which the parser
    strips): the heap peak follows the 1 MiB S3 reads in flight (the response, the line
    buffer) and the rows of one transaction, not the file."""
    rows = 300
    peaks: dict[int, int] = {}
    for megabytes in (2, 8):
        pad = " " * (megabytes * 1024 * 1024 // rows - 48)
        text = "merchant_id,payment_id,amount,currency\n" + "".join(
            f"m1,pay_0000000000000_{i:08x}{pad},1000,EUR\n" for i in range(rows)
        )
        name = f"wide-{megabytes}-{secrets.token_hex(3)}.csv"
        event = local.upload_settlement("acme", name, text)
        size = len(text)
        del text
        tracemalloc.start()
        [result] = reconcile.handler(event, context(120))["files"]
        peaks[megabytes] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert (result["status"], result["unknown"]) == ("done", rows)
        assert size >= megabytes * 1024 * 1024 * 0.99
    assert peaks[8] < peaks[2] * 1.25 + 256 * 1024  # four times the file, the same peak
    assert peaks[8] < 6 * objects.CHUNK  # what the reads in flight hold, not the file
