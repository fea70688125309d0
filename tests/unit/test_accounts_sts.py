"""STS AssumeRole on our signer: request shape, XML parsing, retries, deadlines, and the
cached single-flight provider. The transport is a plain function; no server is involved."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamorm import Credentials, DeadlineExceeded, EndpointUnreachable, ReadTimeout
from dynamorm._core.errors import AssumeRoleFailed, CredentialsError
from dynamorm._core.retry import RetryPolicy
from dynamorm._io.credentials import StaticProvider
from dynamorm._io.transport import Endpoint, Request, Response
from dynamorm._runtime.context import credentials_deadline
from dynamorm._runtime.sts import (
    AssumeRoleProvider,
    StsClient,
    parse_assume_role_response,
    parse_timestamp,
    session_name,
    sts_url,
    xml_fields,
)

ROLE = "arn:aws:iam::111122223333:role/partner-access"
EXTERNAL_ID = "ext-Secret-4242"
BASE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzzBASESECRET"
BASE_TOKEN = "FQoGZXIvYXdzBASETOKEN"
TEMP_SECRET = "tempSecretAccessKeyFromSTS0000000000000000"
TEMP_TOKEN = "tempSessionTokenFromSTS"
EXPIRATION = "2030-01-01T00:00:00Z"
EXPIRES_AT = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
NS = 'xmlns="https://sts.amazonaws.com/doc/2011-06-15/"'


def sts_ok(
    key: str = "ASIATEMPKEY1", expiration: str = EXPIRATION, secret: str = TEMP_SECRET
) -> Response:
    body = (
        f"<AssumeRoleResponse {NS}><AssumeRoleResult>"
        "<AssumedRoleUser><AssumedRoleId>AROA:s</AssumedRoleId>"
        f"<Arn>arn:aws:sts::111122223333:assumed-role/partner-access/s</Arn></AssumedRoleUser>"
        f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{secret}"
        f"</SecretAccessKey><SessionToken>{TEMP_TOKEN}</SessionToken>"
        f"<Expiration>{expiration}</Expiration></Credentials>"
        "</AssumeRoleResult><ResponseMetadata><RequestId>req-ok</RequestId>"
        "</ResponseMetadata></AssumeRoleResponse>"
    )
    return Response(200, {"content-type": "text/xml"}, body.encode())


def sts_error(status: int, code: str, message: str = "denied") -> Response:
    body = (
        f"<ErrorResponse {NS}><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error><RequestId>req-err</RequestId></ErrorResponse>"
    )
    return Response(status, {"content-type": "text/xml"}, body.encode())


class FakeSTS:
    """A transport answering from a list (the last answer repeats); thread safe."""

    def __init__(self, *answers: Response | BaseException | Callable[[Request], Response]):
        self.answers = list(answers)
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


class CountingBase:
    """Base credentials provider that counts invalidations."""

    def __init__(self) -> None:
        self.invalidated = 0

    def get(self) -> Credentials:
        return Credentials("AKIDBASE", BASE_SECRET, BASE_TOKEN)

    def invalidate(self) -> None:
        self.invalidated += 1


def make_sts(transport: Any, *, base: Any = None, attempts: int = 3) -> StsClient:
    return StsClient(
        region="eu-west-1",
        endpoint=Endpoint(sts_url("eu-west-1")),
        credentials=base or StaticProvider(Credentials("AKIDBASE", BASE_SECRET, BASE_TOKEN)),
        transport=transport,
        retry=RetryPolicy(attempts, base_delay=0.0, max_delay=0.0, rng=random.Random(1)),
    )


def assume(sts: StsClient, **kw: Any) -> Credentials:
    kw.setdefault("external_id", EXTERNAL_ID)
    return sts.assume_role(
        partner_id="acme", role_arn=ROLE, role_session_name="dynamorm-acme", duration=900, **kw
    )


def make_provider(
    transport: Any, *, clock: Callable[[], float] | None = None, **kw: Any
) -> AssumeRoleProvider:
    return AssumeRoleProvider(
        make_sts(transport),
        partner_id="acme-payments",
        role_arn=ROLE,
        external_id=EXTERNAL_ID,
        clock=clock or (lambda: EXPIRES_AT - 3000),
        **kw,
    )


# --- request shape ----------------------------------------------------------------------------


def test_request_is_a_form_post_signed_for_sts() -> None:
    fake = FakeSTS(sts_ok())
    creds = assume(make_sts(fake))
    assert creds.access_key_id == "ASIATEMPKEY1"
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.path == "/"
    assert request.endpoint.url == "https://sts.eu-west-1.amazonaws.com"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"
    form = parse_qs(request.body.decode(), strict_parsing=True)
    assert form == {
        "Action": ["AssumeRole"],
        "Version": ["2011-06-15"],
        "RoleArn": [ROLE],
        "RoleSessionName": ["dynamorm-acme"],
        "ExternalId": [EXTERNAL_ID],
        "DurationSeconds": ["900"],
    }
    amz_date = request.headers["X-Amz-Date"]
    assert "X-Amz-Security-Token" not in request.headers  # a Secret, kept apart
    assert request.secret_headers["X-Amz-Security-Token"].reveal() == BASE_TOKEN
    assert (
        f"Credential=AKIDBASE/{amz_date[:8]}/eu-west-1/sts/aws4_request"
        in (request.headers["Authorization"])
    )


def test_signature_matches_botocore() -> None:
    fake = FakeSTS(sts_ok())
    assume(make_sts(fake))
    (request,) = fake.requests
    amz_date = request.headers["X-Amz-Date"]
    reference = AWSRequest(
        method="POST",
        url="https://sts.eu-west-1.amazonaws.com/",
        data=request.body,
        headers={
            "content-type": request.headers["content-type"],
            "X-Amz-Date": amz_date,
            "X-Amz-Security-Token": BASE_TOKEN,
        },
    )
    reference.context["timestamp"] = amz_date
    auth = SigV4Auth(BotoCredentials("AKIDBASE", BASE_SECRET, BASE_TOKEN), "sts", "eu-west-1")
    canonical = auth.canonical_request(reference)
    signature = auth.signature(auth.string_to_sign(reference, canonical), reference)
    assert request.headers["Authorization"].endswith(f"Signature={signature}")


def test_no_external_id_sends_none() -> None:
    fake = FakeSTS(sts_ok())
    assume(make_sts(fake), external_id=None)
    assert "ExternalId" not in parse_qs(fake.requests[0].body.decode())


def test_regional_endpoints() -> None:
    assert sts_url("us-east-1") == "https://sts.us-east-1.amazonaws.com"
    assert sts_url("cn-north-1") == "https://sts.cn-north-1.amazonaws.com.cn"


@settings(max_examples=60)
@given(st.text(min_size=1, max_size=200))
def test_session_name_is_always_valid(partner_id: str) -> None:
    name = session_name(partner_id)
    assert 2 <= len(name) <= 64
    assert name.startswith("dynamorm-")
    assert all(c.isascii() and (c.isalnum() or c in "_+=,.@-") for c in name)


# --- response parsing ---------------------------------------------------------------------------


def parse(response: Response) -> Credentials:
    return parse_assume_role_response(
        response.status,
        response.body,
        partner_id="acme",
        role_arn=ROLE,
        external_id=EXTERNAL_ID,
    )


def test_parses_credentials_and_expiration() -> None:
    creds = parse(sts_ok(expiration="2026-11-21T23:13:57.453169Z"))
    assert creds.access_key_id == "ASIATEMPKEY1"
    assert creds.secret_access_key == TEMP_SECRET
    assert creds.session_token == TEMP_TOKEN
    expected = datetime(2026, 11, 21, 23, 13, 57, 453169, tzinfo=UTC).timestamp()
    assert creds.expiration == pytest.approx(expected)


def test_parses_without_namespace() -> None:
    body = sts_ok().body.replace(NS.encode(), b"")
    assert parse(Response(200, {}, body)).access_key_id == "ASIATEMPKEY1"


@settings(max_examples=60)
@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    st.sampled_from(["Z", "+00:00", "+05:30", "-08:00", ""]),
)
def test_timestamps_agree_with_datetime(moment: datetime, zone: str) -> None:
    text = moment.isoformat() + zone
    offset = timedelta(0)
    if zone not in ("Z", ""):
        sign = 1 if zone[0] == "+" else -1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    expected = (moment - offset).replace(tzinfo=UTC).timestamp()
    assert parse_timestamp(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("response", "code", "transient"),
    [
        (
            sts_error(403, "AccessDenied", "not authorized to perform sts:AssumeRole"),
            "AccessDenied",
            False,
        ),
        (sts_error(400, "Throttling", "Rate exceeded"), "Throttling", True),
        (sts_error(503, "ServiceUnavailable", "try later"), "ServiceUnavailable", True),
        (
            sts_error(400, "RegionDisabledException", "STS is not activated"),
            "RegionDisabledException",
            False,
        ),
    ],
)
def test_error_xml_is_typed(response: Response, code: str, transient: bool) -> None:
    with pytest.raises(AssumeRoleFailed) as info:
        parse(response)
    error = info.value
    assert (error.sts_code, error.transient, error.status) == (code, transient, response.status)
    assert error.request_id == "req-err"
    assert (error.partner_id, error.role_arn) == ("acme", ROLE)
    assert str(error).startswith(f"AssumeRole for partner 'acme' (role {ROLE}) failed: {code}: ")
    assert error.retryable is False  # already retried by the STS client


def test_error_message_never_echoes_the_external_id() -> None:
    response = sts_error(403, "AccessDenied", f"bad external id {EXTERNAL_ID} for role")
    with pytest.raises(AssumeRoleFailed) as info:
        parse(response)
    assert EXTERNAL_ID not in str(info.value)
    assert "bad external id **** for role" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>502 Bad Gateway</body></html",
        b"",
        b"not xml at all",
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>',
    ],
)
def test_unreadable_bodies_are_transient_errors(body: bytes) -> None:
    with pytest.raises(AssumeRoleFailed, match="unreadable body") as info:
        parse(Response(502, {}, body))
    assert info.value.transient


def test_missing_credentials_are_named() -> None:
    body = (
        sts_ok()
        .body.replace(b"<SessionToken>", b"<Other>")
        .replace(b"</SessionToken>", b"</Other>")
    )
    with pytest.raises(AssumeRoleFailed, match="the response has no SessionToken"):
        parse(Response(200, {}, body))
    with pytest.raises(AssumeRoleFailed, match="unreadable Expiration"):
        parse(sts_ok(expiration="next tuesday"))


def test_xml_fields_keeps_leaves_only() -> None:
    fields = xml_fields(b"<a><b>1</b><c><d>2</d> tail </c><e/></a>")
    assert fields == {"b": "1", "d": "2", "e": ""}


# --- retries, expired base credentials, deadlines, transport faults -------------------------------


def test_throttling_is_retried_then_succeeds() -> None:
    fake = FakeSTS(sts_error(400, "Throttling"), sts_error(500, "InternalFailure"), sts_ok())
    assert assume(make_sts(fake)).access_key_id == "ASIATEMPKEY1"
    assert len(fake.requests) == 3


def test_retries_are_bounded_and_counted() -> None:
    fake = FakeSTS(sts_error(400, "Throttling", "Rate exceeded"))
    with pytest.raises(AssumeRoleFailed) as info:
        assume(make_sts(fake, attempts=3))
    assert len(fake.requests) == 3
    assert str(info.value).endswith("Throttling: Rate exceeded (after 3 attempts)")


def test_access_denied_is_not_retried() -> None:
    fake = FakeSTS(sts_error(403, "AccessDenied"))
    with pytest.raises(AssumeRoleFailed):
        assume(make_sts(fake))
    assert len(fake.requests) == 1


def test_expired_base_token_is_refreshed_once() -> None:
    base = CountingBase()
    fake = FakeSTS(sts_error(400, "ExpiredToken", "expired"), sts_ok())
    assert assume(make_sts(fake, base=base)).access_key_id == "ASIATEMPKEY1"
    assert base.invalidated == 1
    fake = FakeSTS(sts_error(400, "ExpiredToken", "expired"))
    with pytest.raises(AssumeRoleFailed, match="ExpiredToken"):
        assume(make_sts(fake, base=base))
    assert base.invalidated == 2
    assert len(fake.requests) == 2


def test_base_credentials_failure_names_the_partner() -> None:
    class Broken:
        def get(self) -> Credentials:
            raise CredentialsError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set")

        def invalidate(self) -> None:
            """Nothing cached."""

    fake = FakeSTS(sts_ok())
    with pytest.raises(AssumeRoleFailed, match=r"'acme'.*base credentials are unavailable"):
        assume(make_sts(fake, base=Broken()))
    assert fake.requests == []


def test_unreachable_sts_is_typed_and_secret_free() -> None:
    fake = FakeSTS(EndpointUnreachable("could not connect to https://sts...: refused"))
    with pytest.raises(AssumeRoleFailed) as info:
        assume(make_sts(fake))
    error = info.value
    assert (error.sts_code, error.transient) == ("", False)  # no STS code: STS never answered
    assert isinstance(error.__cause__, EndpointUnreachable)
    assert "could not connect" in str(error)
    for secret in (BASE_SECRET, BASE_TOKEN, EXTERNAL_ID):
        assert secret not in str(error)
        assert secret not in repr(error)


def test_read_timeout_is_retried() -> None:
    fake = FakeSTS(ReadTimeout("no answer", endpoint="x"), sts_ok())
    assert assume(make_sts(fake)).access_key_id == "ASIATEMPKEY1"


def test_deadline_already_passed_sends_nothing() -> None:
    fake = FakeSTS(sts_ok())
    with pytest.raises(DeadlineExceeded, match="partner 'acme'"):
        assume(make_sts(fake), deadline=time.monotonic() - 1)
    assert fake.requests == []


def test_timeouts_are_clamped_to_the_deadline() -> None:
    fake = FakeSTS(sts_ok())
    deadline = time.monotonic() + 1.5
    assume(make_sts(fake), deadline=deadline)
    (request,) = fake.requests
    assert 0 < request.read_timeout <= 1.5
    assert 0 < request.connect_timeout <= 1.5


class _LongestWait(random.Random):
    """Full jitter that always draws its upper bound, so the backoff is known."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_deadline_stops_retries() -> None:
    fake = FakeSTS(sts_error(400, "Throttling"))
    sts = make_sts(fake, attempts=5)
    sts.retry = RetryPolicy(5, base_delay=30.0, max_delay=30.0, rng=_LongestWait())
    with pytest.raises(DeadlineExceeded, match="no time to retry after 1 attempt") as info:
        assume(sts, deadline=time.monotonic() + 5)
    assert isinstance(info.value.last_error, AssumeRoleFailed)
    assert len(fake.requests) == 1


# --- the provider: cache, refresh, single flight ------------------------------------------------


def test_provider_caches_until_the_margin() -> None:
    now = [EXPIRES_AT - 3000]
    fake = FakeSTS(sts_ok("ASIAFIRST"), sts_ok("ASIASECOND"))
    provider = make_provider(fake, clock=lambda: now[0])
    assert provider.get().access_key_id == "ASIAFIRST"
    now[0] = EXPIRES_AT - 301
    assert provider.get().access_key_id == "ASIAFIRST"
    assert len(fake.requests) == 1
    now[0] = EXPIRES_AT - 299
    assert provider.get().access_key_id == "ASIASECOND"
    assert len(fake.requests) == 2


def test_provider_margin_is_configurable() -> None:
    now = [EXPIRES_AT - 500]
    fake = FakeSTS(sts_ok("ASIAFIRST"), sts_ok("ASIASECOND"))
    provider = make_provider(fake, clock=lambda: now[0], refresh_margin=600)
    provider.get()
    provider.get()
    assert len(fake.requests) == 2


def test_invalidate_forces_a_new_call() -> None:
    fake = FakeSTS(sts_ok("ASIAFIRST"), sts_ok("ASIASECOND"))
    provider = make_provider(fake)
    provider.get()
    provider.invalidate()
    assert provider.get().access_key_id == "ASIASECOND"


def test_failed_refresh_is_not_cached() -> None:
    fake = FakeSTS(sts_error(403, "AccessDenied"), sts_ok())
    provider = make_provider(fake)
    with pytest.raises(AssumeRoleFailed):
        provider.get()
    assert provider.get().access_key_id == "ASIATEMPKEY1"
    assert len(fake.requests) == 2


def test_failed_refresh_keeps_nothing_of_the_old_credentials() -> None:
    now = [EXPIRES_AT - 3000]
    fake = FakeSTS(sts_ok("ASIAFIRST"), sts_error(403, "AccessDenied"), sts_ok("ASIATHIRD"))
    provider = make_provider(fake, clock=lambda: now[0])
    provider.get()
    now[0] = EXPIRES_AT - 10
    with pytest.raises(AssumeRoleFailed):
        provider.get()
    assert provider.get().access_key_id == "ASIATHIRD"


def test_failed_early_refresh_keeps_serving_still_valid_credentials() -> None:
    now = [EXPIRES_AT - 3000]
    fake = FakeSTS(sts_ok("ASIAFIRST"), sts_error(403, "AccessDenied"), sts_ok("ASIATHIRD"))
    provider = make_provider(fake, clock=lambda: now[0])
    provider.get()
    now[0] = EXPIRES_AT - 200  # inside the 300 s margin: a refresh is due
    assert provider.get().access_key_id == "ASIAFIRST"  # STS failed; still valid for 200 s
    calls = len(fake.requests)
    now[0] += 5  # within the cooldown: no new STS call
    assert provider.get().access_key_id == "ASIAFIRST"
    assert len(fake.requests) == calls
    now[0] += 10  # cooldown over: STS again, and it answers
    assert provider.get().access_key_id == "ASIATHIRD"


def test_credentials_about_to_expire_are_not_served_after_a_failed_refresh() -> None:
    now = [EXPIRES_AT - 3000]
    fake = FakeSTS(sts_ok("ASIAFIRST"), sts_error(403, "AccessDenied"))
    provider = make_provider(fake, clock=lambda: now[0])
    provider.get()
    now[0] = EXPIRES_AT - 20
    with pytest.raises(AssumeRoleFailed):
        provider.get()


def run_threads(count: int, target: Callable[[], object]) -> list[object]:
    results: list[object] = [None] * count

    def work(i: int) -> None:
        try:
            results[i] = target()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


class Gate:
    """Lets the STS answer go only once every thread has announced it is about to call get()."""

    def __init__(self, count: int, answer: Response) -> None:
        self.count = count
        self.arrived = 0
        self.all_in = threading.Event()
        self.lock = threading.Lock()
        self.answer = answer

    def arrive(self) -> None:
        with self.lock:
            self.arrived += 1
            if self.arrived == self.count:
                self.all_in.set()

    def __call__(self, request: Request) -> Response:
        assert self.all_in.wait(10)
        return self.answer


@pytest.mark.parametrize(
    ("answer", "expected"),
    [(sts_ok(), Credentials), (sts_error(403, "AccessDenied"), AssumeRoleFailed)],
)
def test_fifty_threads_share_one_sts_call(answer: Response, expected: type) -> None:
    gate = Gate(50, answer)
    fake = FakeSTS(gate)
    provider = make_provider(fake)

    def use() -> Credentials:
        gate.arrive()
        return provider.get()

    results = run_threads(50, use)
    assert len(fake.requests) == 1
    assert all(isinstance(result, expected) for result in results)
    if expected is Credentials:
        assert len({id(result) for result in results}) == 1


def test_waiting_thread_respects_its_own_deadline() -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow(request: Request) -> Response:
        entered.set()
        assert release.wait(10)
        return sts_ok()

    provider = make_provider(FakeSTS(slow))
    leader = threading.Thread(target=provider.get)
    leader.start()
    try:
        assert entered.wait(10)
        with (
            credentials_deadline(time.monotonic() + 0.05),
            pytest.raises(DeadlineExceeded, match="waiting for a refresh in progress"),
        ):
            provider.get()
    finally:
        release.set()
        leader.join(10)
    assert provider.get().access_key_id == "ASIATEMPKEY1"


def test_provider_reads_the_context_deadline() -> None:
    fake = FakeSTS(sts_ok())
    provider = make_provider(fake)
    with credentials_deadline(time.monotonic() - 1), pytest.raises(DeadlineExceeded):
        provider.get()
    assert fake.requests == []
    assert provider.get().access_key_id == "ASIATEMPKEY1"


def test_logs_mask_the_partner_and_hold_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeSTS(sts_error(403, "AccessDenied", f"no {EXTERNAL_ID}"), sts_ok())
    provider = make_provider(fake)
    with caplog.at_level(logging.DEBUG, logger="dynamorm.accounts"):
        with pytest.raises(AssumeRoleFailed):
            provider.get()
        provider.get()
    text = caplog.text
    assert "AssumeRole for partner ac~" in text
    assert "AccessDenied" in text
    assert "assumed the role for partner ac~" in text
    for secret in ("acme-payments", EXTERNAL_ID, TEMP_SECRET, TEMP_TOKEN, BASE_SECRET):
        assert secret not in text


def test_repr_holds_no_secrets() -> None:
    provider = make_provider(FakeSTS(sts_ok()))
    creds = provider.get()
    for text in (repr(provider), repr(creds), repr(provider._sts)):
        for secret in ("acme-payments", EXTERNAL_ID, TEMP_SECRET, TEMP_TOKEN, BASE_SECRET):
            assert secret not in text


def test_refresh_warnings_name_the_failure_class_not_a_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeSTS(EndpointUnreachable("could not connect to https://sts...: refused"))
    provider = make_provider(fake)
    with (
        caplog.at_level(logging.WARNING, logger="dynamorm.accounts"),
        pytest.raises(AssumeRoleFailed),
    ):
        provider.get()
    assert "failed: EndpointUnreachable" in caplog.text
    assert "ErrEndpointUnreachable" not in caplog.text


@given(st.text(max_size=40), st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_the_assume_role_form_decodes_to_its_fields(role_arn: str, external_id: str) -> None:
    from dynamorm._runtime.sts import assume_role_body

    body = assume_role_body(role_arn or "r", "dynamorm-acme", external_id or None, 900)
    fields = {k: v[0] for k, v in parse_qs(body.decode("ascii"), keep_blank_values=True).items()}
    assert fields["RoleArn"] == (role_arn or "r")
    assert fields.get("ExternalId") == (external_id or None)
    assert (fields["Action"], fields["RoleSessionName"], fields["DurationSeconds"]) == (
        "AssumeRole",
        "dynamorm-acme",
        "900",
    )
