"""An OpenAI-compatible upstream (the loopback stub) behind a real tokenwire server: reasoning,
faults, secrets, and cancels that reach the upstream request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.helpers import assert_complete_stream, events_of, post_chat, text_of
from tests.support.servers import RunningServer, run_server
from tests.support.upstream_stub import ThreadedUpstream
from tokenwire.config import ModelConfig

SECRET = "sk-test-0123456789-do-not-leak"


def upstream_model(id: str, base_url: str, model: str) -> ModelConfig:
    return ModelConfig(
        id=id,
        provider="openai",
        base_url=base_url,
        model=model,
        api_key_env="TW_TEST_KEY",
        first_token_timeout=2.0,
        idle_timeout=2.0,
    )


@pytest.fixture
def upstream() -> Iterator[ThreadedUpstream]:
    with ThreadedUpstream() as stub:
        yield stub


@pytest.fixture
def server(
    tmp_path: Path, upstream: ThreadedUpstream, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningServer]:
    monkeypatch.setenv("TW_TEST_KEY", SECRET)
    models = tuple(
        upstream_model(name, upstream.base_url, target)
        for name, target in [
            ("echo", "echo"),
            ("thinker", "reason"),
            ("slow", "slow:0.1"),
            ("denied", "fault:http-401"),
            ("reset", "fault:reset"),
        ]
    )
    with run_server(tmp_path, models) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        yield http


async def test_reasoning_and_answer_arrive_apart_and_are_stored(
    client: httpx.AsyncClient, upstream: ThreadedUpstream
) -> None:
    _, events = await post_chat(client, {"message": "Hello world", "model": "thinker"})
    assert_complete_stream(events)
    types = [e.type for e in events]
    assert types.index("reasoning") < types.index("delta")
    assert text_of(events) == "Hello world"
    start = events[0].to_dict()
    stored = (await client.get(f"/api/conversations/{start['conversation_id']}")).json()
    answer = stored["messages"][1]
    assert answer["content"] == "Hello world" and answer["reasoning"]
    assert answer["status"] == "complete"
    assert upstream.requests[-1].headers["authorization"] == f"Bearer {SECRET}"


async def test_history_goes_upstream(client: httpx.AsyncClient, upstream: ThreadedUpstream) -> None:
    _, first = await post_chat(client, {"message": "one", "model": "echo"})
    conversation_id = first[0].to_dict()["conversation_id"]
    await post_chat(client, {"message": "two", "model": "echo", "conversation_id": conversation_id})
    assert upstream.requests[-1].json["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "one"},
        {"role": "user", "content": "two"},
    ]


async def test_upstream_refusal_ends_the_stream_without_leaking_the_key(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response, events = await post_chat(client, {"message": "hi", "model": "denied"})
    assert response.status_code == 200
    assert_complete_stream(events)
    error = events[-1].to_dict()
    assert (error["type"], error["code"], error["retryable"]) == (
        "error",
        "upstream_http_error",
        False,
    )
    assert "401" in error["message"]
    conversation_id = events[0].to_dict()["conversation_id"]
    stored = (await client.get(f"/api/conversations/{conversation_id}")).text
    assert '"status":"error"' in stored
    everything = b"".join(e.json for e in events).decode() + stored + caplog.text
    assert SECRET not in everything


async def test_reset_mid_stream_keeps_the_partial_answer(client: httpx.AsyncClient) -> None:
    _, events = await post_chat(client, {"message": "a b c d", "model": "reset"})
    assert_complete_stream(events)
    error = events[-1].to_dict()
    assert (error["code"], error["retryable"]) == ("upstream_reset", True)
    partial = text_of(events)
    assert partial
    conversation_id = events[0].to_dict()["conversation_id"]
    answer = (await client.get(f"/api/conversations/{conversation_id}")).json()["messages"][1]
    assert (answer["status"], answer["content"], answer["error_code"]) == (
        "error",
        partial,
        "upstream_reset",
    )


async def test_cancel_closes_the_upstream_request(
    client: httpx.AsyncClient, upstream: ThreadedUpstream
) -> None:
    words = " ".join(f"w{i}" for i in range(200))
    body = {"message": words, "model": "slow"}
    async with client.stream("POST", "/api/chat", json=body) as response:
        start = (await events_of(response, limit=3))[0].to_dict()
        await client.post(f"/api/streams/{start['stream_id']}/cancel")
        assert await asyncio.to_thread(upstream.wait_disconnect, 1, 1.0)
        rest = await events_of(response)
    assert rest[-1].to_dict()["finish_reason"] == "cancelled"


async def test_v1_client_leaving_closes_the_upstream_request(
    server: RunningServer, upstream: ThreadedUpstream
) -> None:
    words = " ".join(f"w{i}" for i in range(200))
    body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": words}]}
    async with (
        httpx.AsyncClient(base_url=server.base_url) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        async for chunk in response.aiter_raw():
            if b"w0" in chunk:  # the upstream is answering; now leave
                break
    assert await asyncio.to_thread(upstream.wait_disconnect, 1, 1.0)


def test_openai_sdk_sees_reasoning_content(server: RunningServer) -> None:
    question = [{"role": "user", "content": "Hello world"}]
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0) as sdk:
        chunks = list(sdk.chat.completions.create(model="thinker", messages=question, stream=True))
        whole = sdk.chat.completions.create(model="thinker", messages=question)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert reasoning
    assert "".join(d.content or "" for d in deltas) == "Hello world"
    assert whole.choices[0].message.content == "Hello world"
    assert (whole.choices[0].message.model_extra or {}).get("reasoning_content") == reasoning
