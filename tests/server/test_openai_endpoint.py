"""The OpenAI-compatible endpoint, driven by the official ``openai`` SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest

from tests.support.servers import ANSWER, RunningServer
from tokenwire.events import Done, Event
from tokenwire.hub.hub import Hub


@pytest.fixture
def sdk(server: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def test_models(sdk: openai.OpenAI) -> None:
    assert [m.id for m in sdk.models.list()] == ["replay", "slow", "crawl"]


def test_streaming_completion(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="replay",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert len({c.id for c in chunks}) == 1


def test_whole_completion(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(
        model="replay",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ],
        max_tokens=5,
    )
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].finish_reason == "length"
    assert ANSWER.startswith(answer.choices[0].message.content or "-")


async def test_async_sdk_streams(server: RunningServer) -> None:
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)
    stream = await client.chat.completions.create(
        model="replay", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == ANSWER
    await client.close()


def test_unknown_model_is_not_found(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="gpt-99", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "hi"}]},
        {"model": "replay", "messages": []},
        {"model": "replay", "messages": [{"role": "wizard", "content": "hi"}]},
        {"model": "replay", "messages": [{"role": "user", "content": 5}]},
        {"model": "replay", "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
        {"model": "replay", "messages": [{"role": "user", "content": "x"}], "temperature": 7},
    ],
)
def test_bad_requests_are_400_in_openai_shape(server: RunningServer, body: dict) -> None:  # type: ignore[type-arg]
    response = httpx.post(server.base_url + "/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["message"] and "type" in error


async def ending(hub: Hub, stream_id: str) -> tuple[Event, int]:
    """The stream's terminal event, and how many generations run once it has been written."""
    events: list[Event] = []
    while not (batch := await hub.read(stream_id, len(events), timeout=30)).ended:
        events.extend(batch.events)
    events.extend(batch.events)
    await asyncio.sleep(0)  # the generation's task ends right after writing that event
    return events[-1], hub.running


async def test_client_leaving_stops_the_generation(server: RunningServer) -> None:
    body = {"model": "crawl", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with (
        httpx.AsyncClient(base_url=server.base_url) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        first = await anext(line async for line in response.aiter_lines() if line)
        completion_id = orjson.loads(first.removeprefix("data: "))["id"]
        assert server.hub.running == 1
    stream_id = "str_" + completion_id.removeprefix("chatcmpl-")
    # Nobody will resume a /v1 stream: it was stopped, not left to run its ten seconds out.
    last, running = server.call(ending(server.hub, stream_id), timeout=60)
    assert last.payload == Done("cancelled")
    assert running == 0
