"""Reading tokenwire streams in tests, with the project's own decoders, over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from tokenwire.events import Event
from tokenwire.wire.ndjson import NDJSONDecoder
from tokenwire.wire.sse import ServerSentEvent, SSEDecoder


async def sse_events(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    decoder = SSEDecoder()
    async for chunk in response.aiter_raw():
        for event in decoder.feed(chunk):
            yield event


class _Reader:
    """Decodes one response across several ``events_of`` calls (httpx streams a body once)."""

    def __init__(self, response: httpx.Response) -> None:
        self.ndjson = response.headers["content-type"].startswith("application/x-ndjson")
        self.chunks = response.aiter_raw()
        self.sse = SSEDecoder()
        self.lines = NDJSONDecoder()
        self.pending: list[Event] = []

    def decode(self, chunk: bytes) -> list[Event]:
        if self.ndjson:
            return [Event.from_dict(obj) for obj in self.lines.feed(chunk)]
        out = []
        for sse in self.sse.feed(chunk):
            event = Event.from_json(sse.data)
            assert sse.id == str(event.seq)
            assert sse.event == event.type
            out.append(event)
        return out


async def events_of(response: httpx.Response, *, limit: int | None = None) -> list[Event]:
    """The protocol events of an SSE or NDJSON response (all, or the next ``limit``)."""
    reader: _Reader = response.__dict__.setdefault("_tokenwire_reader", _Reader(response))
    while limit is None or len(reader.pending) < limit:
        chunk = await anext(reader.chunks, None)
        if chunk is None:
            break
        reader.pending.extend(reader.decode(chunk))
    cut = len(reader.pending) if limit is None else limit
    out, reader.pending = reader.pending[:cut], reader.pending[cut:]
    return out


def text_of(events: list[Event]) -> str:
    return "".join(e.payload.text for e in events if e.type == "delta")  # type: ignore[union-attr]


def assert_complete_stream(events: list[Event]) -> None:
    """Seqs 1..N without a gap, ``start`` first, exactly one terminal event, last."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].type == "start"
    assert [e.is_terminal for e in events].count(True) == 1
    assert events[-1].is_terminal


async def post_chat(
    client: httpx.AsyncClient, body: dict[str, Any], **headers: str
) -> tuple[httpx.Response, list[Event]]:
    async with client.stream("POST", "/api/chat", json=body, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            return response, []
        return response, await events_of(response)
