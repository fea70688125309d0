"""The asyncio transport against local servers: keep-alive, the pool bound, faults, TLS and
cancellation (a cancelled exchange closes its connection; the pool stays clean)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from dynamorm import ConnectionReset, EndpointUnreachable, ProtocolError, ReadTimeout, Request
from dynamorm._io.async_transport import AsyncHTTPTransport, run
from dynamorm._io.transport import Endpoint
from tests.unit.test_transport_tls import _certificates, tls_server

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """An asyncio server on 127.0.0.1 running ``handler`` per connection; counts them."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open = 0
        self.peak = 0
        self.requests = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        self.requests += 1
        return head + await reader.readexactly(length)


def request(url: str, *, read_timeout: float = 2.0, deadline: float | None = None) -> Request:
    return Request(
        Endpoint(url), {"host": "x"}, b"{}", read_timeout=read_timeout, deadline=deadline
    )


def serve(
    handler: Callable[[Server, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> Server:
    server: Server

    async def bound(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handler(server, reader, writer)

    server = Server(bound)
    return server


async def answer_forever(
    server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    while True:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()


def test_keep_alive_reuses_one_connection() -> None:
    server = serve(answer_forever)

    async def main() -> list[bytes]:
        url = await server.start()
        transport = AsyncHTTPTransport()
        bodies = [(await transport(request(url))).body for _ in range(3)]
        await transport.aclose()
        return bodies

    assert run(main()) == [b"{}"] * 3
    assert server.connections == 1


def test_the_pool_bounds_open_connections_and_queues_the_rest() -> None:
    async def slow(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            await server.read_request(reader)
            await asyncio.sleep(0.02)
            writer.write(OK)
            await writer.drain()

    server = serve(slow)

    async def main() -> int:
        url = await server.start()
        transport = AsyncHTTPTransport(max_connections=2)
        answers = await asyncio.gather(*(transport(request(url)) for _ in range(8)))
        await transport.aclose()
        return len(answers)

    assert run(main()) == 8
    assert server.peak == 2
    assert server.requests == 8


def test_waiting_for_a_connection_is_bounded_by_the_deadline() -> None:
    async def stuck(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        await asyncio.sleep(5)

    server = serve(stuck)

    async def main() -> None:
        url = await server.start()
        transport = AsyncHTTPTransport(max_connections=1)
        first = asyncio.ensure_future(transport(request(url, read_timeout=0.5)))
        await asyncio.sleep(0.02)
        with pytest.raises(EndpointUnreachable, match="no connection free") as info:
            await transport(request(url, deadline=time.monotonic() + 0.05))
        assert info.value.sent is False
        with pytest.raises(ReadTimeout):
            await first
        await transport.aclose()

    run(main())


def test_reset_after_the_request_was_sent_is_not_sent_again() -> None:
    async def reset(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        writer.transport.abort()

    server = serve(reset)

    async def main() -> None:
        url = await server.start()
        transport = AsyncHTTPTransport()
        with pytest.raises(ConnectionReset) as info:
            await transport(request(url))
        assert info.value.sent is True
        assert transport._pools[("http", "127.0.0.1", int(url.rsplit(":", 1)[1]))].open == 0

    run(main())
    assert server.requests == 1


def test_a_trickling_answer_is_cut_at_the_deadline() -> None:
    async def trickle(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        for byte in OK:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)

    server = serve(trickle)

    async def main() -> float:
        url = await server.start()
        started = time.monotonic()
        with pytest.raises(ReadTimeout, match="before the deadline"):
            await AsyncHTTPTransport()(request(url, deadline=started + 0.2))
        return time.monotonic() - started

    assert run(main()) < 1.0


def test_a_garbled_answer_is_a_protocol_error_and_is_not_pooled() -> None:
    async def garbled(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    server = serve(garbled)

    async def main() -> AsyncHTTPTransport:
        url = await server.start()
        transport = AsyncHTTPTransport()
        with pytest.raises(ProtocolError, match="not HTTP"):
            await transport(request(url))
        return transport

    transport = run(main())
    assert all(not pool.idle and pool.open == 0 for pool in transport._pools.values())


def test_unread_bytes_are_never_pooled_and_a_stale_connection_is_replaced() -> None:
    async def extra(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        writer.write(OK + b"junk")
        await writer.drain()
        await server.read_request(reader)  # never comes: the client must not reuse this
        writer.write(OK)

    server = serve(extra)

    async def main() -> None:
        url = await server.start()
        transport = AsyncHTTPTransport()
        for _ in range(2):
            assert (await transport(request(url))).body == b"{}"
        await transport.aclose()

    run(main())
    assert server.connections == 2


def test_chunked_and_until_close_bodies() -> None:
    async def chunked(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        )
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nto the end")
        await writer.drain()

    server = serve(chunked)

    async def main() -> list[bytes]:
        url = await server.start()
        transport = AsyncHTTPTransport()
        return [(await transport(request(url))).body for _ in range(2)]

    assert run(main()) == [b"abcde", b"to the end"]
    assert server.connections == 1


def test_a_cancelled_exchange_closes_its_connection() -> None:
    async def slow(
        server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            await server.read_request(reader)
            await asyncio.sleep(0.2)
            writer.write(OK)
            await writer.drain()

    server = serve(slow)

    async def main() -> None:
        url = await server.start()
        transport = AsyncHTTPTransport(max_connections=1)
        task = asyncio.ensure_future(transport(request(url)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (pool,) = transport._pools.values()
        assert (pool.open, pool.idle) == (0, [])
        # the slot was given back: the next request gets a fresh connection and its own answer
        assert (await transport(request(url))).body == b"{}"
        await transport.aclose()

    run(main())
    assert server.connections == 2


def test_connect_failure_frees_the_slot() -> None:
    async def main() -> None:
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        transport = AsyncHTTPTransport(max_connections=1)
        for _ in range(2):
            with pytest.raises(EndpointUnreachable) as info:
                await transport(request(f"http://127.0.0.1:{port}"))
            assert info.value.sent is False

    run(main())


def test_tls_is_verified(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path, "127.0.0.1")

    async def main(port: int) -> None:
        url = f"https://127.0.0.1:{port}"
        with pytest.raises(EndpointUnreachable, match="TLS handshake"):
            await AsyncHTTPTransport()(request(url))
        trusted = AsyncHTTPTransport(ssl_context=ssl.create_default_context(cafile=str(ca)))
        for _ in range(2):
            assert (await trusted(request(url))).body == b"{}"
        await trusted.aclose()

    with tls_server(cert, key) as (port, accepts):
        run(main(port))
    assert len(accepts) == 2  # one refused handshake, then one kept-alive connection


def test_a_proxy_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    from dynamorm import ConfigurationError

    async def main() -> Any:
        return await AsyncHTTPTransport()(request("https://dynamodb.eu-west-1.amazonaws.com"))

    with pytest.raises(ConfigurationError, match="does not tunnel through proxies"):
        run(main())
