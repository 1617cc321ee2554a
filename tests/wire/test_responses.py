"""The Responses encoding of protocol v1 events, checked against the official SDK's models
(strict pydantic validation of every event and of every Response object): order, gapless
sequence numbers, items, and that the encoding is deterministic so a resume can re-encode."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from openai.types.responses import Response, ResponseStreamEvent

from tokenwire.events import (
    Delta,
    Done,
    Error,
    Event,
    Payload,
    Reasoning,
    Start,
    ToolCall,
    ToolResult,
    Usage,
)
from tokenwire.wire.responses import ResponseEncoder, ResponseSpec

# The SDK's event model of each type, from the union it parses a stream with.
EVENTS: dict[str, Any] = {
    typing.get_args(kind.model_fields["type"].annotation)[0]: kind
    for kind in typing.get_args(typing.get_args(ResponseStreamEvent)[0])
}
SPEC = ResponseSpec(id="resp_abc", model="smollm2", created_at=1_700_000_000)


def encode(
    *payloads: Payload, spec: ResponseSpec = SPEC
) -> tuple[list[dict[str, Any]], ResponseEncoder]:
    encoder = ResponseEncoder(spec)
    out: list[dict[str, Any]] = []
    events = [
        Event.make(seq, p)
        for seq, p in enumerate((Start("st", "cv", "m", "smollm2"), *payloads), 1)
    ]
    for event in events:
        out.extend(encoder.encode(event))
    for obj in out:
        EVENTS[obj["type"]].model_validate(obj, strict=True)  # the SDK parses every event
    return out, encoder


def types(out: list[dict[str, Any]]) -> list[str]:
    return [o["type"] for o in out]


def test_text_answer_is_one_message_item_in_the_documented_order() -> None:
    out, encoder = encode(Delta("Hel"), Delta("lo"), Usage(3, 2), Done("stop"))
    assert types(out) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [o["sequence_number"] for o in out] == list(range(len(out)))
    final = Response.model_validate(out[-1]["response"])
    assert final.status == "completed"
    assert final.output_text == "Hello"
    assert final.usage is not None and final.usage.total_tokens == 5
    assert out[6]["text"] == "Hello"
    assert Response.model_validate(encoder.snapshot()) == final


def test_reasoning_is_its_own_item_before_the_message() -> None:
    out, encoder = encode(Reasoning("think"), Reasoning("ing"), Delta("answer"), Done("stop"))
    assert types(out)[2:7] == [
        "response.output_item.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.output_item.done",
    ]
    assert out[5]["text"] == "thinking"
    output = encoder.snapshot()["output"]
    assert [item["type"] for item in output] == ["reasoning", "message"]
    assert output[0]["content"] == [{"type": "reasoning_text", "text": "thinking"}]
    assert [item["status"] for item in output] == ["completed", "completed"]


def test_parallel_tool_calls_are_function_call_items_with_argument_deltas() -> None:
    out, encoder = encode(
        ToolCall(0, "call_a", "weather", '{"city":'),
        ToolCall(1, "call_b", "time", "{}"),
        ToolCall(0, arguments='"Paris"}'),
        Done("tool_calls"),
    )
    deltas = [o for o in out if o["type"] == "response.function_call_arguments.delta"]
    assert [(d["output_index"], d["delta"]) for d in deltas] == [
        (0, '{"city":'),
        (1, "{}"),
        (0, '"Paris"}'),
    ]
    done = [o for o in out if o["type"] == "response.function_call_arguments.done"]
    assert {(d["name"], d["arguments"]) for d in done} == {
        ("weather", '{"city":"Paris"}'),
        ("time", "{}"),
    }
    final = Response.model_validate(encoder.snapshot())
    calls = [(i.call_id, i.name, i.arguments) for i in final.output if i.type == "function_call"]
    assert calls == [("call_a", "weather", '{"city":"Paris"}'), ("call_b", "time", "{}")]
    assert final.status == "completed"


def test_text_after_a_server_side_tool_result_is_a_new_message_item() -> None:
    _out, encoder = encode(
        ToolCall(0, "call_a", "add", "{}"),
        ToolResult("call_a", "3"),
        Delta("it is 3"),
        Done("stop"),
    )
    output = encoder.snapshot()["output"]
    assert [item["type"] for item in output] == ["function_call", "message"]
    assert [item["id"] for item in output] == ["fc_abc_0", "msg_abc_1"]


def test_length_ends_incomplete_with_max_output_tokens() -> None:
    out, _encoder = encode(Delta("cut"), Done("length"))
    assert out[-1]["type"] == "response.incomplete"
    final = Response.model_validate(out[-1]["response"])
    assert final.status == "incomplete"
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_output_tokens"
    assert final.output[0].status == "incomplete"


def test_cancel_ends_with_response_incomplete_whose_status_is_cancelled() -> None:
    out, _ = encode(Delta("part"), Done("cancelled"))
    assert out[-1]["type"] == "response.incomplete"
    assert Response.model_validate(out[-1]["response"]).status == "cancelled"


def test_error_ends_failed_with_the_error_and_the_partial_text_kept() -> None:
    out, _ = encode(Delta("part"), Error("upstream_error", "boom", retryable=True))
    assert out[-1]["type"] == "response.failed"
    final = Response.model_validate(out[-1]["response"])
    assert final.status == "failed"
    assert final.error is not None and final.error.code == "server_error"
    assert "boom" in final.error.message
    assert final.output_text == "part"


@pytest.mark.parametrize("end", [Done("stop"), Done("cancelled"), Error("x", "y")])
def test_exactly_one_terminal_event(end: Payload) -> None:
    out, encoder = encode(Delta("a"), end)
    terminal = {"response.completed", "response.incomplete", "response.failed"}
    assert [t for t in types(out) if t in terminal] == [types(out)[-1]]
    assert encoder.finished


def test_encoding_is_deterministic_so_a_resume_can_skip_by_sequence_number() -> None:
    payloads = (Reasoning("r"), Delta("a"), ToolCall(0, "call_x", "f", "{}"), Done("tool_calls"))
    first, _ = encode(*payloads)
    second, _ = encode(*payloads)
    assert first == second
    resumed = [o for o in second if o["sequence_number"] > 4]
    assert resumed == first[5:]


def test_the_response_echoes_its_request() -> None:
    spec = ResponseSpec(
        id="resp_q",
        model="m",
        created_at=1,
        instructions="be brief",
        background=True,
        previous_response_id="resp_p",
        tools=[{"type": "function", "name": "f", "parameters": {}, "strict": False}],
        tool_choice="required",
        temperature=0.5,
        max_output_tokens=9,
    )
    _, encoder = encode(Done("stop"), spec=spec)
    final = Response.model_validate(encoder.snapshot())
    assert final.instructions == "be brief"
    assert final.background is True
    assert final.previous_response_id == "resp_p"
    assert final.tool_choice == "required"
    assert final.max_output_tokens == 9
    assert final.tools[0].type == "function"
