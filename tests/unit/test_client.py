"""The client's single send path, driven by a fake transport (a plain function)."""

from __future__ import annotations

import json
import random
import time
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from dynamorm import (
    DB,
    AccessDenied,
    ChecksumMismatch,
    ConditionFailed,
    Credentials,
    DeadlineExceeded,
    ExpiredToken,
    ProtocolError,
    Request,
    RequestValidationFailed,
    Response,
    RetryPolicy,
    ServiceError,
    ServiceUnavailable,
    TableNotFound,
    Throttled,
    TransactionCanceled,
    UnknownOperation,
    ValidationError,
)
from dynamorm._core.protocol import clock_skew
from dynamorm._io import client as client_module
from dynamorm._io.credentials import CREDENTIALS_DEADLINE
from dynamorm._runtime.context import credentials_deadline

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzzSECRET"
TOKEN = "FQoGZXIvYXdzEXAMPLETOKENzzz"


def ok(payload: dict[str, Any]) -> Response:
    body = json.dumps(payload).encode()
    return Response(200, {"x-amz-crc32": str(zlib.crc32(body))}, body)


def err(status: int, type_name: str, message: str = "boom", **extra: Any) -> Response:
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{type_name}", "message": message, **extra}
    ).encode()
    return Response(status, {"x-amzn-requestid": "RID"}, body)


class Recorder:
    """A fake transport answering from a list (the last answer repeats)."""

    def __init__(self, *answers: Response | BaseException | Callable[[Request], Response]) -> None:
        self.answers = list(answers)
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def make_db(transport: Any, **kw: Any) -> DB:
    kw.setdefault("retry", RetryPolicy(4, base_delay=0.001, max_delay=0.002, rng=random.Random(1)))
    return DB(
        region="eu-west-1",
        endpoint_url="https://dynamodb.eu-west-1.amazonaws.com",
        credentials=kw.pop("credentials", Credentials("AKIDEXAMPLE", SECRET, TOKEN)),
        transport=transport,
        **kw,
    )


def test_request_shape() -> None:
    t = Recorder(ok({"Item": {"pk": {"S": "a"}}}))
    out = make_db(t).client.call("GetItem", {"TableName": "t", "Key": {"pk": {"S": "a"}}})
    assert out == {"Item": {"pk": {"S": "a"}}}
    (req,) = t.requests
    h = req.headers
    assert req.method == "POST"
    assert req.path == "/"
    assert h["host"] == "dynamodb.eu-west-1.amazonaws.com"
    assert h["x-amz-target"] == "DynamoDB_20120810.GetItem"
    assert h["content-type"] == "application/x-amz-json-1.0"
    assert h["user-agent"].startswith("dynamorm/")
    assert "X-Amz-Security-Token" not in h  # a Secret, in secret_headers
    assert req.secret_headers["X-Amz-Security-Token"].reveal() == TOKEN
    assert h["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/dynamodb/aws4_request" in h["Authorization"]
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        in h["Authorization"]
    )
    assert json.loads(req.body) == {"TableName": "t", "Key": {"pk": {"S": "a"}}}


def test_unknown_operation_suggests_close_match() -> None:
    t = Recorder(ok({}))
    with pytest.raises(UnknownOperation, match="did you mean 'PutItem'"):
        make_db(t).client.call("PutItems", {})
    assert t.requests == []


@pytest.mark.parametrize("payload", [None, [], "x", 3])
def test_non_dict_payload(payload: Any) -> None:
    with pytest.raises(ValidationError, match="payload must be a dict"):
        make_db(Recorder(ok({}))).client.call("GetItem", payload)


def test_unserializable_payload_is_clear() -> None:
    with pytest.raises(ValidationError, match="not serializable"):
        make_db(Recorder(ok({}))).client.call("PutItem", {"Item": {"n": {"N": object()}}})


def test_throttling_retried_then_succeeds() -> None:
    t = Recorder(
        err(400, "ProvisionedThroughputExceededException"), err(400, "ThrottlingException"), ok({})
    )
    assert make_db(t).client.call("ListTables", {}) == {}
    assert len(t.requests) == 3


def test_throttling_surfaces_with_attempt_count() -> None:
    t = Recorder(err(400, "ProvisionedThroughputExceededException", "slow down"))
    with pytest.raises(Throttled) as info:
        make_db(t).client.call("ListTables", {})
    assert info.value.attempts == 4
    assert "after 4 attempts" in str(info.value)
    assert info.value.request_id == "RID"
    assert len(t.requests) == 4


def test_backoff_sleeps_are_jittered_and_bounded() -> None:
    t = Recorder(err(503, "ServiceUnavailable"))
    db = make_db(t, retry=RetryPolicy(5, base_delay=0.1, max_delay=0.3, rng=random.Random(7)))
    sleeps: list[float] = []
    db.client._sleep = sleeps.append
    with pytest.raises(ServiceUnavailable):
        db.client.call("ListTables", {})
    assert len(sleeps) == 4
    for n, s in enumerate(sleeps):
        assert 0 <= s < min(0.3, 0.1 * 2**n)


@pytest.mark.parametrize(
    ("response", "exc"),
    [
        (err(500, "InternalServerError"), ServiceUnavailable),
        (Response(502, {}, b"<html>bad gateway</html>"), ServiceUnavailable),
        (Response(200, {}, b"not json"), ProtocolError),
        (Response(200, {"content-length": "50"}, b'{"a":'), ProtocolError),
        (Response(200, {"x-amz-crc32": "1"}, b"{}"), ChecksumMismatch),
    ],
)
def test_faults_are_retried_then_typed(response: Response, exc: type[Exception]) -> None:
    t = Recorder(response)
    with pytest.raises(exc) as info:
        make_db(t).client.call("ListTables", {})
    assert len(t.requests) == 4
    assert "ListTables" in str(info.value)


def test_fault_then_success() -> None:
    t = Recorder(Response(200, {"x-amz-crc32": "1"}, b"{}"), ok({"TableNames": []}))
    assert make_db(t).client.call("ListTables", {}) == {"TableNames": []}


@pytest.mark.parametrize(
    ("type_name", "exc"),
    [
        ("ValidationException", RequestValidationFailed),
        ("ResourceNotFoundException", TableNotFound),
        ("AccessDeniedException", AccessDenied),
        ("SomethingNewException", ServiceError),
    ],
)
def test_non_retryable_errors_are_not_retried(type_name: str, exc: type[Exception]) -> None:
    t = Recorder(err(400, type_name, "nope"))
    with pytest.raises(exc, match="nope") as info:
        make_db(t).client.call("GetItem", {})
    assert len(t.requests) == 1
    assert info.value.type_name == type_name  # type: ignore[attr-defined]


def test_conditional_check_failed_carries_item() -> None:
    t = Recorder(err(400, "ConditionalCheckFailedException", Item={"pk": {"S": "a"}}))
    with pytest.raises(ConditionFailed) as info:
        make_db(t).client.call("PutItem", {})
    assert info.value.item == {"pk": {"S": "a"}}
    assert isinstance(info.value, ServiceError)


def test_transaction_canceled_reasons() -> None:
    reasons = [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "x"}]
    t = Recorder(err(400, "TransactionCanceledException", CancellationReasons=reasons))
    with pytest.raises(TransactionCanceled) as info:
        make_db(t).client.call("TransactWriteItems", {})
    assert info.value.reasons == reasons
    assert not info.value.retryable
    conflict = TransactionCanceled("x", reasons=[{"Code": "None"}, {"Code": "TransactionConflict"}])
    assert conflict.retryable


class RefreshingProvider:
    def __init__(self) -> None:
        self.loads = 0

    def get(self) -> Credentials:
        return Credentials(f"AKID{self.loads}", SECRET, TOKEN)

    def invalidate(self) -> None:
        self.loads += 1


def test_expired_token_refreshes_once_and_retries() -> None:
    provider = RefreshingProvider()
    t = Recorder(err(400, "ExpiredTokenException"), ok({}))
    make_db(t, credentials=provider).client.call("ListTables", {})
    assert provider.loads == 1
    assert "Credential=AKID0/" in t.requests[0].headers["Authorization"]
    assert "Credential=AKID1/" in t.requests[1].headers["Authorization"]


def test_expired_token_twice_is_raised() -> None:
    provider = RefreshingProvider()
    t = Recorder(err(400, "ExpiredTokenException"))
    with pytest.raises(ExpiredToken):
        make_db(t, credentials=provider).client.call("ListTables", {})
    assert provider.loads == 1
    assert len(t.requests) == 2


def test_deadline_never_sleeps_past_and_names_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(client_module, "_monotonic", lambda: now[0])

    def answer(request: Request) -> Response:
        assert request.read_timeout <= deadline - now[0]  # clamped to the time left
        now[0] += min(0.01, request.read_timeout)  # each attempt takes 10 ms at most
        return err(400, "ThrottlingException")

    t = Recorder(answer)
    db = make_db(t, retry=RetryPolicy(50, base_delay=0.05, max_delay=0.05, rng=random.Random(5)))
    slept: list[float] = []

    def sleep(s: float) -> None:
        now[0] += s
        slept.append(now[0])

    db.client._sleep = sleep
    deadline = now[0] + 0.3
    with pytest.raises(DeadlineExceeded) as info:
        db.client.call("ListTables", {}, deadline=deadline)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value.last_error, Throttled)
    assert now[0] <= deadline
    assert slept
    assert all(woke < deadline for woke in slept)
    assert f"after {len(t.requests)} attempt(s)" in str(info.value)
    assert len(t.requests) < 50


def test_deadline_already_passed_sends_nothing() -> None:
    t = Recorder(ok({}))
    with pytest.raises(DeadlineExceeded):
        make_db(t).client.call("ListTables", {}, deadline=time.monotonic() - 1)
    assert t.requests == []


def test_read_timeout_clamped_to_deadline() -> None:
    t = Recorder(ok({}))
    make_db(t, timeout=(2.0, 30.0)).client.call("ListTables", {}, deadline=time.monotonic() + 1.0)
    assert t.requests[0].read_timeout <= 1.0
    assert t.requests[0].connect_timeout <= 1.0


def test_secrets_never_in_repr_or_errors() -> None:
    creds = Credentials("AKIDEXAMPLE1234", SECRET, TOKEN)
    t = Recorder(err(403, "UnrecognizedClientException", "bad token"))
    db = make_db(t, credentials=creds)
    with pytest.raises(AccessDenied) as info:
        db.client.call("ListTables", {})
    for text in (
        repr(creds),
        str(creds),
        repr(db),
        repr(db.client),
        str(info.value),
        repr(info.value),
    ):
        assert SECRET not in text
        assert TOKEN not in text


def test_credential_refresh_is_bounded_by_the_request_deadline() -> None:
    seen: list[float | None] = []

    class Provider:
        def get(self) -> Credentials:
            seen.append(CREDENTIALS_DEADLINE.get())
            return Credentials("AKID", SECRET)

        def invalidate(self) -> None:
            """Nothing cached."""

    db = make_db(Recorder(ok({})), credentials=Provider())
    db.client.call("ListTables", {})
    deadline = time.monotonic() + 5.0
    db.client.call("ListTables", {}, deadline=deadline)
    with credentials_deadline(deadline - 3.0):
        db.client.call("ListTables", {}, deadline=deadline)
    assert seen[0] is None
    assert seen[1] is not None
    assert seen[1] == pytest.approx(deadline, abs=0.5)
    assert seen[2] == deadline - 3.0
    assert CREDENTIALS_DEADLINE.get() is None


def test_clock_skew_is_corrected_once_from_the_server_date() -> None:
    server_now = time.time() + 3600  # the local clock is an hour slow
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(server_now))
    skewed = err(
        400,
        "InvalidSignatureException",
        "Signature expired: 20300101T000000Z is now earlier than ...",
    )
    skewed.headers["date"] = date
    t = Recorder(skewed, ok({}))
    db = make_db(t)
    assert db.client.call("ListTables", {}) == {}
    first, second = (r.headers["X-Amz-Date"] for r in t.requests)
    signed = time.mktime(time.strptime(second, "%Y%m%dT%H%M%SZ")) - time.mktime(
        time.strptime(first, "%Y%m%dT%H%M%SZ")
    )
    assert 3590 <= signed <= 3610
    assert 3590 <= db.client.clock_offset <= 3610


def test_clock_skew_retried_only_once_and_other_denials_not_at_all() -> None:
    skewed = err(400, "InvalidSignatureException", "Signature not yet current: ...")
    skewed.headers["date"] = "Sun, 06 Nov 1994 08:49:37 GMT"
    t = Recorder(skewed)
    with pytest.raises(AccessDenied, match="Signature not yet current"):
        make_db(t).client.call("ListTables", {})
    assert len(t.requests) == 2
    denied = Recorder(err(400, "AccessDeniedException", "not allowed"))
    with pytest.raises(AccessDenied):
        make_db(denied).client.call("ListTables", {})
    assert len(denied.requests) == 1


@pytest.mark.parametrize(
    "date", ["", "yesterday", "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 06 Xyz 1994 08:49:37 GMT"]
)
def test_clock_skew_needs_a_skew_message_and_a_valid_date(date: str) -> None:
    error = AccessDenied("x: Signature expired: ...", server_date=date)
    assert clock_skew(error) is None
    assert clock_skew(AccessDenied("nope", server_date="Sun, 06 Nov 1994 08:49:37 GMT")) is None
    good = AccessDenied("Signature expired", server_date="Sun, 06 Nov 1994 08:49:37 GMT")
    assert clock_skew(good, now=784111777.0 - 60) == 60.0
