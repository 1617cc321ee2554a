"""The OpenAI Responses API: ``POST /v1/responses``, streamed or whole.

A response is a hub stream; its ``response.*`` events are the deterministic encoding of the
stream's protocol v1 events (:mod:`tokenwire.wire.responses`), written as SSE with ``event:``
lines and no ``[DONE]``. As on ``/v1/chat/completions`` the one reader is the request, so when
it goes away the generation and its upstream request stop. Background mode, retrieval, cancel,
delete and ``previous_response_id`` are refused with a 400 until the response records are stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenwire.hub.generation import StreamHandle
from tokenwire.hub.hub import Hub
from tokenwire.hub.log import LogUnavailable
from tokenwire.server.responses_request import responses_request
from tokenwire.server.state import app_state, owner_of
from tokenwire.server.streaming import EventStreamResponse, read_stream, wait_for_disconnect
from tokenwire.server.validation import read_json_object
from tokenwire.wire import sse
from tokenwire.wire.formats import HEADERS as STREAM_HEADERS
from tokenwire.wire.formats import MEDIA_TYPES
from tokenwire.wire.responses import ResponseEncoder

logger = logging.getLogger("tokenwire.server")


def response_id(stream_id: str) -> str:
    return "resp_" + stream_id.removeprefix("str_")


def frame(obj: dict[str, Any]) -> bytes:
    """One Responses event as SSE: ``event:`` names its type, as OpenAI sends it."""
    kind: str = obj["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


async def create_response(request: Request) -> Response:
    state = app_state(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    models = {m.id: m for m in state.settings.models}
    asked = responses_request(body, models, state.settings.max_context_chars)
    chat = asked.completion
    handle = await state.hub.start_completion(
        owner=owner_of(request), model=chat.model, messages=chat.messages, params=chat.params
    )
    encoder = ResponseEncoder(
        asked.spec(response_id(handle.stream_id), handle.model, int(time.time()))
    )
    if asked.stream:
        return _streamed(request, state.hub, handle, encoder)
    return await _whole(request, state.hub, handle, encoder)


def _streamed(
    request: Request, hub: Hub, handle: StreamHandle, encoder: ResponseEncoder
) -> EventStreamResponse:
    settings = app_state(request).settings

    async def body() -> AsyncGenerator[bytes, None]:
        try:
            async for events in read_stream(hub, handle.stream_id, 0, settings.keepalive_seconds):
                if not events:
                    yield sse.KEEPALIVE
                    continue
                yield b"".join(frame(obj) for event in events for obj in encoder.encode(event))
        except LogUnavailable:
            logger.error("response %s: the stream log is unreachable", handle.stream_id)
        finally:
            hub.stop_nowait(handle.stream_id)  # the one reader left: nobody will resume

    return EventStreamResponse(
        body(),
        media_type=MEDIA_TYPES["sse"],
        headers=STREAM_HEADERS,
        send_timeout=settings.send_timeout_seconds or None,
        on_drop=lambda: hub.metrics.dropped_readers.inc(),
    )


async def _whole(
    request: Request, hub: Hub, handle: StreamHandle, encoder: ResponseEncoder
) -> Response:
    async def collect() -> None:
        async for events in read_stream(hub, handle.stream_id, 0, keepalive=60.0):
            for event in events:
                encoder.encode(event)

    reading = asyncio.create_task(collect())
    gone = asyncio.create_task(wait_for_disconnect(request.receive))
    try:
        await asyncio.wait({reading, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not reading.done():
            reading.cancel()
            hub.stop_nowait(handle.stream_id)
    if not reading.done() or reading.cancelled():
        return Response(status_code=499)  # the client has gone; nobody reads this
    reading.result()
    return JSONResponse(encoder.snapshot())


routes = [Route("/v1/responses", create_response, methods=["POST"])]
