"""A fake KMS transport (GenerateDataKey, Decrypt) for unit tests, and a router that sends
KMS requests to it and DynamoDB requests to another fake. Every KMS request is checked
against botocore's KMS model; data keys are really wrapped under a master key, so an ``edk``
from another fake (another "KMS key") does not decrypt."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dynamorm import Request, Response
from tests.wire_model import validate_kms_http_request

KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


class FakeKms:
    """Answers GenerateDataKey and Decrypt for ``key_arn``; ``calls`` counts operations.

    ``failures`` is a list of ``(status, __type)`` answered first, one per request.
    """

    def __init__(self, key_arn: str = KEY_ARN) -> None:
        self.key_arn = key_arn
        self.master = AESGCM(os.urandom(32))
        self.calls: list[str] = []
        self.failures: list[tuple[int, str]] = []
        self.plaintexts: list[bytes] = []

    def wrap(self, key: bytes) -> str:
        """The edk this fake KMS gives for a data key."""
        nonce = os.urandom(12)
        return base64.b64encode(
            nonce + self.master.encrypt(nonce, key, self.key_arn.encode())
        ).decode()

    def __call__(self, request: Request) -> Response:
        operation = validate_kms_http_request(request.method, request.headers, request.body)
        self.calls.append(operation)
        if self.failures:
            status, type_name = self.failures.pop(0)
            return _json(status, {"__type": type_name, "message": f"{type_name} (fake)"})
        payload = json.loads(request.body)
        if payload.get("KeyId") != self.key_arn:
            return _json(400, {"__type": "IncorrectKeyException", "message": "wrong key"})
        if operation == "GenerateDataKey":
            key = os.urandom(32)
            self.plaintexts.append(key)
            return _json(
                200,
                {
                    "KeyId": self.key_arn,
                    "Plaintext": base64.b64encode(key).decode(),
                    "CiphertextBlob": self.wrap(key),
                },
            )
        if operation == "Decrypt":
            blob = base64.b64decode(payload["CiphertextBlob"])
            try:
                key = self.master.decrypt(blob[:12], blob[12:], self.key_arn.encode())
            except Exception:
                return _json(400, {"__type": "InvalidCiphertextException", "message": "bad"})
            return _json(200, {"KeyId": self.key_arn, "Plaintext": base64.b64encode(key).decode()})
        return _json(400, {"__type": "UnsupportedOperationException", "message": operation})


def _json(status: int, data: dict[str, Any]) -> Response:
    return Response(status, {"x-amzn-requestid": "fake"}, json.dumps(data).encode())


def router(kms: FakeKms, dynamodb: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """One transport: KMS requests to ``kms``, the others to ``dynamodb``."""

    def send(request: Request) -> Response:
        if request.headers.get("x-amz-target", "").startswith("TrentService."):
            return kms(request)
        return dynamodb(request)

    return send
