"""KMS on the library's own client: JSON 1.1 (``X-Amz-Target: TrentService.<Operation>``),
SigV4 service ``kms``, and the same send path as DynamoDB requests (signing, retries with
backoff, deadlines, credential refresh, clock-skew correction, request hooks). No botocore.

Imported when the first DB with ``kms_key_arn`` is built.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from typing import Any

from dynamorm._core.errors import (
    AccessDenied,
    DeadlineExceeded,
    ExpiredToken,
    KmsError,
    TransportError,
    UnknownOperation,
)
from dynamorm._core.protocol import verify_body
from dynamorm._core.steps import Step
from dynamorm._io.client import Client, ClientBase, Replay
from dynamorm._io.drive import drive
from dynamorm._io.transport import Endpoint

TARGET_PREFIX = "TrentService."
CONTENT_TYPE = "application/x-amz-json-1.1"
OPERATIONS = frozenset({"CreateKey", "Decrypt", "DescribeKey", "Encrypt", "GenerateDataKey"})

_RETRYABLE = frozenset(
    {"ThrottlingException", "KMSInternalException", "DependencyTimeoutException"}
)
_ACCESS = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
    }
)


def kms_endpoint(region: str, url: str | None = None) -> Endpoint:
    """``url``, else ``AWS_ENDPOINT_URL_KMS``, ``AWS_ENDPOINT_URL``, the regional endpoint."""
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return Endpoint(
        url
        or os.environ.get("AWS_ENDPOINT_URL_KMS")
        or os.environ.get("AWS_ENDPOINT_URL")
        or f"https://kms.{region}{suffix}"
    )


def _no_capacity(response: dict[str, Any]) -> float | None:
    return None


class KmsProtocol(ClientBase):
    """KMS's JSON 1.1 protocol on the shared send loop (for :class:`KmsClient` and the async
    ``AsyncKmsClient``): operation names, headers, error mapping."""

    service = "kms"

    def _kms_flow(
        self,
        operation: str,
        payload: dict[str, Any],
        deadline: float | None,
        replay: Replay | None,
    ) -> Generator[Step, Any, dict[str, Any]]:
        """The flow of one KMS call: the shared loop, KMS's parsing, errors naming KMS."""
        key_arn = str(payload.get("KeyId", ""))

        def parse(op: str, status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
            return self._parse_kms(op, status, headers, body, key_arn)

        try:
            if self.hooks:
                return (
                    yield from self._observed(
                        operation, payload, parse, _no_capacity, deadline, replay
                    )
                )
            return (yield from self._flow(operation, payload, deadline, None, parse, replay))
        except (TransportError, DeadlineExceeded) as exc:
            where = "" if self.endpoint.url in exc.message else f" at {self.endpoint.url}"
            exc.message = f"KMS {operation}{where}: {exc.message}"
            exc.args = (exc.message,)
            raise

    def _check(self, operation: object) -> str:
        if isinstance(operation, str) and operation in OPERATIONS:
            return operation
        raise UnknownOperation(f"unknown or unsupported KMS operation {operation!r}")

    def _headers(self, operation: str) -> dict[str, str]:
        return {
            "host": self.endpoint.netloc,
            "content-type": CONTENT_TYPE,
            "x-amz-target": TARGET_PREFIX + operation,
        }

    def _parse_kms(
        self, operation: str, status: int, headers: dict[str, str], body: bytes, key_arn: str
    ) -> dict[str, Any]:
        verify_body(operation, status, headers, body)
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = None
        if status == 200 and isinstance(data, dict):
            return data
        info = data if isinstance(data, dict) else {}
        type_name = str(info.get("__type", "")).rpartition("#")[2]
        message = " ".join(str(info.get("message") or info.get("Message") or "").split())[:300]
        label = type_name or f"HTTP {status}"
        text = f"KMS {operation} at {self.endpoint.url} (key {key_arn or '-'}): {label}"
        text = f"{text}: {message}" if message else text
        common: dict[str, Any] = {
            "type_name": type_name,
            "status": status,
            "request_id": headers.get("x-amzn-requestid", ""),
            "operation": operation,
            "response": info,
            "server_date": headers.get("date", ""),
        }
        if type_name == "ExpiredTokenException":
            raise ExpiredToken(text, **common)
        if type_name in _ACCESS:
            raise AccessDenied(text, **common)
        raise KmsError(
            text,
            key_arn=key_arn,
            endpoint=self.endpoint.url,
            retryable=type_name in _RETRYABLE or status >= 500 or status == 429,
            **common,
        )


class KmsClient(KmsProtocol, Client):
    """Sends KMS requests; ``call("Decrypt", {...})`` returns the response object.

    Throttling, KMS internal errors, 5xx and connection faults are retried per the retry
    policy within the deadline; errors name the operation, the key and the KMS endpoint.
    """

    def call(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        deadline: float | None = None,
        replay: Replay | None = None,
    ) -> dict[str, Any]:
        """Send one KMS operation (``GenerateDataKey``, ``Decrypt``...) and return its answer."""
        return drive(self._kms_flow(operation, payload, deadline, replay), self)
