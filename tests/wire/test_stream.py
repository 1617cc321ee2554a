"""tokenwire.standalone (and its old import, tokenwire.wire.stream): model output in, one complete
protocol stream out, however it ends."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.helpers import assert_complete_stream, text_of
from tokenwire import Delta, Done, Error, ProviderError, Reasoning, Usage
from tokenwire.events import Event
from tokenwire.standalone import (
    aencode_stream,
    aprotocol_events,
    encode_stream,
    negotiate,
    protocol_events,
)
from tokenwire.wire.ndjson import NDJSONDecoder
from tokenwire.wire.sse import SSEDecoder


class Source:
    """A model generator that records whether it was closed, and can fail after its pieces."""

    def __init__(self, *pieces: object, fail: Exception | None = None) -> None:
        self.pieces = pieces
        self.fail = fail
        self.closed = False

    def sync(self) -> Iterator[object]:
        try:
            yield from self.pieces
            if self.fail is not None:
                raise self.fail
        finally:
            self.closed = True

    async def async_(self) -> AsyncIterator[object]:
        try:
            for piece in self.pieces:
                yield piece
            if self.fail is not None:
                raise self.fail
        finally:
            self.closed = True


async def both(source: Source, **options: str) -> list[list[Event]]:
    """The events of the sync and of the async encoder over the same pieces; each run must have
    closed the model's generator, however it ended."""
    sync = list(protocol_events(source.sync(), **options))
    assert source.closed
    source.closed = False
    async_ = [e async for e in aprotocol_events(source.async_(), **options)]
    assert source.closed
    return [sync, async_]


async def test_text_and_payloads_become_a_complete_stream() -> None:
    source = Source(Reasoning("hmm"), "Hello", "", Delta(", 世界"), Usage(3, 2))
    for events in await both(source, model="mine", stream_id="str_1"):
        assert_complete_stream(events)
        assert events[0].to_dict() == {
            "type": "start",
            "seq": 1,
            "stream_id": "str_1",
            "conversation_id": "",
            "message_id": "",
            "model": "mine",
        }
        assert [e.type for e in events] == ["start", "reasoning", "delta", "delta", "usage", "done"]
        assert text_of(events) == "Hello, 世界"
        assert events[-1].to_dict()["finish_reason"] == "stop"


async def test_an_exception_is_one_error_event_and_the_traceback_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="tokenwire")
    source = Source("partial", fail=KeyError("sk-secret"))
    for events in await both(source):
        assert_complete_stream(events)
        assert text_of(events) == "partial"
        error = events[-1].to_dict()
        assert (error["code"], error["retryable"]) == ("model_error", False)
        assert "sk-secret" not in error["message"]
    assert "KeyError" in caplog.text


async def test_a_provider_error_or_a_yielded_error_keeps_its_code() -> None:
    raised = Source("a", fail=ProviderError("quota", "out of quota", retryable=True))
    yielded = Source("a", Error("quota", "out of quota", retryable=True), "never")
    for source in (raised, yielded):
        for events in await both(source):
            assert_complete_stream(events)
            assert events[-1].to_dict()["code"] == "quota"
            assert events[-1].to_dict()["retryable"] is True
            assert text_of(events) == "a"


async def test_done_ends_early_and_closes_the_model() -> None:
    source = Source("cut", Done("length"), "never")
    for events in await both(source):
        assert text_of(events) == "cut"
        assert events[-1].to_dict()["finish_reason"] == "length"


async def test_something_that_is_not_output_is_a_model_error() -> None:
    for events in await both(Source("ok", {"text": "a dict"})):
        assert events[-1].to_dict()["code"] == "model_error"


def test_closing_the_body_closes_the_model() -> None:
    source = Source("one", "two", "three")
    body = encode_stream(source.sync())
    next(body), next(body)  # start, one
    body.close()  # as a WSGI server does when the reader has gone
    assert source.closed


async def test_closing_the_async_body_closes_the_model() -> None:
    source = Source("one", "two", "three")
    body = aencode_stream(source.async_())
    await anext(body), await anext(body)
    await body.aclose()
    assert source.closed


async def test_sse_bytes_decode_to_the_same_events() -> None:
    chunks = list(encode_stream(Source("a", "b").sync(), "sse", retry_ms=2000))
    assert chunks[0] == b"retry: 2000\n\n"
    decoder = SSEDecoder()
    frames = [f for chunk in chunks for f in decoder.feed(chunk)]
    assert [f.id for f in frames] == ["1", "2", "3", "4"]
    assert [f.event for f in frames] == ["start", "delta", "delta", "done"]
    assert decoder.retry == 2000
    async_chunks = [c async for c in aencode_stream(Source("a", "b").async_(), "sse")]
    assert [c.split(b"\n")[1] for c in async_chunks] == [c.split(b"\n")[1] for c in chunks[1:]]


def test_ndjson_bytes_are_one_event_per_line() -> None:
    chunks = list(encode_stream(Source("a").sync(), "ndjson"))
    assert all(chunk.endswith(b"\n") and chunk.count(b"\n") == 1 for chunk in chunks)
    values = NDJSONDecoder().feed(b"".join(chunks))
    assert [v["type"] for v in values] == ["start", "delta", "done"]


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        (None, "sse"),
        ("text/event-stream", "sse"),
        ("application/x-ndjson", "ndjson"),
        ("application/json, application/jsonl;q=0.9", "ndjson"),
        ("*/*", "sse"),
    ],
)
def test_negotiate(accept: str | None, fmt: str) -> None:
    assert negotiate(accept) == fmt


def test_the_old_import_still_gives_the_same_objects() -> None:
    import tokenwire.standalone as standalone
    import tokenwire.wire.stream as old

    assert old.__all__ == standalone.__all__
    assert all(getattr(old, name) is getattr(standalone, name) for name in old.__all__)
