"""DynamoDB JSON 1.0 protocol: request building and response parsing (pure, no I/O)."""

from __future__ import annotations

import sys
import time
from binascii import crc32  # zlib's, without loading zlib (binascii is loaded anyway)

from dynamorm._core.errors import (
    SERVICE_ERRORS,
    ChecksumMismatch,
    ConditionFailed,
    ProtocolError,
    ServiceError,
    ServiceUnavailable,
    TransactionCanceled,
    UnknownOperation,
    ValidationError,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from typing import Any, Never

VERSION = "0.1.0"
TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
USER_AGENT = f"dynamorm/{VERSION} Python/{sys.version_info[0]}.{sys.version_info[1]}"

OPERATIONS = frozenset(
    [
        "BatchExecuteStatement",
        "BatchGetItem",
        "BatchWriteItem",
        "CreateBackup",
        "CreateGlobalTable",
        "CreateTable",
        "DeleteBackup",
        "DeleteItem",
        "DeleteResourcePolicy",
        "DeleteTable",
        "DescribeBackup",
        "DescribeContinuousBackups",
        "DescribeContributorInsights",
        "DescribeEndpoints",
        "DescribeExport",
        "DescribeGlobalTable",
        "DescribeGlobalTableSettings",
        "DescribeImport",
        "DescribeKinesisStreamingDestination",
        "DescribeLimits",
        "DescribeTable",
        "DescribeTableReplicaAutoScaling",
        "DescribeTimeToLive",
        "DisableKinesisStreamingDestination",
        "EnableKinesisStreamingDestination",
        "ExecuteStatement",
        "ExecuteTransaction",
        "ExportTableToPointInTime",
        "GetItem",
        "GetResourcePolicy",
        "ImportTable",
        "ListBackups",
        "ListContributorInsights",
        "ListExports",
        "ListGlobalTables",
        "ListImports",
        "ListTables",
        "ListTagsOfResource",
        "PutItem",
        "PutResourcePolicy",
        "Query",
        "RestoreTableFromBackup",
        "RestoreTableToPointInTime",
        "Scan",
        "TagResource",
        "TransactGetItems",
        "TransactWriteItems",
        "UntagResource",
        "UpdateContinuousBackups",
        "UpdateContributorInsights",
        "UpdateGlobalTable",
        "UpdateGlobalTableSettings",
        "UpdateItem",
        "UpdateKinesisStreamingDestination",
        "UpdateTable",
        "UpdateTableReplicaAutoScaling",
        "UpdateTimeToLive",
    ]
)

# --- JSON ----------------------------------------------------------------------------------
# json's C accelerator, used directly: importing the json package compiles seven regular
# expressions and builds default codecs (~1 ms of a cold start) that its C encoder and scanner
# never use. The results are json.dumps'/json.loads' (tests pin it); an interpreter without
# _json (PyPy) uses the json package. Malformed JSON raises json's JSONDecodeError (a
# ValueError), loading json then.


class _ScanContext:
    """The decoder settings json's C scanner reads: json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    array_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {
        "-Infinity": float("-inf"),
        "Infinity": float("inf"),
        "NaN": float("nan"),
    }.__getitem__


try:
    from _json import encode_basestring, encode_basestring_ascii, make_encoder, make_scanner
except ImportError:  # pragma: no cover - CPython has it
    _scan = None
else:
    _scan = make_scanner(_ScanContext())  # type: ignore[arg-type]  # a duck-typed context

_WHITESPACE = " \t\n\r"


def _not_serializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_dumps(value: object, *, ascii_only: bool = False) -> str:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only)``."""
    if _scan is None:
        import json

        return json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only)
    quote = encode_basestring_ascii if ascii_only else encode_basestring
    encode = make_encoder({}, _not_serializable, quote, None, ":", ",", False, False, True)
    return "".join(encode(value, 0))


def json_loads(data: bytes | str) -> Any:
    """``json.loads(data)`` for UTF-8 bytes or text."""
    if _scan is None:
        import json

        return json.loads(data)
    if isinstance(data, bytes):
        data = data.decode("utf-8-sig" if data[:3] == b"\xef\xbb\xbf" else "utf-8", "surrogatepass")
    start = 0
    while start < len(data) and data[start] in _WHITESPACE:
        start += 1
    try:
        value, end = _scan(data, start)
    except StopIteration as exc:
        _json_error("Expecting value", data, exc.value)
    if end != len(data):
        after = len(data) - len(data[end:].lstrip(_WHITESPACE))  # past trailing whitespace
        if after != len(data):
            _json_error("Extra data", data, after)
    return value


def _json_error(message: str, text: str, position: int) -> Never:
    from json import JSONDecodeError

    raise JSONDecodeError(message, text, position) from None


def check_operation(operation: object) -> str:
    """Return ``operation`` if it names a DynamoDB operation, else raise ``UnknownOperation``."""
    if isinstance(operation, str) and operation in OPERATIONS:
        return operation
    import difflib

    text = operation if isinstance(operation, str) else repr(operation)
    close = difflib.get_close_matches(str(text), sorted(OPERATIONS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownOperation(f"unknown DynamoDB operation {text!r}{hint}")


def encode_body(operation: str, payload: object) -> bytes:
    """Serialize a raw DynamoDB JSON payload, rejecting what JSON cannot carry exactly."""
    if not isinstance(payload, dict):
        raise ValidationError(
            f"{operation} payload must be a dict of DynamoDB JSON, not {type(payload).__name__}"
        )
    try:
        return json_dumps(payload).encode()
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"{operation} payload is not serializable as DynamoDB JSON: {exc} "
            "(numbers go as strings in N, binary as base64 strings in B)"
        ) from None


def request_headers(operation: str, host: str) -> dict[str, str]:
    """The unsigned headers of a DynamoDB JSON request."""
    return {
        "host": host,
        "content-type": CONTENT_TYPE,
        "x-amz-target": TARGET_PREFIX + operation,
    }


def parse_response(
    operation: str, status: int, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    """Verify and decode a response; return the payload on 200 or raise the mapped error.

    ``headers`` must have lower-case names.
    """
    verify_body(operation, status, headers, body)
    return _decode(operation, status, headers, body)


def response_body(operation: str, status: int, headers: dict[str, str], body: bytes) -> bytes:
    """Verify a response; return its raw JSON body on 200 or raise the mapped error.

    The same checks and errors as :func:`parse_response`, without decoding a 200 body that
    is plainly a JSON object (the caller decodes it).
    """
    verify_body(operation, status, headers, body)
    if status != 200 or body[:1] != b"{" or body[-1:] != b"}":
        _decode(operation, status, headers, body)
    return body


def verify_body(operation: str, status: int, headers: dict[str, str], body: bytes) -> None:
    """Check a response body against its ``x-amz-crc32`` and ``content-length`` headers."""
    crc = headers.get("x-amz-crc32")
    if crc is not None and crc.isdigit() and crc32(body) != int(crc):
        raise ChecksumMismatch(
            f"{operation}: response body CRC32 {crc32(body)} does not match "
            f"x-amz-crc32 {crc} ({len(body)} bytes received)",
            status=status,
        )
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) != len(body):
        raise ProtocolError(
            f"{operation}: truncated response: expected {length} bytes, got {len(body)}",
            status=status,
        )


def _decode(operation: str, status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    data: Any
    if not body and status == 200:
        raise ProtocolError(f"{operation}: HTTP 200 with an empty body", status=status)
    try:
        data = json_loads(body) if body else {}
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if status >= 500:
            raise ServiceUnavailable(
                f"{operation}: HTTP {status} with a non-JSON body: {_snippet(body)}",
                status=status,
                operation=operation,
                request_id=headers.get("x-amzn-requestid", ""),
            )
        raise ProtocolError(
            f"{operation}: HTTP {status} response is not a JSON object: {_snippet(body)}",
            status=status,
        )
    if status == 200:
        return data
    raise service_error(operation, status, headers, data)


def service_error(
    operation: str, status: int, headers: dict[str, str], data: dict[str, Any]
) -> ServiceError:
    """Map a DynamoDB error response to its exception."""
    raw_type = str(data.get("__type", ""))
    type_name = raw_type.rpartition("#")[2]
    message = str(data.get("message") or data.get("Message") or "")
    cls = SERVICE_ERRORS.get(type_name)
    if cls is None:
        cls = ServiceUnavailable if status >= 500 else ServiceError
    text = f"{operation}: {type_name or f'HTTP {status}'}: {message}".rstrip(": ")
    common: dict[str, Any] = {
        "server_date": headers.get("date", ""),
        "type_name": type_name,
        "status": status,
        "request_id": headers.get("x-amzn-requestid", ""),
        "operation": operation,
        "response": data,
    }
    if cls is ConditionFailed:
        return ConditionFailed(text, item=data.get("Item"), **common)
    if cls is TransactionCanceled:
        reasons = data.get("CancellationReasons")
        return TransactionCanceled(
            text, reasons=reasons if isinstance(reasons, list) else [], **common
        )
    return cls(text, **common)


def _snippet(body: bytes) -> str:
    text = body[:120].decode("utf-8", "replace")
    return repr(text + ("..." if len(body) > 120 else ""))


_SKEW_MESSAGES = ("Signature expired", "Signature not yet current", "RequestTimeTooSkewed")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


def clock_skew(error: ServiceError, now: float | None = None) -> float | None:
    """Seconds to add to the local clock when ``error`` says the request's signing time was too
    far from the server's (from the response's ``Date`` header); None for any other error."""
    if not any(text in error.message for text in _SKEW_MESSAGES):
        return None
    parts = error.server_date.replace(",", " ").split()
    # RFC 7231 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if len(parts) != 6 or parts[2] not in _MONTHS or parts[5] != "GMT":
        return None
    from datetime import UTC, datetime  # this rare error path only: not on a cold start

    try:
        hour, minute, second = (int(p) for p in parts[4].split(":"))
        server = datetime(
            int(parts[3]), _MONTHS[parts[2]], int(parts[1]), hour, minute, second, tzinfo=UTC
        ).timestamp()
    except ValueError:
        return None
    return server - (time.time() if now is None else now)
