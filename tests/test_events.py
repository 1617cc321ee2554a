"""The event model: JSON made once, read back by any transport, folded into an answer."""

from __future__ import annotations

import pytest

from tokenwire.events import Answer, Delta, Done, Error, Event, Reasoning, Start, Usage


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
