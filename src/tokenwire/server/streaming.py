"""Writing a stream log to an HTTP response, as SSE or NDJSON.

One read of the log gives a batch; a batch is encoded into one body chunk, so a reader that fell
behind catches up in one write. While idle, SSE sends ``: keepalive`` comments (and NDJSON nothing
but the connection) so proxies and clients see the stream is alive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Literal

from starlette.requests import Request
from starlette.responses import StreamingResponse

from tokenwire.events import Event
from tokenwire.hub.hub import Hub
from tokenwire.wire import ndjson, sse

StreamFormat = Literal["sse", "ndjson"]
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/ndjson")

STREAM_HEADERS = {
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx: do not buffer this response
}


def negotiate(request: Request) -> StreamFormat:
    accept = request.headers.get("accept", "")
    return "ndjson" if any(t in accept for t in NDJSON_TYPES) else "sse"


async def read_stream(
    hub: Hub, stream_id: str, after: int, keepalive: float
) -> AsyncIterator[Sequence[Event]]:
    """Batches of events after ``after`` until the terminal one; an empty batch while idle."""
    while True:
        batch = await hub.read(stream_id, after, keepalive)
        if batch.events:
            after = batch.events[-1].seq
            yield batch.events
        elif not batch.ended:
            yield ()
        if batch.ended:
            return


def stream_response(
    hub: Hub,
    stream_id: str,
    after: int,
    fmt: StreamFormat,
    *,
    keepalive: float,
    retry_ms: int,
    headers: dict[str, str] | None = None,
    on_close: Callable[[bool], None] | None = None,
) -> StreamingResponse:
    """The response for one reader; ``on_close(ended)`` runs when it stops, ended or not."""

    async def body() -> AsyncIterator[bytes]:
        ended = False
        try:
            if fmt == "sse":
                yield sse.encode_retry(retry_ms)
            async for events in read_stream(hub, stream_id, after, keepalive):
                if events:
                    yield (sse.encode_events if fmt == "sse" else ndjson.encode_events)(events)
                elif fmt == "sse":
                    yield sse.KEEPALIVE
            ended = True
        finally:
            if on_close is not None:
                on_close(ended)

    media_type = "text/event-stream" if fmt == "sse" else "application/x-ndjson"
    return StreamingResponse(
        body(), media_type=media_type, headers={**STREAM_HEADERS, **(headers or {})}
    )
