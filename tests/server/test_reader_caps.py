"""Open stream readers are capped per address and per user: beyond the cap a 429
``too_many_readers`` with ``Retry-After`` and a JSON body, before any generation starts; a freed
slot takes a reader again; ``/v1`` is not counted.

The readers are held open by the loopback OpenAI-compatible stub answering a few words and then
nothing (``fault:stall``), so each stays open until the test cancels it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.server.test_auth import create_token
from tests.support.helpers import events_of, post_chat, text_of
from tests.support.servers import RunningServer, run_server
from tests.support.upstream_stub import ThreadedUpstream
from tokenwire.config import ModelConfig, Settings
from tokenwire.server.reader_counts import ReaderCounts, TooManyReaders

WAIT = 30.0
HELD = 600.0  # no upstream timeout ends a held reader while a test runs


def stub_model(id: str, base_url: str, model: str) -> ModelConfig:
    return ModelConfig(
        id=id,
        provider="openai",
        base_url=base_url,
        model=model,
        first_token_timeout=HELD,
        idle_timeout=HELD,
    )


@pytest.fixture
def upstream() -> Iterator[ThreadedUpstream]:
    with ThreadedUpstream() as stub:
        yield stub


@asynccontextmanager
async def serve(
    tmp_path: Path, upstream: ThreadedUpstream, **settings: Any
) -> AsyncIterator[RunningServer]:
    models = (
        stub_model("held", upstream.base_url, "fault:stall"),
        stub_model("echo", upstream.base_url, "echo"),
    )
    with run_server(tmp_path, models, shutdown_grace_seconds=0, **settings) as server:
        yield server


@asynccontextmanager
async def held_reader(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """A ``POST /api/chat`` whose answer stays open; yields once its first word arrived (so the
    server counts it), cancels the answer on the way out. Yields the stream id."""
    body = {"message": "hold this open", "model": "held"}
    async with client.stream("POST", "/api/chat", json=body, headers=headers) as response:
        assert response.status_code == 200
        stream_id = response.headers["x-stream-id"]
        events = await events_of(response, limit=2)
        assert [e.type for e in events] == ["start", "delta"]
        try:
            yield stream_id
        finally:
            await client.post(f"/api/streams/{stream_id}/cancel", headers=headers)


def assert_refused(response: httpx.Response, who: str) -> None:
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "5"
    error = response.json()["error"]
    assert error["code"] == "too_many_readers"
    assert who in error["message"]


async def until_accepted(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    """Ask again until a freed slot takes the reader (the server frees it once the old
    connection's response has ended, just after the client saw it end)."""
    deadline = time.monotonic() + WAIT
    while True:
        response, events = await post_chat(client, body)
        if response.status_code != 429 or time.monotonic() > deadline:
            assert events, response.text
            return response
        await asyncio.sleep(0.05)


async def test_readers_beyond_the_cap_per_address_get_a_429_and_start_nothing(
    tmp_path: Path, upstream: ThreadedUpstream
) -> None:
    async with (
        serve(tmp_path, upstream, max_readers_per_ip=2) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client,
    ):
        async with AsyncExitStack() as readers:
            first = await readers.enter_async_context(held_reader(client))
            await readers.enter_async_context(held_reader(client))
            asked_upstream = len(upstream.requests)

            refused_chat, _ = await post_chat(client, {"message": "one more", "model": "echo"})
            assert_refused(refused_chat, "this address")
            refused_resume = await client.get(f"/api/streams/{first}")
            assert_refused(refused_resume, "this address")
            with pytest.raises(InvalidStatus) as refused_socket:
                async with websockets.connect(server.ws_url):
                    pass
            assert refused_socket.value.response.status_code == 429
            assert b"too_many_readers" in refused_socket.value.response.body
            # No generation was started for the refused question, upstream or in the hub.
            assert len(upstream.requests) == asked_upstream
            assert server.hub.running == 2

            # Requests that read no stream are not counted, nor is /v1 (one reader per
            # generation, already capped as a generation).
            assert (await client.get("/api/conversations")).status_code == 200
            one = [{"role": "user", "content": "not counted"}]
            v1 = await client.post(
                "/v1/chat/completions", json={"model": "echo", "messages": one, "stream": True}
            )
            assert v1.status_code == 200 and "data: [DONE]" in v1.text
        # Both readers left: their slots take new readers.
        again = await until_accepted(client, {"message": "room again", "model": "echo"})
        assert again.status_code == 200


async def test_readers_are_capped_per_user_apart_from_the_address(
    tmp_path: Path, upstream: ThreadedUpstream
) -> None:
    alice, bob = ({"Authorization": f"Bearer {create_token(tmp_path, u)}"} for u in ("a", "b"))
    async with (
        serve(tmp_path, upstream, max_readers_per_user=1, max_readers_per_ip=0) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client,
        held_reader(client, alice) as alices,
    ):
        refused, _ = await post_chat(client, {"message": "again", "model": "echo"}, **alice)
        assert_refused(refused, "this user")
        assert_refused(await client.get(f"/api/streams/{alices}", headers=alice), "this user")
        # Another user from the same address reads as usual.
        other, events = await post_chat(client, {"message": "bob here", "model": "echo"}, **bob)
        assert other.status_code == 200 and text_of(events) == "bob here"


async def test_an_open_websocket_counts_as_one_reader(
    tmp_path: Path, upstream: ThreadedUpstream
) -> None:
    async with (
        serve(tmp_path, upstream, max_readers_per_ip=1) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=WAIT) as client,
    ):
        async with websockets.connect(server.ws_url) as ws:
            await ws.send('{"type": "chat", "message": "over the socket", "model": "echo"}')
            assert b'"type":"start"' in (await ws.recv()).encode()
            refused, _ = await post_chat(client, {"message": "and http", "model": "echo"})
            assert_refused(refused, "this address")
        # The socket closed: its slot takes the HTTP reader.
        assert (
            await until_accepted(client, {"message": "now", "model": "echo"})
        ).status_code == 200


def test_counts_release_their_slots_and_zero_turns_a_cap_off() -> None:
    counts = ReaderCounts(per_user=1, per_ip=0)
    counts.acquire("alice", "10.0.0.1")
    with pytest.raises(TooManyReaders) as refused:
        counts.acquire("alice", "10.0.0.2")
    assert refused.value.per_user
    counts.acquire("", "10.0.0.1")  # auth off: the one local user is not capped per user
    counts.acquire("", "10.0.0.1")
    for user in ("alice", "", ""):
        counts.release(user, "10.0.0.1")
    assert not counts.users and not counts.addresses  # nothing left behind per caller
    counts.acquire("alice", "10.0.0.2")


def test_the_caps_default_to_64_per_user_and_256_per_address() -> None:
    settings = Settings()
    assert (settings.max_readers_per_user, settings.max_readers_per_ip) == (64, 256)
