"""SSE encoder and the WHATWG event-stream decoder, one rule per test, chunks split on purpose."""

from __future__ import annotations

import random

import pytest

from tokenwire.events import Delta, Done, Error, Event, Payload, Reasoning, Start, Usage
from tokenwire.wire.sse import (
    KEEPALIVE,
    ServerSentEvent,
    SSEDecoder,
    encode,
    encode_comment,
    encode_event,
    encode_events,
    encode_retry,
)

# A fullwidth comma, CJK, a 4-byte emoji and a ZWJ sequence: every UTF-8 length.
TEXT = "你好\uff0c世界 🌍👩\u200d💻 done"


def feed_all(chunks: list[bytes], decoder: SSEDecoder | None = None) -> list[ServerSentEvent]:
    decoder = decoder or SSEDecoder()
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def sample_events() -> list[Event]:
    payloads: list[Payload] = [
        Start("st_1", "cv_1", "msg_1", "smollm2"),
        Reasoning("thinking\nabout it"),
        Delta(TEXT),
        Delta("line\u2028sep\u2029para\u0085nel\r\nCRLF"),
        Usage(12, 34),
        Done("stop"),
    ]
    return [Event.make(seq, payload) for seq, payload in enumerate(payloads, start=1)]


# --- encoder ---------------------------------------------------------------------------------


def test_encode_event_writes_id_event_data_and_blank_line() -> None:
    event = Event.make(7, Delta("hi"))
    assert encode_event(event) == b"id: 7\nevent: delta\ndata: " + event.json + b"\n\n"


def test_encode_events_is_the_concatenation_of_single_frames() -> None:
    events = sample_events()
    assert encode_events(events) == b"".join(encode_event(e) for e in events)


def test_encode_events_of_empty_batch_is_empty() -> None:
    assert encode_events([]) == b""


def test_encode_retry_writes_a_retry_block() -> None:
    assert encode_retry(3000) == b"retry: 3000\n\n"


@pytest.mark.parametrize("bad", [-1, True])
def test_encode_retry_rejects_what_clients_would_ignore(bad: int) -> None:
    with pytest.raises(ValueError):
        encode_retry(bad)


def test_keepalive_is_a_comment_block() -> None:
    assert KEEPALIVE == b": keepalive\n\n" == encode_comment("keepalive")
    assert feed_all([KEEPALIVE]) == []


def test_encode_comment_puts_a_colon_on_every_line() -> None:
    assert encode_comment("a\r\nb\rc\nd") == b": a\n: b\n: c\n: d\n\n"


def test_encode_splits_data_on_cr_lf_and_crlf() -> None:
    assert encode("a\rb\nc\r\nd") == b"data: a\ndata: b\ndata: c\ndata: d\n\n"
    assert feed_all([encode("a\rb\nc\r\nd")])[0].data == "a\nb\nc\nd"


def test_encode_keeps_unicode_line_separators_inside_one_data_line() -> None:
    data = "x\u2028y\u2029z\u0085w\x0bv\x0cu\x1cend"
    assert encode(data).count(b"data:") == 1
    assert feed_all([encode(data)])[0].data == data


def test_encode_writes_id_and_event_fields() -> None:
    frame = encode("payload", event="note", id="42")
    assert frame == b"id: 42\nevent: note\ndata: payload\n\n"
    assert feed_all([frame]) == [ServerSentEvent("note", "payload", "42")]


def test_encode_keeps_leading_space_and_empty_data() -> None:
    assert feed_all([encode("  two spaces")])[0].data == "  two spaces"
    assert feed_all([encode("")])[0].data == ""
    assert feed_all([encode("\n")])[0].data == "\n"


@pytest.mark.parametrize(
    ("event", "id"), [("a\nb", None), ("a\rb", None), (None, "1\n2"), (None, "1\x002")]
)
def test_encode_rejects_field_values_that_would_break_the_frame(
    event: str | None, id: str | None
) -> None:
    with pytest.raises(ValueError):
        encode("x", event=event, id=id)


# --- decoder: lines --------------------------------------------------------------------------


def test_event_type_defaults_to_message() -> None:
    assert feed_all([b"data: hello\n\n"]) == [ServerSentEvent("message", "hello", "", None)]


def test_lf_cr_and_crlf_all_end_lines() -> None:
    events = feed_all([b"data: a\ndata: b\rdata: c\r\ndata: d\n\r\n\r\rdata: e\r\r"])
    assert [e.data for e in events] == ["a\nb\nc\nd", "e"]


def test_cr_at_end_of_feed_then_lf_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # Were the LF a second line end, it would be a blank line dispatching "a" on its own.
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == [ServerSentEvent("message", "a\nb", "")]
    assert decoder.feed(b"\n") == []


def test_crlf_split_over_an_empty_feed_is_still_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [ServerSentEvent("message", "a", "")]


def test_crlf_split_across_a_partial_utf8_character() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: \xe4") == []  # the LF completes the CRLF
    assert decoder.feed(b"\xbd\xa0\n\n") == [ServerSentEvent("message", "a\n你", "")]


def test_bare_cr_at_end_of_feed_dispatches_without_waiting() -> None:
    # The CR is already a line end; the parser must not wait to see whether an LF follows.
    assert feed_all([b"data: a\r\r"]) == [ServerSentEvent("message", "a", "")]


def test_unicode_line_separators_do_not_end_lines() -> None:
    data = "a\u2028b\u2029c\u0085d\x0be\x0cf\x1cg\x1dh\x1ei"
    assert feed_all([f"data: {data}\n\n".encode()])[0].data == data


def test_long_line_in_tiny_chunks_is_parsed_once_complete() -> None:
    value = "x" * 100_000
    chunks = [b"data: "] + [value[i : i + 7].encode() for i in range(0, len(value), 7)]
    decoder = SSEDecoder()
    assert feed_all(chunks, decoder) == []
    assert decoder.feed(b"\n\n")[0].data == value


# --- decoder: bytes and UTF-8 ----------------------------------------------------------------


def test_utf8_character_split_across_feeds() -> None:
    raw = f"data: {TEXT}\n\n".encode()
    split = raw.index("🌍".encode()) + 2
    assert feed_all([raw[:split], raw[split:]])[0].data == TEXT


def test_invalid_utf8_becomes_replacement_characters() -> None:
    assert feed_all([b"data: a\xffb\xe4\xbdc\n\n"])[0].data == "a\ufffdb\ufffdc"


def test_leading_bom_is_stripped() -> None:
    assert feed_all([b"\xef\xbb\xbfdata: x\n\n"])[0].data == "x"


def test_leading_bom_split_across_feeds_is_stripped() -> None:
    assert feed_all([b"\xef", b"\xbb", b"\xbfdata: x\n\n"])[0].data == "x"


def test_only_one_leading_bom_is_stripped() -> None:
    # The second BOM is part of the field name "\ufeffdata", which is unknown and ignored.
    assert feed_all([b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n"])[0].data == "y"


def test_bom_after_the_start_of_the_stream_is_kept() -> None:
    events = feed_all([b"data: x\n\n", b"\xef\xbb\xbfdata: y\n\ndata: z\n\n"])
    assert [e.data for e in events] == ["x", "z"]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_chinese_and_emoji_survive_a_split_at_every_byte_boundary(bom: bytes) -> None:
    raw = bom + encode_events(sample_events())
    expected = [(str(e.seq), e.type, e.json.decode()) for e in sample_events()]
    for cut in range(len(raw) + 1):
        events = feed_all([raw[:cut], raw[cut:]])
        assert [(e.id, e.event, e.data) for e in events] == expected, cut


def test_chinese_and_emoji_survive_byte_by_byte_feeding() -> None:
    raw = b"\xef\xbb\xbf" + encode(TEXT, event="delta", id="9") + encode("\r\n".join([TEXT] * 3))
    events = feed_all(byte_by_byte(raw))
    assert events == [
        ServerSentEvent("delta", TEXT, "9"),
        ServerSentEvent("message", "\n".join([TEXT] * 3), "9"),
    ]


def test_round_trip_encode_events_decoder_from_json() -> None:
    events = [*sample_events(), Event.make(7, Error("upstream", "model died", retryable=True))]
    decoded = feed_all(byte_by_byte(encode_events(events)))
    assert [Event.from_json(e.data) for e in decoded] == events
    assert [(e.event, e.id) for e in decoded] == [(e.type, str(e.seq)) for e in events]


# --- decoder: fields -------------------------------------------------------------------------


def test_line_starting_with_colon_is_a_comment() -> None:
    assert feed_all([b": hi\n:\ndata: x\n: data: y\n\n"]) == [ServerSentEvent("message", "x", "")]


def test_field_without_colon_is_a_name_with_empty_value() -> None:
    assert feed_all([b"data\n\n"])[0].data == ""
    assert feed_all([b"data\ndata\ndata: x\n\n"])[0].data == "\n\nx"


def test_exactly_one_space_is_removed_after_the_colon() -> None:
    events = feed_all([b"data:none\n\ndata: one\n\ndata:  two\n\ndata:\ttab\n\n"])
    assert [e.data for e in events] == ["none", "one", " two", "\ttab"]


def test_value_keeps_later_colons() -> None:
    assert feed_all([b"data: a: b:c\n\n"])[0].data == "a: b:c"


def test_several_data_lines_are_joined_with_lf() -> None:
    assert feed_all([b"data: a\ndata: b\ndata: c\n\n"])[0].data == "a\nb\nc"


def test_only_the_final_lf_is_removed_at_dispatch() -> None:
    assert feed_all([b"data\ndata\n\n"])[0].data == "\n"


def test_field_names_are_case_sensitive() -> None:
    assert feed_all([b"Data: x\nDATA: y\n\n"]) == []


def test_unknown_fields_are_ignored() -> None:
    events = feed_all([b"foo: bar\ndata: x\nfoo\nlast-event-id: 3\n\n"])
    assert events == [ServerSentEvent("message", "x", "")]


def test_event_field_sets_the_type() -> None:
    assert feed_all([b"event: delta\ndata: x\n\n"])[0].event == "delta"


def test_event_type_resets_after_each_dispatch() -> None:
    events = feed_all([b"event: a\ndata: 1\n\ndata: 2\n\n"])
    assert [e.event for e in events] == ["a", "message"]


def test_event_type_resets_after_a_block_without_data() -> None:
    assert feed_all([b"event: a\n\ndata: 1\n\n"])[0].event == "message"


def test_empty_event_field_means_message() -> None:
    assert feed_all([b"event: a\nevent:\ndata: 1\n\n"])[0].event == "message"


def test_id_is_kept_for_later_events() -> None:
    decoder = SSEDecoder()
    events = feed_all([b"id: 1\ndata: a\n\ndata: b\n\n"], decoder)
    assert [e.id for e in events] == ["1", "1"]
    assert decoder.last_event_id == "1"


def test_empty_id_clears_the_last_event_id() -> None:
    decoder = SSEDecoder()
    events = feed_all([b"id: 1\ndata: a\n\nid\ndata: b\n\n"], decoder)
    assert [e.id for e in events] == ["1", ""]
    assert decoder.last_event_id == ""


def test_id_containing_nul_is_ignored() -> None:
    decoder = SSEDecoder()
    events = feed_all([b"id: 1\n\nid: 2\x003\ndata: a\n\n"], decoder)
    assert events[0].id == "1"
    assert decoder.last_event_id == "1"


def test_block_without_data_dispatches_nothing_but_sets_last_event_id() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 5\n\n") == []
    assert decoder.last_event_id == "5"


def test_last_event_id_changes_only_at_dispatch() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n")
    assert decoder.last_event_id == "1"


def test_unfinished_final_block_is_discarded() -> None:
    decoder = SSEDecoder()
    events = feed_all([b"id: 1\ndata: a\n\nid: 2\ndata: b\n"], decoder)
    assert [e.data for e in events] == ["a"]
    assert decoder.last_event_id == "1"


def test_retry_sets_the_reconnection_time_and_the_events_retry() -> None:
    decoder = SSEDecoder()
    events = feed_all([b"retry: 2500\ndata: a\n\ndata: b\n\n"], decoder)
    assert [e.retry for e in events] == [2500, None]
    assert decoder.retry == 2500


def test_retry_block_without_data_sets_reconnection_time_only() -> None:
    decoder = SSEDecoder()
    assert decoder.retry is None
    assert decoder.feed(encode_retry(1000)) == []
    assert decoder.retry == 1000
    assert decoder.feed(b"data: a\n\n")[0].retry is None


def test_retry_applies_before_the_block_ends() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 700\n")
    assert decoder.retry == 700


@pytest.mark.parametrize(
    "value", ["", "12x", "-1", "+1", "1.5", "  5", "0x10", "\u0661\u0662", "\u00b2", "1 "]
)
def test_retry_accepted_only_when_all_ascii_digits(value: str) -> None:
    decoder = SSEDecoder()
    events = decoder.feed(f"retry: 10\n\nretry:{value}\ndata: a\n\n".encode())
    assert decoder.retry == 10
    assert events[0].retry is None


def test_retry_too_long_for_python_int_is_ignored_not_raised() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 10\n\nretry: " + b"9" * 10_000 + b"\ndata: a\n\n")
    assert decoder.retry == 10


def test_retry_with_leading_zeros_is_base_ten() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 0071\n\n")
    assert decoder.retry == 71


# --- decoder: against a literal reading of the spec ------------------------------------------


def reference_parse(stream: bytes) -> tuple[list[ServerSentEvent], str, int | None]:
    """HTML §9.2.6 transcribed character by character, on the whole stream at once."""
    text = stream.decode("utf-8", "replace").removeprefix("\ufeff")
    lines: list[str] = []
    current = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "\r\n":
            lines.append(current)
            current = ""
            if text[i : i + 2] == "\r\n":
                i += 1
        else:
            current += ch
        i += 1
    events: list[ServerSentEvent] = []
    data = event_type = id_buffer = last_id = ""
    retry: int | None = None
    block_retry: int | None = None
    for line in lines:
        if line == "":
            last_id = id_buffer
            if data:
                events.append(
                    ServerSentEvent(event_type or "message", data[:-1], last_id, block_retry)
                )
            data = event_type = ""
            block_retry = None
            continue
        if line[0] == ":":
            continue
        field, value = line.split(":", 1) if ":" in line else (line, "")
        value = value.removeprefix(" ")
        if field == "event":
            event_type = value
        elif field == "data":
            data += value + "\n"
        elif field == "id" and "\0" not in value:
            id_buffer = value
        elif field == "retry" and value and all(c in "0123456789" for c in value):
            retry = block_retry = int(value)
    return events, last_id, retry


PIECES = [
    b"data",
    b"data:",
    b"data: ",
    b"event:",
    b"event: ",
    b"id:",
    b"id: ",
    b"retry:",
    b":",
    b" ",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"x",
    b"7",
    b"\0",
    "é你🌍".encode(),
    "\u2028\u0085".encode(),
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xe4\xbd",
]


def test_matches_a_literal_reading_of_the_spec_on_random_streams() -> None:
    rng = random.Random(20240601)
    for _ in range(1500):
        stream = b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 40)))
        cuts = sorted(rng.sample(range(len(stream) + 1), min(len(stream) + 1, rng.randint(0, 6))))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        decoder = SSEDecoder()
        events = feed_all(chunks, decoder)
        assert (events, decoder.last_event_id, decoder.retry) == reference_parse(stream), stream
