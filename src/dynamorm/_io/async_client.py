"""The async client: the same send loop as :class:`~dynamorm._io.client.Client` (one sans-I/O
flow), driven with ``await`` on the asyncio transport. Imported on first use only: ``import
dynamorm`` never loads asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from dynamorm._core.errors import DynamORMError
from dynamorm._core.protocol import parse_response, response_body
from dynamorm._io.async_drive import adrive
from dynamorm._io.async_transport import AsyncHTTPTransport, AsyncTransport
from dynamorm._io.client import ClientBase, Replay
from dynamorm._io.deadline import LambdaContextLike, _Budget, bind, describe_view, raise_bounded
from dynamorm._io.events import capacity_of, raw_capacity_of
from dynamorm._io.kms import KmsProtocol


class AsyncClient(ClientBase):
    """Sends raw DynamoDB JSON requests, awaitably: ``await client.call("GetItem", {...})``.

    The constructor, attributes and semantics are :class:`~dynamorm._io.client.Client`'s
    (signing, retries, deadlines, exactly-once resolution, hooks); the default transport is
    :class:`~dynamorm._io.async_transport.AsyncHTTPTransport`. Close it with ``await
    client.aclose()``.
    """

    transport: AsyncTransport

    def _default_transport(self) -> AsyncTransport:
        return AsyncHTTPTransport()

    def _default_sleep(self) -> Callable[[float], Any]:
        return asyncio.sleep

    async def call(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        deadline: float | None = None,
        replay: Replay | None = None,
    ) -> dict[str, Any]:
        """Send one DynamoDB operation; the same contract as ``Client.call``."""
        if self.hooks:
            flow = self._observed(operation, payload, parse_response, capacity_of, deadline, replay)
        else:
            flow = self._flow(operation, payload, deadline, None, parse_response, replay)
        return await adrive(flow, self)

    async def call_raw(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        deadline: float | None = None,
        replay: Replay | None = None,
    ) -> bytes:
        """Like :meth:`call`, but return the verified response body as raw JSON bytes."""
        if self.hooks:
            flow = self._observed(
                operation, payload, response_body, raw_capacity_of, deadline, replay
            )
        else:
            flow = self._flow(operation, payload, deadline, None, response_body, replay)
        return await adrive(flow, self)

    async def sleep(self, seconds: float) -> None:
        """Back off for ``seconds``, but never past the deadline."""
        await self._sleep(self._sleep_time(seconds))

    def with_deadline(
        self, context_or_seconds: LambdaContextLike | float, *, buffer: float | None = None
    ) -> AsyncClient:
        """A view of this client (same transport, credentials and hooks) bound to a deadline;
        see ``Client.with_deadline``."""
        return bind(self, context_or_seconds, buffer, _AsyncDeadlineClient)

    async def aclose(self) -> None:
        """Close the transport's idle connections (if it has any)."""
        aclose = getattr(self.transport, "aclose", None)
        if aclose is not None:
            await aclose()


class _AsyncDeadlineClient(AsyncClient):
    """An async client view bound to a deadline (see ``Client.with_deadline``)."""

    _budget: _Budget

    async def call(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        deadline: float | None = None,
        replay: Replay | None = None,
    ) -> dict[str, Any]:
        try:
            response = await AsyncClient.call(
                self, operation, payload, deadline=deadline, replay=replay
            )
        except DynamORMError as exc:
            raise_bounded(self._budget, exc, operation)
            raise
        self._budget.done()
        return response

    async def call_raw(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        deadline: float | None = None,
        replay: Replay | None = None,
    ) -> bytes:
        try:
            response = await AsyncClient.call_raw(
                self, operation, payload, deadline=deadline, replay=replay
            )
        except DynamORMError as exc:
            raise_bounded(self._budget, exc, operation)
            raise
        self._budget.done()
        return response

    def __repr__(self) -> str:
        return describe_view(self, self._budget)


class AsyncKmsClient(KmsProtocol, AsyncClient):
    """Sends KMS requests, awaitably (``await kms.call("GenerateDataKey", {...})``): the same
    flow and errors as :class:`~dynamorm._io.kms.KmsClient`."""

    async def call(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        deadline: float | None = None,
        replay: Replay | None = None,
    ) -> dict[str, Any]:
        """Send one KMS operation (``GenerateDataKey``, ``Decrypt``...) and return its answer."""
        return await adrive(self._kms_flow(operation, payload, deadline, replay), self)
