"""The server-side tool loop, through a real server: the model asks, the server's tools run, the
model goes on, all in one stream that survives a dropped reader, a cancel, a failing tool, and
stops at ``max_tool_steps``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import tool_functions as tf
from tests.support.helpers import assert_complete_stream, events_of, post_chat, text_of
from tests.support.servers import RunningServer, run_server
from tokenwire.config import ModelConfig, ToolConfig
from tokenwire.events import Event

TOOLS = (
    ToolConfig(name="get_weather", function=tf.get_weather),
    ToolConfig(name="add", function="tests.support.tool_functions:add"),
    ToolConfig(name="explode", function=tf.explode),
    ToolConfig(name="slow_async", function=tf.slow_async),
    ToolConfig(name="slow_sync", function=tf.slow_sync),
    ToolConfig(name="hang", function=tf.slow_sync, timeout_seconds=0.3),
)
WEATHER_TURNS = (
    {
        "text": "Let me check.",
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "巴黎"}}],
    },
    {"text": "Now the sum.", "tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]},
    {"text": "Sunny, and 5."},
)


def replay_tools(id: str, turns: tuple[dict[str, Any], ...], **options: Any) -> ModelConfig:
    return ModelConfig(id=id, provider="replay", turns=turns, **options)


def calling(id: str, calls: list[tuple[str, str]], tools: tuple[str, ...]) -> ModelConfig:
    return ModelConfig(id=id, provider="python", entry=tf.calling(calls), tools=tools)


MODELS = (
    replay_tools("weather", WEATHER_TURNS, tools=("get_weather", "add")),
    replay_tools("paced", WEATHER_TURNS, tools=("get_weather", "add"), tokens_per_second=200),
    replay_tools(
        "looping",
        (
            {
                "text": "Again.",
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}],
            },
        ),
        tools=("get_weather",),
        max_tool_steps=2,
    ),
    replay_tools(
        "slow-async",
        ({"tool_calls": [{"name": "slow_async", "arguments": {"label": "a"}}]}, {"text": "x"}),
        tools=("slow_async",),
    ),
    replay_tools(
        "slow-sync",
        ({"tool_calls": [{"name": "slow_sync", "arguments": {"label": "s"}}]}, {"text": "x"}),
        tools=("slow_sync",),
    ),
    calling("exploding", [("explode", '{"reason": "now"}')], ("explode",)),
    calling("hanging", [("hang", '{"label": "t"}')], ("hang",)),
    calling(
        "bad-arguments",
        [
            ("get_weather", "{not json"),
            ("get_weather", '{"city": 5}'),
            ("get_weather", '{"town": "Oslo"}'),
            ("get_weather", '{"city": "Oslo", "unit": "K"}'),
        ],
        ("get_weather",),
    ),
)


@pytest.fixture
def probe() -> Iterator[tf.ToolProbe]:
    probe = tf.reset()
    yield probe
    probe.release.set()


@pytest.fixture(params=["memory", "redis"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, probe: tf.ToolProbe
) -> Iterator[RunningServer]:
    """The same loop on the in-process stream log and on Redis Streams."""
    settings: dict[str, Any] = {"tools": TOOLS}
    if request.param == "redis":
        settings["redis_url"] = request.getfixturevalue("redis_url")
    with run_server(tmp_path, MODELS, **settings) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=tf.WAIT) as http:
        yield http


def of_type(events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [e.to_dict() for e in events if e.type == kind]


async def until(response: httpx.Response, test: Any) -> list[Event]:
    """Read events up to and including the first one for which ``test`` holds."""
    seen: list[Event] = []
    while True:
        (event,) = await events_of(response, limit=1)
        seen.append(event)
        if test(event):
            return seen


async def conversation(client: httpx.AsyncClient, events: list[Event]) -> list[dict[str, Any]]:
    conversation_id = events[0].to_dict()["conversation_id"]
    messages: list[dict[str, Any]] = (
        await client.get(f"/api/conversations/{conversation_id}")
    ).json()["messages"]
    return messages


async def test_the_model_calls_the_tools_and_goes_on_in_one_stream(
    client: httpx.AsyncClient,
) -> None:
    _, events = await post_chat(client, {"message": "weather and a sum?", "model": "weather"})
    assert_complete_stream(events)
    assert events[-1].to_dict()["finish_reason"] == "stop"
    firsts = [c for c in of_type(events, "tool_call") if "id" in c]
    assert [(c["index"], c["name"]) for c in firsts] == [(0, "get_weather"), (0, "add")]
    assert firsts[0]["id"] != firsts[1]["id"]  # the second answer's call is a new call
    results = of_type(events, "tool_result")
    assert [(r["tool_call_id"], r["is_error"]) for r in results] == [
        (firsts[0]["id"], False),
        (firsts[1]["id"], False),
    ]
    assert results[0]["content"] == ('{"city":"巴黎","temperature":21,"unit":"C","sky":"晴"}')
    assert results[1]["content"] == "5"
    assert text_of(events) == "Let me check.Now the sum.Sunny, and 5."
    # Each result comes after its call's last piece and before the model speaks again.
    kinds = [e.type for e in events]
    runs = [kind for i, kind in enumerate(kinds) if i == 0 or kinds[i - 1] != kind]
    assert runs == [
        "start",
        "delta",
        "tool_call",
        "tool_result",
        "delta",
        "tool_call",
        "tool_result",
        "delta",
        "done",
    ]


async def test_the_whole_loop_is_stored_under_one_stream(client: httpx.AsyncClient) -> None:
    _, events = await post_chat(client, {"message": "weather and a sum?", "model": "weather"})
    start = events[0].to_dict()
    calls = [c for c in of_type(events, "tool_call") if "id" in c]
    messages = await conversation(client, events)
    assert [(m["role"], m["content"], m["status"], m["finish_reason"]) for m in messages] == [
        ("user", "weather and a sum?", "complete", None),
        ("assistant", "Let me check.", "complete", "tool_calls"),
        ("tool", '{"city":"巴黎","temperature":21,"unit":"C","sky":"晴"}', "complete", None),
        ("assistant", "Now the sum.", "complete", "tool_calls"),
        ("tool", "5", "complete", None),
        ("assistant", "Sunny, and 5.", "complete", "stop"),
    ]
    assert messages[1]["id"] == start["message_id"]
    assert {m["stream_id"] for m in messages[1:]} == {start["stream_id"]}
    assert messages[1]["tool_calls"] == [
        {"id": calls[0]["id"], "name": "get_weather", "arguments": '{"city": "巴黎"}'}
    ]
    assert messages[3]["tool_calls"] == [
        {"id": calls[1]["id"], "name": "add", "arguments": '{"a": 2, "b": 3}'}
    ]
    assert [(m["tool_call_id"], m["is_error"]) for m in (messages[2], messages[4])] == [
        (calls[0]["id"], False),
        (calls[1]["id"], False),
    ]
    assert messages[5]["tool_calls"] is None


async def test_a_reader_that_drops_mid_loop_resumes_with_every_step_once(
    client: httpx.AsyncClient,
) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "hi", "model": "paced"}) as r:
        first = await until(r, lambda e: e.type == "tool_result")  # dropped after step one
    stream_id = first[0].to_dict()["stream_id"]
    headers = {"Last-Event-ID": str(first[-1].seq)}
    async with client.stream("GET", f"/api/streams/{stream_id}", headers=headers) as r:
        # Dropped again inside step two, between its call's first piece and the rest.
        second = await until(
            r, lambda e: e.type == "tool_call" and e.to_dict().get("name") == "add"
        )
    headers = {"Last-Event-ID": str(second[-1].seq)}
    async with client.stream("GET", f"/api/streams/{stream_id}", headers=headers) as r:
        third = await events_of(r)
    everything = first + second + third
    assert_complete_stream(everything)
    assert len(of_type(everything, "tool_result")) == 2
    assert text_of(everything) == "Let me check.Now the sum.Sunny, and 5."
    async with client.stream("GET", f"/api/streams/{stream_id}?after=0") as r:
        whole = await events_of(r)
    assert [e.json for e in everything] == [e.json for e in whole]


async def test_a_tool_that_raises_is_an_error_result_the_model_sees(
    client: httpx.AsyncClient,
) -> None:
    _, events = await post_chat(client, {"message": "go", "model": "exploding"})
    assert_complete_stream(events)
    (result,) = of_type(events, "tool_result")
    assert result["is_error"] is True
    assert result["content"] == "the tool explode failed (RuntimeError)"
    assert tf.SECRET not in b"".join(e.json for e in events).decode()
    assert text_of(events) == "saw: the tool explode failed (RuntimeError)"
    assert events[-1].to_dict()["finish_reason"] == "stop"
    messages = await conversation(client, events)
    assert [(m["role"], m["is_error"]) for m in messages[2:]] == [
        ("tool", True),
        ("assistant", False),
    ]


async def test_bad_arguments_are_error_results_the_model_sees(client: httpx.AsyncClient) -> None:
    _, events = await post_chat(client, {"message": "go", "model": "bad-arguments"})
    assert_complete_stream(events)
    results = of_type(events, "tool_result")
    assert [r["is_error"] for r in results] == [True, True, True, True]
    assert [r["content"] for r in results] == [
        "invalid arguments for get_weather: not valid JSON",
        "invalid arguments for get_weather: `city` must be string, not integer",
        "invalid arguments for get_weather: `city` is required",
        'invalid arguments for get_weather: `unit` must be one of "C", "F"',
    ]
    assert text_of(events) == "saw: " + " | ".join(r["content"] for r in results)
    first_call = next(c for c in of_type(events, "tool_call") if c["index"] == 0)
    assert first_call["id"].startswith("call_")  # the model gave none: one was made up
    assert tf.PROBE.calls == []  # never called with arguments that do not fit


async def test_a_tool_out_of_time_is_an_error_result(
    client: httpx.AsyncClient, probe: tf.ToolProbe
) -> None:
    _, events = await post_chat(client, {"message": "go", "model": "hanging"})
    assert_complete_stream(events)
    (result,) = of_type(events, "tool_result")
    assert (result["content"], result["is_error"]) == (
        "the tool hang did not answer within 0.3 s",
        True,
    )
    assert text_of(events) == "saw: the tool hang did not answer within 0.3 s"
    assert not probe.finished.is_set()  # a thread cannot be stopped: it was left behind


async def test_max_tool_steps_ends_the_stream_with_one_error(client: httpx.AsyncClient) -> None:
    _, events = await post_chat(client, {"message": "loop", "model": "looping"})
    assert_complete_stream(events)
    assert len(of_type(events, "tool_result")) == 2
    assert len([c for c in of_type(events, "tool_call") if "id" in c]) == 3
    end = events[-1].to_dict()
    assert (end["type"], end["code"], end["retryable"]) == ("error", "max_tool_steps", False)
    assert "max_tool_steps" in end["message"]
    messages = await conversation(client, events)
    assert [(m["role"], m["status"]) for m in messages] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("tool", "complete"),
        ("assistant", "complete"),
        ("tool", "complete"),
        ("assistant", "error"),
    ]
    assert messages[-1]["error_code"] == "max_tool_steps"
    assert len(messages[-1]["tool_calls"]) == 1  # asked for, stored, not run
    # The conversation goes on; the unanswered call is not sent upstream (replay would not care,
    # so the store's history is what is checked).
    _, more = await post_chat(
        client, {"message": "again", "model": "weather", "conversation_id": end_id(events)}
    )
    assert more[-1].to_dict()["finish_reason"] == "stop"


def end_id(events: list[Event]) -> str:
    return str(events[0].to_dict()["conversation_id"])


@pytest.mark.parametrize("model", ["slow-async", "slow-sync"])
async def test_cancel_during_a_slow_tool_stops_the_loop_and_stores_it(
    client: httpx.AsyncClient, probe: tf.ToolProbe, model: str
) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "go", "model": model}) as r:
        seen = await until(r, lambda e: e.type == "tool_call")
        assert await asyncio.to_thread(probe.started.wait, tf.WAIT)  # the tool is running
        stream_id = seen[0].to_dict()["stream_id"]
        cancelled = await client.post(f"/api/streams/{stream_id}/cancel")
        assert cancelled.json() == {"stream_id": stream_id, "status": "cancelled"}
        rest = await events_of(r)
    events = seen + rest
    assert_complete_stream(events)
    assert events[-1].to_dict() == {
        "type": "done",
        "seq": events[-1].seq,
        "finish_reason": "cancelled",
    }
    assert of_type(events, "tool_result") == []
    if model == "slow-async":  # cancelled where it awaited, its cleanup run before the end
        assert probe.cancelled.is_set() and probe.finished.is_set()
    else:  # a thread is not waited for: it is still blocked, and ends when let go
        assert not probe.finished.is_set()
        probe.release.set()
        assert await asyncio.to_thread(probe.finished.wait, tf.WAIT)
    messages = await conversation(client, events)
    assert [(m["role"], m["status"]) for m in messages] == [
        ("user", "complete"),
        ("assistant", "cancelled"),
    ]
    assert [c["name"] for c in messages[1]["tool_calls"]] == [model.replace("-", "_")]
