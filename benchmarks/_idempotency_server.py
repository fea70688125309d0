"""An instant DynamoDB stand-in for the idempotency benchmark (``InstantServer(module=...)``).

It answers the writes an idempotency layer sends. With ``IDEMPOTENCY_SERVER_MODE=replay`` in its
environment every ``PutItem`` fails its condition and returns the stored record (``ALL_OLD``) as
``COMPLETED``, in the format of the side that sent it (DynamORM's records carry ``lock``,
Powertools' do not); otherwise, and for ``UpdateItem``/``DeleteItem``, every write succeeds
with ``{}``.
"""

from __future__ import annotations

import json
import os
import zlib

from benchmarks._server import serve_forever

RESULT = {"statusCode": 200, "body": "charged"}
_OK = b"{}"


def _response(status: int, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"Content-Length: {len(body)}\r\nx-amz-crc32: {zlib.crc32(body)}\r\n"
        "x-amzn-RequestId: BENCHMARKREQUESTID\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + body


REPLAY = os.environ.get("IDEMPOTENCY_SERVER_MODE") == "replay"


def answer(head: bytes, body: bytes, *, replay: bool = REPLAY) -> bytes:
    """The response to one request (``head``: request line and headers)."""
    if not replay or b"PutItem" not in head:
        return _response(200, _OK)
    item = json.loads(body)["Item"]
    item["status"] = {"S": "COMPLETED"}
    if "lock" in item:  # DynamORM's record
        item["lock"] = {"S": "another-call"}
        item["data"] = {"S": json.dumps({"json": RESULT})}
    else:  # Powertools' record
        item["data"] = {"S": json.dumps(RESULT)}
    item.pop("in_progress_expiration", None)
    item.pop("in_progress_expiry", None)
    failed = {
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
        "Item": item,
    }
    return _response(400, json.dumps(failed).encode())


def main() -> None:
    """Serve until stdin closes; print the port first."""
    serve_forever(answer)


if __name__ == "__main__":
    main()
