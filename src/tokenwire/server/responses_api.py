"""The OpenAI Responses API on the stream log: create, retrieve (and resume), cancel, delete, and
a response's input items.

A response is a hub stream; its ``response.*`` events are the deterministic encoding of the
stream's protocol v1 events (:mod:`tokenwire.wire.responses`), so any process that reads the log
can serve a resume. A stored response (``store``, the default) has a record
(:mod:`tokenwire.store.responses`) whose final ``Response`` a task here writes when the stream
ends. A background response runs to its end whoever reads it; any other has one reader, its
request, and stops (its upstream request too) when that reader goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenwire.hub.hub import Hub
from tokenwire.hub.log import StreamNotFound
from tokenwire.server.errors import ApiError
from tokenwire.server.responses_request import previous_response_id, responses_request
from tokenwire.server.responses_stream import encode_so_far, responses_sse
from tokenwire.server.state import AppState, app_state, owner_of
from tokenwire.server.streaming import read_stream, wait_for_disconnect
from tokenwire.server.validation import read_json_object
from tokenwire.store.responses import ResponseRecord, ResponseStore
from tokenwire.wire.responses import ResponseEncoder, ResponseSpec

logger = logging.getLogger("tokenwire.server")

# The tasks that store each response's final Response, held so that they are not collected.
_finishers: set[asyncio.Task[None]] = set()


def response_id(stream_id: str) -> str:
    return "resp_" + stream_id.removeprefix("str_")


def _store(state: AppState) -> ResponseStore:
    return ResponseStore(state.hub.store.db)


def _not_found(rid: str) -> ApiError:
    return ApiError(
        404, "response_not_found", f"no response {rid!r}: it never existed or was deleted"
    )


async def _record(request: Request) -> ResponseRecord:
    state = app_state(request)
    rid = request.path_params["response_id"]
    record = await _store(state).get(owner_of(request), rid)
    if record is None:
        raise _not_found(rid)
    return record


def _encoder(record: ResponseRecord) -> ResponseEncoder:
    return ResponseEncoder(ResponseSpec(**record.spec))


async def _prior(request: Request, body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The input and output items of the ``previous_response_id`` chain, oldest first."""
    previous = previous_response_id(body)
    if previous is None:
        return None
    record = await _store(app_state(request)).get(owner_of(request), previous)
    if record is None:
        raise ApiError(
            404,
            "previous_response_not_found",
            f"Previous response with id {previous!r} not found.",
            param="previous_response_id",
        )
    if record.response is None:
        raise ApiError(
            400,
            "previous_response_in_progress",
            f"Previous response {previous!r} has not ended yet",
            param="previous_response_id",
        )
    return [*record.context, *record.response["output"]]


async def create_response(request: Request) -> Response:
    state = app_state(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    models = {m.id: m for m in state.settings.models}
    prior = await _prior(request, body)
    asked = responses_request(body, models, state.settings.max_context_chars, prior)
    chat = asked.completion
    hub = state.hub
    handle = await hub.start_completion(
        owner=owner_of(request), model=chat.model, messages=chat.messages, params=chat.params
    )
    rid = response_id(handle.stream_id)
    spec = asked.spec(rid, handle.model, int(time.time()))
    if asked.store:
        store = _store(state)
        await store.create(
            rid, owner_of(request), handle.stream_id, dataclasses.asdict(spec), asked.input_items
        )
        task = asyncio.create_task(_finish(hub, store, handle.stream_id, spec))
        _finishers.add(task)
        task.add_done_callback(_finishers.discard)
    encoder = ResponseEncoder(spec)
    if asked.stream:
        return responses_sse(
            hub,
            handle.stream_id,
            encoder,
            starting_after=-1,
            keepalive=state.settings.keepalive_seconds,
            send_timeout=state.settings.send_timeout_seconds or None,
            # A background response runs on; any other has no reader left to resume it.
            on_end=None if asked.background else lambda: hub.stop_nowait(handle.stream_id),
        )
    if asked.background:
        return JSONResponse(encoder.snapshot())  # in progress; retrieve it later
    return await _whole(request, hub, handle.stream_id, encoder)


async def _finish(hub: Hub, store: ResponseStore, stream_id: str, spec: ResponseSpec) -> None:
    """Store the final Response once the stream has ended."""
    encoder = ResponseEncoder(spec)
    try:
        async for events in read_stream(hub, stream_id, 0, keepalive=60.0):
            for event in events:
                encoder.encode(event)
        await store.finish(spec.id, encoder.snapshot())
    except Exception:  # a task nobody awaits: what failed is logged
        logger.exception("response %s: its final Response could not be stored", spec.id)


async def _whole(request: Request, hub: Hub, stream_id: str, encoder: ResponseEncoder) -> Response:
    async def collect() -> None:
        async for events in read_stream(hub, stream_id, 0, keepalive=60.0):
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
            hub.stop_nowait(stream_id)
    if not reading.done() or reading.cancelled():
        return Response(status_code=499)  # the client has gone; nobody reads this
    reading.result()
    return JSONResponse(encoder.snapshot())


def _starting_after(request: Request) -> int:
    raw = request.query_params.get("starting_after")
    if raw is None:
        return -1
    if not raw.isdigit():
        raise ApiError(
            400,
            "invalid_request",
            "`starting_after` must be a non-negative integer",
            param="starting_after",
        )
    return int(raw)


async def retrieve_response(request: Request) -> Response:
    state = app_state(request)
    record = await _record(request)
    stream = request.query_params.get("stream", "false").lower()
    if stream not in ("true", "false"):
        raise ApiError(400, "invalid_request", "`stream` must be true or false", param="stream")
    if stream == "false":
        if record.response is not None:
            return JSONResponse(record.response)
        encoder = _encoder(record)
        await encode_so_far(state.hub, record.stream_id, encoder)
        return JSONResponse(encoder.snapshot())
    starting_after = _starting_after(request)
    try:
        await state.hub.meta(record.stream_id, owner_of(request))
    except StreamNotFound:
        raise ApiError(
            410,
            "response_stream_expired",
            f"the events of response {record.id!r} have expired; retrieve it without "
            "`stream` for the stored response",
        ) from None
    return responses_sse(
        state.hub,
        record.stream_id,
        _encoder(record),
        starting_after=starting_after,
        keepalive=state.settings.keepalive_seconds,
        send_timeout=state.settings.send_timeout_seconds or None,
    )


async def cancel_response(request: Request) -> Response:
    state = app_state(request)
    record = await _record(request)
    if not record.spec.get("background"):
        raise ApiError(
            400,
            "invalid_request",
            "Only responses created with background=true can be cancelled",
        )
    if record.response is None:
        # Ended and expired meanwhile: its final Response is stored, or about to be.
        with contextlib.suppress(StreamNotFound):
            await state.hub.cancel(record.stream_id, owner_of(request))
    encoder = _encoder(record)
    await encode_so_far(state.hub, record.stream_id, encoder)
    if not encoder.finished:
        refreshed = await _store(state).get(owner_of(request), record.id)
        if refreshed is not None and refreshed.response is not None:
            return JSONResponse(refreshed.response)
    return JSONResponse(encoder.snapshot())


async def delete_response(request: Request) -> Response:
    state = app_state(request)
    record = await _record(request)
    if record.response is None:
        with contextlib.suppress(StreamNotFound):
            await state.hub.cancel(record.stream_id, owner_of(request))
    await _store(state).delete(owner_of(request), record.id)
    return JSONResponse({"id": record.id, "object": "response.deleted", "deleted": True})


def _as_item(item: dict[str, Any], rid: str, index: int) -> dict[str, Any]:
    """An input item as the API lists it: with an id, and a message's content as parts."""
    out = {"id": item.get("id") or f"item_{rid.removeprefix('resp_')}_{index}", **item}
    out.setdefault("type", "message")
    if out["type"] == "message":
        content = out.get("content")
        if isinstance(content, str):
            kind = "output_text" if out.get("role") == "assistant" else "input_text"
            out["content"] = [{"type": kind, "text": content}]
        out.setdefault("status", "completed")
    return out


async def list_input_items(request: Request) -> Response:
    record = await _record(request)
    order = request.query_params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(400, "invalid_request", "`order` must be asc or desc", param="order")
    raw_limit = request.query_params.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise ApiError(
            400, "invalid_request", "`limit` must be an integer from 1 to 100", param="limit"
        )
    items = [_as_item(item, record.id, i) for i, item in enumerate(record.context)]
    if order == "desc":
        items.reverse()
    after = request.query_params.get("after")
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[: int(raw_limit)]
    return JSONResponse(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > len(page),
        }
    )


routes = [
    Route("/v1/responses", create_response, methods=["POST"]),
    Route("/v1/responses/{response_id}", retrieve_response, methods=["GET"]),
    Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
    Route("/v1/responses/{response_id}/cancel", cancel_response, methods=["POST"]),
    Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
]
