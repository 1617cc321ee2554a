"""Writing a stream log to an HTTP response, as SSE or NDJSON.

One read of the log gives a batch; a batch is encoded into one body chunk, so a reader that fell
behind catches up in one write. While idle, SSE sends ``: keepalive`` comments (and NDJSON nothing
but the connection) so proxies and clients see the stream is alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tokenwire.events import Event
from tokenwire.hub.follow import Follower
from tokenwire.hub.hub import Hub
from tokenwire.hub.log import LogUnavailable, StreamNotFound
from tokenwire.server.compression import GZIP_HEADERS, gzip_stream
from tokenwire.wire import formats, ndjson, sse
from tokenwire.wire.formats import HEADERS as STREAM_HEADERS
from tokenwire.wire.formats import MEDIA_TYPES, StreamFormat

logger = logging.getLogger("tokenwire.server")

MAX_WRITE_EVENTS = 256


def negotiate(request: Request) -> StreamFormat:
    return formats.negotiate(request.headers.get("accept"))


async def read_stream(
    hub: Hub, stream_id: str, after: int, keepalive: float
) -> AsyncIterator[Sequence[Event]]:
    """Batches of events after ``after`` until the terminal one; an empty batch while idle."""
    metrics = hub.metrics
    metrics.open_readers += 1
    follower = Follower(hub.read, stream_id, hub.log_outage_seconds)  # rides out Redis restarts
    try:
        while True:
            try:
                batch = await follower.read(after, keepalive)
            except StreamNotFound:  # expired or evicted meanwhile; a resume will get the 404
                return
            if batch.events:
                after = batch.events[-1].seq
                metrics.events_relayed.inc(len(batch.events))
                # A reader far behind gets its backlog in slices, each one write: the transport's
                # flow control then applies between them, so a reader that stops reading holds
                # at most one slice in memory.
                events = batch.events
                if len(events) <= MAX_WRITE_EVENTS:  # the usual case: no copy
                    yield events
                else:
                    for start in range(0, len(events), MAX_WRITE_EVENTS):
                        yield events[start : start + MAX_WRITE_EVENTS]
            elif not batch.ended:
                yield ()
            if batch.ended:
                return
    finally:
        metrics.open_readers -= 1


async def wait_for_disconnect(receive: Receive) -> None:
    """Return when the client has gone (the request body, if any, already read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class EventStreamResponse(Response):
    """A streamed body as plain ASGI messages, with a disconnect listener racing the sender.

    Starlette's ``StreamingResponse`` on ASGI 2.4 servers learns of a gone client only when a write
    fails, and closes the body generator whenever it is collected; a stream idle between events
    would not notice at all. Here the ``http.disconnect`` message stops the sender at once, and the
    body generator is always closed before ``__call__`` returns, so ``finally`` blocks run in time.

    A client that stops reading fills the socket buffers until a send waits; past ``send_timeout``
    the connection is dropped. The stream and its generation go on for everyone else, and memory
    stays bounded by the transport's buffer, whatever the reader does.
    """

    def __init__(
        self,
        body: AsyncGenerator[bytes, None],
        *,
        media_type: str,
        headers: Mapping[str, str] | None = None,
        send_timeout: float | None = None,
        on_drop: Callable[[], None] = lambda: None,
    ) -> None:
        self.body_iterator = body
        self.send_timeout = send_timeout
        self.on_drop = on_drop
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def pump() -> None:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async with contextlib.aclosing(self.body_iterator) as body:
                async for chunk in body:
                    message = {"type": "http.response.body", "body": chunk, "more_body": True}
                    if self.send_timeout is None:
                        await send(message)
                        continue
                    try:
                        async with asyncio.timeout(self.send_timeout):
                            await send(message)
                    except TimeoutError:
                        logger.info(
                            "dropped a reader that stopped reading (%s)", scope.get("client")
                        )
                        self.on_drop()
                        return
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        sender = asyncio.create_task(pump())
        listener = asyncio.create_task(wait_for_disconnect(receive))
        try:
            await asyncio.wait((sender, listener), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, listener):
                task.cancel()
            results = await asyncio.gather(sender, listener, return_exceptions=True)
        if isinstance(results[0], Exception) and not isinstance(results[0], OSError):
            raise results[0]  # a bug of ours, not a client that left


def stream_response(
    hub: Hub,
    stream_id: str,
    after: int,
    fmt: StreamFormat,
    *,
    keepalive: float,
    retry_ms: int,
    headers: dict[str, str] | None = None,
    send_timeout: float | None = None,
    gzip: bool = False,
) -> EventStreamResponse:
    """The response for one reader of a stream, as SSE or NDJSON; gzipped when ``gzip``."""

    encode = sse.encode_events if fmt == "sse" else ndjson.encode_events

    async def body() -> AsyncGenerator[bytes, None]:
        if fmt == "sse":
            yield sse.encode_retry(retry_ms)
        try:
            async for events in read_stream(hub, stream_id, after, keepalive):
                if events:
                    yield encode(events)
                elif fmt == "sse":
                    yield sse.KEEPALIVE
        except LogUnavailable:  # Redis is down: end here; a resume gets a 503 until it is back
            logger.error("stream %s: the stream log is unreachable; reader dropped", stream_id)

    media_type = MEDIA_TYPES[fmt]
    all_headers = {**STREAM_HEADERS, **(headers or {})}
    chunks = body()
    if gzip:
        chunks, all_headers = gzip_stream(chunks), {**all_headers, **GZIP_HEADERS}
    return EventStreamResponse(
        chunks,
        media_type=media_type,
        headers=all_headers,
        send_timeout=send_timeout,
        on_drop=lambda: hub.metrics.dropped_readers.inc(),
    )
