"""The chat API over a real socket: streaming, resume, cancel, stored conversations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.helpers import assert_complete_stream, events_of, post_chat, sse_events, text_of
from tests.support.servers import ANSWER, RunningServer
from tokenwire.events import Event
from tokenwire.wire.sse import SSEDecoder


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        yield http


async def test_chat_streams_sse_with_the_headers_a_proxy_needs(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "hello"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-accel-buffering"] == "no"
        raw = await response.aread()
    assert raw.startswith(b"retry: ")
    events = [Event.from_json(e.data) for e in SSEDecoder().feed(raw)]
    assert_complete_stream(events)
    start = events[0].to_dict()
    assert start["stream_id"] == response.headers["x-stream-id"]
    assert start["model"] == "replay"
    assert events[-1].to_dict()["finish_reason"] == "stop"
    assert text_of(events) == ANSWER


async def test_chat_streams_ndjson_on_accept(client: httpx.AsyncClient) -> None:
    response, events = await post_chat(client, {"message": "hello"}, accept="application/x-ndjson")
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert_complete_stream(events)
    assert text_of(events) == ANSWER


async def test_answer_and_question_are_stored(client: httpx.AsyncClient) -> None:
    _, events = await post_chat(client, {"message": "What is tokenwire?"})
    start = events[0].to_dict()
    conversation = (await client.get(f"/api/conversations/{start['conversation_id']}")).json()
    assert conversation["title"] == "What is tokenwire?"
    user, answer = conversation["messages"]
    assert (user["role"], user["content"], user["status"]) == (
        "user",
        "What is tokenwire?",
        "complete",
    )
    assert (answer["id"], answer["role"], answer["status"]) == (
        start["message_id"],
        "assistant",
        "complete",
    )
    assert answer["content"] == ANSWER
    listed = (await client.get("/api/conversations")).json()["data"]
    assert [c["id"] for c in listed] == [start["conversation_id"]]


async def test_conversation_continues_with_its_history(client: httpx.AsyncClient) -> None:
    _, first = await post_chat(client, {"message": "one"})
    conversation_id = first[0].to_dict()["conversation_id"]
    _, second = await post_chat(client, {"message": "two", "conversation_id": conversation_id})
    assert second[0].to_dict()["conversation_id"] == conversation_id
    stored = (await client.get(f"/api/conversations/{conversation_id}")).json()
    assert [(m["role"], m["content"]) for m in stored["messages"]] == [
        ("user", "one"),
        ("assistant", ANSWER),
        ("user", "two"),
        ("assistant", ANSWER),
    ]


async def test_resume_after_a_cut_gets_exactly_the_remaining_events(
    client: httpx.AsyncClient,
) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "hi", "model": "slow"}) as r:
        seen = await events_of(r, limit=5)  # then the connection is dropped mid-answer
    stream_id = seen[0].to_dict()["stream_id"]
    async with client.stream(
        "GET", f"/api/streams/{stream_id}", headers={"Last-Event-ID": str(seen[-1].seq)}
    ) as resumed:
        rest = await events_of(resumed)
    assert rest[0].seq == seen[-1].seq + 1
    everything = seen + rest
    assert_complete_stream(everything)
    assert text_of(everything) == ANSWER


async def test_disconnect_does_not_stop_the_generation(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "hi", "model": "slow"}) as r:
        start = (await events_of(r, limit=1))[0].to_dict()
    # Nobody reads now; the answer must still run to the end and be stored whole.
    async with client.stream("GET", f"/api/streams/{start['stream_id']}?after=0") as replay:
        events = await events_of(replay)
    assert_complete_stream(events)
    assert events[-1].type == "done"
    stored = (await client.get(f"/api/conversations/{start['conversation_id']}")).json()
    assert stored["messages"][1]["content"] == ANSWER
    assert stored["messages"][1]["status"] == "complete"


async def test_plain_event_source_resume_by_query_after(client: httpx.AsyncClient) -> None:
    _, events = await post_chat(client, {"message": "hi"})
    stream_id = events[0].to_dict()["stream_id"]
    async with client.stream("GET", f"/api/streams/{stream_id}?after=3") as response:
        rest = await events_of(response)
    assert [e.seq for e in rest] == [e.seq for e in events[3:]]


async def test_resume_after_the_end_is_204_so_event_source_stops(
    client: httpx.AsyncClient,
) -> None:
    _, events = await post_chat(client, {"message": "hi"})
    stream_id = events[0].to_dict()["stream_id"]
    for after in (events[-1].seq, events[-1].seq + 5):
        response = await client.get(
            f"/api/streams/{stream_id}", headers={"Last-Event-ID": str(after)}
        )
        assert (response.status_code, response.content) == (204, b"")
    response = await client.get(f"/api/streams/{stream_id}?after={events[-2].seq}")
    assert response.status_code == 200 and b"event: done" in response.content


async def test_two_readers_see_the_same_sequence(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "hi", "model": "slow"}) as r:
        first = await events_of(r, limit=2)
        stream_id = first[0].to_dict()["stream_id"]
        async with client.stream("GET", f"/api/streams/{stream_id}") as other:
            theirs, ours = await asyncio.gather(events_of(other), events_of(r))
    assert [e.json for e in theirs] == [e.json for e in first + ours]


async def test_cancel_stops_the_generation_and_keeps_the_partial_text(
    client: httpx.AsyncClient,
) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "hi", "model": "crawl"}) as r:
        seen = await events_of(r, limit=3)
        start = seen[0].to_dict()
        cancelled = await client.post(f"/api/streams/{start['stream_id']}/cancel")
        assert cancelled.json() == {"stream_id": start["stream_id"], "status": "cancelled"}
        rest = await events_of(r)
    events = seen + rest
    assert_complete_stream(events)
    assert events[-1].to_dict()["finish_reason"] == "cancelled"
    partial = text_of(events)
    assert partial and ANSWER.startswith(partial) and partial != ANSWER
    stored = (await client.get(f"/api/conversations/{start['conversation_id']}")).json()
    assert stored["messages"][1]["status"] == "cancelled"
    assert stored["messages"][1]["content"] == partial
    again = await client.post(f"/api/streams/{start['stream_id']}/cancel")
    assert again.json()["status"] == "finished"


async def test_keepalive_comments_while_idle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.servers import replay, run_server

    with run_server(tmp_path, (replay("crawl", tokens_per_second=2),), keepalive_seconds=0.1) as s:
        async with (
            httpx.AsyncClient(base_url=s.base_url) as http,
            http.stream("POST", "/api/chat", json={"message": "hi"}) as response,
        ):
            raw = b""
            async for chunk in response.aiter_raw():
                raw += chunk
                if raw.count(b": keepalive\n\n") >= 2:
                    break
    assert b": keepalive\n\n" in raw


async def test_delete_conversation_removes_it(client: httpx.AsyncClient) -> None:
    _, events = await post_chat(client, {"message": "bye"})
    conversation_id = events[0].to_dict()["conversation_id"]
    assert (await client.delete(f"/api/conversations/{conversation_id}")).status_code == 204
    gone = await client.get(f"/api/conversations/{conversation_id}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "conversation_not_found"


async def test_models_lists_the_configured_models(client: httpx.AsyncClient) -> None:
    data = (await client.get("/api/models")).json()["data"]
    assert [m["id"] for m in data] == ["replay", "slow", "crawl"]
    assert [m["default"] for m in data] == [True, False, False]


async def test_sse_ids_follow_the_seq(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "hi"}) as response:
        ids = [e.id async for e in sse_events(response)]
    assert ids == [str(i) for i in range(1, len(ids) + 1)]
