"""An instant server for the payment handler benchmarks: answers DynamoDB by operation (a
customer item for GetItem, ``{}`` for writes) and STS AssumeRole with temporary credentials.

Run as ``python -m benchmarks._payment_server`` (see :class:`benchmarks._server.InstantServer`).
"""

from __future__ import annotations

import json
import re
import zlib

from benchmarks._server import serve_forever

_HEADER = re.compile(rb"(?im)^(content-length|x-amz-target)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")

CUSTOMER = {
    "merchant_id": {"S": "m1"},
    "customer_id": {"S": "c1"},
    "name": {"S": "Alice"},
    "card_last4": {"S": "1111"},
    "card_number": {"S": "4111111111111111"},
    "card_expiry": {"S": "12/30"},
    "version": {"N": "0"},
}

STS = b"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleResult><Credentials>
<AccessKeyId>ASIABENCHMARK0000000</AccessKeyId>
<SecretAccessKey>benchmarkSecretAccessKey000000000000000</SecretAccessKey>
<SessionToken>benchmarkSessionToken</SessionToken>
<Expiration>2099-01-01T00:00:00Z</Expiration>
</Credentials>
<AssumedRoleUser><AssumedRoleId>AROA0:bench</AssumedRoleId>
<Arn>arn:aws:sts::111111111111:assumed-role/payments-partner/bench</Arn></AssumedRoleUser>
</AssumeRoleResult>
<ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata></AssumeRoleResponse>"""


def _http(body: bytes, content_type: str) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-amz-crc32: {zlib.crc32(body)}\r\n"
        "x-amzn-RequestId: BENCHMARKREQUESTID0000000000000000000000000000000\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + body


JSON = "application/x-amz-json-1.0"
ANSWERS = {
    b"DynamoDB_20120810.GetItem": _http(json.dumps({"Item": CUSTOMER}).encode(), JSON),
    b"": _http(STS, "text/xml"),
}
EMPTY = _http(b"{}", JSON)


def answer(head: bytes, body: bytes) -> bytes:
    """The canned answer for the request's X-Amz-Target (STS has none)."""
    headers = {m.group(1).lower(): m.group(2) for m in _HEADER.finditer(head)}
    return ANSWERS.get(headers.get(b"x-amz-target", b""), EMPTY)


def main() -> None:
    """Serve until stdin closes; print the port first."""
    serve_forever(answer)


if __name__ == "__main__":
    main()
