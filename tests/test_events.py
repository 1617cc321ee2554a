"""The event model: JSON made once, read back by any transport, folded into an answer."""

from __future__ import annotations

import pytest

from tokenwire.events import (
    Answer,
    Delta,
    Done,
    Error,
    Event,
    Logprobs,
    Reasoning,
    Start,
    ToolCall,
    ToolResult,
    Usage,
    WholeToolCall,
)


def test_json_round_trip_ignores_keys_a_transport_added() -> None:
    start = Event.make(1, Start("str_1", "conv_1", "msg_1", "m"))
    framed = b'{"stream_id":"str_1","ref":7,' + start.json[1:]  # as the WebSocket sends it
    assert Event.from_json(framed) == start


@pytest.mark.parametrize("raw", [b"[]", b'{"type":"delta","seq":0,"text":"x"}', b'{"type":"x"}'])
def test_what_is_not_an_event_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        Event.from_json(raw)


def test_answer_folds_payloads_and_keeps_the_join() -> None:
    answer = Answer()
    for payload in (Reasoning("think"), Delta("你好"), Delta("，世界"), Usage(3, 2)):
        answer.add(payload)
    assert (answer.text, answer.reasoning, answer.usage_counts) == ("你好，世界", "think", (3, 2))
    answer.add(Delta("!"))
    assert answer.text == "你好，世界!" and answer.final is None
    answer.add(Error("upstream_reset", "gone", retryable=True))
    assert answer.final == Error("upstream_reset", "gone", retryable=True)
    assert Answer().usage_counts is None and Answer().text == ""
    done = Answer()
    done.add(Done("length"))
    assert done.final == Done("length")


def test_a_tool_calls_first_piece_names_it_and_later_pieces_carry_only_arguments() -> None:
    first = Event.make(3, ToolCall(0, id="call_w", name="weather"))
    later = Event.make(4, ToolCall(0, arguments='{"city":"巴黎"}'))
    assert first.json == (
        b'{"type":"tool_call","seq":3,"index":0,"id":"call_w","name":"weather","arguments":""}'
    )
    assert (
        later.json
        == '{"type":"tool_call","seq":4,"index":0,"arguments":"{\\"city\\":\\"巴黎\\"}"}'.encode()
    )
    assert Event.from_json(first.json) == first and Event.from_json(later.json) == later


def test_a_tool_result_round_trips_with_its_error_flag() -> None:
    event = Event.make(5, ToolResult("call_w", "no such city", is_error=True))
    assert event.to_dict() == {
        "type": "tool_result",
        "seq": 5,
        "tool_call_id": "call_w",
        "content": "no such city",
        "is_error": True,
    }
    assert Event.from_json(event.json) == event


def test_logprobs_round_trip_and_leave_the_answer_as_it_is() -> None:
    entry = {"token": "你", "logprob": -0.5, "bytes": [228, 189, 160], "top_logprobs": []}
    event = Event.make(3, Logprobs([entry]))
    assert event.to_dict() == {"type": "logprobs", "seq": 3, "content": [entry]}
    assert Event.from_json(event.json) == event
    answer = Answer()
    answer.add(event.payload)
    assert (answer.text, answer.tool_calls, answer.final) == ("", [], None)


def test_answer_joins_interleaved_parallel_calls_by_index_and_never_merges_a_later_turn() -> None:
    answer = Answer()
    pieces = [
        ToolCall(0, id="call_w", name="weather"),
        ToolCall(1, id="call_t", name="time", arguments='{"tz":'),
        ToolCall(0, arguments='{"city":"Paris"}'),
        ToolCall(1, arguments='"UTC"}'),
        ToolResult("call_w", "sunny"),
        ToolCall(0, id="call_x", name="weather", arguments="{}"),  # the next turn numbers from 0
    ]
    for piece in pieces:
        answer.add(piece)
    assert answer.tool_calls == [
        WholeToolCall("call_w", "weather", '{"city":"Paris"}'),
        WholeToolCall("call_t", "time", '{"tz":"UTC"}'),
        WholeToolCall("call_x", "weather", "{}"),
    ]
    assert answer.tool_results == [ToolResult("call_w", "sunny")]
    answer.add(Done("tool_calls"))
    assert answer.final == Done("tool_calls")
