"""Tool calls from the providers that need no key: a Python model function yields ``ToolCall``s,
and a replay model plays a script of turns chosen by the tool results a conversation holds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tokenwire import ToolCall, ToolResult
from tokenwire.events import Answer, Delta, Done, Reasoning
from tokenwire.providers.base import GenerationParams, ProviderError, ProviderPayload
from tokenwire.providers.python import PythonProvider
from tokenwire.providers.replay import ReplayProvider, turn_index

LOOKUP = {"type": "function", "function": {"name": "lookup"}}


async def collect(stream: AsyncIterator[ProviderPayload]) -> list[ProviderPayload]:
    return [payload async for payload in stream]


def sync_caller(messages: list[dict[str, Any]], params: GenerationParams) -> Iterator[object]:
    """A sync model function (so run in a thread) that calls every tool it is offered."""
    yield "Calling."
    for index, tool in enumerate(params.tools):
        yield ToolCall(index, f"call_{index}", tool["function"]["name"], '{"q": "x"}')
    yield Done("tool_calls")


async def test_a_sync_function_yields_whole_calls_and_sees_the_tools() -> None:
    provider = PythonProvider(id="caller", function=sync_caller)
    params = GenerationParams(tools=(LOOKUP, {"type": "function", "function": {"name": "pick"}}))
    payloads = await collect(provider.stream([{"role": "user", "content": "go"}], params))
    assert payloads == [
        Delta("Calling."),
        ToolCall(0, "call_0", "lookup", '{"q": "x"}'),
        ToolCall(1, "call_1", "pick", '{"q": "x"}'),
        Done("tool_calls"),
    ]


async def test_a_function_gets_the_tool_messages_and_changes_only_its_copy() -> None:
    seen: list[list[dict[str, Any]]] = []

    async def model(messages: list[dict[str, Any]], params: GenerationParams) -> AsyncIterator[str]:
        seen.append(messages)
        messages[1]["tool_calls"][0]["id"] = "changed"
        yield f"got {messages[-1]['content']}"

    history = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c", "content": "42"},
    ]
    payloads = await collect(
        PythonProvider(id="m", function=model).stream(history, GenerationParams())
    )
    assert payloads == [Delta("got 42")]
    assert seen[0][2] == {"role": "tool", "tool_call_id": "c", "content": "42"}
    assert history[1]["tool_calls"][0]["id"] == "c"


@pytest.mark.parametrize(
    ("item", "complaint"),
    [
        (ToolResult("c", "x"), "cannot yield a ToolResult"),
        (ToolCall(-1, "c", "f"), "index must be an integer >= 0"),
        (ToolCall(0, "c", "f", {"q": 1}), "arguments must be its JSON text"),  # type: ignore[arg-type]
    ],
)
async def test_what_a_function_may_not_yield_about_tools(item: object, complaint: str) -> None:
    def model(messages: list[dict[str, Any]], params: GenerationParams) -> Iterator[object]:
        yield item

    with pytest.raises(ProviderError) as raised:
        await collect(PythonProvider(id="m", function=model).stream([], GenerationParams()))
    assert raised.value.code == "model_error"
    assert complaint in str(raised.value.__cause__)


TURNS = (
    {
        "text": "Let me see.",
        "reasoning": "A lookup.",
        "tool_calls": [
            {"name": "lookup", "arguments": {"q": "tokenwire"}, "id": "call_fixed"},
            {"name": "pick"},
        ],
    },
    {"text": "Found it."},
)


def test_the_turn_is_the_number_of_result_rounds_since_the_last_user_message() -> None:
    user = {"role": "user", "content": "q"}
    calling = {"role": "assistant", "content": None, "tool_calls": []}
    tool = {"role": "tool", "tool_call_id": "c", "content": "r"}
    assert turn_index([user]) == 0
    assert turn_index([user, calling, tool, tool]) == 1  # two results of one round
    assert turn_index([user, calling, tool, calling, tool]) == 2
    assert turn_index([user, calling, tool, user]) == 0  # a new question starts over


async def test_a_replay_turn_streams_its_text_then_its_calls_in_pieces() -> None:
    provider = ReplayProvider(id="r", turns=TURNS)
    payloads = await collect(
        provider.stream([{"role": "user", "content": "q"}], GenerationParams())
    )
    assert payloads[-1] == Done("tool_calls")
    assert "".join(p.text for p in payloads if isinstance(p, Reasoning)) == "A lookup."
    answer = Answer()
    for payload in payloads:
        answer.add(payload)
    assert answer.text == "Let me see."
    assert answer.tool_calls[0].to_json() == {
        "id": "call_fixed",
        "name": "lookup",
        "arguments": '{"q": "tokenwire"}',
    }
    second = answer.tool_calls[1]
    assert (second.name, second.arguments) == ("pick", "{}")
    assert second.id.startswith("call_")
    pieces = [p for p in payloads if isinstance(p, ToolCall) and p.index == 0]
    assert len(pieces) > 2 and pieces[0].arguments == "" and pieces[1].id is None


async def test_after_the_results_the_next_turn_plays_and_the_last_one_repeats() -> None:
    provider = ReplayProvider(id="r", turns=TURNS)
    history = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "Let me see.", "tool_calls": []},
        {"role": "tool", "tool_call_id": "call_fixed", "content": "a"},
    ]
    for rounds in (1, 2):
        payloads = await collect(provider.stream(history, GenerationParams()))
        assert "".join(p.text for p in payloads if isinstance(p, Delta)) == "Found it."
        assert payloads[-1] == Done("stop")
        history += [history[1], history[2]]
        assert turn_index(history) == rounds + 1


async def test_a_turn_cut_by_max_tokens_makes_no_calls() -> None:
    provider = ReplayProvider(id="r", turns=TURNS)
    payloads = await collect(
        provider.stream([{"role": "user", "content": "q"}], GenerationParams(max_tokens=1))
    )
    assert payloads[-1] == Done("length")
    assert not any(isinstance(p, ToolCall) for p in payloads)
