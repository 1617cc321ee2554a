"""One WebSocket carries many streams; closing it stops reading, not generating."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
import orjson
import websockets

from tests.support.helpers import assert_complete_stream, events_of, text_of
from tests.support.servers import ANSWER, RunningServer
from tokenwire.events import Event


async def frames_until(ws: Any, done: int) -> list[dict[str, Any]]:
    """Read frames until ``done`` streams have ended (or a rejection arrives)."""
    frames, ended = [], 0
    while ended < done:
        frame = orjson.loads(await ws.recv())
        frames.append(frame)
        if frame["type"] in ("done", "error", "rejected"):
            ended += 1
    return frames


def by_stream(frames: list[dict[str, Any]]) -> dict[str, list[Event]]:
    streams: dict[str, list[Event]] = defaultdict(list)
    for frame in frames:
        streams[frame["stream_id"]].append(Event.from_dict(frame))
    return streams


async def test_two_streams_on_one_socket(server: RunningServer) -> None:
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(orjson.dumps({"type": "chat", "message": "a", "model": "slow", "ref": 1}))
        await ws.send(orjson.dumps({"type": "chat", "message": "b", "ref": "two"}))
        frames = await frames_until(ws, 2)
    starts = {f["ref"]: f for f in frames if f["type"] == "start"}
    assert set(starts) == {1, "two"}
    streams = by_stream(frames)
    assert len(streams) == 2
    for events in streams.values():
        assert_complete_stream(events)
        assert text_of(events) == ANSWER


async def test_resume_and_cancel_frames(server: RunningServer) -> None:
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(orjson.dumps({"type": "chat", "message": "a", "model": "crawl"}))
        start = orjson.loads(await ws.recv())
        first = orjson.loads(await ws.recv())
    stream_id = start["stream_id"]
    # A new socket picks the stream up after the last event it saw, then cancels it.
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(orjson.dumps({"type": "resume", "stream_id": stream_id, "after": 2}))
        resumed = orjson.loads(await ws.recv())
        assert resumed["seq"] == 3 and resumed["stream_id"] == stream_id
        await ws.send(orjson.dumps({"type": "cancel", "stream_id": stream_id}))
        rest = await frames_until(ws, 1)
    events = [Event.from_dict(f) for f in [start, first, resumed, *rest]]
    assert_complete_stream(events)
    assert events[-1].to_dict()["finish_reason"] == "cancelled"


async def test_bad_frames_are_rejected_and_the_socket_stays_usable(server: RunningServer) -> None:
    async with websockets.connect(server.ws_url) as ws:
        for bad in (
            b"{oops",
            b"[]",
            b'{"type": "dance"}',
            b'{"type": "chat", "message": ""}',
            b'{"type": "chat", "message": "x", "model": "nope", "ref": 9}',
            b'{"type": "resume", "stream_id": "str_nope"}',
            b'{"type": "resume", "stream_id": "x", "after": -1}',
        ):
            await ws.send(bad.decode())
            frame = orjson.loads(await ws.recv())
            assert frame["type"] == "rejected", frame
            assert frame["error"]["code"]
        assert frame["error"]["code"] == "invalid_last_event_id"
        await ws.send(orjson.dumps({"type": "chat", "message": "fine"}))
        streams = by_stream(await frames_until(ws, 1))
    (events,) = streams.values()
    assert text_of(events) == ANSWER


async def test_rejection_carries_the_ref(server: RunningServer) -> None:
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(orjson.dumps({"type": "chat", "message": "x", "model": "no", "ref": 9}))
        frame = orjson.loads(await ws.recv())
    assert frame == {"type": "rejected", "ref": 9, "error": frame["error"]}
    assert frame["error"]["code"] == "model_not_found"


async def test_closing_the_socket_does_not_stop_the_answer(server: RunningServer) -> None:
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(orjson.dumps({"type": "chat", "message": "a", "model": "slow"}))
        start = orjson.loads(await ws.recv())
    async with (
        httpx.AsyncClient(base_url=server.base_url) as http,
        http.stream("GET", f"/api/streams/{start['stream_id']}") as response,
    ):
        events = await events_of(response)
    assert_complete_stream(events)
    assert events[-1].type == "done"
    assert text_of(events) == ANSWER
