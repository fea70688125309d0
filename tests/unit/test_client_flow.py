"""The client's send loop (one sans-I/O flow) driven both ways: every case runs on ``Client``
and on ``AsyncClient`` with the same fake transport answers."""

from __future__ import annotations

import asyncio

import pytest

from dynamorm import (
    ConditionFailed,
    ConnectionReset,
    Credentials,
    CredentialsError,
    DeadlineExceeded,
    KmsError,
    OutcomeUnknown,
    Request,
    Response,
    Throttled,
)
from dynamorm._io.async_client import AsyncKmsClient
from dynamorm._io.client import Replay
from dynamorm._io.credentials import StaticProvider
from dynamorm._io.events import RequestEvent
from dynamorm._io.kms import KmsClient
from tests.unit.flavors import KEY, PUT, Flavor
from tests.unit.test_client import SECRET, Recorder, err, ok


@pytest.fixture(params=["sync", "async"])
def flavor(request: pytest.FixtureRequest) -> Flavor:
    return Flavor(request.param)


def test_get_item_is_signed_and_parsed(flavor: Flavor) -> None:
    transport = Recorder(ok({"Item": {"pk": {"S": "k"}}}))
    client = flavor.client(transport)
    assert flavor.run(client, "call", "GetItem", KEY) == {"Item": {"pk": {"S": "k"}}}
    (request,) = transport.requests
    assert request.headers["x-amz-target"] == "DynamoDB_20120810.GetItem"
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert flavor.run(client, "call_raw", "GetItem", KEY) == b'{"Item": {"pk": {"S": "k"}}}'


def test_throttling_is_retried_with_backoff(flavor: Flavor) -> None:
    transport = Recorder(err(400, "ThrottlingException"), err(400, "ThrottlingException"), ok({}))
    client = flavor.client(transport)
    assert flavor.run(client, "call", "GetItem", KEY) == {}
    assert len(transport.requests) == 3
    assert len(flavor.sleeps) == 2


def test_retries_stop_at_max_attempts(flavor: Flavor) -> None:
    client = flavor.client(Recorder(err(400, "ThrottlingException")))
    with pytest.raises(Throttled) as info:
        flavor.run(client, "call", "GetItem", KEY)
    assert info.value.attempts == 4


def test_a_write_reset_after_sending_is_never_sent_again(flavor: Flavor) -> None:
    transport = Recorder(ConnectionReset("reset"), ok({}))
    client = flavor.client(transport)
    with pytest.raises(OutcomeUnknown):
        flavor.run(client, "call", "PutItem", PUT)
    assert len(transport.requests) == 1


def test_a_replay_form_is_sent_after_an_ambiguous_failure(flavor: Flavor) -> None:
    transport = Recorder(ConnectionReset("reset"), err(400, "ConditionalCheckFailedException"))
    client = flavor.client(transport)
    replay = Replay(lambda: {**PUT, "ConditionExpression": "attribute_not_exists(pk)"})
    with pytest.raises(ConditionFailed):
        flavor.run(client, "call", "PutItem", PUT, replay=replay)
    assert replay.sent
    assert b"ConditionExpression" in transport.requests[1].body
    assert b"ConditionExpression" not in transport.requests[0].body


def test_an_expired_token_refreshes_the_credentials_once(flavor: Flavor) -> None:
    class Counting(StaticProvider):
        invalidated = 0

        def invalidate(self) -> None:
            self.invalidated += 1

    provider = Counting(Credentials("AKIDEXAMPLE", SECRET))
    transport = Recorder(err(400, "ExpiredTokenException"), ok({}))
    client = flavor.client(transport, credentials=provider)
    assert flavor.run(client, "call", "GetItem", KEY) == {}
    assert provider.invalidated == 1


def test_no_attempt_starts_after_the_deadline(flavor: Flavor) -> None:
    transport = Recorder(ok({}))
    client = flavor.client(transport)
    with pytest.raises(DeadlineExceeded, match="before attempt 1"):
        flavor.run(client, "call", "GetItem", KEY, deadline=0.0)
    assert transport.requests == []


def test_a_deadline_view_explains_what_was_done(flavor: Flavor) -> None:
    client = flavor.client(Recorder(ok({})))
    view = client.with_deadline(0.0)  # type: ignore[attr-defined]
    assert type(view).__mro__[1] is type(client)
    assert "before its deadline" in repr(view)
    with pytest.raises(DeadlineExceeded, match="0 requests completed under this deadline"):
        flavor.run(view, "call", "GetItem", KEY)
    assert client.deadline is None


def test_hooks_count_only_requests_sent(flavor: Flavor) -> None:
    events: list[RequestEvent] = []
    client = flavor.client(Recorder(err(400, "ThrottlingException"), ok({})), hooks=[events.append])
    flavor.run(client, "call", "GetItem", KEY)
    assert [e.attempts for e in events] == [2]

    class Broken(StaticProvider):
        def get(self) -> Credentials:
            raise CredentialsError("no credentials")

    broken = flavor.client(
        Recorder(ok({})), hooks=[events.append], credentials=Broken(Credentials("A", "B"))
    )
    with pytest.raises(CredentialsError):
        flavor.run(broken, "call", "GetItem", KEY)
    assert events[-1].attempts == 0  # the credential fetch failed: nothing was sent
    assert isinstance(events[-1].error, CredentialsError)


def test_kms_client_both_ways(flavor: Flavor) -> None:
    cls = KmsClient if flavor.kind == "sync" else AsyncKmsClient

    def answer(request: Request) -> Response:
        assert request.headers["x-amz-target"] == "TrentService.GenerateDataKey"
        return Response(200, {}, b'{"KeyId": "k", "Plaintext": "cA=="}')

    client = flavor.client(answer, cls=cls, endpoint="http://127.0.0.1:4566")
    assert flavor.run(client, "call", "GenerateDataKey", {"KeyId": "k"})["Plaintext"] == "cA=="
    failing = flavor.client(
        Recorder(Response(400, {}, b'{"__type": "NotFoundException", "message": "gone"}')),
        cls=cls,
        endpoint="http://127.0.0.1:4566",
    )
    with pytest.raises(KmsError, match="NotFoundException: gone"):
        flavor.run(failing, "call", "Decrypt", {"KeyId": "k"})


def test_async_client_sleep_stops_at_the_deadline() -> None:
    client = Flavor("async").client(Recorder(ok({})))
    view = client.with_deadline(0.05)  # type: ignore[attr-defined]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    view._sleep = sleep
    asyncio.run(view.sleep(10))
    assert 0 < slept[0] <= 0.05
