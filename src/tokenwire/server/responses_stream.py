"""A response's stream log as Responses events: SSE with ``event:`` lines, no ``[DONE]``.

Every reader re-encodes the log from its first event with a fresh ``ResponseEncoder`` (the
encoding is deterministic), and writes only the events after ``starting_after``: so a resume
works on any process that can read the log.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import orjson

from tokenwire.hub.hub import Hub
from tokenwire.hub.log import LogUnavailable, StreamNotFound
from tokenwire.server.streaming import EventStreamResponse, read_stream
from tokenwire.wire import sse
from tokenwire.wire.formats import HEADERS as STREAM_HEADERS
from tokenwire.wire.formats import MEDIA_TYPES
from tokenwire.wire.responses import ResponseEncoder

logger = logging.getLogger("tokenwire.server")


def frame(obj: dict[str, Any]) -> bytes:
    """One Responses event as SSE: ``event:`` names its type, as OpenAI sends it."""
    kind: str = obj["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


async def encoded(
    hub: Hub, stream_id: str, encoder: ResponseEncoder, keepalive: float
) -> AsyncIterator[list[dict[str, Any]]]:
    """The Responses events of the whole stream, batch by batch; an empty batch while idle."""
    async for events in read_stream(hub, stream_id, 0, keepalive):
        yield [obj for event in events for obj in encoder.encode(event)]


async def encode_so_far(hub: Hub, stream_id: str, encoder: ResponseEncoder) -> None:
    """Feed ``encoder`` every event written so far, without waiting for more."""
    after = 0
    while True:
        try:
            batch = await hub.read(stream_id, after, 0)
        except StreamNotFound:
            return
        for event in batch.events:
            encoder.encode(event)
        if not batch.events or batch.ended:
            return
        after = batch.events[-1].seq


def responses_sse(
    hub: Hub,
    stream_id: str,
    encoder: ResponseEncoder,
    *,
    starting_after: int,
    keepalive: float,
    send_timeout: float | None,
    on_end: Callable[[], None] | None = None,
) -> EventStreamResponse:
    """The stream's Responses events after ``starting_after``; ``on_end`` runs when the body
    ends, whether the stream did or its client went away."""

    async def body() -> AsyncGenerator[bytes, None]:
        try:
            async for objs in encoded(hub, stream_id, encoder, keepalive):
                if not objs:
                    yield sse.KEEPALIVE
                    continue
                chunk = b"".join(frame(o) for o in objs if o["sequence_number"] > starting_after)
                if chunk:
                    yield chunk
        except LogUnavailable:  # the body ends without a terminal event, as the client sees
            logger.error("response %s: the stream log is unreachable", stream_id)
        finally:
            if on_end is not None:
                on_end()

    return EventStreamResponse(
        body(),
        media_type=MEDIA_TYPES["sse"],
        headers=STREAM_HEADERS,
        send_timeout=send_timeout,
        on_drop=lambda: hub.metrics.dropped_readers.inc(),
    )
