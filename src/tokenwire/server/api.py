"""The chat API under ``/api``: start, read, resume and cancel streams; stored conversations.

What the hub or the store raises (no such model, a busy conversation, too many streams...) is
answered by :mod:`tokenwire.server.error_map`; the routes here only check the request itself.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenwire.hub.hub import ConversationNotFound
from tokenwire.server.compression import wants_gzip
from tokenwire.server.errors import ApiError
from tokenwire.server.state import app_state, owner_of
from tokenwire.server.streaming import negotiate, stream_response
from tokenwire.server.validation import chat_request, read_json_object, resume_point
from tokenwire.wire.formats import HEADERS as STREAM_HEADERS

MAX_PAGE = 200


def root_path(request: Request) -> str:
    """Where tokenwire is mounted inside another app; "" when it runs on its own."""
    return str(request.scope.get("root_path", ""))


async def chat(request: Request) -> Response:
    state = app_state(request)
    body = await read_json_object(request, state.settings.max_body_bytes)
    turn = chat_request(body, max_chars=state.settings.max_message_chars)
    handle = await turn.start(state.hub, owner_of(request))
    return stream_response(
        state.hub,
        handle.stream_id,
        0,
        negotiate(request),
        keepalive=state.settings.keepalive_seconds,
        retry_ms=state.settings.retry_ms,
        send_timeout=state.settings.send_timeout_seconds or None,
        gzip=wants_gzip(request, state.settings.stream_gzip),
        headers={
            "X-Stream-Id": handle.stream_id,
            "X-Conversation-Id": handle.conversation_id,
            "Content-Location": f"{root_path(request)}/api/streams/{handle.stream_id}",
        },
    )


async def read_stream(request: Request) -> Response:
    state = app_state(request)
    stream_id = request.path_params["stream_id"]
    after = resume_point(request.headers.get("last-event-id"), request.query_params.get("after"))
    await state.hub.meta(stream_id, owner_of(request))
    if (await state.hub.read(stream_id, after, timeout=0)).ended_without_events:
        # Nothing can follow: 204 is what tells an EventSource to stop reconnecting.
        return Response(status_code=204, headers=STREAM_HEADERS)
    if not await state.hub.resume_point_known(stream_id, after):
        raise ApiError(
            400, "invalid_last_event_id", f"event {after} of this stream has not been written yet"
        )
    return stream_response(
        state.hub,
        stream_id,
        after,
        negotiate(request),
        keepalive=state.settings.keepalive_seconds,
        retry_ms=state.settings.retry_ms,
        send_timeout=state.settings.send_timeout_seconds or None,
        gzip=wants_gzip(request, state.settings.stream_gzip),
    )


async def cancel_stream(request: Request) -> Response:
    state = app_state(request)
    stream_id = request.path_params["stream_id"]
    outcome = await state.hub.cancel(stream_id, owner_of(request))
    return JSONResponse({"stream_id": stream_id, "status": outcome})


def _page_arg(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > high:
        raise ApiError(400, "invalid_request", f"`{name}` must be an integer from 0 to {high}")
    return int(raw)


async def list_conversations(request: Request) -> Response:
    state = app_state(request)
    limit = _page_arg(request, "limit", 50, MAX_PAGE)
    offset = _page_arg(request, "offset", 0, 10**9)
    conversations = await state.hub.store.list(owner_of(request), limit=limit, offset=offset)
    return JSONResponse({"data": [c.to_json(with_messages=False) for c in conversations]})


async def get_conversation(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    found = await app_state(request).hub.store.get(owner_of(request), conversation_id)
    if found is None:
        raise ConversationNotFound(conversation_id)
    return JSONResponse(found.to_json())


async def delete_conversation(request: Request) -> Response:
    state = app_state(request)
    conversation_id = request.path_params["conversation_id"]
    owner = owner_of(request)
    if await state.hub.store.get(owner, conversation_id) is None:
        raise ConversationNotFound(conversation_id)
    await state.hub.cancel_conversation(conversation_id)
    await state.hub.store.delete(owner, conversation_id)
    return Response(status_code=204)


async def list_models(request: Request) -> Response:
    """The models, and what each can do with tools: take the caller's (``client_tools``), and
    run the server's own (``server_tools``, their names)."""
    state = app_state(request)
    default = state.hub.default_model
    data = []
    for m in state.settings.models:
        client_tools, server_tools = await state.hub.tool_capabilities(m.id)
        data.append(
            {
                "id": m.id,
                "provider": m.provider,
                "default": m.id == default,
                "client_tools": client_tools,
                "server_tools": server_tools,
            }
        )
    return JSONResponse({"data": data})


routes = [
    Route("/api/chat", chat, methods=["POST"]),
    Route("/api/streams/{stream_id}", read_stream, methods=["GET"]),
    Route("/api/streams/{stream_id}/cancel", cancel_stream, methods=["POST"]),
    Route("/api/conversations", list_conversations, methods=["GET"]),
    Route("/api/conversations/{conversation_id}", get_conversation, methods=["GET"]),
    Route("/api/conversations/{conversation_id}", delete_conversation, methods=["DELETE"]),
    Route("/api/models", list_models, methods=["GET"]),
]
