"""Credential refresh as flows, driven both ways: STS AssumeRole (single flight across threads
and asyncio tasks) and botocore's chain (a ``Blocking`` step: a worker thread under asyncio)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from dynamorm import AssumeRoleFailed, Credentials, Request, Response
from dynamorm._io.async_client import AsyncClient
from dynamorm._io.credentials import BotocoreChainProvider
from dynamorm._io.transport import Endpoint
from dynamorm._runtime.sts import AssumeRoleProvider
from tests.unit.flavors import KEY, Flavor
from tests.unit.test_accounts_sts import (
    EXPIRES_AT,
    EXTERNAL_ID,
    ROLE,
    FakeSTS,
    make_sts,
    sts_error,
    sts_ok,
)
from tests.unit.test_client import ok


@pytest.fixture(params=["sync", "async"])
def flavor(request: pytest.FixtureRequest) -> Flavor:
    return Flavor(request.param)


def provider(flavor: Flavor, sts: FakeSTS) -> AssumeRoleProvider:
    return AssumeRoleProvider(
        make_sts(flavor.transport(sts)),
        partner_id="acme-payments",
        role_arn=ROLE,
        external_id=EXTERNAL_ID,
        clock=lambda: EXPIRES_AT - 3000,
    )


def test_requests_are_signed_with_the_assumed_role(flavor: Flavor) -> None:
    sts = FakeSTS(sts_ok())
    seen: list[Request] = []

    def dynamo(request: Request) -> Response:
        seen.append(request)
        return ok({})

    client = flavor.client(dynamo, credentials=provider(flavor, sts))
    for _ in range(2):
        assert flavor.run(client, "call", "GetItem", KEY) == {}
    assert len(sts.requests) == 1  # cached
    assert all("Credential=ASIATEMPKEY1/" in r.headers["Authorization"] for r in seen)


def test_sts_failures_are_retried_then_raised(flavor: Flavor) -> None:
    sts = FakeSTS(sts_error(503, "ServiceUnavailable"), sts_error(403, "AccessDenied"))
    client = flavor.client(lambda r: ok({}), credentials=provider(flavor, sts))
    with pytest.raises(AssumeRoleFailed, match="AccessDenied") as info:
        flavor.run(client, "call", "GetItem", KEY)
    assert info.value.attempts == 2
    assert len(sts.requests) == 2


def test_concurrent_tasks_share_one_assume_role_without_blocking_the_loop() -> None:
    release = asyncio.Event()
    sts_calls: list[float] = []

    async def slow_sts(request: Request) -> Response:
        sts_calls.append(time.monotonic())
        await release.wait()
        return sts_ok()

    async def dynamo(request: Request) -> Response:
        return ok({})

    async def main() -> list[dict[str, Any]]:
        base = make_sts(slow_sts)
        roles = AssumeRoleProvider(
            base, partner_id="acme", role_arn=ROLE, clock=lambda: EXPIRES_AT - 3000
        )
        client = AsyncClient(
            region="eu-west-1",
            endpoint=Endpoint("https://dynamodb.eu-west-1.amazonaws.com"),
            credentials=roles,
            transport=dynamo,
        )
        calls = [asyncio.ensure_future(client.call("GetItem", KEY)) for _ in range(20)]
        await asyncio.sleep(0.02)  # the loop runs: followers wait without blocking it
        assert not any(c.done() for c in calls)
        release.set()
        return await asyncio.gather(*calls)

    assert asyncio.run(main()) == [{}] * 20
    assert len(sts_calls) == 1


def test_a_cancelled_leader_lets_a_waiting_task_refresh() -> None:
    answers: list[asyncio.Future[Response]] = []

    async def sts(request: Request) -> Response:
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        answers.append(future)
        return await future

    async def main() -> Credentials:
        roles = AssumeRoleProvider(
            make_sts(sts), partner_id="acme", role_arn=ROLE, clock=lambda: EXPIRES_AT - 3000
        )
        from dynamorm._io.async_drive import adrive

        leader = asyncio.ensure_future(adrive(roles.flow(None)))
        await asyncio.sleep(0.01)
        follower = asyncio.ensure_future(adrive(roles.flow(None)))
        await asyncio.sleep(0.01)
        leader.cancel()
        await asyncio.sleep(0.01)
        assert len(answers) == 2  # the follower became the leader
        answers[1].set_result(sts_ok())
        return await follower

    assert asyncio.run(main()).access_key_id == "ASIATEMPKEY1"


def test_a_thread_and_a_task_share_one_refresh() -> None:
    gate = threading.Event()
    calls: list[int] = []

    def sts(request: Request) -> Response:
        calls.append(1)
        gate.wait(5)
        return sts_ok()

    roles = AssumeRoleProvider(
        make_sts(sts), partner_id="acme", role_arn=ROLE, clock=lambda: EXPIRES_AT - 3000
    )
    leader = threading.Thread(target=roles.get)
    leader.start()
    while not calls:
        time.sleep(0.001)

    async def follower() -> Credentials:
        from dynamorm._io.async_drive import adrive

        threading.Timer(0.05, gate.set).start()
        return await adrive(roles.flow(None))

    assert asyncio.run(follower()).access_key_id == "ASIATEMPKEY1"
    leader.join()
    assert len(calls) == 1


def test_the_botocore_chain_loads_off_the_event_loop(flavor: Flavor) -> None:
    threads: list[int] = []

    class Chain(BotocoreChainProvider):
        def _load(self) -> Credentials:
            threads.append(threading.get_ident())
            return Credentials("AKIDCHAIN", "secret", expiration=time.time() + 3600)

    client = flavor.client(lambda r: ok({}), credentials=Chain())
    for _ in range(2):
        flavor.run(client, "call", "GetItem", KEY)
    assert len(threads) == 1  # cached after the first load
    assert (threads[0] == threading.get_ident()) is (flavor.kind == "sync")
