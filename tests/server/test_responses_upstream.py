"""/v1/responses through a real tokenwire server to the loopback OpenAI-compatible stub, which
keeps speaking chat completions: function tools both ways, reasoning items, and the upstream
request closed when a response stops (its client left, or a background cancel)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support.servers import RunningServer, run_server
from tests.support.upstream_stub import Call, Reply, ThreadedUpstream
from tokenwire.config import ModelConfig

SECRET = "sk-test-responses-5e4d3c2b1a"
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TWO_CALLS = Reply(
    tool_calls=(
        Call("call_w", "get_weather", ('{"ci', 'ty": "Pa', 'ris"}')),
        Call("call_t", "get_weather", ('{"city"', ': "Oslo"}')),
    ),
    interleave=True,
    finish_reason="tool_calls",
)
WORDS = " ".join(f"w{i}" for i in range(200))


def upstream_model(id: str, base_url: str, model: str) -> ModelConfig:
    return ModelConfig(
        id=id,
        provider="openai",
        base_url=base_url,
        model=model,
        api_key_env="TW_TEST_KEY",
        first_token_timeout=5.0,
        idle_timeout=5.0,
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[ThreadedUpstream]:
    with ThreadedUpstream() as stub:
        yield stub


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, upstream: ThreadedUpstream
) -> Iterator[RunningServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TW_TEST_KEY", SECRET)
        models = tuple(
            upstream_model(name, upstream.base_url, target)
            for name, target in [("gpt", "echo"), ("thinker", "reason"), ("slow", "slow:0.1")]
        )
        with run_server(Path(tmp_path_factory.mktemp("responses")), models) as running:
            yield running


@pytest.fixture
def sdk(server: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def test_function_calls_stream_as_items_and_their_outputs_go_back_upstream(
    sdk: openai.OpenAI, upstream: ThreadedUpstream
) -> None:
    upstream.script(TWO_CALLS)
    with sdk.responses.create(
        model="gpt", input="Weather?", tools=[WEATHER], tool_choice="auto", stream=True
    ) as stream:
        events = list(stream)
    assert upstream.last_request.json["tools"] == [
        {
            "type": "function",
            "function": {k: v for k, v in WEATHER.items() if k != "type"},
        }
    ]
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert sorted((e.name, e.arguments) for e in done) == [  # type: ignore[union-attr]
        ("get_weather", '{"city": "Oslo"}'),
        ("get_weather", '{"city": "Paris"}'),
    ]
    final = events[-1].response  # type: ignore[union-attr]
    assert final.status == "completed"
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.arguments) for c in calls] == [
        ("call_w", '{"city": "Paris"}'),
        ("call_t", '{"city": "Oslo"}'),
    ]

    follow = sdk.responses.create(
        model="gpt",
        previous_response_id=final.id,
        input=[
            {"type": "function_call_output", "call_id": "call_w", "output": "sunny"},
            {"type": "function_call_output", "call_id": "call_t", "output": "snow"},
        ],
        tools=[WEATHER],
    )
    assert follow.status == "completed"
    assert upstream.last_request.json["messages"] == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_w",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_t",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_w", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_t", "content": "snow"},
    ]


def test_reasoning_arrives_as_a_reasoning_item_before_the_message(sdk: openai.OpenAI) -> None:
    response = sdk.responses.create(model="thinker", input="Hello world")
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output_text == "Hello world"


def test_a_streamed_responses_client_leaving_closes_the_upstream_request(
    sdk: openai.OpenAI, upstream: ThreadedUpstream
) -> None:
    before = upstream.disconnects
    with sdk.responses.create(model="slow", input=WORDS, stream=True) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                break  # the upstream is answering; now leave
    assert upstream.wait_disconnect(before + 1, 5.0)


def test_a_background_cancel_closes_the_upstream_request(
    sdk: openai.OpenAI, upstream: ThreadedUpstream
) -> None:
    before = upstream.disconnects
    with sdk.responses.create(model="slow", input=WORDS, stream=True, background=True) as stream:
        events = iter(stream)
        rid = next(events).response.id  # type: ignore[union-attr]
        for event in events:
            if event.type == "response.output_text.delta":
                break  # the upstream is answering; the response runs on without this reader
    assert sdk.responses.retrieve(rid).status == "in_progress"
    assert sdk.responses.cancel(rid).status == "cancelled"
    assert upstream.wait_disconnect(before + 1, 5.0)
