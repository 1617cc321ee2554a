"""The streaming transport under the OpenAI provider: real sockets on loopback, raw HTTP bytes.

Each test serves hand-written HTTP/1.1 responses from ``asyncio.start_server``, so it decides
every byte and every write: bursts, split chunks, a body cut short, a close-delimited body.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tokenwire.providers.http_transport import StreamingTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


OK_CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> Server:
        server = Server(handler)
        listener = await asyncio.start_server(server._serve, "127.0.0.1", 0)
        server.port = listener.sockets[0].getsockname()[1]
        servers.append(listener)
        return server

    yield start
    for listener in servers:
        listener.close()
        await listener.wait_closed()


async def body_reads(client: httpx.AsyncClient, url: str) -> list[bytes]:
    async with client.stream("POST", url, content=b'{"x":1}') as response:
        assert response.status_code == 200
        return [piece async for piece in response.aiter_raw()]


async def test_a_burst_of_chunks_comes_out_in_fewer_reads_with_every_byte_in_order(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    events = [b"data: %d\n\n" % i for i in range(200)]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK_CHUNKED)
        writer.write(b"".join(chunk(e) for e in events) + b"0\r\n\r\n")  # one write, 200 chunks
        await writer.drain()

    server = await serve(handler)
    async with httpx.AsyncClient(transport=StreamingTransport()) as client:
        reads = await body_reads(client, server.url)
    assert b"".join(reads) == b"".join(events)
    assert len(reads) < len(events)  # batched: what arrived together came out together


async def test_chunks_split_anywhere_arrive_whole(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    body = "data: 你好, wörld\n\n".encode() * 20
    raw = chunk(body[:7]) + chunk(body[7:]) + b"0\r\n\r\n"

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK_CHUNKED)
        for i in range(0, len(raw), 5):  # the chunk framing itself cut every 5 bytes
            writer.write(raw[i : i + 5])
            await writer.drain()
            await asyncio.sleep(0)

    server = await serve(handler)
    async with httpx.AsyncClient(transport=StreamingTransport()) as client:
        assert b"".join(await body_reads(client, server.url)) == body


async def test_a_complete_response_leaves_its_connection_for_the_next_request(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            server.requests.append(await read_request(reader))
            writer.write(OK_CHUNKED + chunk(b"data: x\n\n") + b"0\r\n\r\n")
            await writer.drain()

    server = await serve(handler)
    async with httpx.AsyncClient(transport=StreamingTransport()) as client:
        for _ in range(3):
            assert b"".join(await body_reads(client, server.url)) == b"data: x\n\n"
    assert server.connections == 1 and len(server.requests) == 3
    assert server.requests[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b'\r\n\r\n{"x":1}' in server.requests[0]


async def test_a_body_cut_short_raises_an_httpx_error(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK_CHUNKED + chunk(b"data: x\n\n"))  # no terminating zero-length chunk
        await writer.drain()

    server = await serve(handler)
    async with httpx.AsyncClient(transport=StreamingTransport()) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await body_reads(client, server.url)


async def test_a_body_without_length_ends_with_the_connection(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\ndata: a\n\ndata: b\n\n")
        await writer.drain()

    server = await serve(handler)
    async with httpx.AsyncClient(transport=StreamingTransport()) as client:
        assert b"".join(await body_reads(client, server.url)) == b"data: a\n\ndata: b\n\n"


async def test_a_large_body_is_read_under_back_pressure_without_loss(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    body = bytes(range(256)) * 16 * 1024  # 4 MiB: above the transport's high-water mark

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()

    server = await serve(handler)
    async with (
        httpx.AsyncClient(transport=StreamingTransport()) as client,
        client.stream("POST", server.url, content=b"{}") as response,
    ):
        received = bytearray()
        async for piece in response.aiter_raw():
            received += piece
            await asyncio.sleep(0.001)  # a slow reader: the socket must pause, not the data drop
    assert bytes(received) == body


async def test_malformed_http_and_refused_connections_are_httpx_errors(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 2OO OK\r\n\r\n")
        await writer.drain()

    server = await serve(handler)
    async with httpx.AsyncClient(transport=StreamingTransport()) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await body_reads(client, server.url)
        listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        listener.close()
        await listener.wait_closed()
        with pytest.raises(httpx.ConnectError):
            await body_reads(client, f"http://127.0.0.1:{port}/")
