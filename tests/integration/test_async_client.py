"""``AsyncClient`` on DynamoDB Local over real HTTP: concurrent requests on the bounded pool,
and faults injected by :class:`tests.faults.FaultProxy` (never re-sent, cancellation clean)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from dynamorm import DB, OutcomeUnknown, RetryPolicy
from dynamorm._io.async_client import AsyncClient
from dynamorm._io.async_transport import AsyncHTTPTransport, run
from dynamorm._io.credentials import resolve_credentials
from dynamorm._io.transport import Endpoint
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB
from tests.faults import FaultProxy

pytestmark = pytest.mark.integration


@pytest.fixture
def table(db: DB) -> str:
    name = db.client.table_prefix + "async_client"
    db.client.call(
        "CreateTable",
        {
            "TableName": name,
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    return name


@pytest.fixture
def proxy(dynamodb_local: LocalDynamoDB) -> Iterator[FaultProxy]:
    host, _, port = dynamodb_local.endpoint.rpartition("://")[2].rpartition(":")
    proxy = FaultProxy((host, int(port)))
    yield proxy
    proxy.close()


def client(url: str, region: str, **kw: Any) -> AsyncClient:
    return AsyncClient(
        region=region,
        endpoint=Endpoint(url),
        credentials=resolve_credentials(LOCAL_CREDENTIALS),
        retry=RetryPolicy(3, base_delay=0.001, max_delay=0.01),
        **kw,
    )


def test_fifty_concurrent_gets_on_ten_connections(
    dynamodb_local: LocalDynamoDB, proxy: FaultProxy, table: str
) -> None:
    async def main() -> list[dict[str, Any]]:
        aclient = client(
            proxy.url, dynamodb_local.region, transport=AsyncHTTPTransport(max_connections=10)
        )
        try:
            await aclient.call(
                "PutItem", {"TableName": table, "Item": {"pk": {"S": "a"}, "n": {"N": "1"}}}
            )
            return await asyncio.gather(
                *(
                    aclient.call("GetItem", {"TableName": table, "Key": {"pk": {"S": "a"}}})
                    for _ in range(50)
                )
            )
        finally:
            await aclient.aclose()

    answers = run(main())
    assert all(a["Item"]["n"] == {"N": "1"} for a in answers)
    assert proxy.peak_open <= 10
    assert proxy.connections <= 10


@pytest.mark.parametrize("fault", ["reset_after", "truncate", "garble"])
def test_an_ambiguous_put_is_not_sent_again(
    dynamodb_local: LocalDynamoDB, proxy: FaultProxy, table: str, db: DB, fault: str
) -> None:
    proxy.arm("PutItem", fault)

    async def main() -> None:
        aclient = client(proxy.url, dynamodb_local.region)
        try:
            with pytest.raises(OutcomeUnknown):
                await aclient.call("PutItem", {"TableName": table, "Item": {"pk": {"S": fault}}})
        finally:
            await aclient.aclose()

    run(main())
    assert proxy.applied["PutItem"] == 1
    assert "Item" in db.client.call("GetItem", {"TableName": table, "Key": {"pk": {"S": fault}}})


def test_reads_retry_through_faults_and_cancellation_leaves_the_pool_clean(
    dynamodb_local: LocalDynamoDB, proxy: FaultProxy, table: str
) -> None:
    key = {"TableName": table, "Key": {"pk": {"S": "none"}}}

    async def main() -> None:
        transport = AsyncHTTPTransport(max_connections=2)
        aclient = client(proxy.url, dynamodb_local.region, transport=transport, read_timeout=0.3)
        try:
            proxy.arm("GetItem", "reset_after")
            assert await aclient.call("GetItem", key) == {}
            proxy.hold = 5.0
            proxy.arm("GetItem", "timeout", times=2)
            task = asyncio.ensure_future(aclient.call("GetItem", key))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            (pool,) = transport._pools.values()
            assert pool.open == len(pool.idle)  # nothing in flight, nothing half-read kept
            assert await aclient.call("GetItem", key) == {}  # one more timeout, then an answer
        finally:
            await aclient.aclose()

    run(main())
    assert proxy.injected["GetItem"] == 3
