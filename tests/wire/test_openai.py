"""OpenAI-compatible chunks, completions and errors, checked against the official SDK's models and
its own streaming parser (over an in-memory transport); and the decoder of what an upstream streams
back, one test per rule, fed in pieces split on purpose."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from tokenwire.events import (
    Delta,
    Done,
    Error,
    Event,
    Logprobs,
    Payload,
    Reasoning,
    Start,
    ToolCall,
    ToolResult,
    Usage,
    WholeToolCall,
)
from tokenwire.wire.openai import (
    DONE,
    AnswerError,
    ChunkDecoder,
    ChunkEncoder,
    ChunkPayload,
    IncompleteAnswer,
    MalformedAnswer,
    ReportedError,
    completion,
    decode_completion,
    error_body,
)
from tokenwire.wire.sse import KEEPALIVE, SSEDecoder

# A fullwidth comma, CJK, a 4-byte emoji and a ZWJ sequence: every UTF-8 length.
TEXT = "你好\uff0c世界 🌍👩\u200d💻 done"
CID = "chatcmpl-123"
MODEL = "smollm2"
CREATED = 1_700_000_000


def make_events(*payloads: Payload) -> list[Event]:
    return [Event.make(seq, payload) for seq, payload in enumerate(payloads, start=1)]


def full_stream() -> list[Event]:
    return make_events(
        Start("st_1", "cv_1", "msg_1", MODEL),
        Reasoning("let me think\n"),
        Delta(TEXT),
        Delta(" line\u2028two\r\n"),
        Usage(11, 22),
        Done("stop"),
    )


def frames(data: bytes) -> list[str]:
    """The data of every SSE event in ``data``, parsed by our own decoder, byte by byte."""
    decoder = SSEDecoder()
    events = [e for i in range(len(data)) for e in decoder.feed(data[i : i + 1])]
    assert all(e.event == "message" for e in events)
    return [e.data for e in events]


def chunks(data: bytes) -> list[dict[str, Any]]:
    """The chunk objects of a stream, which must end with exactly one [DONE]."""
    *bodies, last = frames(data)
    assert last == "[DONE]"
    return [orjson.loads(body) for body in bodies]


def encode_all(events: list[Event], include_usage: bool = False) -> bytes:
    return ChunkEncoder(CID, MODEL, CREATED, include_usage).encode_events(events)


# --- chunks ----------------------------------------------------------------------------------


def test_every_chunk_validates_as_a_chat_completion_chunk() -> None:
    from openai.types.chat import ChatCompletionChunk

    for body in chunks(encode_all(full_stream(), include_usage=True)):
        chunk = ChatCompletionChunk.model_validate(body)
        assert (chunk.id, chunk.object, chunk.created, chunk.model) == (
            CID,
            "chat.completion.chunk",
            CREATED,
            MODEL,
        )


def test_choice_has_index_delta_finish_reason_and_null_logprobs() -> None:
    [choice] = chunks(encode_all(make_events(Delta("a"), Done())))[0]["choices"]
    assert choice == {
        "index": 0,
        "delta": {"role": "assistant", "content": "a"},
        "finish_reason": None,
        "logprobs": None,
    }


def test_start_emits_an_opening_chunk_with_the_assistant_role() -> None:
    encoder = ChunkEncoder(CID, MODEL, CREATED)
    [data] = frames(encoder.encode(make_events(Start("s", "c", "m", MODEL))[0]))
    assert orjson.loads(data)["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_first_text_chunk_carries_the_role_when_no_start_was_seen() -> None:
    encoder = ChunkEncoder(CID, MODEL, CREATED)
    [data] = frames(encoder.encode(Event.make(2, Reasoning("hm"))))
    delta = orjson.loads(data)["choices"][0]["delta"]
    assert delta == {"role": "assistant", "reasoning_content": "hm"}


def test_role_is_sent_only_once() -> None:
    deltas = [c["choices"][0]["delta"] for c in chunks(encode_all(full_stream()))]
    assert [d.get("role") for d in deltas] == ["assistant", None, None, None, None]


def test_delta_becomes_content_and_reasoning_becomes_reasoning_content() -> None:
    deltas = [c["choices"][0]["delta"] for c in chunks(encode_all(full_stream()))]
    assert deltas[1:4] == [
        {"reasoning_content": "let me think\n"},
        {"content": TEXT},
        {"content": " line\u2028two\r\n"},
    ]


def test_done_emits_a_finish_chunk_with_empty_delta_then_the_done_marker() -> None:
    encoder = ChunkEncoder(CID, MODEL, CREATED)
    encoder.encode(Event.make(1, Start("s", "c", "m", MODEL)))
    data = encoder.encode(Event.make(2, Done("stop")))
    assert data.endswith(b"\n\n" + DONE)
    [body] = chunks(data)
    assert body["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}]


@pytest.mark.parametrize(
    ("ours", "theirs"), [("stop", "stop"), ("length", "length"), ("cancelled", "stop")]
)
def test_finish_reason_maps_to_openai(ours: Any, theirs: str) -> None:
    body = chunks(encode_all(make_events(Delta("a"), Done(ours))))[-1]
    assert body["choices"][0]["finish_reason"] == theirs


def test_usage_is_not_sent_without_include_usage() -> None:
    bodies = chunks(encode_all(full_stream()))
    assert all("usage" not in body for body in bodies)
    assert all(body["choices"] for body in bodies)


def test_include_usage_sends_a_last_usage_chunk_without_choices() -> None:
    bodies = chunks(encode_all(full_stream(), include_usage=True))
    assert bodies[-1]["choices"] == []
    assert bodies[-1]["usage"] == {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}
    # As OpenAI does: every other chunk carries "usage": null.
    assert all(body["usage"] is None for body in bodies[:-1])
    assert bodies[-2]["choices"][0]["finish_reason"] == "stop"


def test_include_usage_without_a_usage_event_sends_no_usage_chunk() -> None:
    bodies = chunks(encode_all(make_events(Delta("a"), Done()), include_usage=True))
    assert [body["choices"][0]["finish_reason"] for body in bodies] == [None, "stop"]


def test_error_emits_an_error_object_then_the_done_marker() -> None:
    data = encode_all(make_events(Delta("partial"), Error("upstream_failed", "model died")))
    *_, error, done = frames(data)
    assert orjson.loads(error) == {
        "error": {
            "message": "model died",
            "type": "server_error",
            "param": None,
            "code": "upstream_failed",
        }
    }
    assert done == "[DONE]"


def test_nothing_is_emitted_after_the_terminal_event() -> None:
    encoder = ChunkEncoder(CID, MODEL, CREATED)
    encoder.encode(Event.make(1, Done()))
    assert encoder.encode(Event.make(2, Delta("late"))) == b""
    assert encoder.encode(Event.make(3, Error("x", "y"))) == b""


def test_usage_alone_emits_nothing() -> None:
    assert ChunkEncoder(CID, MODEL, CREATED).encode(Event.make(3, Usage(1, 2))) == b""


def test_encode_events_is_the_concatenation_of_single_encodes() -> None:
    single = ChunkEncoder(CID, MODEL, CREATED, include_usage=True)
    expected = b"".join(single.encode(event) for event in full_stream())
    assert encode_all(full_stream(), include_usage=True) == expected


def test_full_stream_through_our_sse_decoder_rebuilds_the_answer() -> None:
    from openai.types.chat import ChatCompletionChunk

    parsed = [ChatCompletionChunk.model_validate(b) for b in chunks(encode_all(full_stream()))]
    content = "".join(c.choices[0].delta.content or "" for c in parsed)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content", "") for c in parsed
    )
    assert content == TEXT + " line\u2028two\r\n"
    assert reasoning == "let me think\n"
    assert parsed[-1].choices[0].finish_reason == "stop"


# --- the official SDK, end to end over an in-memory transport --------------------------------


def sdk_client(handler: Callable[[Any], Any]) -> Any:
    import httpx2
    import openai

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(api_key="test", base_url="http://test/v1", http_client=http, max_retries=0)


def streaming(body: bytes, piece: int = 5) -> Callable[[Any], Any]:
    import httpx2

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(body), piece):
            yield body[i : i + piece]

    def handler(request: Any) -> Any:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=pieces())

    return handler


def replying(status: int, body: dict[str, Any]) -> Callable[[Any], Any]:
    import httpx2

    def handler(request: Any) -> Any:
        return httpx2.Response(status, json=body)

    return handler


def create_stream(client: Any, include_usage: bool = False) -> Any:
    return client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": include_usage},
    )


def test_official_sdk_streams_our_chunks() -> None:
    body = encode_all(full_stream(), include_usage=True)
    # Keepalive comments between frames must not reach the SDK's caller.
    body = body.replace(b"\n\ndata:", b"\n\n" + KEEPALIVE + b"data:")
    with sdk_client(streaming(body)) as client:
        received = list(create_stream(client, include_usage=True))
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == (
        TEXT + " line\u2028two\r\n"
    )
    assert received[0].choices[0].delta.role == "assistant"
    assert received[-2].choices[0].finish_reason == "stop"
    assert received[-1].usage is not None
    assert received[-1].usage.total_tokens == 33


def test_official_sdk_raises_api_error_on_a_streamed_error() -> None:
    import openai

    body = encode_all(make_events(Delta("partial"), Error("upstream_failed", "model died")))
    with sdk_client(streaming(body)) as client:
        stream = create_stream(client)
        assert next(stream).choices[0].delta.content == "partial"
        with pytest.raises(openai.APIError, match="model died") as info:
            next(stream)
    assert info.value.code == "upstream_failed"


# --- whole completions and errors ------------------------------------------------------------


def test_completion_validates_as_a_chat_completion() -> None:
    from openai.types.chat import ChatCompletion

    body = completion(CID, MODEL, CREATED, TEXT, "why", "length", (5, 7))
    parsed = ChatCompletion.model_validate(body)
    assert (parsed.id, parsed.object, parsed.created, parsed.model) == (
        CID,
        "chat.completion",
        CREATED,
        MODEL,
    )
    assert parsed.choices[0].message.content == TEXT
    assert parsed.choices[0].finish_reason == "length"


def test_completion_message_has_reasoning_content_only_when_non_empty() -> None:
    with_reasoning = completion(CID, MODEL, CREATED, "a", "why", "stop", None)
    without = completion(CID, MODEL, CREATED, "a", "", "stop", None)
    assert with_reasoning["choices"][0]["message"] == {
        "role": "assistant",
        "content": "a",
        "reasoning_content": "why",
    }
    assert without["choices"][0]["message"] == {"role": "assistant", "content": "a"}


def test_completion_usage_has_the_total() -> None:
    body = completion(CID, MODEL, CREATED, "a", "", "stop", (5, 7))
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


def test_completion_without_usage_leaves_it_out() -> None:
    assert "usage" not in completion(CID, MODEL, CREATED, "a", "", "stop", None)


def test_completion_maps_cancelled_to_stop() -> None:
    body = completion(CID, MODEL, CREATED, "a", "", "cancelled", None)
    assert body["choices"][0]["finish_reason"] == "stop"


def test_completion_rejects_an_unknown_finish_reason() -> None:
    with pytest.raises(ValueError, match="finish reason"):
        completion(CID, MODEL, CREATED, "a", "", "exploded", None)


def test_official_sdk_reads_a_completion() -> None:
    body = completion(CID, MODEL, CREATED, TEXT, "why", "stop", (5, 7))
    with sdk_client(replying(200, body)) as client:
        result = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert result.choices[0].message.content == TEXT
    assert result.choices[0].message.model_extra == {"reasoning_content": "why"}
    assert result.usage.total_tokens == 12


def test_error_body_has_openai_error_shape() -> None:
    assert error_body("model_not_found", "no such model") == {
        "error": {
            "message": "no such model",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }
    assert error_body("busy", "later", "server_error")["error"]["type"] == "server_error"


def test_official_sdk_raises_a_typed_error_from_error_body() -> None:
    import openai

    with (
        sdk_client(replying(404, error_body("model_not_found", "no such model"))) as client,
        pytest.raises(openai.NotFoundError, match="no such model") as info,
    ):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert (info.value.code, info.value.type) == ("model_not_found", "invalid_request_error")


# --- decoding an upstream's stream: ChunkDecoder ---------------------------------------------


def sse_chunk(
    delta: dict[str, Any] | None = None, finish_reason: Any = None, **extra: Any
) -> bytes:
    """One ``data:`` block of a chat.completion.chunk with one choice, as upstreams send it."""
    body: dict[str, Any] = {"id": CID, "object": "chat.completion.chunk", "created": CREATED}
    body["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}]
    body.update(extra)
    return data(orjson.dumps(body))


def data(line: bytes | str) -> bytes:
    return b"data: " + (line.encode() if isinstance(line, str) else line) + b"\n\n"


ROLE = sse_chunk({"role": "assistant", "content": ""})
END = b"data: [DONE]\n\n"


def decode(body: bytes, *, logprobs: bool = False) -> list[ChunkPayload]:
    """What the decoder gives for ``body``, which must be the same whole, byte by byte and cut in
    two at every offset: the network may split anything anywhere."""
    whole = ChunkDecoder(logprobs=logprobs).feed(body)
    one = ChunkDecoder(logprobs=logprobs)
    assert same([p for i in range(len(body)) for p in one.feed(body[i : i + 1])], whole)
    for cut in range(1, len(body)):
        two = ChunkDecoder(logprobs=logprobs)
        assert same(two.feed(body[:cut]) + two.feed(body[cut:]), whole), cut
    return whole


def same(got: list[ChunkPayload], expected: list[ChunkPayload]) -> bool:
    """Equal, but for the ids the decoder makes up for calls that came without one."""
    return [_without_made_id(p) for p in got] == [_without_made_id(p) for p in expected]


def _without_made_id(payload: ChunkPayload) -> ChunkPayload:
    if isinstance(payload, ToolCall) and payload.id is not None and payload.id.startswith("call_"):
        return ToolCall(payload.index, "call_made", payload.name, payload.arguments)
    return payload


def decode_error(body: bytes) -> AnswerError:
    with pytest.raises(AnswerError) as info:
        ChunkDecoder().feed(body)
    return info.value


def test_content_becomes_delta_and_a_role_only_chunk_gives_nothing() -> None:
    body = ROLE + sse_chunk({"content": "Hel"}) + sse_chunk({"content": "lo"})
    assert decode(body) == [Delta("Hel"), Delta("lo")]


def test_reasoning_content_becomes_reasoning_kept_apart_from_the_answer() -> None:
    body = sse_chunk({"reasoning_content": "hmm"}) + sse_chunk({"content": "yes"})
    assert decode(body) == [Reasoning("hmm"), Delta("yes")]


def test_reasoning_under_its_newer_name_is_not_dropped() -> None:
    assert decode(sse_chunk({"reasoning": "hmm"})) == [Reasoning("hmm")]


def test_reasoning_content_wins_when_both_names_are_sent() -> None:
    body = sse_chunk({"reasoning_content": "first", "reasoning": "second"})
    assert decode(body) == [Reasoning("first")]


def test_reasoning_and_content_in_one_delta_keep_their_order() -> None:
    body = sse_chunk({"reasoning_content": "think", "content": "say"})
    assert decode(body) == [Reasoning("think"), Delta("say")]


def test_empty_and_null_text_are_skipped_not_sent_as_empty_events() -> None:
    body = (
        sse_chunk({"content": ""})
        + sse_chunk({"content": None, "reasoning_content": None})
        + sse_chunk({"reasoning": ""})
        + sse_chunk(None)
    )
    assert decode(body) == []


def test_a_character_split_between_reads_is_not_garbled() -> None:
    body = sse_chunk({"content": TEXT})
    cut = body.index("🌍".encode()) + 2  # inside the 4-byte emoji
    decoder = ChunkDecoder()
    assert decoder.feed(body[:cut]) == []
    assert decoder.feed(body[cut:]) == [Delta(TEXT)]


def test_a_crlf_split_between_reads_is_one_line_end() -> None:
    body = b'data: {"choices":[{"delta":{"content":"a"}}]}\r\n\r\ndata: [DONE]\r\n\r\n'
    cut = body.index(b"\n")  # the first read ends with a CR, the next starts with its LF
    decoder = ChunkDecoder()
    assert decoder.feed(body[:cut]) + decoder.feed(body[cut:]) == [Delta("a"), Done("stop")]


def test_usage_in_a_chunk_of_its_own_after_the_finish_comes_just_before_done() -> None:
    usage = data(b'{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}')
    body = sse_chunk({"content": "a"}) + sse_chunk(finish_reason="stop") + usage + END
    assert decode(body) == [Delta("a"), Usage(3, 2), Done("stop")]


def test_usage_in_the_finish_chunk_comes_just_before_done() -> None:
    finish = sse_chunk(finish_reason="stop", usage={"prompt_tokens": 3, "completion_tokens": 2})
    assert decode(sse_chunk({"content": "a"}) + finish + END) == [
        Delta("a"),
        Usage(3, 2),
        Done("stop"),
    ]


def test_a_running_usage_total_on_every_chunk_is_given_once_the_last() -> None:
    body = (
        sse_chunk({"content": "a"}, usage={"prompt_tokens": 3, "completion_tokens": 1})
        + sse_chunk({"content": "b"}, usage={"prompt_tokens": 3, "completion_tokens": 2})
        + END
    )
    assert decode(body) == [Delta("a"), Delta("b"), Usage(3, 2), Done("stop")]


def test_missing_token_counts_are_zero() -> None:
    body = data(b'{"choices":[],"usage":{"prompt_tokens":null}}') + END
    assert decode(body) == [Usage(0, 0), Done("stop")]


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("content_filter", "stop"),
    ],
)
def test_finish_reason_length_and_tool_calls_are_kept_and_anything_else_is_stop(
    theirs: str, ours: str
) -> None:
    assert decode(sse_chunk(finish_reason=theirs) + END) == [Done(ours)]  # type: ignore[arg-type]


def test_a_finish_reason_that_is_not_a_string_is_stop() -> None:
    decoder = ChunkDecoder()
    decoder.feed(sse_chunk(finish_reason={"type": "stop"}))
    assert decoder.finish_reason == "stop"
    assert decoder.feed(END) == [Done("stop")]


def test_done_without_a_finish_reason_is_a_normal_stop() -> None:
    assert decode(sse_chunk({"content": "a"}) + END) == [Delta("a"), Done("stop")]


def test_nothing_after_done_is_read() -> None:
    decoder = ChunkDecoder()
    after = sse_chunk({"content": "late"}) + data("not json")
    assert decoder.feed(sse_chunk({"content": "a"}) + END + after) == [Delta("a"), Done("stop")]
    assert decoder.ended
    assert decoder.feed(after) == []
    assert decoder.end() == []


def test_role_only_chunks_comments_and_usage_do_not_count_as_the_first_token() -> None:
    decoder = ChunkDecoder()
    decoder.feed(ROLE + b": keep-alive\n\n" + data(b'{"choices":[],"usage":{}}'))
    assert not decoder.started
    decoder.feed(sse_chunk({"content": "a"}))
    assert decoder.started


@pytest.mark.parametrize(
    "first", [sse_chunk({"reasoning_content": "r"}), sse_chunk(finish_reason="stop")]
)
def test_reasoning_or_a_finish_reason_alone_starts_the_answer(first: bytes) -> None:
    decoder = ChunkDecoder()
    decoder.feed(first)
    assert decoder.started


def test_a_missing_done_after_a_finish_reason_is_not_an_error() -> None:
    decoder = ChunkDecoder()
    usage = {"prompt_tokens": 4, "completion_tokens": 2}
    decoder.feed(sse_chunk({"content": "a"}) + sse_chunk(finish_reason="length", usage=usage))
    assert decoder.end() == [Usage(4, 2), Done("length")]
    assert decoder.ended


def test_a_body_that_ends_without_done_or_a_finish_reason_is_incomplete() -> None:
    decoder = ChunkDecoder()
    assert decoder.feed(sse_chunk({"content": "a"})) == [Delta("a")]
    with pytest.raises(IncompleteAnswer):
        decoder.end()


def test_a_chunk_with_an_error_member_is_reported_not_malformed() -> None:
    error = {"message": "overloaded", "type": "server_error"}
    exc = decode_error(sse_chunk({"content": "a"}) + data(orjson.dumps({"error": error})))
    assert isinstance(exc, ReportedError)
    assert exc.error == error


def test_vllms_bare_error_object_is_reported_not_malformed() -> None:
    bare = {"object": "error", "message": "engine died", "type": "InternalServerError", "code": 500}
    exc = decode_error(data(orjson.dumps(bare)))
    assert isinstance(exc, ReportedError)
    assert exc.error == bare


@pytest.mark.parametrize(
    ("payload", "error"), [(b'{"message":"busy"}', {"message": "busy"}), (b"busy", "busy")]
)
def test_an_error_event_is_reported_with_its_json_or_its_text(payload: bytes, error: Any) -> None:
    exc = decode_error(b"event: error\n" + data(payload))
    assert isinstance(exc, ReportedError)
    assert exc.error == error


def test_pings_and_other_named_events_are_skipped() -> None:
    body = b"event: ping\ndata: {}\n\n" + sse_chunk({"content": "a"})
    assert decode(body) == [Delta("a")]


@pytest.mark.parametrize(
    ("line", "what"),
    [
        (b"{not json", "a data line is not JSON"),
        (b"[1, 2]", "a chunk is not a JSON object"),
        (b'{"id": "x"}', "a chunk has neither choices nor usage"),
        (b'{"choices": "abc"}', "a chunk has no valid choice"),
        (b'{"choices": {"a": 1}}', "a chunk has no valid choice"),
        (b'{"choices": [5]}', "a chunk has no valid choice"),
        (b'{"choices": [{"delta": "text"}]}', "a chunk has no valid choice"),
        (b'{"choices": [{"delta": {"content": 5}}]}', "content is not a string"),
        (b'{"choices": [{"delta": {"reasoning_content": ["r"]}}]}', "reasoning is not a string"),
        (b'{"choices": [], "usage": 7}', "usage is not an object"),
        (b'{"choices": [], "usage": {"prompt_tokens": "3"}}', "token counts are not integers"),
    ],
)
def test_what_is_not_a_chunk_is_malformed_with_the_line(line: bytes, what: str) -> None:
    exc = decode_error(data(line))
    assert isinstance(exc, MalformedAnswer)
    assert (exc.what, exc.data) == (what, line.decode())


def test_text_decoded_before_an_error_in_the_same_read_is_not_lost() -> None:
    decoder = ChunkDecoder()
    with pytest.raises(MalformedAnswer) as info:
        decoder.feed(sse_chunk({"content": "a"}) + sse_chunk({"content": "b"}) + data("oops"))
    assert info.value.payloads == [Delta("a"), Delta("b")]


def test_our_own_encoders_chunks_decode_back_to_the_events() -> None:
    body = encode_all(full_stream(), include_usage=True)
    assert decode(body) == [
        Reasoning("let me think\n"),
        Delta(TEXT),
        Delta(" line\u2028two\r\n"),
        Usage(11, 22),
        Done("stop"),
    ]


def test_the_sse_parser_can_be_given() -> None:
    from tokenwire.wire.sse import ServerSentEvent

    fed: list[bytes] = []

    class Recording(SSEDecoder):
        __slots__ = ()

        def feed(self, data: bytes) -> list[ServerSentEvent]:
            fed.append(data)
            return super().feed(data)

    assert ChunkDecoder(Recording()).feed(END) == [Done("stop")]
    assert fed == [END]


# --- decoding a whole completion: decode_completion ------------------------------------------


def test_a_completion_decodes_to_reasoning_delta_usage_and_done() -> None:
    body = orjson.dumps(completion(CID, MODEL, CREATED, TEXT, "why", "length", (5, 7)))
    assert decode_completion(body) == [Reasoning("why"), Delta(TEXT), Usage(5, 7), Done("length")]


def test_an_empty_completion_is_done_alone() -> None:
    body = orjson.dumps(completion(CID, MODEL, CREATED, "", "", "stop", None))
    assert decode_completion(body) == [Done("stop")]


def test_an_error_answer_is_reported() -> None:
    with pytest.raises(ReportedError) as info:
        decode_completion(orjson.dumps(error_body("busy", "try later", "server_error")))
    assert info.value.error["message"] == "try later"


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"<html>", "the answer is not JSON"),
        (b"[1]", "the answer is not a JSON object"),
        (b'{"choices": []}', "the answer is not a chat completion"),
        (b'{"choices": [{"text": "legacy"}]}', "the answer is not a chat completion"),
    ],
)
def test_what_is_not_a_completion_is_malformed(body: bytes, what: str) -> None:
    with pytest.raises(MalformedAnswer) as info:
        decode_completion(body)
    assert info.value.what == what


# --- tool calls, logprobs and vendors' ways: ChunkDecoder and decode_completion ---------------


def call_piece(
    index: int | None = 0,
    id: str | None = None,
    name: str | None = None,
    arguments: Any = None,
    **more: Any,
) -> dict[str, Any]:
    """One entry of ``delta.tool_calls``: only the members given (``type`` with an ``id``)."""
    piece: dict[str, Any] = dict(more)
    if index is not None:
        piece["index"] = index
    if id is not None:
        piece["id"] = id
        piece.setdefault("type", "function")
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    if function:
        piece["function"] = function
    return piece


def calls(*pieces: dict[str, Any], finish_reason: Any = None) -> bytes:
    return sse_chunk({"tool_calls": list(pieces)}, finish_reason)


def joined(payloads: list[ChunkPayload]) -> list[WholeToolCall]:
    """The calls the pieces add up to, joined as every reader of a stream joins them."""
    from tokenwire.events import Answer

    answer = Answer()
    for payload in payloads:
        answer.add(payload)
    return answer.tool_calls


def test_a_calls_first_piece_has_its_id_and_name_and_later_pieces_only_arguments() -> None:
    body = (
        sse_chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call_piece(0, "call_a", "get_weather", "")],
            }
        )
        + calls(call_piece(0, arguments='{"city": '))
        + calls(call_piece(0, arguments='"Paris"}'))
        + sse_chunk(finish_reason="tool_calls")
        + END
    )
    assert decode(body) == [
        ToolCall(0, "call_a", "get_weather", ""),
        ToolCall(0, arguments='{"city": '),
        ToolCall(0, arguments='"Paris"}'),
        Done("tool_calls"),
    ]


def test_parallel_calls_whose_pieces_interleave_are_never_merged() -> None:
    body = (
        calls(call_piece(0, "call_a", "get_weather", '{"ci'))
        + calls(call_piece(1, "call_b", "get_time", '{"tz'))
        + calls(call_piece(0, arguments='ty": "Paris"}'))
        + calls(call_piece(1, arguments='": "CET"}'))
        + sse_chunk(finish_reason="tool_calls")
        + END
    )
    payloads = decode(body)
    assert [p.index for p in payloads if isinstance(p, ToolCall)] == [0, 1, 0, 1]
    assert joined(payloads) == [
        WholeToolCall("call_a", "get_weather", '{"city": "Paris"}'),
        WholeToolCall("call_b", "get_time", '{"tz": "CET"}'),
    ]


def test_two_calls_in_one_delta_keep_their_indexes() -> None:
    body = calls(call_piece(0, "call_a", "f", "{}"), call_piece(1, "call_b", "g", "{}")) + END
    assert decode(body) == [
        ToolCall(0, "call_a", "f", "{}"),
        ToolCall(1, "call_b", "g", "{}"),
        Done("tool_calls"),
    ]


def test_no_argument_piece_is_dropped_however_small() -> None:
    arguments = '{"text": "你好, 🌍", "n": [1, 2, 3]}'
    pieces = [arguments[i : i + 1] for i in range(len(arguments))]
    body = calls(call_piece(0, "call_a", "echo", "")) + b"".join(
        calls(call_piece(0, arguments=piece)) for piece in pieces
    )
    assert joined(decode(body + END)) == [WholeToolCall("call_a", "echo", arguments)]


def test_an_id_and_a_name_sent_again_on_later_pieces_are_not_a_new_call() -> None:
    # vLLM's way with some tool parsers: every piece repeats the id, the type and the name.
    body = (
        calls(call_piece(0, "call_a", "get_weather", '{"city":'))
        + calls(call_piece(0, "call_a", "get_weather", ' "Paris"}'))
        + END
    )
    assert decode(body) == [
        ToolCall(0, "call_a", "get_weather", '{"city":'),
        ToolCall(0, arguments=' "Paris"}'),
        Done("tool_calls"),
    ]


def test_an_empty_id_is_no_id() -> None:
    # DashScope's way: later pieces carry "id": "" and "type": "function"; a server that sends
    # "" on a first piece too gives no id at all, so the call gets one.
    body = (
        calls(call_piece(0, "call_a", "f", '{"a"'))
        + calls(call_piece(0, id="", name="", arguments=": 1}"))
        + calls(call_piece(1, id="", name="g", arguments="{}"))
        + END
    )
    first, made = joined(ChunkDecoder().feed(body))
    assert first == WholeToolCall("call_a", "f", '{"a": 1}')
    assert made.id.startswith("call_") and (made.name, made.arguments) == ("g", "{}")


def test_a_new_id_with_a_name_under_a_used_index_is_a_new_call_at_the_next_free_index() -> None:
    # Servers that number every parallel call 0.
    body = (
        calls(call_piece(0, "call_a", "f", '{"x": 1}'))
        + calls(call_piece(0, "call_b", "g", '{"y": 2}'))
        + END
    )
    assert decode(body) == [
        ToolCall(0, "call_a", "f", '{"x": 1}'),
        ToolCall(1, "call_b", "g", '{"y": 2}'),
        Done("tool_calls"),
    ]


def test_pieces_without_an_index_go_on_with_the_last_call_unless_a_new_id_comes() -> None:
    body = (
        calls(call_piece(None, "call_a", "f", '{"x"'))
        + calls(call_piece(None, arguments=": 1}"))
        + calls(call_piece(None, "call_b", "g", "{}"))
        + END
    )
    assert joined(decode(body)) == [
        WholeToolCall("call_a", "f", '{"x": 1}'),
        WholeToolCall("call_b", "g", "{}"),
    ]


def test_whole_arguments_in_one_piece_and_arguments_sent_as_an_object() -> None:
    # Ollama sends each call whole, in one delta; some servers send the arguments as an object.
    body = (
        calls(call_piece(0, "call_a", "f", '{"city": "Paris"}'))
        + calls(call_piece(1, "call_b", "g", {"tz": "CET"}))
        + END
    )
    assert joined(decode(body)) == [
        WholeToolCall("call_a", "f", '{"city": "Paris"}'),
        WholeToolCall("call_b", "g", '{"tz":"CET"}'),
    ]


def test_a_call_that_came_without_an_id_gets_one() -> None:
    payloads = ChunkDecoder().feed(calls(call_piece(0, name="f", arguments="{}")) + END)
    first = payloads[0]
    assert isinstance(first, ToolCall) and first.name == "f" and first.arguments == "{}"
    assert first.id is not None and first.id.startswith("call_") and len(first.id) == 29


def test_a_calls_arguments_are_held_until_its_name_comes() -> None:
    body = (
        calls(call_piece(0, "call_a", arguments='{"a"'))
        + calls(call_piece(0, name="f", arguments=": 1"))
        + calls(call_piece(0, arguments="}"))
        + END
    )
    assert decode(body) == [
        ToolCall(0, "call_a", "f", '{"a": 1'),
        ToolCall(0, arguments="}"),
        Done("tool_calls"),
    ]


def test_a_call_whose_name_never_comes_is_given_at_the_end_with_what_came() -> None:
    body = calls(call_piece(0, "call_a", arguments='{"a": 1}')) + sse_chunk(finish_reason="stop")
    decoder = ChunkDecoder()
    assert decoder.feed(body) == []
    assert decoder.end() == [ToolCall(0, "call_a", "", '{"a": 1}'), Done("tool_calls")]


def test_an_answer_that_called_tools_ends_as_tool_calls_even_when_the_upstream_says_stop() -> None:
    # Ollama, and OpenAI itself after a forced tool_choice, say "stop".
    body = calls(call_piece(0, "call_a", "f", "{}")) + sse_chunk(finish_reason="stop") + END
    assert decode(body)[-1] == Done("tool_calls")


def test_an_answer_cut_by_length_while_calling_a_tool_ends_as_length() -> None:
    body = calls(call_piece(0, "call_a", "f", '{"a')) + sse_chunk(finish_reason="length") + END
    assert decode(body)[-1] == Done("length")


def test_text_reasoning_and_a_call_in_one_delta_all_come_in_that_order() -> None:
    delta = {"reasoning": "r", "content": "c", "tool_calls": [call_piece(0, "call_a", "f", "{}")]}
    assert decode(sse_chunk(delta) + END) == [
        Reasoning("r"),
        Delta("c"),
        ToolCall(0, "call_a", "f", "{}"),
        Done("tool_calls"),
    ]


def test_a_tool_call_starts_the_answer() -> None:
    decoder = ChunkDecoder()
    decoder.feed(calls(call_piece(0, "call_a", "f", "")))
    assert decoder.started


@pytest.mark.parametrize(
    ("tool_calls", "what"),
    [
        ({"index": 0}, "tool_calls is not a list"),
        (["x"], "a tool call is not an object"),
        ([{"index": "0", "id": "c", "function": {"name": "f"}}], "a tool call's index is not a"),
        ([{"index": 0, "function": "f"}], "a tool call's function is not an object"),
        ([{"index": 0, "id": 5, "function": {"name": "f"}}], "a tool call's id or name is not a"),
        ([{"index": 0, "id": "c", "function": {"name": "f", "arguments": 5}}], "a tool call's arg"),
    ],
)
def test_a_tool_call_of_the_wrong_shape_is_malformed(tool_calls: Any, what: str) -> None:
    error = decode_error(sse_chunk({"tool_calls": tool_calls}))
    assert isinstance(error, MalformedAnswer) and error.what.startswith(what)


LOGPROB = {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}


def test_logprobs_come_just_before_their_text_when_asked_for() -> None:
    chunk = sse_chunk({"content": "Hi"}, logprobs=None)
    body = (
        chunk.replace(
            b'"finish_reason":null',
            b'"finish_reason":null,"logprobs":{"content":'
            + orjson.dumps([LOGPROB])
            + b',"refusal":null}',
        )
        + END
    )
    assert decode(body, logprobs=True) == [Logprobs([LOGPROB]), Delta("Hi"), Done("stop")]
    assert decode(body) == [Delta("Hi"), Done("stop")]  # not asked for: not even looked at


def test_usage_inside_the_finish_choice_is_read() -> None:
    # Kimi (Moonshot) puts it in choices[0].usage of the last chunk.
    body = orjson.dumps(
        {
            "id": CID,
            "object": "chat.completion.chunk",
            "choices": [
                {
                    "index": 0,
                    "delta": {},
                    "finish_reason": "stop",
                    "usage": {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11},
                }
            ],
        }
    )
    assert decode(data(body) + END) == [Usage(8, 3), Done("stop")]


def test_usage_in_a_last_chunk_with_empty_choices_comes_before_done() -> None:
    usage = {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    body = (
        calls(call_piece(0, "call_a", "f", "{}"))
        + sse_chunk(finish_reason="tool_calls")
        + data(orjson.dumps({"id": CID, "choices": [], "usage": usage}))
        + END
    )
    assert decode(body)[-2:] == [Usage(4, 2), Done("tool_calls")]


def whole(message: dict[str, Any], finish_reason: str = "stop", **choice: Any) -> bytes:
    return orjson.dumps(
        {
            "id": CID,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, **choice}],
        }
    )


def test_a_completion_with_tool_calls_decodes_to_whole_calls_and_tool_calls() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
        ],
    }
    assert decode_completion(whole(message, "tool_calls")) == [
        ToolCall(0, "call_a", "f", "{}"),
        ToolCall(1, "call_b", "g", "{}"),
        Done("tool_calls"),
    ]


def test_a_completion_with_tool_calls_that_says_stop_ends_as_tool_calls() -> None:
    message = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        ],
    }
    assert decode_completion(whole(message))[-1] == Done("tool_calls")


@pytest.mark.parametrize("tool_calls", [5, {"id": "c"}, ["c"]])
def test_a_completion_whose_tool_calls_are_of_the_wrong_shape_is_malformed(tool_calls: Any) -> None:
    with pytest.raises(MalformedAnswer):
        decode_completion(whole({"role": "assistant", "content": None, "tool_calls": tool_calls}))


def test_a_completions_logprobs_come_before_its_text_when_asked_for() -> None:
    body = whole({"role": "assistant", "content": "Hi"}, logprobs={"content": [LOGPROB]})
    assert decode_completion(body, logprobs=True) == [Logprobs([LOGPROB]), Delta("Hi"), Done()]
    assert decode_completion(body) == [Delta("Hi"), Done()]


# --- tool calls and logprobs out: ChunkEncoder and completion --------------------------------


def test_tool_call_pieces_are_encoded_exactly_as_openai_streams_them() -> None:
    events = make_events(
        Start("st_1", "cv_1", "msg_1", MODEL),
        ToolCall(0, "call_a", "get_weather", ""),
        ToolCall(1, "call_b", "get_time", '{"tz"'),
        ToolCall(0, arguments='{"city": "Paris"}'),
        ToolCall(1, arguments=': "CET"}'),
        Done("tool_calls"),
    )
    deltas = [c["choices"][0]["delta"] for c in chunks(encode_all(events))]
    assert deltas[1:] == [
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        },
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": '{"tz"'},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Paris"}'}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": ': "CET"}'}}]},
        {},
    ]
    assert chunks(encode_all(events))[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_tool_result_is_not_encoded() -> None:
    encoder = ChunkEncoder(CID, MODEL, CREATED)
    assert encoder.encode(Event.make(3, ToolResult("call_a", "sunny"))) == b""


def test_the_official_sdks_stream_helper_assembles_our_interleaved_calls() -> None:
    from openai.lib.streaming.chat import ChatCompletionStreamState

    events = make_events(
        Start("st_1", "cv_1", "msg_1", MODEL),
        ToolCall(0, "call_a", "get_weather", '{"ci'),
        ToolCall(1, "call_b", "get_time", '{"tz'),
        ToolCall(0, arguments='ty": "Paris"}'),
        ToolCall(1, arguments='": "CET"}'),
        Usage(3, 4),
        Done("tool_calls"),
    )
    with sdk_client(streaming(encode_all(events, include_usage=True))) as client:
        state = ChatCompletionStreamState()
        for chunk in create_stream(client, include_usage=True):
            state.handle_chunk(chunk)
    final = state.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls] == [
        ("call_a", "get_weather", '{"city": "Paris"}'),
        ("call_b", "get_time", '{"tz": "CET"}'),
    ]


def test_logprobs_ride_on_the_text_chunk_that_follows_them() -> None:
    second = {**LOGPROB, "token": " there"}
    events = make_events(
        Start("st_1", "cv_1", "msg_1", MODEL),
        Logprobs([LOGPROB]),
        Delta("Hi"),
        Logprobs([second]),
        Delta(" there"),
        Delta("!"),
        Done("stop"),
    )
    body = encode_all(events)
    sent = chunks(body)
    assert [c["choices"][0]["logprobs"] for c in sent[1:4]] == [
        {"content": [LOGPROB], "refusal": None},
        {"content": [second], "refusal": None},
        None,
    ]
    # Text after them goes back to the fast frame, which is byte for byte the same chunk.
    plain = encode_all(make_events(Start("st_1", "cv_1", "msg_1", MODEL), Delta("Hi"), Delta("!")))
    assert body.split(b"\n\n")[3] == plain.split(b"\n\n")[2]


def test_the_official_sdk_reads_streamed_logprobs() -> None:
    from openai.lib.streaming.chat import ChatCompletionStreamState

    events = make_events(
        Start("st_1", "cv_1", "msg_1", MODEL), Logprobs([LOGPROB]), Delta("Hi"), Done("stop")
    )
    with sdk_client(streaming(encode_all(events))) as client:
        state = ChatCompletionStreamState()
        for chunk in create_stream(client):
            state.handle_chunk(chunk)
    logprobs = state.get_final_completion().choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert [(t.token, t.logprob) for t in logprobs.content] == [("Hi", -0.1)]


def test_a_completion_with_tool_calls_has_null_content_and_validates() -> None:
    from openai.types.chat import ChatCompletion

    body = completion(
        CID,
        MODEL,
        CREATED,
        "",
        "",
        "tool_calls",
        (1, 2),
        tool_calls=[WholeToolCall("call_a", "f", '{"a": 1}')],
    )
    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    ]
    parsed = ChatCompletion.model_validate(body)
    assert parsed.choices[0].finish_reason == "tool_calls"


def test_a_completions_logprobs_are_given_when_collected() -> None:
    body = completion(CID, MODEL, CREATED, "Hi", "", "stop", None, logprobs=[LOGPROB])
    assert body["choices"][0]["logprobs"] == {"content": [LOGPROB], "refusal": None}
