"""Secrets out of reach of crash reporters: masked reprs, and no secret text in the locals of
any frame of a traceback (what Sentry and ``pytest --showlocals`` capture)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import pickle
import socket
import threading
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import pytest

from dynamorm import DB, Credentials, RetryPolicy
from dynamorm._core.errors import AssumeRoleFailed, ConditionFailed, DynamORMError
from dynamorm._core.secret import Secret
from dynamorm._core.signing import sign
from dynamorm._io.credentials import EnvironmentProvider
from dynamorm._io.transport import Request, Response
from dynamorm._runtime import context
from dynamorm._runtime.context import mask_partner_id
from tests.unit.test_accounts_sts import (
    NS,
    TEMP_SECRET,
    TEMP_TOKEN,
    FakeSTS,
    make_provider,
)
from tests.unit.test_crud import FakeDynamo, Payment, fail, make_db, stored

TOKEN = "IQoJb3JpZ2luX2VjSESSIONTOKENxyz"
SECRET = "wJalrXUtnFEMI/K7MDENG+SECRETKEY0"


def _texts(value: Any, depth: int = 0) -> Iterator[str]:
    """What a crash reporter records for one local: Sentry walks mappings and sequences and
    keeps str/bytes as they are; anything else becomes its repr."""
    if depth > 6:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes | bytearray):
        yield bytes(value).decode("utf-8", "replace")
    elif isinstance(value, Mapping):
        for key, item in list(value.items()):
            yield from _texts(key, depth + 1)
            yield from _texts(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in list(value):
            yield from _texts(item, depth + 1)
    else:
        yield repr(value)
    if not isinstance(value, str | bytes | bytearray):
        yield repr(value)  # pytest --showlocals


def _leaks(error: BaseException, *secrets: str) -> list[str]:
    """``frame: local`` for every local (of every frame of the error and of the errors it
    chains to) whose captured text holds one of ``secrets``."""
    found = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tb: TracebackType | None = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_filename == __file__:  # the test's own frames hold the inputs
                tb = tb.tb_next
                continue
            for name, value in frame.f_locals.items():
                if any(s in text for text in _texts(value) for s in secrets):
                    found.append(f"{frame.f_code.co_name}: {name}")
            tb = tb.tb_next
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return found


def test_secret_masks_every_rendering_and_compares_by_value() -> None:
    secret = Secret(SECRET)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r:>40}", repr([secret])):
        assert SECRET not in text
        assert "****" in text
    assert secret.reveal() == SECRET
    assert secret == SECRET
    assert secret == Secret(SECRET)
    assert secret != "other"
    assert hash(secret) == hash(Secret(SECRET))
    assert copy.deepcopy(secret) is secret
    assert Secret.wrap(None) is None
    assert Secret.wrap("") is None
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret)
    with pytest.raises(TypeError, match="holds a str"):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_credentials_hold_their_secrets_masked() -> None:
    creds = Credentials("AKIAEXAMPLEKEY01", SECRET, TOKEN)
    assert isinstance(creds.secret_access_key, Secret)
    assert isinstance(creds.session_token, Secret)
    for text in (repr(creds), str(creds), repr(creds.__reduce_ex__(4))):
        assert SECRET not in text
        assert TOKEN not in text


def test_sign_keeps_a_secret_token_a_secret() -> None:
    headers = {"host": "dynamodb.us-east-1.amazonaws.com"}
    common: dict[str, Any] = {
        "access_key": "AKID",
        "secret_key": Secret(SECRET),
        "region": "us-east-1",
        "service": "dynamodb",
        "amz_date": "20240101T000000Z",
    }
    masked = sign("POST", "/", "", headers, b"{}", session_token=Secret(TOKEN), **common)
    plain = sign("POST", "/", "", headers, b"{}", session_token=TOKEN, **common)
    assert isinstance(masked["X-Amz-Security-Token"], Secret)
    assert masked["Authorization"] == plain["Authorization"]  # the same signature either way
    with pytest.raises(TypeError, match="cannot sign the request") as info:
        sign("POST", "/", "", {"host": 5}, b"", session_token=Secret(TOKEN), **common)  # type: ignore[dict-item]
    assert _leaks(info.value, TOKEN, SECRET) == []


class _ResetAfterRequest:
    """A server that reads one request and loses the connection halfway through the answer."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            self.received = data
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-le")  # then the connection is lost

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close()


def test_no_frame_of_a_failed_send_holds_the_session_token_or_the_secret() -> None:
    server = _ResetAfterRequest()
    try:
        db = DB(
            region="us-east-1",
            endpoint_url=f"http://127.0.0.1:{server.port}",
            credentials=("AKIAEXAMPLEKEY01", SECRET, TOKEN),
            retry=RetryPolicy(1),
            timeout=5,
        )
        with pytest.raises(DynamORMError) as info:
            db.client.call("GetItem", {"TableName": "payments", "Key": {"id": {"S": "1"}}})
    finally:
        server.close()
    assert f"x-amz-security-token: {TOKEN}".encode() in server.received.lower().replace(
        TOKEN.lower().encode(), TOKEN.encode()
    )  # the token did go out on the wire
    frames = []
    tb = info.value.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert {"drive", "_exchange"} <= set(frames)  # the raise went through them
    assert _leaks(info.value, TOKEN, SECRET) == []


def test_environment_credentials_stay_out_of_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    with pytest.raises(DynamORMError) as info:
        EnvironmentProvider().get()
    assert _leaks(info.value, TOKEN, SECRET) == []
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    creds = EnvironmentProvider().get()
    assert creds.session_token == TOKEN
    assert SECRET not in repr(creds)


def _sts_answer(body: str, status: int = 200) -> Response:
    return Response(status, {"content-type": "text/xml"}, body.encode())


_KEYSET = (
    f"<Credentials><AccessKeyId>ASIATEMP</AccessKeyId><SecretAccessKey>{TEMP_SECRET}"
    f"</SecretAccessKey><SessionToken>{TEMP_TOKEN}</SessionToken>"
)


@pytest.mark.parametrize(
    "answer",
    [
        # no Expiration: a complete key set in an answer that is still refused
        _sts_answer(
            f"<AssumeRoleResponse {NS}><AssumeRoleResult>{_KEYSET}</Credentials>"
            "</AssumeRoleResult></AssumeRoleResponse>"
        ),
        # cut off after the key set: not well-formed XML
        _sts_answer(f"<AssumeRoleResponse {NS}><AssumeRoleResult>{_KEYSET}<Expir"),
        # an unreadable Expiration
        _sts_answer(
            f"<AssumeRoleResponse {NS}><AssumeRoleResult>{_KEYSET}<Expiration>soon"
            "</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"
        ),
        # an error status carrying a key set anyway
        _sts_answer(
            f"<ErrorResponse {NS}>{_KEYSET}</Credentials><Code>Boom</Code></ErrorResponse>",
            status=500,
        ),
    ],
    ids=["no-expiration", "truncated", "bad-expiration", "error-with-keys"],
)
def test_a_malformed_sts_answer_exposes_no_key_set(answer: Response) -> None:
    provider = make_provider(FakeSTS(answer))
    with pytest.raises(AssumeRoleFailed) as info:
        provider.get()
    assert _leaks(info.value, TEMP_SECRET, TEMP_TOKEN) == []
    for text in (str(info.value), repr(info.value)):
        assert TEMP_SECRET not in text
        assert TEMP_TOKEN not in text


def test_condition_failures_and_decode_errors_name_fields_not_values() -> None:
    # A conditional delete is a one-action tokened transaction (exactly once).
    reason = {"Code": "ConditionalCheckFailed", "Item": stored(amount={"N": "4242"})}
    fake = FakeDynamo(
        fail("TransactionCanceledException", "canceled", CancellationReasons=[reason])
    )
    db = make_db(fake)
    payment = Payment.from_item(stored())
    with pytest.raises(ConditionFailed) as info:
        db.delete(payment, condition=Payment.amount == 987654321, check_version=False)
    assert "987654321" not in str(info.value)
    assert "amount = <N>" in str(info.value)
    with pytest.raises(DynamORMError) as decoded:
        Payment.from_item(stored(amount={"N": "4111111111111111.5"}))
    assert "4111111111111111" not in str(decoded.value)
    assert str(decoded.value).startswith("Payment.amount:")


def test_partner_ids_are_masked_with_a_keyed_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    bare = hashlib.sha256(b"acme-payments").hexdigest()[:8]
    assert mask_partner_id("acme-payments") != f"ac~{bare}"
    monkeypatch.setenv(context.MASK_KEY_ENV, "shared-log-key")
    monkeypatch.setattr(context, "_mask_key", None)
    expected = hmac.new(b"shared-log-key", b"acme-payments", "sha256").hexdigest()[:8]
    assert mask_partner_id("acme-payments") == f"ac~{expected}"
    monkeypatch.setattr(context, "_mask_key", None)
    monkeypatch.delenv(context.MASK_KEY_ENV)
    first = mask_partner_id("acme-payments")
    monkeypatch.setattr(context, "_mask_key", None)
    assert mask_partner_id("acme-payments") != first  # a fresh random key per process


def test_requests_render_their_secret_headers_only_on_the_wire() -> None:
    from dynamorm._io.transport import Endpoint, request_head

    request = Request(
        Endpoint("http://127.0.0.1:1"),
        {"host": "h"},
        b"{}",
        secret_headers={"X-Amz-Security-Token": Secret(TOKEN)},
    )
    assert TOKEN not in repr(request)
    assert f"X-Amz-Security-Token: {TOKEN}\r\n".encode() in request_head(request)


def test_the_leak_detector_finds_plain_secrets_in_frames() -> None:
    namespace: dict[str, Any] = {}
    source = "def holder(token):\n    headers = {'x-amz-security-token': token}\n    raise KeyError"
    exec(compile(source, "<elsewhere>", "exec"), namespace)
    with pytest.raises(KeyError) as info:
        namespace["holder"](TOKEN)
    assert _leaks(info.value, TOKEN) == ["holder: token", "holder: headers"]
    with pytest.raises(KeyError) as masked:
        namespace["holder"](Secret(TOKEN))
    assert _leaks(masked.value, TOKEN) == []
