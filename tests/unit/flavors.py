"""Run the same client test on ``Client`` and on ``AsyncClient``: :class:`Flavor` builds either
kind with a fake transport and runs its calls to completion synchronously."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from dynamorm import Credentials, Request, Response, RetryPolicy
from dynamorm._io.async_client import AsyncClient
from dynamorm._io.client import Client, ClientBase
from dynamorm._io.credentials import StaticProvider
from dynamorm._io.transport import Endpoint
from tests.unit.test_client import SECRET, TOKEN

KEY = {"TableName": "t", "Key": {"pk": {"S": "k"}}}
PUT = {"TableName": "t", "Item": {"pk": {"S": "k"}}}


class Flavor:
    """Builds a client of one kind and runs its calls to completion synchronously."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.sleeps: list[float] = []

    def client(self, transport: Callable[[Request], Response], **kw: Any) -> ClientBase:
        cls: type[ClientBase] = kw.pop("cls", Client if self.kind == "sync" else AsyncClient)
        fake = self.transport(transport)

        kw.setdefault(
            "retry", RetryPolicy(4, base_delay=0.001, max_delay=0.002, rng=random.Random(1))
        )
        client = cls(
            region="eu-west-1",
            endpoint=Endpoint(kw.pop("endpoint", "https://dynamodb.eu-west-1.amazonaws.com")),
            credentials=kw.pop(
                "credentials", StaticProvider(Credentials("AKIDEXAMPLE", SECRET, TOKEN))
            ),
            transport=fake,
            **kw,
        )
        sleeps = self.sleeps
        if self.kind == "sync":
            client._sleep = sleeps.append
        else:

            async def sleep(seconds: float) -> None:
                sleeps.append(seconds)

            client._sleep = sleep
        return client

    def transport(self, transport: Callable[[Request], Response]) -> Any:
        """``transport`` itself (sync), or an async transport answering the same."""
        if self.kind == "sync":
            return transport

        async def fake(request: Request) -> Response:
            await asyncio.sleep(0)
            return transport(request)

        return fake

    def run(self, client: Any, method: str, *args: Any, **kw: Any) -> Any:
        result = getattr(client, method)(*args, **kw)
        if self.kind == "async":
            return asyncio.run(result)
        return result
