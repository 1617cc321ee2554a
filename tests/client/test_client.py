"""The Python client against a real tokenwire server on loopback.

Dropped connections are real: a TCP proxy between client and server
(``tests.support.proxy.Proxy``) cuts, stalls or refuses the connections its plan names, answers
some with canned bytes, and records every request head, so the tests can see exactly which resume
requests the client made.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import tokenwire.client
from tests.support.proxy import Answer, Cut, Proxy, Refuse, Stall
from tests.support.servers import ANSWER, RunningServer, replay, run_server
from tests.support.services import free_port
from tokenwire.client import (
    ApiError,
    AsyncChatStream,
    AsyncClient,
    Client,
    ConnectionLost,
    StreamError,
    TokenwireError,
)
from tokenwire.client._backoff import Backoff
from tokenwire.events import Delta, Done, Event, Start
from tokenwire.providers.replay import split_tokens
from tokenwire.wire.sse import encode_events

EVENTS = len(split_tokens(ANSWER)) + 2  # start, one delta per token, done
QUICK: dict[str, Any] = {"backoff_base": 0.01, "backoff_cap": 0.05}


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[RunningServer]:
    """The test server, telling clients to wait only 20 ms before they reconnect."""
    with run_server(tmp_path, retry_ms=20) as running:
        yield running


def sse_answer(*events: Event) -> bytes:
    """A whole HTTP response from a pretend server: these events, then the connection closes."""
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-stream-id: str_canned\r\n"
        b"connection: close\r\n\r\nretry: 10\n\n"
    ) + encode_events(events)


def json_answer(status: str, body: object) -> bytes:
    data = orjson.dumps(body)
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
        "connection: close\r\n\r\n"
    ).encode() + data


CANNED = [
    Event.make(1, Start("str_canned", "cnv_canned", "msg_canned", "canned")),
    Event.make(2, Delta("Hello")),
    Event.make(3, Delta(", world")),
    Event.make(4, Done("stop")),
]


def logged(server: RunningServer, stream_id: str | None) -> list[bytes]:
    """The JSON of every event the server's log holds for a stream."""
    assert stream_id is not None
    return [e.json for e in server.call(server.hub.read(stream_id, 0, 0.0)).events]


# --- streaming, async -----------------------------------------------------------------------------


async def test_chat_streams_the_whole_answer(server: RunningServer) -> None:
    async with AsyncClient(server.base_url) as client, client.chat("hi") as stream:
        events = [event async for event in stream]
    assert [e.seq for e in events] == list(range(1, EVENTS + 1))
    start, done = events[0].payload, events[-1].payload
    assert isinstance(start, Start) and isinstance(done, Done)
    assert done.finish_reason == "stop" == stream.finish_reason
    assert stream.text == ANSWER
    assert (stream.stream_id, stream.conversation_id, stream.message_id, stream.model) == (
        start.stream_id,
        start.conversation_id,
        start.message_id,
        "replay",
    )
    assert stream.last_seq == EVENTS and stream.ended and stream.error is None
    assert [e.json for e in events] == logged(server, stream.stream_id)


async def test_the_stream_shows_what_it_has_yielded_so_far(server: RunningServer) -> None:
    # All four events arrive in one piece of the body; they are yielded one by one.
    with Proxy(server.base_url, [Answer(sse_answer(*CANNED))]) as proxy:
        async with AsyncClient(proxy.base_url) as client, client.chat("hi") as stream:
            shown = [(event.seq, stream.text, stream.finish_reason) async for event in stream]
    assert shown == [
        (1, "", None),
        (2, "Hello", None),
        (3, "Hello, world", None),
        (4, "Hello, world", "stop"),
    ]


def test_sync_the_stream_shows_what_it_has_yielded_so_far(server: RunningServer) -> None:
    with (
        Proxy(server.base_url, [Answer(sse_answer(*CANNED))]) as proxy,
        Client(proxy.base_url) as client,
        client.chat("hi") as stream,
    ):
        shown = [(event.seq, stream.text) for event in stream]
    assert shown == [(1, ""), (2, "Hello"), (3, "Hello, world"), (4, "Hello, world")]


async def test_text_until_done_reads_the_rest(server: RunningServer) -> None:
    async with AsyncClient(server.base_url) as client, client.chat("hi", model="slow") as stream:
        first = await anext(stream)
        assert first.type == "start"
        assert await stream.text_until_done() == ANSWER
        assert [event async for event in stream] == []  # nothing after the end


async def test_attaching_after_the_end_is_an_empty_ended_stream(server: RunningServer) -> None:
    async with AsyncClient(server.base_url, max_retries=1) as client:
        async with client.chat("hi") as stream:
            await stream.text_until_done()
        async with client.stream(stream.stream_id, after=stream.last_seq) as late:
            assert [event async for event in late] == []
            assert late.ended


async def test_chat_continues_a_conversation(server: RunningServer) -> None:
    async with AsyncClient(server.base_url) as client:
        async with client.chat("first") as stream:
            await stream.text_until_done()
        conversation_id = stream.conversation_id
        assert conversation_id is not None
        async with client.chat("second", conversation_id=conversation_id) as again:
            assert await again.text_until_done() == ANSWER
        assert again.conversation_id == conversation_id
        assert again.stream_id != stream.stream_id
        stored = await client.conversation(conversation_id)
        assert [(m["role"], m["content"], m["status"]) for m in stored["messages"]] == [
            ("user", "first", "complete"),
            ("assistant", ANSWER, "complete"),
            ("user", "second", "complete"),
            ("assistant", ANSWER, "complete"),
        ]
        assert [c["id"] for c in await client.conversations()] == [conversation_id]
        await client.delete_conversation(conversation_id)
        with pytest.raises(ApiError) as caught:
            await client.conversation(conversation_id)
        assert (caught.value.status, caught.value.code) == (404, "conversation_not_found")


async def test_cancel_mid_stream_ends_with_cancelled(server: RunningServer) -> None:
    async with AsyncClient(server.base_url) as client, client.chat("hi", model="crawl") as stream:
        async for event in stream:
            if event.type == "delta":
                assert await stream.cancel() == "cancelled"
                break
        rest = [event async for event in stream]
    assert rest[-1].payload == Done("cancelled")
    assert stream.finish_reason == "cancelled"
    assert ANSWER.startswith(stream.text) and stream.text != ANSWER
    async with AsyncClient(server.base_url) as client:
        assert stream.stream_id is not None
        assert await client.cancel(stream.stream_id) == "finished"


async def test_stream_attaches_after_a_seq(server: RunningServer) -> None:
    async with AsyncClient(server.base_url) as client:
        async with client.chat("hi") as stream:
            whole = [event async for event in stream]
        assert stream.stream_id is not None
        async with client.stream(stream.stream_id, after=3) as tail:
            events = [event async for event in tail]
    assert events == whole[3:]
    assert tail.text == ANSWER.removeprefix(stream_text(whole[:3]))


def stream_text(events: Sequence[Event]) -> str:
    return "".join(e.payload.text for e in events if isinstance(e.payload, Delta))


async def test_models_lists_the_configured_models(server: RunningServer) -> None:
    async with AsyncClient(server.base_url) as client:
        models = await client.models()
    assert [(m["id"], m["default"]) for m in models] == [
        ("replay", True),
        ("slow", False),
        ("crawl", False),
    ]


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"message": "hi", "model": "nope"}, 404, "model_not_found"),
        ({"message": "  "}, 400, "invalid_request"),
        ({"message": "hi", "conversation_id": "cnv_nope"}, 404, "conversation_not_found"),
        ({"message": "hi", "params": {"temperature": 9}}, 400, "invalid_request"),
    ],
)
async def test_refused_chat_raises_api_error(
    server: RunningServer, kwargs: dict[str, object], status: int, code: str
) -> None:
    async with AsyncClient(server.base_url) as client:
        with pytest.raises(ApiError) as caught:
            async with client.chat(**kwargs):  # type: ignore[arg-type]
                raise AssertionError("the stream must not open")
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.message and isinstance(caught.value, TokenwireError)


async def test_unknown_stream_is_stream_not_found(server: RunningServer) -> None:
    async with AsyncClient(server.base_url) as client:
        with pytest.raises(ApiError) as caught:
            async with client.stream("str_nope"):
                pass
        assert (caught.value.status, caught.value.code) == (404, "stream_not_found")
        with pytest.raises(ApiError, match="stream_not_found"):
            await client.cancel("str_nope")


async def test_a_gap_in_seq_is_a_stream_error(server: RunningServer) -> None:
    with Proxy(server.base_url, [Answer(sse_answer(CANNED[0], CANNED[2]))]) as proxy:
        async with AsyncClient(proxy.base_url) as client, client.chat("hi") as stream:
            assert (await anext(stream)).seq == 1
            with pytest.raises(StreamError, match="missing"):
                await anext(stream)


async def test_a_body_that_is_not_an_event_stream_is_a_stream_error(server: RunningServer) -> None:
    with Proxy(server.base_url, [Answer(json_answer("200 OK", {"hello": 1}))]) as proxy:
        async with AsyncClient(proxy.base_url) as client:
            with pytest.raises(StreamError, match="event stream"):
                async with client.chat("hi"):
                    pass


async def test_refused_chat_request_is_not_sent_again(server: RunningServer) -> None:
    with Proxy(server.base_url, [Refuse()]) as proxy:
        async with AsyncClient(proxy.base_url, **QUICK) as client:
            with pytest.raises(ConnectionLost) as caught:
                async with client.chat("hi"):
                    pass
        assert proxy.connections == 1
    assert isinstance(caught.value.__cause__, httpx.TransportError)
    assert caught.value.stream_id is None


async def test_no_server_at_all_is_connection_lost() -> None:
    async with AsyncClient(f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(ConnectionLost) as caught:
            async with client.chat("hi"):
                pass
        assert isinstance(caught.value.__cause__, httpx.ConnectError)
        with pytest.raises(ConnectionLost):
            await client.models()


async def test_the_token_is_sent_but_never_shown(server: RunningServer) -> None:
    token = "tw-s3cret-token"
    with Proxy(server.base_url) as proxy:
        async with AsyncClient(proxy.base_url, token=token) as client:
            await client.models()
            with pytest.raises(ApiError) as caught:
                async with client.chat("hi", model="nope"):
                    pass
            shown = [repr(client), str(caught.value), repr(caught.value), repr(vars(client))]
    assert proxy.requests[0].headers["authorization"] == f"Bearer {token}"
    assert not any(token in text for text in shown)


# --- resume --------------------------------------------------------------------------------------


async def chat_through(
    proxy: Proxy, model: str = "slow", **options: Any
) -> tuple[AsyncChatStream, list[tuple[Event, int]]]:
    """Ask through the proxy; each event comes with how many requests the proxy had seen then."""
    async with (
        AsyncClient(proxy.base_url, **{**QUICK, **options}) as client,
        client.chat("hi", model=model) as stream,
    ):
        seen = [(event, len(proxy.requests)) async for event in stream]
    return stream, seen


def last_before_resume(seen: list[tuple[Event, int]]) -> int:
    """The seq of the last event the client yielded while only the first request was made."""
    return max(event.seq for event, requests in seen if requests == 1)


def seqs(seen: list[tuple[Event, int]]) -> list[int]:
    return [event.seq for event, _ in seen]


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_dropped_connection_resumes_with_the_exact_remaining_events(
    quick: RunningServer, reset: bool
) -> None:
    with Proxy(quick.base_url, [Cut(400, reset=reset)]) as proxy:
        stream, seen = await chat_through(proxy)
    assert seqs(seen) == list(range(1, EVENTS + 1))  # each once, none skipped
    assert [event.json for event, _ in seen] == logged(quick, stream.stream_id)
    assert stream.text == ANSWER and stream.finish_reason == "stop"
    assert [(r.method, r.path) for r in proxy.requests] == [
        ("POST", "/api/chat"),
        ("GET", f"/api/streams/{stream.stream_id}"),
    ]
    resumed_after = last_before_resume(seen)
    assert 1 <= resumed_after < EVENTS - 1  # the cut came mid-stream
    assert proxy.requests[1].headers["last-event-id"] == str(resumed_after)
    assert proxy.requests[1].headers["accept"] == "text/event-stream"


async def test_a_drop_right_after_the_headers_resumes_from_x_stream_id(
    quick: RunningServer,
) -> None:
    with Proxy(quick.base_url, [Cut(0)]) as proxy:
        stream, seen = await chat_through(proxy)
    assert seqs(seen) == list(range(1, EVENTS + 1))
    assert stream.text == ANSWER
    assert proxy.requests[1].path == f"/api/streams/{stream.stream_id}"
    assert proxy.requests[1].headers["last-event-id"] == "0"


async def test_a_silent_connection_is_resumed_after_idle_timeout(quick: RunningServer) -> None:
    with Proxy(quick.base_url, [Stall(400)]) as proxy:
        stream, seen = await chat_through(proxy, idle_timeout=0.5)
    assert seqs(seen) == list(range(1, EVENTS + 1))
    assert stream.text == ANSWER
    assert len(proxy.requests) == 2
    assert proxy.requests[1].headers["last-event-id"] == str(last_before_resume(seen))
    assert proxy.requests[1].at - proxy.requests[0].at >= 0.5


async def test_keepalive_comments_keep_a_quiet_stream_open(tmp_path: Path) -> None:
    # One token a second, a keepalive every 0.1 s: silent for 1 s between events, never for 0.5 s.
    models = (replay("glacial", text="one two", tokens_per_second=1),)
    with (
        run_server(tmp_path, models=models, keepalive_seconds=0.1) as server,
        Proxy(server.base_url) as proxy,
    ):
        stream, _ = await chat_through(proxy, model="glacial", idle_timeout=0.5)
    assert stream.text == "one two"
    assert len(proxy.requests) == 1


async def test_server_errors_on_resume_are_retried(quick: RunningServer) -> None:
    overloaded = json_answer("503 Service Unavailable", {"error": {"code": "x", "message": "y"}})
    with Proxy(quick.base_url, [Cut(400), Answer(overloaded), Refuse()]) as proxy:
        stream, seen = await chat_through(proxy)
    assert seqs(seen) == list(range(1, EVENTS + 1))
    assert stream.text == ANSWER
    assert [r.method for r in proxy.requests] == ["POST", "GET", "GET"]  # Refuse reads nothing
    assert proxy.connections == 4


async def test_exhausted_retries_raise_connection_lost(quick: RunningServer) -> None:
    with Proxy(quick.base_url, [Cut(400), *[Refuse()] * 10]) as proxy:
        with pytest.raises(ConnectionLost) as caught:
            await chat_through(proxy, max_retries=3)
        assert proxy.connections == 1 + 3
    lost = caught.value
    assert lost.attempts == 3 and lost.stream_id is not None
    assert 1 <= lost.last_seq < EVENTS - 1
    assert isinstance(lost.__cause__, httpx.TransportError)


async def test_events_before_the_loss_are_all_yielded(quick: RunningServer) -> None:
    with Proxy(quick.base_url, [Cut(400), *[Refuse()] * 10]) as proxy:
        async with (
            AsyncClient(proxy.base_url, max_retries=1, **QUICK) as client,
            client.chat("hi", model="slow") as stream,
        ):
            seen: list[Event] = []
            with pytest.raises(ConnectionLost) as caught:
                async for event in stream:
                    seen.append(event)
    assert [e.seq for e in seen] == list(range(1, caught.value.last_seq + 1))
    assert stream.text == stream_text(seen)


async def test_a_reconnection_that_yields_events_resets_the_count(quick: RunningServer) -> None:
    # One attempt allowed in a row, three drops in all: each resume brings events, so it goes on.
    with Proxy(quick.base_url, [Cut(400), Cut(400), Cut(400)]) as proxy:
        stream, seen = await chat_through(proxy, max_retries=1)
    assert seqs(seen) == list(range(1, EVENTS + 1))
    assert stream.text == ANSWER
    resumed_after = [int(r.headers["last-event-id"]) for r in proxy.requests[1:]]
    assert len(resumed_after) == 3 and resumed_after == sorted(set(resumed_after))


def test_backoff_doubles_up_to_the_cap_and_respects_the_minimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # the top of each range
    backoff = Backoff(max_retries=5, base=1.0, cap=4.0)
    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 4.0, 4.0, None]
    backoff.reset()
    assert backoff.next_delay(minimum=3.0) == 3.0
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    assert backoff.next_delay(minimum=0.5) == 0.5


async def test_connections_that_yield_nothing_count_as_failures(quick: RunningServer) -> None:
    # Each reconnection answers, but stalls before the next event: three attempts and no more.
    with Proxy(quick.base_url, [Cut(400), *[Stall(0)] * 5]) as proxy:
        with pytest.raises(ConnectionLost) as caught:
            await chat_through(proxy, max_retries=3, idle_timeout=0.2)
        assert proxy.connections == 1 + 3
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_the_server_retry_is_the_least_wait(tmp_path: Path) -> None:
    with (
        run_server(tmp_path, retry_ms=400) as server,
        Proxy(server.base_url, [Cut(400)]) as proxy,
    ):
        stream, _ = await chat_through(proxy)
    assert stream.text == ANSWER
    waited = proxy.requests[1].at - proxy.cuts[0]
    assert 0.4 <= waited < 2.0


async def test_repeated_events_are_dropped(server: RunningServer) -> None:
    plan = [Answer(sse_answer(*CANNED[:2])), Answer(sse_answer(*CANNED))]
    with Proxy(server.base_url, plan) as proxy:
        stream, seen = await chat_through(proxy)
    assert [event for event, _ in seen] == CANNED
    assert stream.text == "Hello, world"
    assert proxy.requests[1].path == "/api/streams/str_canned"
    assert proxy.requests[1].headers["last-event-id"] == "2"


async def test_stream_not_found_on_resume_is_final(server: RunningServer) -> None:
    gone = json_answer("404 Not Found", {"error": {"code": "stream_not_found", "message": "gone"}})
    with Proxy(server.base_url, [Answer(sse_answer(*CANNED[:2])), Answer(gone)]) as proxy:
        with pytest.raises(ApiError) as caught:
            await chat_through(proxy)
        assert proxy.connections == 2
    error = caught.value
    assert (error.status, error.code, error.message) == (404, "stream_not_found", "gone")


# --- sync -----------------------------------------------------------------------------------------


def test_sync_chat_streams_the_whole_answer(server: RunningServer) -> None:
    with Client(server.base_url) as client, client.chat("hi") as stream:
        events = list(stream)
    assert [e.seq for e in events] == list(range(1, EVENTS + 1))
    assert stream.text == ANSWER and stream.finish_reason == "stop"
    assert [e.json for e in events] == logged(server, stream.stream_id)


def test_sync_chat_continues_a_conversation(server: RunningServer) -> None:
    with Client(server.base_url) as client:
        with client.chat("first") as stream:
            stream.text_until_done()
        conversation_id = stream.conversation_id
        assert conversation_id is not None
        with client.chat("second", conversation_id=conversation_id) as again:
            assert again.text_until_done() == ANSWER
        assert again.conversation_id == conversation_id
        assert len(client.conversation(conversation_id)["messages"]) == 4
        assert [c["id"] for c in client.conversations()] == [conversation_id]
        assert [m["id"] for m in client.models()] == ["replay", "slow", "crawl"]
        client.delete_conversation(conversation_id)
        assert client.conversations() == []


def test_sync_cancel_mid_stream_ends_with_cancelled(server: RunningServer) -> None:
    with Client(server.base_url) as client, client.chat("hi", model="crawl") as stream:
        for event in stream:
            if event.type == "delta":
                assert stream.cancel() == "cancelled"
        assert stream.finish_reason == "cancelled"
        assert ANSWER.startswith(stream.text) and stream.text != ANSWER


def test_sync_refused_chat_raises_api_error(server: RunningServer) -> None:
    with Client(server.base_url) as client:
        with pytest.raises(ApiError) as caught, client.chat("hi", model="nope"):
            pass
        assert (caught.value.status, caught.value.code) == (404, "model_not_found")
        with pytest.raises(ApiError) as caught, client.chat(""):
            pass
        assert (caught.value.status, caught.value.code) == (400, "invalid_request")


def test_sync_dropped_connection_resumes(quick: RunningServer) -> None:
    with (
        Proxy(quick.base_url, [Cut(400, reset=True)]) as proxy,
        Client(proxy.base_url, **QUICK) as client,
        client.chat("hi", model="slow") as stream,
    ):
        seen = [(event, len(proxy.requests)) for event in stream]
    assert seqs(seen) == list(range(1, EVENTS + 1))
    assert stream.text == ANSWER
    assert len(proxy.requests) == 2
    assert proxy.requests[1].headers["last-event-id"] == str(last_before_resume(seen))


def test_sync_exhausted_retries_raise_connection_lost(quick: RunningServer) -> None:
    with (
        Proxy(quick.base_url, [Cut(400), *[Refuse()] * 5]) as proxy,
        Client(proxy.base_url, max_retries=2, **QUICK) as client,
    ):
        with pytest.raises(ConnectionLost) as caught, client.chat("hi", model="slow") as stream:
            for _ in stream:
                pass
        assert proxy.connections == 1 + 2
    assert caught.value.attempts == 2 and caught.value.stream_id == stream.stream_id


# --- the public face ------------------------------------------------------------------------------


def test_public_names_are_exactly_all() -> None:
    public = {name for name in vars(tokenwire.client) if not name.startswith("_")}
    assert public == set(tokenwire.client.__all__)
    assert tokenwire.client.__all__ == sorted(tokenwire.client.__all__)


def test_errors_have_one_root() -> None:
    for error in (ApiError, StreamError, ConnectionLost):
        assert issubclass(error, TokenwireError)


# --- a stream the server's log forgot -------------------------------------------------------------


async def finish_then_forget(server: RunningServer, stream_id: str) -> None:
    """On the server's loop: wait for the stream's terminal event, then forget every stream."""
    after, log = 0, server.hub.log
    while not (batch := await log.read(stream_id, after, 10)).ended:
        after = batch.events[-1].seq if batch.events else after
    await log.close()


async def test_a_resume_of_an_expired_stream_finishes_from_the_stored_answer(
    quick: RunningServer,
) -> None:
    stream_ids: list[str] = []

    def plan(index: int) -> Cut | None:
        if index == 0:
            return Cut(400)
        if index == 1:  # the resume: by now the log has forgotten the finished stream
            quick.call(finish_then_forget(quick, stream_ids[0]))
        return None

    with Proxy(quick.base_url, plan) as proxy:
        async with (
            AsyncClient(proxy.base_url, **QUICK) as client,
            client.chat("hi", model="slow") as stream,
        ):
            seen: list[Event] = []
            async for event in stream:
                stream_ids[:] = [stream.stream_id or ""]
                seen.append(event)
    assert [r.path for r in proxy.requests][1:] == [
        f"/api/streams/{stream.stream_id}",
        f"/api/conversations/{stream.conversation_id}",
    ]
    assert stream.text == ANSWER and stream.finish_reason == "stop"
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))  # numbered on, none repeated
    assert seen[-1].type == "done"


def test_sync_resume_of_an_expired_stream_read_from_the_start_gets_the_stored_answer(
    server: RunningServer,
) -> None:
    with Client(server.base_url) as client:
        with client.chat("hi") as first:
            list(first)
        assert first.stream_id is not None
        server.call(server.hub.log.close())
        with client.stream(first.stream_id) as again:
            events = list(again)
        assert again.text == ANSWER and again.finish_reason == "stop"
        assert [e.type for e in events] == ["delta", "done"]
        with pytest.raises(ApiError) as caught, client.stream(first.stream_id, after=2) as late:
            list(late)  # it saw none of the text before event 2: the 410 is the caller's
        assert (caught.value.status, caught.value.code) == (410, "stream_expired")
