"""/v1/chat/completions as a faithful proxy: the official openai SDK, through a real tokenwire
server, to the loopback upstream stub. Tool calls both ways, every parameter carried or refused by
name, usage and logprobs as asked, and what each kind of model can honour."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.model_functions import Probe, rich
from tests.support.servers import RunningServer, replay, run_server
from tests.support.upstream_stub import Call, Reply, ThreadedUpstream
from tokenwire.config import ModelConfig

SECRET = "sk-test-proxy-7c6b5a4d3e2f"

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
    },
}
TWO_CALLS = Reply(
    tool_calls=(
        Call("call_w", "get_weather", ('{"ci', 'ty": "Pa', 'ris"}')),
        Call("call_t", "get_time", ('{"tz"', ': "CET"}')),
    ),
    interleave=True,
    finish_reason="tool_calls",
)
ASK = [{"role": "user", "content": "Weather and time in Paris?"}]
FN = Probe()  # what the python model "fn" was given


def upstream_model(id: str, base_url: str, **more: Any) -> ModelConfig:
    return ModelConfig(
        id=id,
        provider="openai",
        base_url=base_url,
        model="echo",
        api_key_env="TW_TEST_KEY",
        first_token_timeout=5.0,
        idle_timeout=5.0,
        **more,
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
        models = (
            upstream_model("gpt", upstream.base_url),
            upstream_model("eyes", upstream.base_url, vision=True),
            upstream_model("gpt-or-replay", upstream.base_url, fallbacks=("replay",)),
            replay("replay", text="Hello from replay."),
            ModelConfig(id="fn", provider="python", entry=rich(FN)),
            # Never loaded: every request to it here is refused before it would run.
            ModelConfig(id="local", provider="local"),
        )
        with run_server(tmp_path_factory.mktemp("proxy"), models) as running:
            yield running


@pytest.fixture
def sdk(server: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def sent(upstream: ThreadedUpstream) -> dict[str, Any]:
    body = upstream.last_request.json
    assert isinstance(body, dict)
    return body


# --- tool calls, streamed and not, and the follow-up ------------------------------------------


def test_two_parallel_streamed_calls_reach_the_sdks_stream_helper_whole(
    sdk: openai.OpenAI, upstream: ThreadedUpstream
) -> None:
    upstream.script(TWO_CALLS)
    with sdk.chat.completions.stream(model="gpt", messages=ASK, tools=[WEATHER, TIME]) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_w", "get_weather", '{"city": "Paris"}'),
        ("call_t", "get_time", '{"tz": "CET"}'),
    ]
    assert sent(upstream)["tools"] == [WEATHER, TIME]


def test_streamed_call_pieces_keep_their_interleaving_and_openais_shape(
    sdk: openai.OpenAI, upstream: ThreadedUpstream
) -> None:
    upstream.script(TWO_CALLS)
    chunks = list(
        sdk.chat.completions.create(model="gpt", messages=ASK, tools=[WEATHER, TIME], stream=True)
    )
    pieces = [
        piece
        for chunk in chunks
        if chunk.choices
        for piece in chunk.choices[0].delta.tool_calls or []
    ]
    assert [p.index for p in pieces] == [0, 1, 0, 1, 0, 1, 0]
    firsts = [p for p in pieces if p.id is not None]
    assert [(p.index, p.id, p.type, p.function and p.function.name) for p in firsts] == [
        (0, "call_w", "function", "get_weather"),
        (1, "call_t", "function", "get_time"),
    ]
    later = [p for p in pieces if p.id is None]
    assert all(p.type is None and p.function and p.function.name is None for p in later)
    by_hand: dict[int, str] = {}
    for p in pieces:
        assert p.function is not None
        by_hand[p.index] = by_hand.get(p.index, "") + (p.function.arguments or "")
    assert by_hand == {0: '{"city": "Paris"}', 1: '{"tz": "CET"}'}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls" and finishes.count("tool_calls") == 1


def test_the_same_calls_not_streamed(sdk: openai.OpenAI, upstream: ThreadedUpstream) -> None:
    upstream.script(TWO_CALLS)
    answer = sdk.chat.completions.create(model="gpt", messages=ASK, tools=[WEATHER, TIME])
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [(c.id, c.type, c.function.name, c.function.arguments) for c in calls] == [
        ("call_w", "function", "get_weather", '{"city": "Paris"}'),
        ("call_t", "function", "get_time", '{"tz": "CET"}'),
    ]


def test_the_follow_up_with_tool_results_reaches_the_upstream_as_sent(
    sdk: openai.OpenAI, upstream: ThreadedUpstream
) -> None:
    upstream.script(TWO_CALLS)
    first = sdk.chat.completions.create(model="gpt", messages=ASK, tools=[WEATHER, TIME])
    message = first.choices[0].message
    calls = message.tool_calls or []
    follow_up: list[Any] = [
        *ASK,
        message,  # the SDK's own object, as the docs show it sent back
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 21 °C"},
        {
            "role": "tool",
            "tool_call_id": calls[1].id,
            "content": [{"type": "text", "text": "14:05"}],
        },
    ]
    answer = sdk.chat.completions.create(model="gpt", messages=follow_up, tools=[WEATHER, TIME])
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == "Weather and time in Paris?"  # the stub echoes
    assert sent(upstream)["messages"] == [
        *ASK,
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
                    "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_w", "content": "sunny, 21 °C"},
        {"role": "tool", "tool_call_id": "call_t", "content": "14:05"},
    ]


# --- parameters: carried, refused, unknown ----------------------------------------------------


def test_n_over_one_is_a_400_naming_n(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="gpt", messages=ASK, n=2)
    assert (caught.value.code, caught.value.param) == ("unsupported_parameter", "n")
    assert caught.value.status_code == 400


def test_n_of_one_is_taken(sdk: openai.OpenAI) -> None:
    assert sdk.chat.completions.create(model="gpt", messages=ASK, n=1).choices


def test_an_unknown_parameter_is_a_400_as_openai_answers_it(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="gpt", messages=ASK, extra_body={"temprature": 0.2})
    error = caught.value
    assert error.message.endswith("Unrecognized request argument supplied: temprature")
    assert (error.code, error.param, error.type) == (
        "unknown_parameter",
        "temprature",
        "invalid_request_error",
    )


def test_an_openai_parameter_tokenwire_does_not_carry_is_refused_by_name(
    sdk: openai.OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="gpt", messages=ASK, store=True)
    assert (caught.value.code, caught.value.param) == ("unsupported_parameter", "store")


PASSED_THROUGH: list[tuple[str, Any]] = [
    ("tools", [WEATHER]),
    ("tool_choice", {"type": "function", "function": {"name": "get_weather"}}),
    ("parallel_tool_calls", False),
    ("response_format", {"type": "json_object"}),
    (
        "response_format",
        {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        },
    ),
    ("frequency_penalty", 0.5),
    ("presence_penalty", -0.5),
    ("logit_bias", {"50256": -100, "15339": 5}),
    ("logprobs", True),
    ("user", "user-1234"),
    ("reasoning_effort", "low"),
    ("max_completion_tokens", 64),
    ("max_tokens", 32),
    ("temperature", 0.3),
    ("top_p", 0.9),
    ("seed", 42),
    ("stop", ["END"]),
]


@pytest.mark.parametrize(("name", "value"), PASSED_THROUGH)
def test_each_carried_parameter_reaches_the_upstream_as_sent(
    sdk: openai.OpenAI, upstream: ThreadedUpstream, name: str, value: Any
) -> None:
    given: dict[str, Any] = {name: value}
    if name in ("tool_choice", "parallel_tool_calls"):
        given["tools"] = [WEATHER]
    sdk.chat.completions.create(model="gpt", messages=ASK, **given)
    body = sent(upstream)
    for key, expected in given.items():
        assert body[key] == expected
    if name == "max_completion_tokens":
        assert "max_tokens" not in body  # one name, the client's


def test_top_logprobs_reach_the_upstream_and_the_client(
    sdk: openai.OpenAI, upstream: ThreadedUpstream
) -> None:
    answer = sdk.chat.completions.create(
        model="gpt",
        messages=[{"role": "user", "content": "Hi there"}],
        logprobs=True,
        top_logprobs=2,
    )
    assert (sent(upstream)["logprobs"], sent(upstream)["top_logprobs"]) == (True, 2)
    logprobs = answer.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert [t.token for t in logprobs.content] == ["Hi", " there"]
    assert [len(t.top_logprobs) for t in logprobs.content] == [2, 2]


def test_streamed_logprobs_ride_on_their_text(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="gpt",
        messages=[{"role": "user", "content": "Hi there"}],
        logprobs=True,
        stream=True,
    )
    texts = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            logprobs = chunk.choices[0].logprobs
            assert logprobs is not None and logprobs.content is not None
            assert [t.token for t in logprobs.content] == [chunk.choices[0].delta.content]
            texts.append(chunk.choices[0].delta.content)
    assert texts == ["Hi", " there"]


def test_without_logprobs_asked_none_come(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(model="gpt", messages=ASK)
    assert answer.choices[0].logprobs is None


def test_usage_is_asked_of_the_upstream_always_and_given_only_when_asked(
    sdk: openai.OpenAI, upstream: ThreadedUpstream
) -> None:
    plain = list(sdk.chat.completions.create(model="gpt", messages=ASK, stream=True))
    assert sent(upstream)["stream_options"] == {"include_usage": True}
    assert all(chunk.usage is None for chunk in plain)
    assert all(chunk.choices for chunk in plain)
    asked = list(
        sdk.chat.completions.create(
            model="gpt", messages=ASK, stream=True, stream_options={"include_usage": True}
        )
    )
    assert sent(upstream)["stream_options"] == {"include_usage": True}
    assert asked[-1].choices == [] and asked[-1].usage is not None
    assert asked[-1].usage.completion_tokens == 5
    assert all(chunk.usage is None for chunk in asked[:-1])


# --- what each model can honour ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "given", "param", "code"),
    [
        ("local", {"tools": [WEATHER]}, "tools", "tools_unsupported"),
        ("replay", {"logprobs": True}, "logprobs", "unsupported_parameter"),
        ("replay", {"user": "u1"}, "user", "unsupported_parameter"),
        (
            "fn",
            {"response_format": {"type": "json_object"}},
            "response_format",
            "unsupported_parameter",
        ),
        ("local", {"frequency_penalty": 0.5}, "frequency_penalty", "unsupported_parameter"),
        # A fallback may answer in the model's place: it must be able to honour it too.
        (
            "gpt-or-replay",
            {"reasoning_effort": "high"},
            "reasoning_effort",
            "unsupported_parameter",
        ),
        (
            "gpt",
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is this?"},
                            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                        ],
                    }
                ]
            },
            "messages[0].content[1]",
            "images_unsupported",
        ),
    ],
)
def test_what_a_model_cannot_honour_is_a_400_naming_it(
    sdk: openai.OpenAI, model: str, given: dict[str, Any], param: str, code: str
) -> None:
    given = {"messages": ASK, **given}
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model=model, **given)
    assert (caught.value.code, caught.value.param) == (code, param)
    assert repr(model) in caught.value.message


@pytest.mark.parametrize("model", ["replay", "fn", "gpt-or-replay"])
def test_parameters_that_ask_for_nothing_are_taken_by_any_model(
    sdk: openai.OpenAI, model: str
) -> None:
    answer = sdk.chat.completions.create(
        model=model,
        messages=ASK,
        logprobs=False,
        frequency_penalty=0,
        presence_penalty=0.0,
        n=1,
    )
    assert answer.choices[0].message.content


def test_null_is_the_default_of_every_parameter(server: RunningServer) -> None:
    body = {
        "model": "gpt",
        "messages": ASK,
        **dict.fromkeys(["stream", "stream_options", "n", "tools", "tool_choice", "logprobs"]),
        **dict.fromkeys(["temperature", "max_tokens", "max_completion_tokens", "user"]),
    }
    response = httpx.post(server.base_url + "/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "chat.completion"


def test_a_python_model_is_given_the_tools_and_the_tool_choice(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(
        model="fn", messages=ASK, tools=[WEATHER], tool_choice="required"
    )
    assert answer.choices[0].message.content
    _, params = FN.calls[-1]
    assert (params.tools, params.tool_choice, params.extra) == ((WEATHER,), "required", {})


def test_an_assistants_reasoning_content_goes_back_upstream(
    sdk: openai.OpenAI, upstream: ThreadedUpstream
) -> None:
    # DeepSeek wants it back on the turns of a tool loop in thinking mode.
    thought = {"role": "assistant", "content": "Sunny.", "reasoning_content": "Check the tool."}
    sdk.chat.completions.create(model="gpt", messages=[*ASK, thought, *ASK])
    assert sent(upstream)["messages"][1] == thought


def test_images_go_as_they_are_to_a_vision_model(
    sdk: openai.OpenAI, upstream: ThreadedUpstream
) -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
        },
    ]
    sdk.chat.completions.create(model="eyes", messages=[{"role": "user", "content": content}])
    assert sent(upstream)["messages"] == [{"role": "user", "content": content}]


def test_text_parts_are_joined_for_a_model_that_reads_only_text(
    sdk: openai.OpenAI, upstream: ThreadedUpstream
) -> None:
    parts = [{"type": "text", "text": "Hello "}, {"type": "text", "text": "world"}]
    sdk.chat.completions.create(model="gpt", messages=[{"role": "user", "content": parts}])
    assert sent(upstream)["messages"] == [{"role": "user", "content": "Hello world"}]


CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        (
            {"messages": [{"role": "tool", "tool_call_id": "call_1", "content": "x"}]},
            "messages[0].tool_call_id",
        ),
        (
            {"messages": [*ASK, {"role": "assistant", "content": None, "tool_calls": [CALL]}]},
            "messages[1].tool_calls",
        ),
        (
            {
                "messages": [
                    *ASK,
                    {"role": "assistant", "content": None, "tool_calls": [CALL]},
                    *ASK,
                ]
            },
            "messages[1].tool_calls",
        ),
        ({"messages": [*ASK, {"role": "assistant", "content": None}]}, "messages[1].content"),
        ({"messages": [{"role": "user", "content": "x", "mood": "happy"}]}, "messages[0].mood"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "messages[0].content[0].type",
        ),
        ({"tool_choice": "auto"}, "tool_choice"),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice.function.name",
        ),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name"}}]},
            "tools[0].function.name",
        ),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
        ({"tools": [WEATHER, WEATHER]}, "tools[1].function.name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
            "tools[0].function.parameters",
        ),
        ({"parallel_tool_calls": True}, "parallel_tool_calls"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        (
            {"stream": True, "stream_options": {"include_usage": "yes"}},
            "stream_options.include_usage",
        ),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"logprobs": True, "top_logprobs": 30}, "top_logprobs"),
        ({"frequency_penalty": 3}, "frequency_penalty"),
        ({"logit_bias": {"hello": 1}}, "logit_bias"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {}}},
            "response_format.json_schema.name",
        ),
        ({"max_tokens": 5, "max_completion_tokens": 5}, "max_completion_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"temperature": 7}, "temperature"),
        ({"n": 0}, "n"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(
    server: RunningServer, changes: dict[str, Any], param: str
) -> None:
    body = {"model": "gpt", "messages": ASK, **changes}
    response = httpx.post(server.base_url + "/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    assert error["message"] and error["type"] == "invalid_request_error"
    assert SECRET not in response.text
