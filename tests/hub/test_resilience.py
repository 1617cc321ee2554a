"""Upstream failures through a real server: retried before the first token (honouring
``Retry-After``), handed to a fallback model, or ended with a retryable error and the partial text
stored once the answer has begun. Each fault ends in its own terminal event and stored status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.helpers import assert_complete_stream, post_chat, text_of
from tests.support.servers import RunningServer, run_server
from tests.support.upstream_stub import ThreadedUpstream, refused_base_url
from tokenwire.config import ModelConfig


def model(id: str, base_url: str, target: str, **extra: Any) -> ModelConfig:
    options: dict[str, Any] = {"first_token_timeout": 2.0, "idle_timeout": 2.0, **extra}
    return ModelConfig(id=id, provider="openai", base_url=base_url, model=target, **options)


@pytest.fixture
def upstream() -> Iterator[ThreadedUpstream]:
    with ThreadedUpstream() as stub:
        yield stub


@pytest.fixture
def server(tmp_path: Path, upstream: ThreadedUpstream) -> Iterator[RunningServer]:
    url = upstream.base_url
    models = (
        model("echo", url, "echo", retry_deadline=10.0),
        model("down", refused_base_url(), "echo", retry_deadline=1.0),
        model("primary", refused_base_url(), "echo", retry_deadline=0.5, fallbacks=("echo",)),
        model("resetting", url, "fault:reset", fallbacks=("echo",)),
        model("silent", url, "fault:no-first-token", max_retries=0, first_token_timeout=1.5),
        model("stalling", url, "fault:stall", idle_timeout=1.0),
        model("malformed", url, "fault:malformed"),
        model("bad-utf8", url, "fault:bad-utf8"),
        model("no-done", url, "fault:no-done"),
        model("server-error", url, "fault:http-500", retry_deadline=0.0),
    )
    with run_server(tmp_path, models, keepalive_seconds=0.3) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> Any:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20) as http:
        yield http


async def stored_answer(client: httpx.AsyncClient, response: httpx.Response) -> dict[str, Any]:
    conversation = await client.get(f"/api/conversations/{response.headers['x-conversation-id']}")
    answer: dict[str, Any] = conversation.json()["messages"][1]
    return answer


async def test_429_and_5xx_before_the_first_token_are_retried(
    client: httpx.AsyncClient, upstream: ThreadedUpstream, server: RunningServer
) -> None:
    upstream.script("fault:http-429", "fault:http-503")
    response, events = await post_chat(client, {"message": "Hello world", "model": "echo"})
    assert_complete_stream(events)
    assert text_of(events) == "Hello world"
    requests = upstream.requests
    assert len(requests) == 3
    # The 429 said `Retry-After: 1`; the retry waited at least that long.
    assert requests[1].received_at - requests[0].received_at >= 1.0
    assert (await stored_answer(client, response))["status"] == "complete"
    metrics = (await client.get("/metrics")).text
    assert 'tokenwire_upstream_retries_total{code="upstream_http_error",model="echo"} 2' in metrics


async def test_retries_stop_at_the_deadline_with_a_retryable_error(
    client: httpx.AsyncClient,
) -> None:
    response, events = await post_chat(client, {"message": "hi", "model": "down"})
    assert_complete_stream(events)
    final = events[-1].payload
    assert (final.type, final.code, final.retryable) == ("error", "upstream_unreachable", True)
    assert (await stored_answer(client, response))["status"] == "error"


async def test_a_fallback_model_answers_when_the_first_cannot_start(
    client: httpx.AsyncClient,
) -> None:
    response, events = await post_chat(
        client, {"message": "Saved by the fallback", "model": "primary"}
    )
    assert_complete_stream(events)
    assert text_of(events) == "Saved by the fallback"
    stored = await stored_answer(client, response)
    assert (stored["status"], stored["content"]) == ("complete", "Saved by the fallback")
    assert (
        'tokenwire_fallbacks_total{fallback="echo",model="primary"} 1'
        in (await client.get("/metrics")).text
    )


async def test_after_the_first_token_a_failure_ends_the_stream_and_keeps_the_text(
    client: httpx.AsyncClient, upstream: ThreadedUpstream
) -> None:
    response, events = await post_chat(client, {"message": "hi", "model": "resetting"})
    assert_complete_stream(events)
    assert text_of(events) == "Hello there"
    final = events[-1].payload
    assert (final.type, final.retryable) == ("error", True)
    assert len(upstream.requests) == 1  # no retry and no fallback: the answer had begun
    stored = await stored_answer(client, response)
    assert (stored["status"], stored["content"]) == ("error", "Hello there")


async def test_keepalives_flow_while_the_upstream_has_not_answered(
    client: httpx.AsyncClient,
) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "hi", "model": "silent"}) as r:
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    # A proxy between us and the reader sees bytes long before the first token would come.
    assert raw.count(b": keepalive") >= 2
    assert b'"code":"upstream_first_token_timeout"' in raw


@pytest.mark.parametrize(
    ("name", "code", "retryable", "text"),
    [
        ("stalling", "upstream_idle_timeout", True, "Hello there"),
        ("malformed", "upstream_malformed", False, "Hello"),
        ("no-done", "upstream_incomplete", True, "Hello there"),
        ("server-error", "upstream_http_error", True, ""),
    ],
)
async def test_each_fault_ends_in_its_error_with_the_text_stored(
    client: httpx.AsyncClient, name: str, code: str, retryable: bool, text: str
) -> None:
    response, events = await post_chat(client, {"message": "hi", "model": name})
    assert_complete_stream(events)
    final = events[-1].payload
    assert (final.type, final.code, final.retryable) == ("error", code, retryable)
    assert text_of(events) == text
    stored = await stored_answer(client, response)
    assert (stored["status"], stored["error_code"], stored["content"]) == ("error", code, text)


async def test_bytes_that_are_not_utf8_become_replacement_characters(
    client: httpx.AsyncClient,
) -> None:
    response, events = await post_chat(client, {"message": "hi", "model": "bad-utf8"})
    assert_complete_stream(events)
    assert text_of(events) == "Hello \ufffd\ufffdok"
    assert (await stored_answer(client, response))["content"] == "Hello \ufffd\ufffdok"


async def test_error_counts_by_code_reach_the_metrics(client: httpx.AsyncClient) -> None:
    await post_chat(client, {"message": "hi", "model": "malformed"})
    async with client.stream("GET", "/metrics") as response:
        body = (await response.aread()).decode()
    assert 'tokenwire_errors_total{code="upstream_malformed"} 1' in body
