"""One map from exceptions to API errors: the same status, code and message on ``/api``, on ``/v1``
(in OpenAI's shape) and in a WebSocket ``rejected`` frame, whichever route the exception leaves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets

from tests.support.servers import RunningServer, run_server
from tokenwire.errors import TokenwireError
from tokenwire.hub.hub import (
    ConversationBusy,
    ConversationNotFound,
    InvalidTools,
    MissingToolResults,
    ModelNotFound,
    NoPendingToolCalls,
    ShuttingDown,
    ToolsUnsupported,
    TooManyStreams,
    UnknownToolCall,
)
from tokenwire.hub.log import LogFull, LogUnavailable, StreamEnded, StreamExpired, StreamNotFound
from tokenwire.server.auth import ForbiddenOrigin, InvalidToken, MissingToken
from tokenwire.server.error_map import ERRORS, api_error
from tokenwire.server.rate_limits import RateLimited
from tokenwire.server.reader_counts import TooManyReaders
from tokenwire.store.database import Conflict, DatabaseUnavailable
from tokenwire.store.tokens import InvalidUser

# Every mapped exception, what it answers, and the headers that go with it.
CASES: list[tuple[TokenwireError, int, str, dict[str, str]]] = [
    (ModelNotFound("gpt-99"), 404, "model_not_found", {}),
    (ConversationNotFound("conv_nope"), 404, "conversation_not_found", {}),
    (StreamNotFound("str_nope"), 404, "stream_not_found", {}),
    (
        StreamExpired("str_old", "conv_x"),
        410,
        "stream_expired",
        {"X-Conversation-Id": "conv_x"},
    ),
    (ConversationBusy("conv_busy"), 409, "conversation_busy", {}),
    (StreamEnded("str_ended"), 409, "stream_ended", {}),
    (Conflict("unique"), 409, "conflict", {}),
    (InvalidUser("a user name is 1 to 64 letters"), 400, "invalid_user", {}),
    (TooManyStreams(per_user=True), 429, "too_many_streams", {"retry-after": "1"}),
    (TooManyStreams(per_user=False), 429, "too_many_streams", {"retry-after": "1"}),
    (RateLimited(per_user=False, retry_after=7), 429, "rate_limited", {"retry-after": "7"}),
    (TooManyReaders(per_user=True, limit=64), 429, "too_many_readers", {"retry-after": "5"}),
    (TooManyReaders(per_user=False, limit=256), 429, "too_many_readers", {"retry-after": "5"}),
    (LogFull("9 streams are live"), 503, "overloaded", {}),
    (ShuttingDown(), 503, "shutting_down", {"retry-after": "2"}),
    (LogUnavailable("redis is unreachable"), 503, "unavailable", {"retry-after": "2"}),
    (DatabaseUnavailable("postgresql: OperationalError"), 503, "unavailable", {"retry-after": "2"}),
    (MissingToken(), 401, "unauthorized", {"www-authenticate": 'Bearer realm="tokenwire"'}),
    (InvalidToken(), 401, "unauthorized", {"www-authenticate": 'Bearer realm="tokenwire"'}),
    (ForbiddenOrigin(), 403, "forbidden_origin", {}),
    (ToolsUnsupported("smollm2"), 400, "tools_unsupported", {}),
    (InvalidTools("`tool_choice` needs tools"), 400, "invalid_request", {}),
    (UnknownToolCall("`tool_results[0].tool_call_id`"), 400, "unknown_tool_call", {}),
    (MissingToolResults("`tool_results`: no result"), 400, "missing_tool_results", {}),
    (NoPendingToolCalls("`tool_results`: none waiting"), 409, "no_pending_tool_calls", {}),
]
IDS = [f"{type(exc).__name__}-{i}" for i, (exc, *_) in enumerate(CASES)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("error_map")) as running:
        yield running


def test_every_mapped_exception_is_checked_here() -> None:
    assert {type(exc) for exc, *_ in CASES} == set(ERRORS)


@pytest.mark.parametrize(("exc", "status", "code", "headers"), CASES, ids=IDS)
async def test_one_answer_on_api_v1_and_websocket(
    server: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
    exc: TokenwireError,
    status: int,
    code: str,
    headers: dict[str, str],
) -> None:
    async def fail(**_: Any) -> None:
        raise exc

    monkeypatch.setattr(server.hub, "start_chat", fail)
    monkeypatch.setattr(server.hub, "start_completion", fail)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        api = await http.post("/api/chat", json={"message": "hi"})
        v1 = await http.post(
            "/v1/chat/completions",
            json={"model": "replay", "messages": [{"role": "user", "content": "hi"}]},
        )
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(orjson.dumps({"type": "chat", "message": "hi", "ref": "r"}).decode())
        frame = orjson.loads(await ws.recv())

    message = api.json()["error"]["message"]
    assert isinstance(message, str) and message
    assert (api.status_code, api.json()) == (status, {"error": {"code": code, "message": message}})
    assert (v1.status_code, v1.json()) == (
        status,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        },
    )
    assert frame == {"type": "rejected", "ref": "r", "error": {"code": code, "message": message}}
    for response in (api, v1):
        assert response.headers["content-type"] == "application/json"
        assert {k: response.headers.get(k) for k in headers} == headers
        if "retry-after" not in headers:
            assert "retry-after" not in response.headers


def test_messages_name_what_was_not_found() -> None:
    for exc, name in (
        (ModelNotFound("gpt-99"), "'gpt-99'"),
        (ConversationNotFound("conv_nope"), "'conv_nope'"),
        (StreamNotFound("str_nope"), "'str_nope'"),
    ):
        error = api_error(exc)
        assert error is not None and name in error.message


def test_an_exception_not_in_the_map_is_not_answered_as_bad_input() -> None:
    assert api_error(TokenwireError("a bug of ours")) is None
    assert api_error(ValueError("not ours")) is None


async def test_the_guard_refuses_in_the_same_terms(tmp_path: Path) -> None:
    with run_server(tmp_path, auth_required=True) as running:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
            api = await http.get("/api/models")
            v1 = await http.get("/v1/models")
            wrong = await http.get("/api/models", headers={"Authorization": "Bearer tw_nope"})
            login = await http.post("/api/login", json={"token": "tw_nope"})
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(running.ws_url):
                pass
    missing, invalid = api_error(MissingToken()), api_error(InvalidToken())
    assert missing is not None and invalid is not None
    assert api.status_code == v1.status_code == refused.value.response.status_code == 401
    assert api.json() == {"error": {"code": "unauthorized", "message": missing.message}}
    assert v1.json()["error"] == {
        "message": missing.message,
        "type": "invalid_request_error",
        "param": None,
        "code": "unauthorized",
    }
    assert orjson.loads(refused.value.response.body) == api.json()
    for response in (wrong, login):  # the guard's refusal and the login route's are one
        assert response.status_code == 401
        assert response.json() == {"error": {"code": "unauthorized", "message": invalid.message}}
        assert response.headers["www-authenticate"] == 'Bearer realm="tokenwire"'


async def test_starlette_errors_take_the_shape_of_their_route(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        api = await http.get("/api/nothing")
        v1 = await http.get("/v1/nothing")
    assert api.status_code == v1.status_code == 404
    assert api.json() == {"error": {"code": "not_found", "message": "Not Found"}}
    assert v1.json() == {
        "error": {
            "message": "Not Found",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    }
