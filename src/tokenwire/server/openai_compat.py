"""The OpenAI-compatible endpoint: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Stateless, as OpenAI's is: the caller sends the whole history and keeps it; nothing is stored.
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

from tokenwire.events import Answer, Done, Error
from tokenwire.hub.generation import StreamHandle
from tokenwire.hub.hub import Hub
from tokenwire.hub.log import LogUnavailable
from tokenwire.server.error_map import error_response
from tokenwire.server.errors import ApiError
from tokenwire.server.state import app_state, owner_of
from tokenwire.server.streaming import (
    EventStreamResponse,
    read_stream,
    wait_for_disconnect,
)
from tokenwire.server.validation import generation_params, read_json_object
from tokenwire.wire import openai as oa
from tokenwire.wire import sse
from tokenwire.wire.formats import HEADERS as STREAM_HEADERS
from tokenwire.wire.formats import MEDIA_TYPES

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
# Upstream failures as HTTP statuses for a non-streaming answer.
_TIMEOUT_CODES = frozenset(
    {"upstream_connect_timeout", "upstream_first_token_timeout", "upstream_idle_timeout"}
)

logger = logging.getLogger("tokenwire.server")


def _content(value: Any, index: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts; only text can reach a text model
        texts = [p.get("text") for p in value if isinstance(p, dict) and p.get("type") == "text"]
        if len(texts) == len(value) and all(isinstance(t, str) for t in texts):
            return "".join(texts)  # type: ignore[arg-type]
    raise ApiError(400, "invalid_request", f"`messages[{index}].content` must be text")


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise ApiError(400, "invalid_request", "`messages` must be a non-empty array")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or item.get("role") not in ROLES:
            raise ApiError(
                400, "invalid_request", f"`messages[{i}].role` must be one of {sorted(ROLES)}"
            )
        out.append({"role": item["role"], "content": _content(item.get("content", ""), i)})
    return out


async def chat_completions(request: Request) -> Response:
    state = app_state(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "invalid_request", "`model` is required")
    messages = _messages(body.get("messages"))
    limit = state.settings.max_context_chars
    if limit and sum(len(m["content"]) for m in messages) > limit:
        raise ApiError(400, "context_length_exceeded",
                       f"the messages are over {limit} characters in all")  # fmt: skip
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "invalid_request", "`stream` must be a boolean")
    raw_params: dict[str, Any] = {
        k: body[k] for k in ("temperature", "top_p", "seed", "stop") if k in body
    }
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        raw_params["max_tokens"] = max_tokens
    params = generation_params(raw_params, field="body")
    options = body.get("stream_options") or {}
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    handle = await state.hub.start_completion(
        owner=owner_of(request), model=model, messages=messages, params=params
    )
    completion_id = "chatcmpl-" + handle.stream_id.removeprefix("str_")
    if stream:
        return _streamed(request, state.hub, handle, completion_id, include_usage)
    return await _whole(request, state.hub, handle, completion_id)


def _streamed(
    request: Request, hub: Hub, handle: StreamHandle, completion_id: str, include_usage: bool
) -> EventStreamResponse:
    encoder = oa.ChunkEncoder(completion_id, handle.model, int(time.time()), include_usage)
    keepalive = app_state(request).settings.keepalive_seconds

    async def body() -> AsyncGenerator[bytes, None]:
        try:
            async for events in read_stream(hub, handle.stream_id, 0, keepalive):
                yield encoder.encode_events(events) if events else sse.KEEPALIVE
        except LogUnavailable:  # Redis is down: the body ends without [DONE], as the client sees
            logger.error("stream %s: the stream log is unreachable", handle.stream_id)
        finally:
            hub.stop_nowait(handle.stream_id)  # the one reader left: nobody will resume

    return EventStreamResponse(
        body(), media_type=MEDIA_TYPES["sse"], headers=STREAM_HEADERS,
        send_timeout=app_state(request).settings.send_timeout_seconds or None,
        on_drop=lambda: hub.metrics.dropped_readers.inc(),
    )  # fmt: skip


async def _whole(request: Request, hub: Hub, handle: StreamHandle, completion_id: str) -> Response:
    created = int(time.time())
    collect = asyncio.create_task(_collect(hub, handle.stream_id))
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
    answer = collect.result()
    final = answer.final
    if isinstance(final, Error):
        status = 504 if final.code in _TIMEOUT_CODES else 502
        return error_response(request.scope, ApiError(status, final.code, final.message))
    reason = final.finish_reason if isinstance(final, Done) else "stop"
    body = oa.completion(
        completion_id, handle.model, created, answer.text, answer.reasoning, reason,
        answer.usage_counts,
    )  # fmt: skip
    return JSONResponse(body)


async def _collect(hub: Hub, stream_id: str) -> Answer:
    answer = Answer()
    async for events in read_stream(hub, stream_id, 0, keepalive=60.0):
        for event in events:
            answer.add(event.payload)
    return answer


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
