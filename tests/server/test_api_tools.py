"""Tools on the chat API: offered with a message, called in the stream, stored, continued with
the caller's results (HTTP and WebSocket), and every request that cannot be honoured a 4xx that
names the field."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets

import tokenwire
from tests.server.test_websocket import by_stream, frames_until
from tests.support import tool_functions as tf
from tests.support.helpers import assert_complete_stream, post_chat, text_of
from tests.support.servers import RunningServer, replay, run_server
from tokenwire.config import ModelConfig, ToolConfig
from tokenwire.events import Event
from tokenwire.wire.sse import SSEDecoder

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up.",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
        },
    },
}
PICK = {"type": "function", "function": {"name": "pick_color"}}


@pytest.fixture
def recorder() -> tf.ModelProbe:
    return tf.ModelProbe()


@pytest.fixture
def server(tmp_path: Path, recorder: tf.ModelProbe) -> Iterator[RunningServer]:
    models = (
        ModelConfig(
            id="recorder",
            provider="python",
            entry=tf.calling([("lookup", '{"q": "tokenwire"}')], recorder),
        ),
        ModelConfig(
            id="two-calls",
            provider="replay",
            turns=(
                {"tool_calls": [{"name": "a"}, {"name": "b", "arguments": {"x": 1}}]},
                {"text": "Both done."},
            ),
        ),
        ModelConfig(
            id="mixed",
            provider="replay",
            tools=("get_weather",),
            turns=(
                {
                    "text": "Checking.",
                    "tool_calls": [
                        {"name": "get_weather", "arguments": {"city": "Lima"}},
                        {"name": "pick_color", "arguments": {"shade": "warm"}},
                    ],
                },
                {"text": "Warm it is."},
            ),
        ),
        replay("plain", "Just text."),
    )
    tools = (ToolConfig(name="get_weather", function=tf.get_weather),)
    with run_server(tmp_path, models, tools=tools) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=tf.WAIT) as http:
        yield http


def firsts(events: list[Event]) -> list[dict[str, Any]]:
    """The first piece of each call: the one with its id and name."""
    return [e.to_dict() for e in events if e.type == "tool_call" and "id" in e.to_dict()]


def conversation_of(events: list[Event]) -> str:
    return str(events[0].to_dict()["conversation_id"])


async def stored(client: httpx.AsyncClient, conversation_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/conversations/{conversation_id}")
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


async def test_a_turn_offering_tools_ends_with_the_models_calls(
    client: httpx.AsyncClient, recorder: tf.ModelProbe
) -> None:
    body = {"message": "look it up", "model": "recorder", "tools": [LOOKUP], "tool_choice": "auto"}
    _, events = await post_chat(client, body)
    assert_complete_stream(events)
    assert events[-1].to_dict()["finish_reason"] == "tool_calls"
    (call,) = firsts(events)
    assert call["name"] == "lookup" and call["id"].startswith("call_")
    (seen,) = recorder.seen
    assert seen[1].tools == (LOOKUP,) and seen[1].tool_choice == "auto"
    messages = await stored(client, conversation_of(events))
    assert [(m["role"], m["status"], m["finish_reason"]) for m in messages] == [
        ("user", "complete", None),
        ("assistant", "complete", "tool_calls"),
    ]
    assert messages[1]["tool_calls"] == [
        {"id": call["id"], "name": "lookup", "arguments": '{"q": "tokenwire"}'}
    ]


async def test_the_continuation_streams_the_next_answer_with_the_same_tools(
    client: httpx.AsyncClient, recorder: tf.ModelProbe
) -> None:
    body = {"message": "look", "model": "recorder", "tools": [LOOKUP], "tool_choice": "required"}
    _, first = await post_chat(client, body)
    (call,) = firsts(first)
    conversation_id = conversation_of(first)
    response, events = await post_chat(
        client,
        {
            "conversation_id": conversation_id,
            "tool_results": [{"tool_call_id": call["id"], "content": '{"answer": 42}'}],
        },
    )
    assert response.headers["x-conversation-id"] == conversation_id
    assert_complete_stream(events)
    assert text_of(events) == 'saw: {"answer": 42}'
    assert events[-1].to_dict()["finish_reason"] == "stop"
    # The model got the history in OpenAI's shape, and the tools the turn offered.
    messages, params = recorder.seen[1]
    assert messages == [
        {"role": "user", "content": "look"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "tokenwire"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": '{"answer": 42}'},
    ]
    assert params.tools == (LOOKUP,)
    assert params.tool_choice == "auto"  # "required" forced the first call only
    stored_messages = await stored(client, conversation_id)
    assert [(m["role"], m["content"]) for m in stored_messages] == [
        ("user", "look"),
        ("assistant", ""),
        ("tool", '{"answer": 42}'),
        ("assistant", 'saw: {"answer": 42}'),
    ]
    tool, answer = stored_messages[2:]
    assert (tool["tool_call_id"], tool["is_error"]) == (call["id"], False)
    stream_id = events[0].to_dict()["stream_id"]
    assert tool["stream_id"] == answer["stream_id"] == stream_id
    assert answer["id"] == events[0].to_dict()["message_id"]


async def test_a_tool_result_may_say_the_tool_failed(client: httpx.AsyncClient) -> None:
    _, first = await post_chat(client, {"message": "go", "model": "recorder", "tools": [LOOKUP]})
    (call,) = firsts(first)
    result = {"tool_call_id": call["id"], "content": "no network", "is_error": True}
    _, events = await post_chat(
        client, {"conversation_id": conversation_of(first), "tool_results": [result]}
    )
    assert text_of(events) == "saw: no network"
    tool = (await stored(client, conversation_of(first)))[2]
    assert (tool["role"], tool["is_error"]) == ("tool", True)


async def test_server_calls_run_and_client_calls_wait_in_the_same_turn(
    client: httpx.AsyncClient,
) -> None:
    _, events = await post_chat(client, {"message": "weather?", "model": "mixed"})
    assert_complete_stream(events)
    weather, pick = firsts(events)
    results = [e.to_dict() for e in events if e.type == "tool_result"]
    assert [r["tool_call_id"] for r in results] == [weather["id"]]  # the server's own only
    assert events[-1].to_dict()["finish_reason"] == "tool_calls"
    conversation_id = conversation_of(events)
    # The server's call has its result: answering it again is refused; the caller's is waiting.
    again = await client.post(
        "/api/chat",
        json={
            "conversation_id": conversation_id,
            "tool_results": [{"tool_call_id": weather["id"], "content": "x"}],
        },
    )
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "unknown_tool_call"
    _, rest = await post_chat(
        client,
        {
            "conversation_id": conversation_id,
            "tool_results": [{"tool_call_id": pick["id"], "content": "red"}],
        },
    )
    assert text_of(rest) == "Warm it is."
    messages = await stored(client, conversation_id)
    assert [(m["role"], m.get("tool_call_id")) for m in messages] == [
        ("user", None),
        ("assistant", None),
        ("tool", weather["id"]),
        ("tool", pick["id"]),
        ("assistant", None),
    ]
    assert messages[2]["stream_id"] == events[0].to_dict()["stream_id"]
    assert messages[3]["stream_id"] == rest[0].to_dict()["stream_id"]


async def test_a_new_message_leaves_unanswered_calls_out_of_the_history(
    client: httpx.AsyncClient, recorder: tf.ModelProbe
) -> None:
    _, first = await post_chat(client, {"message": "look", "model": "recorder", "tools": [LOOKUP]})
    assert first[-1].to_dict()["finish_reason"] == "tool_calls"
    await post_chat(
        client,
        {"message": "never mind", "model": "recorder", "conversation_id": conversation_of(first)},
    )
    messages, params = recorder.seen[-1]
    assert messages == [
        {"role": "user", "content": "look"},
        {"role": "user", "content": "never mind"},
    ]
    assert params.tools == ()  # the new turn offered none


# --- what is refused, and how ---------------------------------------------------------------


def with_tools(*tools: object, **more: object) -> dict[str, object]:
    return {"message": "hi", "model": "recorder", "tools": list(tools), **more}


def renamed(**function: object) -> dict[str, object]:
    return {"type": "function", "function": {**LOOKUP["function"], **function}}


BAD_BODIES = [
    ({"message": "hi", "tools": {"lookup": {}}}, "`tools` must be a list"),
    (with_tools({"type": "function", "function": {}}), "`tools[0].function.name`"),
    (with_tools({"type": "retrieval"}), '`tools[0].type` must be "function"'),
    (with_tools(renamed(name="has space")), "`tools[0].function.name`"),
    (with_tools(LOOKUP, LOOKUP), "`tools[1].function.name`: 'lookup' is offered twice"),
    (with_tools(renamed(strange=1)), "`tools[0].function.strange` is not a known field"),
    (
        with_tools(renamed(parameters={"type": "array"})),
        '`tools[0].function.parameters.type` must be "object"',
    ),
    (
        with_tools(renamed(parameters={"type": "object", "properties": {"q": {"type": "text"}}})),
        "`tools[0].function.parameters.properties.q.type` must be one or a list of",
    ),
    (with_tools(LOOKUP, tool_choice="always"), "`tool_choice` must be"),
    (
        with_tools(LOOKUP, tool_choice={"type": "function", "function": {"name": "other"}}),
        "`tool_choice.function.name`: no tool 'other' is offered",
    ),
    ({"message": "hi", "model": "plain", "tool_choice": "required"}, "`tool_choice` needs tools"),
    (
        {"message": "hi", "model": "mixed", "tools": [renamed(name="get_weather")]},
        "`tools[0].function.name`: 'get_weather' is a tool the server runs",
    ),
    (
        {"message": "hi", "conversation_id": "c", "tool_results": [{}]},
        "`message` and `tool_results` cannot come together",
    ),
    ({"tool_results": [{"tool_call_id": "x", "content": ""}]}, "`conversation_id` is required"),
    ({"conversation_id": "c", "tool_results": []}, "`tool_results` must be a non-empty list"),
    (
        {"conversation_id": "c", "tool_results": [{"content": "x"}]},
        "`tool_results[0].tool_call_id` must be a non-empty string",
    ),
    (
        {"conversation_id": "c", "tool_results": [{"tool_call_id": "x", "content": {"a": 1}}]},
        "`tool_results[0].content` must be a string",
    ),
    (
        {
            "conversation_id": "c",
            "tool_results": [{"tool_call_id": "x", "content": "", "is_error": 1}],
        },
        "`tool_results[0].is_error` must be a boolean",
    ),
    (
        {
            "conversation_id": "c",
            "tool_results": [
                {"tool_call_id": "x", "content": ""},
                {"tool_call_id": "x", "content": ""},
            ],
        },
        "`tool_results[1].tool_call_id`: 'x' is answered twice",
    ),
    (
        {
            "conversation_id": "c",
            "tools": [LOOKUP],
            "tool_results": [{"tool_call_id": "x", "content": ""}],
        },
        "`tools` cannot come with `tool_results`",
    ),
]


@pytest.mark.parametrize(("body", "names"), BAD_BODIES)
async def test_bad_tool_input_is_a_400_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], names: str
) -> None:
    response = await client.post("/api/chat", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert names in error["message"]


async def continue_with(
    client: httpx.AsyncClient, conversation_id: str, *ids: str
) -> httpx.Response:
    results = [{"tool_call_id": i, "content": "r"} for i in ids]
    return await client.post(
        "/api/chat", json={"conversation_id": conversation_id, "tool_results": results}
    )


async def test_results_when_no_call_is_waiting_are_a_409(client: httpx.AsyncClient) -> None:
    _, events = await post_chat(client, {"message": "hi", "model": "plain"})
    response = await continue_with(client, conversation_of(events), "call_x")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "no_pending_tool_calls"
    assert "`tool_results`" in error["message"]


async def test_a_result_for_an_unknown_call_is_a_400(client: httpx.AsyncClient) -> None:
    _, events = await post_chat(client, {"message": "hi", "model": "two-calls"})
    a, _ = firsts(events)
    response = await continue_with(client, conversation_of(events), a["id"], "call_nope")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_tool_call"
    assert "`tool_results[1].tool_call_id`: 'call_nope'" in error["message"]


async def test_a_call_left_unanswered_is_a_400_and_nothing_is_stored(
    client: httpx.AsyncClient,
) -> None:
    _, events = await post_chat(client, {"message": "hi", "model": "two-calls"})
    a, b = firsts(events)
    conversation_id = conversation_of(events)
    response = await continue_with(client, conversation_id, a["id"])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "missing_tool_results"
    assert f"{b['id']} (b)" in error["message"]
    assert len(await stored(client, conversation_id)) == 2
    # Both answered, in any order: the turn goes on.
    _, rest = await post_chat(
        client,
        {
            "conversation_id": conversation_id,
            "tool_results": [
                {"tool_call_id": b["id"], "content": "B"},
                {"tool_call_id": a["id"], "content": "A"},
            ],
        },
    )
    assert text_of(rest) == "Both done."


async def test_results_for_an_unknown_conversation_are_a_404(client: httpx.AsyncClient) -> None:
    response = await continue_with(client, "conv_nope", "call_x")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "conversation_not_found"


async def test_models_say_what_they_do_with_tools(client: httpx.AsyncClient) -> None:
    models = {m["id"]: m for m in (await client.get("/api/models")).json()["data"]}
    assert (models["mixed"]["client_tools"], models["mixed"]["server_tools"]) == (
        True,
        ["get_weather"],
    )
    assert (models["plain"]["client_tools"], models["plain"]["server_tools"]) == (True, [])


async def test_the_websocket_continues_a_turn_with_a_chat_frame(server: RunningServer) -> None:
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(
            orjson.dumps(
                {
                    "type": "chat",
                    "message": "look",
                    "model": "recorder",
                    "tools": [LOOKUP],
                    "ref": 1,
                }
            )
        )
        (first,) = by_stream(await frames_until(ws, 1)).values()
        assert first[-1].to_dict()["finish_reason"] == "tool_calls"
        (call,) = firsts(first)
        conversation_id = conversation_of(first)
        # A continuation the server refuses is a rejected frame with the HTTP API's code.
        await ws.send(
            orjson.dumps(
                {
                    "type": "chat",
                    "conversation_id": conversation_id,
                    "tool_results": [{"tool_call_id": "call_nope", "content": "x"}],
                    "ref": "bad",
                }
            )
        )
        rejected = orjson.loads(await ws.recv())
        assert rejected["type"] == "rejected" and rejected["ref"] == "bad"
        assert rejected["error"]["code"] == "unknown_tool_call"
        await ws.send(
            orjson.dumps(
                {
                    "type": "chat",
                    "conversation_id": conversation_id,
                    "tool_results": [{"tool_call_id": call["id"], "content": "42"}],
                    "ref": 2,
                }
            )
        )
        frames = await frames_until(ws, 1)
    assert frames[0]["ref"] == 2
    (events,) = by_stream(frames).values()
    assert_complete_stream(events)
    assert text_of(events) == "saw: 42"
    assert events[0].to_dict()["conversation_id"] == conversation_id


async def test_tools_configured_from_python_run_in_a_mounted_app(tmp_path: Path) -> None:
    tw = tokenwire.create_app(
        models=[
            {
                "id": "weather",
                "provider": "replay",
                "tools": ["get_weather"],
                "turns": [
                    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
                    {"text": "Mild."},
                ],
            }
        ],
        tools=[{"name": "get_weather", "function": tf.get_weather}],
        database_url=f"sqlite:///{tmp_path / 'host.db'}",
    )
    transport = httpx.ASGITransport(app=tw)
    async with httpx.AsyncClient(transport=transport, base_url="http://host") as http:
        response = await http.post("/api/chat", json={"message": "weather?"})
        events = [Event.from_json(e.data) for e in SSEDecoder().feed(response.content)]
    await tw.shutdown()
    assert_complete_stream(events)
    (result,) = [e.to_dict() for e in events if e.type == "tool_result"]
    assert result["content"] == '{"city":"Oslo","temperature":21,"unit":"C","sky":"晴"}'
    assert text_of(events) == "Mild."


def test_a_bad_tool_fails_at_create_app() -> None:
    with pytest.raises(tokenwire.ConfigError, match="tool get_weather: cannot import"):
        tokenwire.create_app(tools=[{"name": "get_weather", "function": "tests.nope:f"}])
    with pytest.raises(tokenwire.ConfigError, match="tool 'nope' is not declared"):
        tokenwire.create_app(
            models=[{"id": "x", "provider": "replay", "text": "t", "tools": ["nope"]}]
        )
