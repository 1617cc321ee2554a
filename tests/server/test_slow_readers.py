"""A reader that stops reading delays nobody: not the generation, not the other readers of the same
stream. Past the send timeout its connection is dropped, while the answer goes on and is stored."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from pathlib import Path

import httpx
import orjson

from tests.support.helpers import assert_complete_stream, events_of, text_of
from tests.support.servers import RunningServer, replay, run_server

# About 160,000 events, 10 MB of SSE: more than the kernel buffers on both sides of a loopback
# connection hold (the sender's grows to 4 MB), so a reader that reads nothing makes sends wait.
BIG = "Stream me slowly, or not at all. " * 16000
LIMITS = {"send_timeout_seconds": 1.0, "max_events_per_stream": 300_000}


def open_stalled_reader(server: RunningServer) -> tuple[socket.socket, str]:
    """POST a chat on a raw socket with a tiny receive buffer, read the headers, then stop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
    body = orjson.dumps({"message": "hi", "model": "big"})
    sock.sendall(
        b"POST /api/chat HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    stream_id = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"x-stream-id:")
    )
    return sock, stream_id


def open_stalled_websocket(server: RunningServer, frame: dict[str, str]) -> socket.socket:
    """A WebSocket by hand on a raw socket: handshake, one chat frame, then never a read."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET /api/ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    payload, mask = orjson.dumps(frame), os.urandom(4)
    assert len(payload) < 126
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)  # FIN, text, masked
    return sock


async def metric(client: httpx.AsyncClient, name: str) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


async def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_a_stalled_reader_is_dropped_and_delays_no_one(tmp_path: Path) -> None:
    models = (replay("big", BIG),)
    with run_server(tmp_path, models, **LIMITS) as server:
        stalled, stream_id = open_stalled_reader(server)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            # Another reader of the same stream gets all of it while the first one reads nothing.
            async with client.stream("GET", f"/api/streams/{stream_id}") as response:
                events = await events_of(response)
            assert_complete_stream(events)
            assert text_of(events) == BIG

            async def dropped() -> bool:
                return await metric(client, "tokenwire_readers_dropped_total") >= 1

            await wait_for(dropped)
            conversation = events[0].payload.conversation_id  # type: ignore[union-attr]
            stored = (await client.get(f"/api/conversations/{conversation}")).json()
            assert (stored["messages"][1]["status"], stored["messages"][1]["content"]) == (
                "complete",
                BIG,
            )
        # The server closed the stalled connection: draining it reaches the end.
        stalled.settimeout(10)
        received = 0
        while chunk := stalled.recv(65536):
            received += len(chunk)
        stalled.close()
        assert 0 < received < len(BIG) * 20  # it got part of the stream, then the close


async def test_a_websocket_that_stops_reading_is_dropped(tmp_path: Path) -> None:
    models = (replay("big", BIG),)
    with run_server(tmp_path, models, **LIMITS) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            stalled = open_stalled_websocket(
                server, {"type": "chat", "message": "hi", "model": "big"}
            )

            async def dropped() -> bool:
                return await metric(client, "tokenwire_readers_dropped_total") >= 1

            await wait_for(dropped)
            # The generation went on to its end regardless.
            listed = (await client.get("/api/conversations")).json()["data"]
            stored = (await client.get(f"/api/conversations/{listed[0]['id']}")).json()

            async def finished() -> bool:
                nonlocal stored
                stored = (await client.get(f"/api/conversations/{listed[0]['id']}")).json()
                return bool(stored["messages"][1]["status"] == "complete")

            await wait_for(finished)
            assert stored["messages"][1]["content"] == BIG
            stalled.close()
