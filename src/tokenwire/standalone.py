"""The protocol without the server: model output in, numbered events and encoded bytes out.

For apps that run their own model code in their own web framework (Flask, Django, a plain ASGI
app) and want to speak tokenwire's protocol to its clients without running the server. What the
model yields is read as ``tokenwire.providers.output`` says (text, or payloads); the stream starts
with ``start``, numbers every event, and ends with exactly one terminal event whatever happens: an
exception in the model code becomes an ``error`` event (the traceback goes to the log). Closing the
returned generator (a WSGI server does when the client leaves) closes the model's generator too.

No I/O and no storage here: resuming a dropped stream needs a stream log, which is what the
mountable app (``tokenwire.create_app``) adds. It is not a codec either (it runs the model's
iterator and numbers events), so it sits above ``wire/`` and ``providers/``, whose encoders and
``as_payload`` it uses. ``tokenwire.wire.stream`` re-exports it for compatibility.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Generator, Iterable

from tokenwire.events import Done, Error, Event, Payload, Start
from tokenwire.providers.base import ProviderError
from tokenwire.providers.output import as_payload
from tokenwire.wire import ndjson, sse
from tokenwire.wire.formats import HEADERS, MEDIA_TYPES, StreamFormat, negotiate

__all__ = [
    "HEADERS",
    "MEDIA_TYPES",
    "StreamFormat",
    "aencode_stream",
    "aprotocol_events",
    "encode_stream",
    "negotiate",
    "protocol_events",
]

# The logger it had as tokenwire.wire.stream, which docs/embedding.md names: kept, so that a host's
# logging configuration still catches a failing model's traceback.
logger = logging.getLogger("tokenwire.wire")


class _Numbering:
    def __init__(self, start: Start) -> None:
        self.seq = 0
        self.first = self.next(start)

    def next(self, payload: Payload) -> Event:
        self.seq += 1
        return Event.make(self.seq, payload)


def _start(stream_id: str | None, model: str, conversation_id: str, message_id: str) -> Start:
    return Start(stream_id or f"str_{uuid.uuid4().hex}", conversation_id, message_id, model)


def _failure(exc: Exception) -> Error:
    if isinstance(exc, ProviderError):
        return Error(exc.code, exc.message, exc.retryable)
    logger.error("the model failed mid-stream", exc_info=exc)
    return Error("model_error", f"the model failed ({type(exc).__name__})", retryable=False)


def protocol_events(
    items: Iterable[object],
    *,
    model: str = "",
    stream_id: str | None = None,
    conversation_id: str = "",
    message_id: str = "",
) -> Generator[Event, None, None]:
    """The events of one stream: ``start``, what ``items`` yields, one terminal event."""
    numbering = _Numbering(_start(stream_id, model, conversation_id, message_id))
    yield numbering.first
    final: Done | Error = Done("stop")
    source = iter(items)
    try:
        for item in source:
            payload = as_payload(item)
            if isinstance(payload, Done):
                final = payload
                break
            if payload is not None:
                yield numbering.next(payload)
    except Exception as exc:
        final = _failure(exc)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    yield numbering.next(final)


async def aprotocol_events(
    items: AsyncIterable[object],
    *,
    model: str = "",
    stream_id: str | None = None,
    conversation_id: str = "",
    message_id: str = "",
) -> AsyncGenerator[Event, None]:
    """``protocol_events`` for an async model."""
    numbering = _Numbering(_start(stream_id, model, conversation_id, message_id))
    yield numbering.first
    final: Done | Error = Done("stop")
    source = aiter(items)
    try:
        async for item in source:
            payload = as_payload(item)
            if isinstance(payload, Done):
                final = payload
                break
            if payload is not None:
                yield numbering.next(payload)
    except Exception as exc:
        final = _failure(exc)
    finally:
        close = getattr(source, "aclose", None)
        if close is not None:
            await close()
    yield numbering.next(final)


def encode_stream(
    items: Iterable[object],
    fmt: StreamFormat = "sse",
    *,
    model: str = "",
    stream_id: str | None = None,
    retry_ms: int | None = None,
) -> Generator[bytes, None, None]:
    """The body of a streamed response, one chunk per event: give it to a WSGI response."""
    if fmt == "sse" and retry_ms is not None:
        yield sse.encode_retry(retry_ms)
    encode = sse.encode_event if fmt == "sse" else ndjson.encode_event
    events = protocol_events(items, model=model, stream_id=stream_id)
    try:
        for event in events:
            yield encode(event)
    finally:
        events.close()


async def aencode_stream(
    items: AsyncIterable[object],
    fmt: StreamFormat = "sse",
    *,
    model: str = "",
    stream_id: str | None = None,
    retry_ms: int | None = None,
) -> AsyncGenerator[bytes, None]:
    """``encode_stream`` for an async model: give it to an ASGI streaming response."""
    if fmt == "sse" and retry_ms is not None:
        yield sse.encode_retry(retry_ms)
    encode = sse.encode_event if fmt == "sse" else ndjson.encode_event
    events = aprotocol_events(items, model=model, stream_id=stream_id)
    try:
        async for event in events:
            yield encode(event)
    finally:
        await events.aclose()
