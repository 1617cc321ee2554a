"""What the Redis log adds for several processes: leases, cancels, retention, outages."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
import redis.asyncio as aioredis

from tests.services import free_port
from tokenwire.events import Delta, Error, Event, Start
from tokenwire.hub.log import LogUnavailable, StreamMeta
from tokenwire.hub.redis_log import RedisStreamLog


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
    logs: list[RedisStreamLog],
) -> None:
    producer, other, _ = logs
    heard: list[str] = []
    producer.on_cancel = heard.append
    await producer.start()
    await produce(producer, "s", ["x"])
    await asyncio.sleep(0.2)  # the listener subscribes
    sent = time.monotonic()
    await other.request_cancel("s")
    while not heard:
        assert time.monotonic() - sent < 1.0, "the cancel took more than a second"
        await asyncio.sleep(0.01)
    assert heard[0] == "s"


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
