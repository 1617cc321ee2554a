"""What the Redis log adds for several processes: leases, cancels, retention, outages."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.support.services import RedisServer, free_port
from tokenwire.events import Delta, Error, Event, Start
from tokenwire.hub.generation import Generation, StreamHandle
from tokenwire.hub.held_appends import LogOutageTooLong
from tokenwire.hub.log import LogFull, LogUnavailable, StreamMeta
from tokenwire.hub.redis_log import INTERRUPTED, RedisStreamLog
from tokenwire.providers.base import GenerationParams
from tokenwire.providers.replay import ReplayProvider
from tokenwire.store.connect import database_from_url
from tokenwire.store.conversations import ConversationStore


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def logs(redis_url: str, prefix: str) -> AsyncIterator[list[RedisStreamLog]]:
    """Three logs on one Redis, as three server processes would have, with short leases."""
    opened = [RedisStreamLog(redis_url, prefix=prefix, lease=0.5, retention=60) for _ in range(3)]
    yield opened
    for log in opened:
        await log.close()


async def produce(log: RedisStreamLog, stream_id: str, texts: Sequence[str]) -> None:
    await log.create(StreamMeta(stream_id, "c", "m", "model"))
    await log.append(stream_id, (Event.make(1, Start(stream_id, "c", "m", "model")),))
    for i, text in enumerate(texts, start=2):
        await log.append(stream_id, (Event.make(i, Delta(text)),))


async def test_a_dead_producers_stream_ends_interrupted_exactly_once(
    logs: list[RedisStreamLog],
) -> None:
    producer, *others = logs
    stored: list[tuple[str, list[int]]] = []

    async def on_interrupted(meta: StreamMeta, events: Sequence[Event]) -> None:
        stored.append((meta.stream_id, [e.seq for e in events]))

    for log in others:
        log.on_interrupted = on_interrupted
    await produce(producer, "s", ["Hello, ", "wor"])  # the producer never renews its lease: dead
    reader = asyncio.create_task(others[0].read("s", 3, timeout=30))
    assert await others[0].reap_once() == []  # the lease has not run out yet
    await asyncio.sleep(0.7)
    reaped = await asyncio.gather(*(log.reap_once() for log in others for _ in range(3)))
    assert sorted(i for ids in reaped for i in ids) == ["s"]  # six reapers raced; one ended it
    batch = await asyncio.wait_for(reader, 10)
    assert batch.ended and [e.seq for e in batch.events] == [4]
    final = batch.events[0].payload
    assert final == Error("interrupted", "the server running this answer stopped", retryable=True)
    assert batch.events[0].json == Event.make(4, final).json
    assert stored == [("s", [1, 2, 3, 4])]


async def test_a_renewed_lease_keeps_the_stream_alive(logs: list[RedisStreamLog]) -> None:
    producer, other, _ = logs
    await produce(producer, "s", ["x"])
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        await producer.heartbeat_once()
        assert await other.reap_once() == []
        await asyncio.sleep(0.1)
    assert await other.is_live("s")


async def test_a_cancel_from_another_process_reaches_the_producer(
    redis_url: str, prefix: str, logs: list[RedisStreamLog]
) -> None:
    # A lease of a minute: the heartbeat, which also delivers cancels, does not run again during
    # the test, so the cancel can only come over pub/sub.
    producer = RedisStreamLog(redis_url, prefix=prefix, lease=60, retention=60)
    heard = asyncio.Event()
    producer.on_cancel = lambda stream_id: heard.set() if stream_id == "s" else None
    await producer.start()
    await produce(producer, "s", ["x"])
    client = aioredis.Redis.from_url(redis_url)
    while (await client.pubsub_numsub(f"{prefix}cancel"))[0][1] == 0:  # noqa: ASYNC110 (Redis)
        await asyncio.sleep(0.01)  # the listener has not subscribed yet
    await client.aclose()
    await logs[1].request_cancel("s")
    await asyncio.wait_for(heard.wait(), 30)
    await producer.close()


async def test_a_cancel_missed_on_pubsub_still_arrives_with_the_heartbeat(
    logs: list[RedisStreamLog],
) -> None:
    producer, other, _ = logs
    heard: list[str] = []
    producer.on_cancel = heard.append
    await produce(producer, "s", ["x"])
    await other.request_cancel("s")  # the producer does not listen: only the flag remains
    await producer.heartbeat_once()
    assert heard == ["s"]


async def test_finished_streams_expire_after_retention(redis_url: str, prefix: str) -> None:
    log = RedisStreamLog(redis_url, prefix=prefix, retention=30)
    await produce(log, "s", ["x"])
    client = aioredis.Redis.from_url(redis_url)
    assert 0 < await client.pttl(f"{prefix}s:s") > 30_000  # live: the long bound, not retention
    await log.append("s", (Event.make(3, Error("boom", "b")),))
    for key in (f"{prefix}s:s", f"{prefix}m:s"):
        assert 0 < await client.pttl(key) <= 30_000
    assert await client.zscore(f"{prefix}leases", "s") is None
    await client.aclose()
    await log.close()


async def test_unreachable_redis_is_a_quick_clear_error() -> None:
    log = RedisStreamLog(f"redis://127.0.0.1:{free_port()}/0", timeout=1.0)
    started = time.monotonic()
    with pytest.raises(LogUnavailable, match="redis is unreachable"):
        await log.create(StreamMeta("s", "c", "m", "model"))
    with pytest.raises(LogUnavailable):
        await log.read("s", 0, timeout=5)
    assert time.monotonic() - started < 10
    await log.close()


async def test_a_producer_that_lost_its_lease_stops_and_leaves_the_end_to_the_reaper(
    logs: list[RedisStreamLog], tmp_path: Path
) -> None:
    producer, reaper, _ = logs
    store = ConversationStore(database_from_url(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    await store.open()
    exchange = await store.start_exchange(
        owner="", conversation_id=None, user_text="q", model="r", stream_id="s"
    )

    async def store_interrupted(meta: StreamMeta, events: Sequence[Event]) -> None:
        text = "".join(e.payload.text for e in events if isinstance(e.payload, Delta))
        await store.interrupt_answer(meta.message_id, content=text, reasoning="", usage=None)

    reaper.on_interrupted = store_interrupted
    handle = StreamHandle("s", exchange.conversation_id, exchange.assistant_message_id, "r")
    await producer.create(StreamMeta("s", handle.conversation_id, handle.message_id, "r"))
    model = ReplayProvider(id="r", text="word " * 400, tokens_per_second=40)
    generation = Generation(
        handle,
        model,
        [],
        GenerationParams(),
        log=producer,
        store=store,
        max_events=10_000,
        persist_interval=0.1,
    )
    await generation.begin()  # the producer never renews its lease: as if cut off from Redis
    reaped: list[str] = []
    while not reaped:
        await asyncio.sleep(0.1)
        reaped = await reaper.reap_once()
    assert await generation.wait(timeout=10)  # it noticed at its next append, and stopped
    events = (await reaper.read("s", 0, timeout=0)).events
    assert [e.is_terminal for e in events].count(True) == 1
    assert events[-1].payload == INTERRUPTED
    conversation = await store.get("", handle.conversation_id)
    assert conversation is not None
    answer = conversation.messages[1]
    assert (answer.status, answer.error_code) == ("interrupted", "interrupted")
    assert answer.content == "".join(e.payload.text for e in events if isinstance(e.payload, Delta))
    await store.close()


async def test_live_streams_are_bounded_across_processes(redis_url: str, prefix: str) -> None:
    first, second = (RedisStreamLog(redis_url, prefix=prefix, max_streams=2) for _ in range(2))
    await first.create(StreamMeta("a", "c", "m", "model"))
    await second.create(StreamMeta("b", "c", "m", "model"))
    with pytest.raises(LogFull):
        await first.create(StreamMeta("c", "c", "m", "model"))
    await second.append("b", (Event.make(1, Error("boom", "b")),))  # ended: its place is free
    await first.create(StreamMeta("c", "c", "m", "model"))
    await first.close()
    await second.close()


async def test_events_sent_twice_are_written_once(logs: list[RedisStreamLog]) -> None:
    """What a producer does when a write's reply was lost: it sends the same events again."""
    producer, reader = logs[0], logs[1]
    await produce(producer, "s", ["Hello, ", "wor"])
    again = [Event.make(2, Delta("Hello, ")), Event.make(3, Delta("wor"))]
    await producer._write("s", again)
    await producer.append("s", (Event.make(4, Delta("ld")), Event.make(5, Error("x", "y"))))
    await producer._write("s", [Event.make(5, Error("x", "y"))])
    batch = await reader.read("s", 0, timeout=0)
    assert [e.seq for e in batch.events] == [1, 2, 3, 4, 5]
    assert "".join(e.payload.text for e in batch.events[1:4]) == "Hello, world"  # type: ignore[attr-defined]
    assert batch.ended


async def test_a_stream_redis_lost_is_written_again_whole_by_its_producer(
    logs: list[RedisStreamLog], redis_server: RedisServer
) -> None:
    producer, reader = logs[0], logs[1]
    await produce(producer, "s", ["Hello, ", "wor"])
    redis_server.flush()  # as a restart without persistence leaves it
    await producer.append("s", (Event.make(4, Delta("ld")),))
    batch = await reader.read("s", 0, timeout=0)
    assert [e.seq for e in batch.events] == [1, 2, 3, 4]
    assert (await reader.meta("s")).conversation_id == "c"
    assert await reader.is_live("s")  # with a lease again: the reaper leaves it alone
    assert await reader.reap_once() == []


async def test_a_producer_holds_its_events_while_redis_is_away_within_the_bounds(
    redis_server: RedisServer, prefix: str
) -> None:
    log = RedisStreamLog(redis_server.url, prefix=prefix, lease=0.5, outage_max_events=3)
    try:
        await produce(log, "s", ["a"])
        redis_server.stop()
        try:
            await log.append("s", (Event.make(3, Delta("b")),))  # held, no error
            await log.append("s", (Event.make(4, Delta("c")), Event.make(5, Delta("d"))))
            assert log.held.held == 3
            with pytest.raises(LogOutageTooLong):  # a fourth held event is past the bound
                await log.append("s", (Event.make(6, Delta("e")),))
        finally:
            redis_server.start()
        assert log.held.get("s") is None  # given up: nothing kept
    finally:
        await log.close()
