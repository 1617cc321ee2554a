"""OpenAIProvider against a real OpenAI-compatible server on loopback
(tests/support/upstream_stub.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest

import tokenwire.providers.openai as openai_module
from tests.support.upstream_stub import (
    REASONING,
    Call,
    Reply,
    ThreadedUpstream,
    UpstreamStub,
    refused_base_url,
)
from tokenwire.events import Delta, Done, Logprobs, Reasoning, ToolCall, Usage
from tokenwire.providers.base import GenerationParams, ProviderError, ProviderPayload
from tokenwire.providers.openai import OpenAIProvider
from tokenwire.wire.sse import SSEDecoder

pytestmark = pytest.mark.timeout(20)

KEY = "sk-test-Zq8V3nLk2Pw9Xr4TbYh6"
FAST = 0.3  # seconds: the short first-token and idle deadlines of the fault tests
PARAMS = GenerationParams()

Factory = Callable[..., OpenAIProvider]


@pytest.fixture
async def stub() -> AsyncIterator[UpstreamStub]:
    async with UpstreamStub() as running:
        yield running


@pytest.fixture
async def make(stub: UpstreamStub) -> AsyncIterator[Factory]:
    """Providers for the stub; all of them are closed (before the stub stops) after the test."""
    made: list[OpenAIProvider] = []

    def factory(model: str = "echo", **kwargs: Any) -> OpenAIProvider:
        kwargs.setdefault("base_url", stub.base_url)
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("connect_timeout", 2.0)
        kwargs.setdefault("first_token_timeout", 5.0)
        kwargs.setdefault("idle_timeout", 5.0)
        provider = OpenAIProvider(id="stub", model=model, **kwargs)
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        await provider.aclose()


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def collect(
    provider: OpenAIProvider, text: str = "Hello brave new world", params: GenerationParams = PARAMS
) -> list[ProviderPayload]:
    return [p async for p in provider.stream(user(text), params)]


async def collect_error(
    provider: OpenAIProvider, text: str = "Hello brave new world"
) -> tuple[list[ProviderPayload], ProviderError]:
    """The payloads before the failure, and the one ProviderError; the stream is over after it."""
    got: list[ProviderPayload] = []
    stream = provider.stream(user(text), PARAMS)
    with pytest.raises(ProviderError) as info:
        async for payload in stream:
            got.append(payload)
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    assert not any(isinstance(p, Done) for p in got)
    return got, info.value


def text_of(payloads: list[ProviderPayload], kind: type[Delta | Reasoning] = Delta) -> str:
    return "".join(p.text for p in payloads if isinstance(p, kind))


# --- the normal stream -----------------------------------------------------------------------


async def test_stream_yields_reasoning_content_usage_and_done(
    stub: UpstreamStub, make: Factory
) -> None:
    got = await collect(make("reason"))
    assert got == [
        Reasoning("Let me think."),
        Reasoning(" The user wants an echo."),
        Delta("Hello"),
        Delta(" brave"),
        Delta(" new"),
        Delta(" world"),
        Usage(prompt_tokens=4, completion_tokens=4),
        Done("stop"),
    ]


async def test_reasoning_under_its_newer_name(stub: UpstreamStub, make: Factory) -> None:
    got = await collect(make("reason:reasoning"), "hi")
    assert got == [
        Reasoning("Let me think."),
        Reasoning(" The user wants an echo."),
        Delta("hi"),
        Usage(1, 1),
        Done("stop"),
    ]


async def test_request_body_and_headers(stub: UpstreamStub, make: Factory) -> None:
    params = GenerationParams(
        max_tokens=50,
        temperature=0.5,
        top_p=0.9,
        seed=7,
        stop=("END", "\n\n"),
        extra={"presence_penalty": 0.1, "model": "not-this", "stream": False},
    )
    provider = make("echo", headers={"X-Tenant": "acme"})
    await collect(provider, "Hi there", params)
    request = stub.last_request
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.json == {
        "model": "echo",
        "messages": [{"role": "user", "content": "Hi there"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 50,
        "temperature": 0.5,
        "top_p": 0.9,
        "seed": 7,
        "stop": ["END", "\n\n"],
        "presence_penalty": 0.1,
    }
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-tenant"] == "acme"


async def test_unset_params_are_not_sent_and_no_key_no_auth(
    stub: UpstreamStub, make: Factory
) -> None:
    await collect(
        make("echo", api_key=None), "Hi", GenerationParams(extra={"stream_options": None})
    )
    request = stub.last_request
    assert request.json == {
        "model": "echo",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
    }
    assert "authorization" not in request.headers


async def test_base_url_with_trailing_slash_and_query(stub: UpstreamStub, make: Factory) -> None:
    await collect(make("echo", base_url=stub.base_url + "/?api-version=2024-10-21"), "x")
    assert stub.last_request.path == "/v1/chat/completions?api-version=2024-10-21"


async def test_finish_reason_length(stub: UpstreamStub, make: Factory) -> None:
    got = await collect(make("echo"), "one two three four", GenerationParams(max_tokens=2))
    assert got == [Delta("one"), Delta(" two"), Usage(4, 2), Done("length")]


async def test_utf8_split_across_tcp_writes_arrives_intact(
    stub: UpstreamStub, make: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    feeds: list[bytes] = []

    class RecordingDecoder(SSEDecoder):
        __slots__ = ()

        def feed(self, data: bytes) -> list[Any]:
            feeds.append(bytes(data))
            return super().feed(data)

    monkeypatch.setattr(openai_module, "SSEDecoder", RecordingDecoder)
    text = "你好，世界！ 🌍👩\u200d💻 naïve café 中文"
    got = await collect(make("split"), text)
    assert text_of(got) == text
    assert got[-1] == Done("stop")

    def cuts_a_character(data: bytes) -> bool:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False

    # The network really delivered characters in pieces: the decoder got many small reads, and
    # some of them began or ended inside a multi-byte character.
    assert len(feeds) > 20
    assert sum(map(cuts_a_character, feeds)) >= 5


async def test_done_without_finish_reason_and_usage_only_once(
    stub: UpstreamStub, make: Factory
) -> None:
    running_usage = (
        b'data: {"choices":[{"index":0,"delta":{"content":"a"}}],"usage":'
        b'{"prompt_tokens":3,"completion_tokens":1}}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"b"}}],"usage":'
        b'{"prompt_tokens":3,"completion_tokens":2}}\n\n'
    )
    stub.script(Reply(inject=running_usage, finish_reason=None))
    got = await collect(make("echo"))
    assert got == [Delta("a"), Delta("b"), Usage(3, 2), Done("stop")]


async def test_missing_done_after_finish_reason_is_done(stub: UpstreamStub, make: Factory) -> None:
    got = await collect(make("fault:no-done-finished"))
    assert got == [Delta("Hello"), Delta(" there"), Usage(4, 2), Done("stop")]


@pytest.mark.parametrize("end", ["stall", "reset", "eof"])
async def test_trouble_after_finish_reason_is_done(
    stub: UpstreamStub, make: Factory, end: str
) -> None:
    stub.script(Reply(content=("a", "b"), done=False, end=end))  # type: ignore[arg-type]
    got = await collect(make("echo", idle_timeout=FAST))
    assert got == [Delta("a"), Delta("b"), Usage(4, 2), Done("stop")]


async def test_json_answer_to_a_stream_request(stub: UpstreamStub, make: Factory) -> None:
    stub.script(Reply(content=("Hi", " you"), reasoning=("hmm",), stream=False))
    got = await collect(make("echo"), "x y")
    assert got == [Reasoning("hmm"), Delta("Hi you"), Usage(2, 2), Done("stop")]


async def test_slow_stream_within_idle_timeout(stub: UpstreamStub, make: Factory) -> None:
    # Five gaps of 0.1 s: longer in all than both deadlines, each gap shorter than either.
    provider = make("slow:0.1", first_token_timeout=FAST, idle_timeout=FAST)
    got = await collect(provider, "a b c d e")
    assert text_of(got) == "a b c d e"


async def test_the_consumers_own_time_is_not_idle_time(stub: UpstreamStub, make: Factory) -> None:
    got = []
    async for payload in make("echo", idle_timeout=0.1).stream(user("a b c"), PARAMS):
        got.append(payload)
        await asyncio.sleep(0.15)
    assert text_of(got) == "a b c"


async def test_timeouts_leave_the_task_uncancelled(stub: UpstreamStub, make: Factory) -> None:
    for model in ("fault:no-first-token", "fault:stall"):
        _, error = await collect_error(make(model, first_token_timeout=0.1, idle_timeout=0.1))
        assert error.code in ("upstream_first_token_timeout", "upstream_idle_timeout")
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        await asyncio.sleep(0.01)  # would raise CancelledError if a cancellation were left over


async def test_a_consumer_timeout_wins(stub: UpstreamStub, make: Factory) -> None:
    for model in ("fault:hang", "fault:stall"):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):  # long enough for the request to arrive under load
                await collect(make(model))
    assert await stub.wait_disconnect(count=2, timeout=10.0)


async def test_connections_are_pooled(stub: UpstreamStub, make: Factory) -> None:
    provider = make("echo")
    await collect(provider)
    await collect(provider)
    assert [r.connection for r in stub.requests] == [1, 1]


async def test_aclose_closes_own_client_but_not_a_given_one(stub: UpstreamStub) -> None:
    own = OpenAIProvider(id="a", base_url=stub.base_url, model="echo")
    await collect(own)
    client = own._client
    assert client is not None
    await own.aclose()
    assert client.is_closed

    async with httpx.AsyncClient() as given:
        borrowed = OpenAIProvider(id="b", base_url=stub.base_url, model="echo", client=given)
        assert (await collect(borrowed))[-1] == Done("stop")
        await borrowed.aclose()
        assert not given.is_closed


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="http"):
        OpenAIProvider(id="x", base_url="ftp://example.com/v1", model="m")
    with pytest.raises(ValueError, match="idle_timeout"):
        OpenAIProvider(id="x", base_url="http://example.com/v1", model="m", idle_timeout=0)


def test_repr_shows_no_secret() -> None:
    provider = OpenAIProvider(
        id="x",
        base_url="https://user:hunter2@example.com/v1?key=secret-in-query",
        model="m",
        api_key=KEY,
    )
    text = repr(provider)
    assert text == "OpenAIProvider(id='x', base_url='https://example.com/v1', model='m')"
    assert KEY not in text and "hunter2" not in text and "secret-in-query" not in text


# --- failures --------------------------------------------------------------------------------

FAULTS = [
    ("fault:http-400", "upstream_http_error", False),
    ("fault:http-401", "upstream_http_error", False),
    ("fault:http-404", "upstream_http_error", False),
    ("fault:http-408", "upstream_http_error", True),
    ("fault:http-409", "upstream_http_error", True),
    ("fault:http-429", "upstream_http_error", True),
    ("fault:http-500", "upstream_http_error", True),
    ("fault:http-503", "upstream_http_error", True),
    ("fault:hang", "upstream_first_token_timeout", True),
    ("fault:no-first-token", "upstream_first_token_timeout", True),
    ("fault:stall", "upstream_idle_timeout", True),
    ("fault:reset", "upstream_reset", True),
    ("fault:eof", "upstream_reset", True),
    ("fault:malformed", "upstream_malformed", False),
    ("fault:error-event", "upstream_error", True),
    ("fault:no-done", "upstream_incomplete", True),
]


@pytest.mark.parametrize(("model", "code", "retryable"), FAULTS)
async def test_fault_is_one_provider_error(
    stub: UpstreamStub,
    make: Factory,
    caplog: pytest.LogCaptureFixture,
    model: str,
    code: str,
    retryable: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = make(model, first_token_timeout=FAST, idle_timeout=FAST)
    _, error = await collect_error(provider)
    assert (error.code, error.retryable) == (code, retryable), error.message
    assert str(error) == error.message
    assert KEY not in error.message
    assert KEY not in caplog.text
    assert any(code in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("status", [401, 429, 500])
async def test_http_error_message(stub: UpstreamStub, make: Factory, status: int) -> None:
    _, error = await collect_error(make(f"fault:http-{status}"))
    assert error.message.startswith(f"upstream answered HTTP {status} ")
    expected = {401: "Incorrect API key provided", 429: "Rate limit", 500: "The server had"}
    assert expected[status] in error.message


async def test_echoed_key_is_redacted(stub: UpstreamStub, make: Factory) -> None:
    _, error = await collect_error(make("fault:http-401"))
    assert "Incorrect API key provided: [redacted]." in error.message
    assert KEY not in error.message


async def test_sensitive_custom_header_is_redacted(stub: UpstreamStub, make: Factory) -> None:
    secret = "azure-key-8f7e6d5c4b3a"
    stub.script(Reply(status=403, error_message=f"key {secret} is not allowed"))
    _, error = await collect_error(make("echo", api_key=None, headers={"api-key": secret}))
    assert secret not in error.message
    assert stub.last_request.headers["api-key"] == secret


async def test_http_error_message_is_truncated(stub: UpstreamStub, make: Factory) -> None:
    stub.script(Reply(status=400, error_message="x" * 1000))
    _, error = await collect_error(make("echo"))
    assert error.message.startswith("upstream answered HTTP 400 Bad Request: xxx")
    detail = error.message.split(": ", 1)[1]
    assert len(detail) == 300


async def test_stream_error_message(stub: UpstreamStub, make: Factory) -> None:
    got, error = await collect_error(make("fault:error-event"))
    assert got == [Delta("Hello")]
    assert "The server had an error while processing your request." in error.message


async def test_bare_error_object_mid_stream(stub: UpstreamStub, make: Factory) -> None:
    bare = {"object": "error", "message": "engine died", "type": "InternalServerError", "code": 500}
    stub.script(Reply(inject=b"data: " + orjson.dumps(bare) + b"\n\n"))
    _, error = await collect_error(make("echo"))
    assert (error.code, error.retryable) == ("upstream_error", True)
    assert "engine died" in error.message


async def test_stream_error_not_retryable(stub: UpstreamStub, make: Factory) -> None:
    bad = {"error": {"message": "context too long", "type": "invalid_request_error"}}
    stub.script(Reply(inject=b"data: " + orjson.dumps(bad) + b"\n\n"))
    _, error = await collect_error(make("echo"))
    assert (error.code, error.retryable) == ("upstream_error", False)
    assert "context too long" in error.message


@pytest.mark.parametrize(
    "line",
    [b"data: [1, 2]", b'data: {"id": "x"}', b'data: {"choices": [{"delta": {"content": 5}}]}'],
)
async def test_wrong_chunk_shape_is_malformed(
    stub: UpstreamStub, make: Factory, line: bytes
) -> None:
    stub.script(Reply(inject=line + b"\n\n"))
    _, error = await collect_error(make("echo"))
    assert (error.code, error.retryable) == ("upstream_malformed", False)


async def test_timeouts_close_the_upstream_connection(stub: UpstreamStub, make: Factory) -> None:
    for model in ("fault:hang", "fault:no-first-token", "fault:stall"):
        await collect_error(make(model, first_token_timeout=FAST, idle_timeout=FAST))
    assert await stub.wait_disconnect(count=3, timeout=1.0)


async def test_first_token_deadline_counts_from_the_request(
    stub: UpstreamStub, make: Factory
) -> None:
    provider = make("slow:0.1", first_token_timeout=0.5, idle_timeout=5.0)
    # The role chunk comes at once, the first text only after 0.1 s: in time.
    assert (await collect(provider, "a"))[-1] == Done("stop")
    # Now the role chunk comes at once and the text after 1 s: the role chunk does not count.
    stub.script(Reply(content=("late",), delay=1.0))
    got, error = await collect_error(provider)
    assert (got, error.code) == ([], "upstream_first_token_timeout")


async def test_connection_refused(stub: UpstreamStub, make: Factory) -> None:
    _, error = await collect_error(make("echo", base_url=refused_base_url()))
    assert (error.code, error.retryable) == ("upstream_unreachable", True)


async def test_connect_timeout(
    stub: UpstreamStub, make: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    # A loopback listener that accepts TCP and never answers the TLS handshake: httpx counts the
    # handshake as connecting, so this is its real connect timeout (see upstream_stub.py).
    caplog.set_level(logging.DEBUG)
    provider = make("echo", base_url=stub.tls_blackhole_url, connect_timeout=0.2)
    _, error = await collect_error(provider)
    assert (error.code, error.retryable) == ("upstream_connect_timeout", True)
    assert stub.blackhole_connections == 1
    assert KEY not in error.message and KEY not in caplog.text


async def test_unencodable_params(stub: UpstreamStub, make: Factory) -> None:
    stream = make("echo").stream(user("x"), GenerationParams(extra={"logit_bias": {1, 2}}))
    with pytest.raises(ProviderError) as info:
        await stream.__anext__()
    assert (info.value.code, info.value.retryable) == ("invalid_request", False)
    assert stub.requests == []


# --- cancellation ----------------------------------------------------------------------------


async def test_cancel_while_awaiting_the_next_item_closes_upstream(
    stub: UpstreamStub, make: Factory
) -> None:
    # Two chunks, then nothing: the next item cannot arrive before the cancel, however slow the
    # machine.
    stream = make("fault:stall").stream(user("x"), PARAMS)
    assert [await stream.__anext__(), await stream.__anext__()] == [Delta("Hello"), Delta(" there")]

    async def next_item() -> ProviderPayload:
        return await stream.__anext__()

    task = asyncio.create_task(next_item())
    await asyncio.sleep(0.05)  # it is waiting for the next item
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await stub.wait_disconnect(timeout=1.0)
    assert stub.last_request.disconnected


async def test_cancel_before_headers_closes_upstream(stub: UpstreamStub, make: Factory) -> None:
    stream = make("fault:hang").stream(user("x"), PARAMS)

    async def first_item() -> ProviderPayload:
        return await stream.__anext__()

    task = asyncio.create_task(first_item())
    # Cancel once the stub holds the request: a cancel before that is a different case (no
    # request to close), and on a loaded machine a fixed sleep was not always long enough.
    for _ in range(3000):
        if stub.requests:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await stub.wait_disconnect(timeout=10.0)


async def test_aclose_of_the_stream_closes_upstream(stub: UpstreamStub, make: Factory) -> None:
    stream = make("slow:0.1").stream(user("one two three four five"), PARAMS)
    assert await stream.__anext__() == Delta("one")
    await stream.aclose()
    assert await stub.wait_disconnect(timeout=1.0)


# --- the stub itself, as other tests will use it ---------------------------------------------


async def test_stub_models_and_non_streaming_completion(stub: UpstreamStub) -> None:
    async with httpx.AsyncClient(base_url=stub.base_url) as client:
        models = (await client.get("/models")).json()
        assert {m["id"] for m in models["data"]} >= {"echo", "slow", "reason", "split"}
        body = {"model": "reason", "messages": [{"role": "user", "content": "Hi you"}]}
        answer = (await client.post("/chat/completions", json=body)).json()
    assert answer["object"] == "chat.completion"
    message = answer["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == (
        "Hi you",
        "Let me think. The user wants an echo.",
    )
    assert answer["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}


def test_threaded_upstream_serves_sync_clients() -> None:
    with ThreadedUpstream() as upstream, httpx.Client(base_url=upstream.base_url) as client:
        body = {"model": "echo", "messages": [{"role": "user", "content": "Hi there"}]}
        with client.stream("POST", "/chat/completions", json={**body, "stream": True}) as r:
            lines = [line for line in r.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        chunks = [orjson.loads(line[6:]) for line in lines[:-1]]
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Hi there"

        upstream.script("slow:0.2")
        with client.stream("POST", "/chat/completions", json={**body, "stream": True}) as r:
            next(r.iter_bytes())
        assert upstream.wait_disconnect(timeout=1.0)
        assert [r.json["model"] for r in upstream.requests] == ["echo", "echo"]


def test_the_openai_sdk_reads_the_stub() -> None:
    openai = pytest.importorskip("openai")
    with ThreadedUpstream() as upstream:
        client = openai.OpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0)
        with client:
            stream = client.chat.completions.create(
                model="reason",
                messages=[{"role": "user", "content": "你好 world"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = list(stream)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            reasoning = "".join(
                (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
                for c in chunks
                if c.choices
            )
            assert (text, reasoning) == ("你好 world", "".join(REASONING))
            assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2

            answer = client.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "Hi"}]
            )
            assert answer.choices[0].message.content == "Hi"

            with pytest.raises(openai.RateLimitError):
                client.chat.completions.create(
                    model="fault:http-429", messages=[{"role": "user", "content": "Hi"}]
                )
            assert [m.id for m in client.models.list()][:1] == ["echo"]
        assert upstream.requests[0].headers["authorization"] == f"Bearer {KEY}"


# --- tools, logprobs, a vendor's headers and body --------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


async def test_tools_tool_choice_and_a_history_of_calls_go_upstream_as_they_are(
    stub: UpstreamStub, make: Factory
) -> None:
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
    ]
    choice = {"type": "function", "function": {"name": "get_weather"}}
    params = GenerationParams(tools=(WEATHER_TOOL,), tool_choice=choice)
    [p async for p in make("echo").stream(history, params)]
    sent = stub.last_request.json
    assert sent["messages"] == history
    assert (sent["tools"], sent["tool_choice"]) == ([WEATHER_TOOL], choice)


async def test_no_tools_no_tool_keys(stub: UpstreamStub, make: Factory) -> None:
    await collect(make("echo"))
    assert not {"tools", "tool_choice"} & set(stub.last_request.json)


async def test_streamed_parallel_calls_come_as_pieces_by_index(
    stub: UpstreamStub, make: Factory
) -> None:
    stub.script(
        Reply(
            tool_calls=(
                Call("call_a", "get_weather", ('{"city"', ': "Paris"}')),
                Call("call_b", "get_time", ('{"tz"', ': "CET"}')),
            ),
            interleave=True,
            finish_reason="tool_calls",
        )
    )
    got = await collect(make("echo"))
    assert [p for p in got if isinstance(p, ToolCall)] == [
        ToolCall(0, "call_a", "get_weather", ""),
        ToolCall(1, "call_b", "get_time", ""),
        ToolCall(0, arguments='{"city"'),
        ToolCall(1, arguments='{"tz"'),
        ToolCall(0, arguments=': "Paris"}'),
        ToolCall(1, arguments=': "CET"}'),
    ]
    assert got[-1] == Done("tool_calls")


async def test_tool_calls_in_a_json_answer(stub: UpstreamStub, make: Factory) -> None:
    stub.script(Reply(tool_calls=(Call("call_a", "f", ('{"a": 1}',)),), stream=False))
    got = await collect(make("echo"))
    assert got[0] == ToolCall(0, "call_a", "f", '{"a": 1}')
    assert got[-1] == Done("tool_calls")


async def test_logprobs_are_decoded_only_when_the_request_asks_for_them(
    stub: UpstreamStub, make: Factory
) -> None:
    provider = make("echo")
    asked = await collect(provider, "Hi", GenerationParams(extra={"logprobs": True}))
    assert [type(p).__name__ for p in asked[:2]] == ["Logprobs", "Delta"]
    first = asked[0]
    assert isinstance(first, Logprobs) and first.content[0]["token"] == "Hi"
    assert stub.last_request.json["logprobs"] is True
    assert not any(isinstance(p, Logprobs) for p in await collect(provider, "Hi"))


async def test_extra_body_goes_over_the_defaults_and_under_the_request(
    stub: UpstreamStub, make: Factory
) -> None:
    provider = make(
        "echo",
        extra_body={
            "enable_thinking": False,
            "temperature": 0.1,
            "stream_options": {"include_usage": True, "chunk_include_usage": True},
            "model": "not-this",
        },
    )
    await collect(provider, "Hi", GenerationParams(temperature=0.7))
    sent = stub.last_request.json
    assert sent["model"] == "echo" and sent["enable_thinking"] is False
    assert sent["temperature"] == 0.7  # the request's own parameter wins
    assert sent["stream_options"] == {"include_usage": True, "chunk_include_usage": True}
    await collect(make("echo", extra_body={"stream_options": None}), "Hi")
    assert "stream_options" not in stub.last_request.json


async def test_secret_headers_are_sent_and_never_shown(stub: UpstreamStub, make: Factory) -> None:
    secret = "or-secret-5b4a3c2d1e"
    stub.script(Reply(status=400, error_message=f"bad key {secret} for this route"))
    provider = make(
        "echo",
        headers={"HTTP-Referer": "https://example.org", "X-Title": "tokenwire"},
        secret_headers={"X-Custom-Key": secret},
    )
    _, error = await collect_error(provider)
    assert secret not in error.message and "[redacted]" in error.message
    headers = stub.last_request.headers
    assert headers["x-custom-key"] == secret
    assert (headers["http-referer"], headers["x-title"]) == ("https://example.org", "tokenwire")
    assert secret not in repr(provider)


def test_a_header_from_an_unset_variable_is_a_config_error_naming_the_variable() -> None:
    from tokenwire.config import ConfigError, ModelConfig
    from tokenwire.providers.registry import build_provider

    model = ModelConfig(
        id="up",
        provider="openai",
        base_url="http://127.0.0.1:9/v1",
        headers_env={"X-Api-Key": "TW_TEST_HEADER_KEY"},
    )
    with pytest.raises(ConfigError, match="TW_TEST_HEADER_KEY, which is not set"):
        build_provider(model, env={})
    provider = build_provider(model, env={"TW_TEST_HEADER_KEY": "s3cret-value"})
    assert "s3cret-value" not in repr(provider)
