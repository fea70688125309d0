"""`make demo`: a multi-partner payment platform on 127.0.0.1, driven through its handlers.

    python -m examples.payment.demo [--engine moto]

Starts DynamoDB Local (moto where Java is missing) and moto's server (S3, KMS, STS), creates
the tables from the models in three "accounts" (the platform's and two partners', each with
its own prefix and assumed role), then sends real API Gateway and S3 events to the three Lambda
handlers and tells what happened.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request
from collections import Counter
from typing import Any

from dynamorm import AuditRecord
from examples.payment import process, query, reconcile
from examples.payment.local import LocalPlatform, context, http_event
from examples.payment.models import Customer, Payment


def say(text: str = "") -> None:
    print(text, flush=True)


def body(response: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(response["body"])
    return decoded


class Story:
    """Drives the handlers and keeps the tallies for the summary."""

    def __init__(self, local: LocalPlatform) -> None:
        self.local = local
        self.tally: Counter[str] = Counter()

    def pay(
        self, partner: str, merchant: str, customer: str, amount: int, key: str, **extra: Any
    ) -> dict[str, Any]:
        token = extra.pop("token", None) or self.local.token(partner, merchant)
        request = {"amount": amount, "currency": "EUR", "customer_id": customer, **extra}
        event = http_event(
            "POST", "/payments", token=token, body=request, headers={"idempotency-key": key}
        )
        return process.handler(event, context())

    def ask(self, partner: str, merchant: str, method: str, path: str, **kw: Any) -> Any:
        event = http_event(method, path, token=self.local.token(partner, merchant), **kw)
        return query.handler(event, context())


def run(local: LocalPlatform) -> dict[str, Any]:
    story = Story(local)
    say("1. Merchants onboard customers (cards encrypted with each partner's KMS key, audited)")
    local.add_customer("acme", "m-coffee", "alice", "4111111111111111")
    local.add_customer("acme", "m-coffee", "bob", "5555555555554444")
    local.add_customer("globex", "m-books", "carol", "378282246310005")
    say("   acme/m-coffee: alice, bob    globex/m-books: carol")
    acme = local.partner_db("acme")
    stored = acme.client.call(
        "GetItem",
        {
            "TableName": f"{acme.table_prefix}customers",
            "Key": {"merchant_id": {"S": "m-coffee"}, "customer_id": {"S": "alice"}},
        },
    )["Item"]["card_number"]["M"]
    alice = acme.get(Customer, merchant_id="m-coffee", customer_id="alice")
    say(f"   alice's card_number at rest: a KMS envelope {{{', '.join(sorted(stored))}}}")
    shown = repr(alice)[repr(alice).index("card_last4") :].removesuffix(")")
    plain = alice.card_number == "4111111111111111"
    say(f"   read back with the partner's key: decrypted={plain}; repr shows {shown}")

    say("2. Payments arrive through POST /payments (JWT names partner and merchant)")
    paid: dict[str, list[tuple[str, int]]] = {"acme": [], "globex": []}
    plan = [("acme", "m-coffee", "alice", 1250), ("acme", "m-coffee", "bob", 480)]
    plan += [("acme", "m-coffee", "alice", 9900), ("acme", "m-coffee", "bob", 2300)]
    plan += [("globex", "m-books", "carol", 3599), ("globex", "m-books", "carol", 1999)]
    for i, (partner, merchant, customer, amount) in enumerate(plan):
        answer = story.pay(partner, merchant, customer, amount, f"order-{i}")
        assert answer["statusCode"] == 201, answer
        paid[partner].append((body(answer)["payment_id"], amount))
        story.tally["payments"] += 1
    say(f"   {story.tally['payments']} payments authorized: 4 for acme, 2 for globex")

    say("3. Retries of the same request")
    again = story.pay("acme", "m-coffee", "alice", 1250, "order-0")
    story.tally["duplicates refused"] += 1
    same = body(again)["payment_id"] == paid["acme"][0][0]
    say(f"   same key, same body   -> {again['statusCode']}, the first answer replayed: {same}")
    changed = story.pay("acme", "m-coffee", "alice", 1300, "order-0")
    story.tally["duplicates refused"] += 1
    say(f"   same key, other body  -> {changed['statusCode']} {body(changed)['error']}")
    answers: list[dict[str, Any]] = []

    def racer() -> None:
        answers.append(story.pay("acme", "m-coffee", "bob", 700, "order-race"))

    threads = [threading.Thread(target=racer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = Counter(a["statusCode"] for a in answers)
    ids = {body(a)["payment_id"] for a in answers if a["statusCode"] == 201}
    story.tally["payments"] += len(ids)
    story.tally["duplicates refused"] += len(answers) - 1
    paid["acme"] += [(pid, 700) for pid in ids]
    shown = ", ".join(f"{n}x {code}" for code, n in sorted(codes.items()))
    say(f"   6 concurrent retries  -> {shown}; payments created: {len(ids)}")

    say("4. Requests that must fail, precisely")
    bad = story.pay("acme", "m-coffee", "alice", 100, "order-x", token="not-a-jwt")
    say(f"   bad token             -> {bad['statusCode']} {body(bad)['message']}")
    tok = local.token("initech", "m-1")
    stranger = story.pay("initech", "m-1", "alice", 100, "order-x", token=tok)
    say(f"   partner not enabled   -> {stranger['statusCode']} {body(stranger)['message']}")
    invalid = story.pay("acme", "m-coffee", "alice", -5, "order-y")
    say(f"   negative amount       -> {invalid['statusCode']} field={body(invalid)['field']}")
    nobody = story.pay("acme", "m-coffee", "mallory", 100, "order-z")
    say(f"   unknown customer      -> {nobody['statusCode']} {body(nobody)['message']}")
    acme_payment = paid["acme"][0][0]
    peek = story.ask("globex", "m-books", "GET", f"/payments/{acme_payment}")
    say(f"   globex reads acme's   -> {peek['statusCode']} (another account: it cannot see it)")

    say("5. acme's settlement file lands in S3 and is reconciled")
    rows = ["merchant_id,payment_id,amount,currency"]
    rows += [f"m-coffee,{pid},{amount},EUR" for pid, amount in paid["acme"][:3]]
    rows.append(f"m-coffee,{paid['acme'][3][0]},{paid['acme'][3][1] + 1},EUR")  # mismatch
    rows.append("m-coffee,pay_0000000000000_deadbeef,1000,EUR")  # unknown
    rows.append("m-coffee,truncated-row")  # malformed
    event = local.upload_settlement("acme", "2026-12-01.csv", "\n".join(rows) + "\n")
    result = reconcile.handler(event, context(60, "reconcile"))["files"][0]
    story.tally["settled"] += result["settled"]
    story.tally["mismatches"] += result["mismatched"]
    say(
        f"   {result['lines']} lines: {result['settled']} settled, {result['mismatched']} "
        f"mismatch, {result['unknown']} unknown, {result['malformed']} malformed"
    )
    say(f"   report: s3://{local.app.settings.export_bucket}/{result['report']}")
    redelivered = reconcile.handler(event, context(60, "reconcile"))["files"][0]
    say(f"   S3 re-delivers the event -> {redelivered['status']}, nothing settled twice")

    say("6. Queries: GET /payments (signed cursors), GET /payments/{id}, POST /exports")
    first = body(story.ask("acme", "m-coffee", "GET", "/payments", query={"limit": "2"}))
    second = story.ask(
        "acme", "m-coffee", "GET", "/payments", query={"limit": "2", "cursor": first["cursor"]}
    )
    say(f"   page 1: {len(first['items'])} payments, page 2: {len(body(second)['items'])}")
    forged = story.ask(
        "acme", "m-coffee", "GET", "/payments", query={"cursor": first["cursor"][:-3] + "AAA"}
    )
    say(f"   a tampered cursor     -> {forged['statusCode']} {body(forged)['message']}")
    settled = body(story.ask("acme", "m-coffee", "GET", "/payments", query={"status": "settled"}))
    say(f"   status=settled        -> {len(settled['items'])} payments")
    one = body(story.ask("acme", "m-coffee", "GET", f"/payments/{acme_payment}"))
    say(f"   {acme_payment}: {one['status']}, {one['amount']} {one['currency']}")
    export = body(story.ask("acme", "m-coffee", "POST", "/exports", body={}))
    with urllib.request.urlopen(export["url"], timeout=10) as download:
        lines = download.read().decode().splitlines()
    say(f"   export: {export['rows']} rows; the link (valid {export['expires_in']} s) gives")
    say(f"   {len(lines) - 1} CSV rows after the header '{lines[0][:40]}...'")

    audit = sum(local.partner_db(p).scan(AuditRecord).count() for p in ("acme", "globex"))
    stored = sum(local.partner_db(p).scan(Payment).count() for p in ("acme", "globex"))
    costs = local.app.db.costs
    per_payment = costs.total / max(1, story.tally["payments"])
    return {
        "payments": stored,
        "duplicates refused": story.tally["duplicates refused"],
        "settled": story.tally["settled"],
        "mismatches": story.tally["mismatches"],
        "audit records": audit,
        "estimated cost": f"${costs.total:.6f} ({costs.write_units:g} WRU, {costs.read_units:g} "
        f"RRU; ~${per_payment * 1e6:.0f} per million payments end to end)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["dynamodb-local", "moto"], default=None)
    args = parser.parse_args(argv)
    started = time.monotonic()
    say("Starting DynamoDB Local (or moto) and moto's S3/KMS/STS on 127.0.0.1 ...")
    with LocalPlatform(engine=args.engine) as local:
        engine = "?" if local.dynamodb is None else local.dynamodb.engine
        say(
            f"   DynamoDB: {engine} at {local.dynamodb_endpoint}; "
            f"tables created in 3 accounts ({time.monotonic() - started:.1f} s)"
        )
        summary = run(local)
    say()
    say("Summary")
    for name, value in summary.items():
        say(f"   {name:<19} {value}")
    say(f"   {'wall time':<19} {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
