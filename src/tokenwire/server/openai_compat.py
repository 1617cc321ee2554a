"""The OpenAI-compatible endpoint: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Stateless, as OpenAI's is: the caller sends the whole history and keeps it; nothing is stored.
What a request may ask, and what a model can honour, is checked in
:mod:`tokenwire.server.openai_request`: a parameter that cannot be honoured is a 400, never
ignored. Tool calls stream as OpenAI streams them; the upstream is always asked for usage, and the
client gets it only when it asked (``stream_options.include_usage``).
The generation still runs through the hub, but it has exactly one reader, so when that reader goes
away (the connection closes) the generation and its upstream request are stopped. Errors take
OpenAI's shape here (:mod:`tokenwire.server.error_map` answers them, as for every route).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenwire.events import Answer, Done, Error, Logprobs
from tokenwire.hub.generation import StreamHandle
from tokenwire.hub.hub import Hub
from tokenwire.hub.log import LogUnavailable
from tokenwire.server.error_map import error_response
from tokenwire.server.errors import ApiError
from tokenwire.server.openai_request import completion_request
from tokenwire.server.state import app_state, owner_of
from tokenwire.server.streaming import (
    EventStreamResponse,
    read_stream,
    wait_for_disconnect,
)
from tokenwire.server.validation import read_json_object
from tokenwire.wire import openai as oa
from tokenwire.wire import sse
from tokenwire.wire.formats import HEADERS as STREAM_HEADERS
from tokenwire.wire.formats import MEDIA_TYPES

# Upstream failures as HTTP statuses for a non-streaming answer.
_TIMEOUT_CODES = frozenset(
    {"upstream_connect_timeout", "upstream_first_token_timeout", "upstream_idle_timeout"}
)

logger = logging.getLogger("tokenwire.server")


async def chat_completions(request: Request) -> Response:
    state = app_state(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    models = {m.id: m for m in state.settings.models}
    asked = completion_request(body, models, state.settings.max_context_chars)
    handle = await state.hub.start_completion(
        owner=owner_of(request), model=asked.model, messages=asked.messages, params=asked.params
    )
    completion_id = "chatcmpl-" + handle.stream_id.removeprefix("str_")
    if asked.stream:
        return _streamed(request, state.hub, handle, completion_id, asked.include_usage)
    return await _whole(request, state.hub, handle, completion_id, asked.logprobs)


def _streamed(
    request: Request, hub: Hub, handle: StreamHandle, completion_id: str, include_usage: bool
) -> EventStreamResponse:
    encoder = oa.ChunkEncoder(completion_id, handle.model, int(time.time()), include_usage)
    settings = app_state(request).settings
    keepalive = settings.keepalive_seconds

    async def body() -> AsyncGenerator[bytes, None]:
        try:
            async for events in read_stream(hub, handle.stream_id, 0, keepalive):
                yield encoder.encode_events(events) if events else sse.KEEPALIVE
        except LogUnavailable:  # Redis is down: the body ends without [DONE], as the client sees
            logger.error("stream %s: the stream log is unreachable", handle.stream_id)
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
    request: Request, hub: Hub, handle: StreamHandle, completion_id: str, logprobs: bool
) -> Response:
    created = int(time.time())
    collect = asyncio.create_task(_collect(hub, handle.stream_id, logprobs))
    gone = asyncio.create_task(wait_for_disconnect(request.receive))
    try:
        await asyncio.wait({collect, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not collect.done():
            collect.cancel()
            hub.stop_nowait(handle.stream_id)
    if not collect.done() or collect.cancelled():
        return Response(status_code=499)  # the client has gone; nobody reads this
    answer, entries = collect.result()
    final = answer.final
    if isinstance(final, Error):
        status = 504 if final.code in _TIMEOUT_CODES else 502
        return error_response(request.scope, ApiError(status, final.code, final.message))
    reason = final.finish_reason if isinstance(final, Done) else "stop"
    body = oa.completion(
        completion_id,
        handle.model,
        created,
        answer.text,
        answer.reasoning,
        reason,
        answer.usage_counts,
        tool_calls=answer.tool_calls,
        logprobs=entries,
    )
    return JSONResponse(body)


async def _collect(
    hub: Hub, stream_id: str, logprobs: bool
) -> tuple[Answer, list[dict[str, Any]] | None]:
    """The whole answer, and the log probabilities of its text when they were asked for."""
    answer = Answer()
    entries: list[dict[str, Any]] | None = [] if logprobs else None
    async for events in read_stream(hub, stream_id, 0, keepalive=60.0):
        for event in events:
            payload = event.payload
            if isinstance(payload, Logprobs):
                if entries is not None:
                    entries += payload.content
            else:
                answer.add(payload)
    return answer, entries


async def list_models(request: Request) -> Response:
    models = app_state(request).settings.models
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {"id": m.id, "object": "model", "created": 0, "owned_by": "tokenwire"}
                for m in models
            ],
        }
    )


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
]
