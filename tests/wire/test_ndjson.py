"""NDJSON encoder and incremental decoder, one rule per test, chunks split on purpose."""

from __future__ import annotations

from typing import Any

import pytest

from tokenwire.events import Delta, Done, Event, Payload, Reasoning, Usage
from tokenwire.wire.ndjson import NDJSONDecoder, NDJSONError, encode_event, encode_events

# A fullwidth comma, CJK, a 4-byte emoji and a ZWJ sequence: every UTF-8 length.
TEXT = "你好\uff0c世界 🌍👩\u200d💻 done"


def feed_all(chunks: list[bytes], decoder: NDJSONDecoder | None = None) -> list[Any]:
    decoder = decoder or NDJSONDecoder()
    out: list[Any] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out


def sample_events() -> list[Event]:
    payloads: list[Payload] = [
        Reasoning("thinking\nabout it"),
        Delta(TEXT),
        Delta("line\u2028sep\u0085nel\r\nCRLF"),
        Usage(12, 34),
        Done("length"),
    ]
    return [Event.make(seq, payload) for seq, payload in enumerate(payloads, start=2)]


# --- encoder ---------------------------------------------------------------------------------


def test_encode_event_is_the_json_and_a_newline() -> None:
    event = Event.make(3, Delta("hi"))
    assert encode_event(event) == event.json + b"\n"


def test_encode_events_is_the_concatenation_of_single_lines() -> None:
    events = sample_events()
    assert encode_events(events) == b"".join(encode_event(e) for e in events)


def test_encode_events_of_empty_batch_is_empty() -> None:
    assert encode_events([]) == b""


def test_encoded_event_is_exactly_one_line() -> None:
    for event in sample_events():
        assert encode_event(event).count(b"\n") == 1


# --- decoder ---------------------------------------------------------------------------------


def test_one_value_per_line_of_any_json_type() -> None:
    assert feed_all([b'{"a":1}\n[1,2]\n"s"\n3.5\nnull\ntrue\n']) == [
        {"a": 1},
        [1, 2],
        "s",
        3.5,
        None,
        True,
    ]


def test_partial_line_waits_for_its_newline() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a":') == []
    assert decoder.feed(b"1}") == []
    assert decoder.feed(b'\n{"b"') == [{"a": 1}]
    assert decoder.feed(b":2}\n") == [{"b": 2}]


def test_utf8_character_split_across_feeds() -> None:
    raw = encode_event(Event.make(2, Delta(TEXT)))
    split = raw.index("🌍".encode()) + 1
    assert feed_all([raw[:split], raw[split:]])[0]["text"] == TEXT


def test_chinese_and_emoji_survive_a_split_at_every_byte_boundary() -> None:
    raw = encode_events(sample_events())
    expected = [e.to_dict() for e in sample_events()]
    for cut in range(len(raw) + 1):
        assert feed_all([raw[:cut], raw[cut:]]) == expected, cut


def test_chinese_and_emoji_survive_byte_by_byte_feeding() -> None:
    raw = encode_events(sample_events())
    values = feed_all([raw[i : i + 1] for i in range(len(raw))])
    assert [Event.from_dict(v) for v in values] == sample_events()


def test_blank_lines_are_skipped() -> None:
    assert feed_all([b"\n\n1\n  \n\t\n\r\n2\n\n"]) == [1, 2]


def test_crlf_line_ends_are_tolerated() -> None:
    assert feed_all([b'{"a":1}\r\n{"b":', b"2}\r", b"\n"]) == [{"a": 1}, {"b": 2}]


def test_unicode_line_separators_do_not_end_lines() -> None:
    value = {"t": "a\u2028b\u2029c\u0085d"}
    raw = b'{"t":"a\xe2\x80\xa8b\xe2\x80\xa9c\xc2\x85d"}\n'
    assert feed_all([raw]) == [value]


def test_long_line_in_tiny_chunks_is_parsed_once_complete() -> None:
    line = Event.make(2, Delta("x" * 100_000)).json
    decoder = NDJSONDecoder()
    assert feed_all([line[i : i + 7] for i in range(0, len(line), 7)], decoder) == []
    assert decoder.feed(b"\n")[0]["text"] == "x" * 100_000


def test_flush_parses_a_final_line_without_newline() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'1\n{"last":') == [1]
    assert decoder.feed(b"true}") == []
    assert decoder.flush() == [{"last": True}]
    assert decoder.flush() == []


def test_flush_with_nothing_left_returns_nothing() -> None:
    decoder = NDJSONDecoder()
    decoder.feed(b"1\n\n")
    assert decoder.flush() == []


def test_flush_of_an_incomplete_final_line_raises() -> None:
    decoder = NDJSONDecoder()
    decoder.feed(b'1\n{"cut off":')
    with pytest.raises(NDJSONError) as info:
        decoder.flush()
    assert info.value.line == 2


def test_malformed_line_raises_with_its_line_number() -> None:
    decoder = NDJSONDecoder()
    with pytest.raises(NDJSONError, match="line 3") as info:
        decoder.feed(b'1\n\n{"oops"\n')
    assert info.value.line == 3
    assert isinstance(info.value, ValueError)


def test_invalid_utf8_is_a_malformed_line() -> None:
    with pytest.raises(NDJSONError) as info:
        NDJSONDecoder().feed(b'"\xff"\n')
    assert info.value.line == 1


def test_decoder_recovers_after_a_malformed_line() -> None:
    decoder = NDJSONDecoder()
    with pytest.raises(NDJSONError) as info:
        decoder.feed(b'{"a":1}\nnot json\n{"b":2}\n{"c"')
    # Nothing is lost: what came before is on the error, what came after on the next call.
    assert info.value.values == [{"a": 1}]
    assert decoder.feed(b":3}\n") == [{"b": 2}, {"c": 3}]
    with pytest.raises(NDJSONError) as again:
        decoder.feed(b"[\n")
    assert again.value.line == 5
    assert decoder.feed(b"4\n") == [4]


def test_lines_queued_behind_an_error_come_out_of_flush() -> None:
    decoder = NDJSONDecoder()
    with pytest.raises(NDJSONError):
        decoder.feed(b"}\n1\n2")
    assert decoder.flush() == [1, 2]
