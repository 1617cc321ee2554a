"""Chaos: many answers at once, each through a proxy that breaks its connections at random points.

Every stream gets its own ``tests.support.proxy.Proxy`` whose n-th connection is cut after a
random number of bytes (with a FIN or a RST), stalled for a while and then closed, stalled for good
(the reader's idle timeout has to notice), or left alone, as a seeded random generator decides. The
readers resume by themselves: the Python client over SSE, and small resuming readers here for
NDJSON (``?after=``) and WebSocket (the ``resume`` frame). For every stream, whatever the cuts:

- the events received are seq 1..N, each exactly once, one terminal event, last, as the server
  logged them (the NDJSON and WebSocket readers fail on any repeated or skipped seq);
- the text received equals the replay model's text and the stored answer, which is ``complete``
  and the only answer in its conversation (the prompt was never sent twice).

The seed is printed, and read from ``TOKENWIRE_CHAOS_SEED`` when set, so a failure can be replayed:
the same seed gives every stream the same sequence of cuts (where they land relative to the answer
still depends on timing).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets

from tests.support.helpers import assert_complete_stream, text_of
from tests.support.proxy import Action, Cut, Proxy, Stall
from tests.support.servers import RunningServer, replay, run_server
from tokenwire.client import AsyncClient
from tokenwire.events import Delta, Event, Start
from tokenwire.providers.replay import split_tokens
from tokenwire.wire.ndjson import NDJSONDecoder

SEED = int(os.environ.get("TOKENWIRE_CHAOS_SEED") or random.SystemRandom().randrange(2**32))
STREAMS = 36
TOKENS_PER_SECOND = 60.0  # about 1.3 s an answer: long enough for cuts to land mid-answer
IDLE_TIMEOUT = 3.0  # seconds of silence before a reader gives a connection up (or its head)
KEEPALIVE = 0.25  # the server's SSE keepalive: a healthy SSE connection is never that silent
CALM_AFTER = 12  # a stream's connections from this one on are left alone, so every test ends

TEXTS = {
    "chaos-unicode": (
        "流式传输让读者逐字看到答案，断线之后从最后一个事件继续。"
        "Ünïcödé survives every cut: naïve café, Ελληνικά, русский, 한국어, emoji 🌍👩‍💻🧪✨ and "
        "a combining e\u0301 too. 日本語のテキストも途中で切れても壊れない。"
        "Each piece is a few characters, so a cut often falls inside a UTF-8 sequence. 完。"
    ),
    "chaos-markdown": (
        "# Resuming\n\nA reader that loses its connection reconnects with `Last-Event-ID`:\n\n"
        "```python\nasync for event in stream:\n    print(event)\n```\n\n"
        "- nothing lost\n- nothing doubled\n- exactly one terminal event\n\n"
        "> Lines, fences and blank lines must come through byte for byte, whatever the cuts.\n"
    ),
}
MODELS = tuple(replay(model, text, TOKENS_PER_SECOND) for model, text in TEXTS.items())


def chaos_plan(rng: random.Random, *, body: int, least: int = 0) -> Callable[[int], Action]:
    """What happens to a stream's n-th connection: cut, stalled or left alone, at random.

    ``body`` is about the size of a whole answer's body, so cuts land anywhere in it; ``least``
    keeps the first bytes of every body (the WebSocket reader needs its ``start`` frame).
    """

    def action(index: int) -> Action:
        if index >= CALM_AFTER:
            return None
        after = rng.randint(least, body)
        roll = rng.random()
        if roll < 0.25:
            return None
        if roll < 0.55:
            return Cut(after)
        if roll < 0.75:
            return Cut(after, reset=True)
        if roll < 0.87:
            return Stall(after, close_after=rng.uniform(0.05, 0.5))
        return Stall(after)  # for good: the reader's idle timeout has to find it

    return action


@dataclass
class Received:
    """What a reader got for one stream, and how many connections it took."""

    model: str
    events: list[Event]
    connections: int

    @property
    def start(self) -> Start:
        payload = self.events[0].payload
        assert isinstance(payload, Start)
        return payload


Reader = Callable[[Proxy, str, int], Awaitable[Received]]


@pytest.fixture
def chaos_server(tmp_path: Path) -> Iterator[RunningServer]:
    with run_server(tmp_path, MODELS, retry_ms=20, keepalive_seconds=KEEPALIVE) as running:
        yield running


async def stagger(index: int) -> None:
    """Start the streams over about a second, as users would, rather than all in one instant."""
    await asyncio.sleep(index * 1.0 / STREAMS)


# --- readers that resume --------------------------------------------------------------------------


async def read_sse(proxy: Proxy, model: str, ref: int) -> Received:
    """The project's Python client, which resumes by itself."""
    options: dict[str, Any] = {"max_retries": 30, "backoff_base": 0.01, "backoff_cap": 0.1}
    await stagger(ref)
    async with (
        AsyncClient(proxy.base_url, idle_timeout=IDLE_TIMEOUT, **options) as client,
        client.chat(f"question {ref}", model=model) as stream,
    ):
        events = [event async for event in stream]
    return Received(model, events, proxy.connections)


def take(events: list[Event], event: Event) -> None:
    """Add the next event, failing on anything but the next seq: nothing lost, nothing doubled."""
    assert event.seq == len(events) + 1, (
        f"seed {SEED}: got seq {event.seq} after {len(events)} (lost or doubled)"
    )
    events.append(event)


async def read_ndjson(proxy: Proxy, model: str, ref: int) -> Received:
    """POST the question, then ``GET /api/streams/{id}?after=N`` after every dropped connection."""
    await stagger(ref)
    events: list[Event] = []
    stream_id: str | None = None
    timeout = httpx.Timeout(10.0, read=IDLE_TIMEOUT)
    headers = {"Accept": "application/x-ndjson"}
    async with httpx.AsyncClient(base_url=proxy.base_url, timeout=timeout) as http:
        while not (events and events[-1].is_terminal):
            assert proxy.connections <= CALM_AFTER + 6, f"seed {SEED}: too many connections"
            if stream_id is None:
                assert proxy.connections == 0, f"seed {SEED}: the chat request was lost"
                request = http.build_request(
                    "POST",
                    "/api/chat",
                    json={"message": f"question {ref}", "model": model},
                    headers=headers,
                )
            else:
                params = {"after": len(events)}
                url = f"/api/streams/{stream_id}"
                request = http.build_request("GET", url, params=params, headers=headers)
            with contextlib.suppress(httpx.TransportError):
                response = await http.send(request, stream=True)
                try:
                    assert response.status_code == 200, f"seed {SEED}: {response.status_code}"
                    stream_id = stream_id or response.headers["x-stream-id"]
                    decoder = NDJSONDecoder()  # a fresh one: a cut line is read again, whole
                    async for chunk in response.aiter_raw():
                        for obj in decoder.feed(chunk):
                            take(events, Event.from_dict(obj))
                finally:
                    await response.aclose()
            await asyncio.sleep(0.01)
    return Received(model, events, proxy.connections)


async def read_websocket(proxy: Proxy, model: str, ref: int) -> Received:
    """A ``chat`` frame, then a ``resume`` frame on a new socket after every dropped one."""
    await stagger(ref)
    events: list[Event] = []
    stream_id: str | None = None
    while not (events and events[-1].is_terminal):
        assert proxy.connections <= CALM_AFTER + 6, f"seed {SEED}: too many connections"
        with contextlib.suppress(websockets.ConnectionClosed, TimeoutError, OSError):
            async with websockets.connect(
                proxy.ws_url,
                open_timeout=10,
                close_timeout=0.5,
                ping_interval=None,
                compression=None,  # compressed frames would make the cuts land past the end
            ) as ws:
                if stream_id is None:
                    assert proxy.connections == 1, f"seed {SEED}: the start frame was lost"
                    frame: dict[str, Any] = {"type": "chat", "message": f"q {ref}", "model": model}
                else:
                    frame = {"type": "resume", "stream_id": stream_id, "after": len(events)}
                await ws.send(orjson.dumps(frame).decode())
                while not (events and events[-1].is_terminal):
                    got = orjson.loads(await asyncio.wait_for(ws.recv(), IDLE_TIMEOUT))
                    assert got["type"] != "rejected", f"seed {SEED}: {got}"
                    stream_id = stream_id or got["stream_id"]
                    assert got["stream_id"] == stream_id
                    take(events, Event.from_dict(got))
        await asyncio.sleep(0.01)
    return Received(model, events, proxy.connections)


# --- the checks -----------------------------------------------------------------------------------


# Bytes each event takes on a transport besides its JSON: SSE's id, event and data lines; NDJSON's
# newline; a WebSocket frame's header and the stream_id spliced into the JSON.
FRAMING = {"sse": 30, "ndjson": 1, "websocket": 45}


def body_bytes(model: str, transport: str) -> int:
    """About how many body bytes a whole answer of ``model`` takes on ``transport``."""
    deltas = [Event.make(2 + i, Delta(t)) for i, t in enumerate(split_tokens(TEXTS[model]))]
    return 160 + sum(len(e.json) + FRAMING[transport] for e in deltas)


async def run_chaos(
    server: RunningServer, reader: Reader, transport: str, *, least: int = 0
) -> list[Received]:
    print(f"chaos seed {SEED} (set TOKENWIRE_CHAOS_SEED={SEED} to replay it)")  # shown on failure
    models = [MODELS[i % len(MODELS)].id for i in range(STREAMS)]
    rngs = [random.Random(f"{SEED}-{i}") for i in range(STREAMS)]
    with contextlib.ExitStack() as stack:
        proxies = [
            stack.enter_context(
                Proxy(
                    server.base_url, chaos_plan(rng, body=body_bytes(model, transport), least=least)
                )
            )
            for rng, model in zip(rngs, models, strict=True)
        ]
        async with asyncio.timeout(90):
            received = await asyncio.gather(
                *(
                    reader(proxy, model, i)
                    for i, (proxy, model) in enumerate(zip(proxies, models, strict=True))
                )
            )
    return list(received)


async def check_all(server: RunningServer, received: list[Received]) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        for got in received:
            assert_complete_stream(got.events)
            assert text_of(got.events) == TEXTS[got.model], f"seed {SEED}"
            assert got.events[-1].to_dict() == {
                "type": "done",
                "seq": len(got.events),
                "finish_reason": "stop",
            }
            logged = server.call(server.hub.read(got.start.stream_id, 0, 0.0)).events
            assert [e.json for e in got.events] == [e.json for e in logged], f"seed {SEED}"
            response = await http.get(f"/api/conversations/{got.start.conversation_id}")
            _, answer = response.json()["messages"]  # one question: it was never sent twice
            assert answer["id"] == got.start.message_id
            assert (answer["status"], answer["content"]) == ("complete", TEXTS[got.model])
    # The chaos really happened: most streams took more than one connection.
    resumed = sum(got.connections > 1 for got in received)
    assert resumed >= STREAMS // 2, f"seed {SEED}: only {resumed} streams were cut"


async def test_sse_streams_survive_random_cuts(chaos_server: RunningServer) -> None:
    received = await run_chaos(chaos_server, read_sse, "sse")
    await check_all(chaos_server, received)


async def test_ndjson_streams_survive_random_cuts(chaos_server: RunningServer) -> None:
    received = await run_chaos(chaos_server, read_ndjson, "ndjson")
    await check_all(chaos_server, received)


async def test_websocket_streams_survive_random_cuts(chaos_server: RunningServer) -> None:
    # A chat whose start frame is lost cannot be resumed (nothing names its stream yet), so every
    # connection keeps at least the first frame's bytes.
    received = await run_chaos(chaos_server, read_websocket, "websocket", least=400)
    await check_all(chaos_server, received)
