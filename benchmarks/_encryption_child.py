"""One side of the encryption benchmark, run in its own process.

``python -m benchmarks._encryption_child SIDE CALLS WARMUP`` (SIDE ``plain`` or ``encrypted``)
builds a DB on an in-process transport that answers DynamoDB and KMS at once (no network, so
the library's own CPU is what is timed; the fake answers with bytes prepared once), then times
``CALLS`` ``db.create`` and ``CALLS`` ``db.get`` of a ~1 KB item, and counts the KMS calls of
1,000 writes, 1,000 reads and a 1,000-item scan page on fresh DBs. Prints one JSON line.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from typing import Any

from dynamorm import DB, Attr, Model, Request, Response, field

KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DATA_KEY = bytes(range(32))
EDK = base64.b64encode(b"encrypted-data-key-" * 8).decode()
NOTE = "x" * 800


class PlainCard(Model, table="cards"):
    card_id: Attr[str] = field(pk=True)
    holder: Attr[str]
    number: Attr[str]
    expiry: Attr[str]
    note: Attr[str]


class EncryptedCard(Model, table="cards"):
    card_id: Attr[str] = field(pk=True)
    holder: Attr[str]
    number: Attr[str] = field(encrypted=True)
    expiry: Attr[str] = field(encrypted=True)
    note: Attr[str]


class Fake:
    """DynamoDB (PutItem, GetItem, Scan from one stored item) and KMS, in process."""

    def __init__(self) -> None:
        self.item: dict[str, Any] = {}
        self.answer = b""
        self.kms: dict[str, int] = {"GenerateDataKey": 0, "Decrypt": 0}
        self.page_items = 0

    def __call__(self, request: Request) -> Response:
        target = request.headers["x-amz-target"]
        operation = target.rpartition(".")[2]
        if target.startswith("TrentService."):
            self.kms[operation] += 1
            answer: dict[str, Any] = {"Plaintext": base64.b64encode(DATA_KEY).decode()}
            if operation == "GenerateDataKey":
                answer["CiphertextBlob"] = EDK
            return Response(200, {}, json.dumps(answer).encode())
        if operation == "PutItem":
            if not self.item:  # the first item written is the one every GetItem returns
                self.item = json.loads(request.body)["Item"]
                self.answer = json.dumps({"Item": self.item}).encode()
            return Response(200, {}, b"{}")
        if operation == "GetItem":
            return Response(200, {}, self.answer)
        items = [{**self.item, "card_id": {"S": f"c{i}"}} for i in range(self.page_items)]
        return Response(200, {}, json.dumps({"Items": items, "Count": len(items)}).encode())


def make_db(fake: Fake, encrypted: bool) -> DB:
    return DB(
        region="us-east-1",
        endpoint_url="http://dynamodb.local",
        credentials=("AKID", "SECRET"),
        transport=fake,
        kms_key_arn=KEY_ARN if encrypted else None,
        kms_endpoint_url="http://kms.local" if encrypted else None,
    )


def card(model: type[Any], i: int) -> Any:
    return model(
        card_id=f"c{i}", holder="Ada Lovelace", number="4111111111111111", expiry="12/30", note=NOTE
    )


def main(argv: list[str]) -> None:
    """Measure one side and print its CPU per write and read and its KMS call counts."""
    side, calls_text, warmup_text = argv
    calls, warmup = int(calls_text), int(warmup_text)
    encrypted = side == "encrypted"
    model: type[Any] = EncryptedCard if encrypted else PlainCard
    fake = Fake()
    db = make_db(fake, encrypted)
    for i in range(warmup):
        db.create(card(model, i))
        db.get(model, card_id="c0")
    start = time.process_time()
    for i in range(calls):
        db.create(card(model, i))
    write = time.process_time() - start
    start = time.process_time()
    for _ in range(calls):
        got = db.get(model, card_id="c0")
    read = time.process_time() - start
    assert got.number == "4111111111111111"
    counts = Fake()
    writer = make_db(counts, encrypted)
    for i in range(1000):
        writer.create(card(model, i))
    kms_writes = dict(counts.kms)
    reader = make_db(counts, encrypted)
    for _ in range(1000):
        reader.get(model, card_id="c0")
    kms_reads = counts.kms["Decrypt"] - kms_writes["Decrypt"]
    counts.page_items = 1000
    before = counts.kms["Decrypt"]
    page = make_db(counts, encrypted).scan(model).page()
    assert len(page.items) == 1000
    print(
        json.dumps(
            {
                "write_us": write / calls * 1e6,
                "read_us": read / calls * 1e6,
                "kms_per_1000_writes": sum(kms_writes.values()),
                "kms_per_1000_reads": kms_reads,
                "kms_per_1000_item_page": counts.kms["Decrypt"] - before,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
