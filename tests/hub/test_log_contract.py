"""What every stream log promises, on the memory log and on a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from tokenwire.events import Delta, Done, Event, Start
from tokenwire.hub.log import StreamLog, StreamMeta, StreamNotFound
from tokenwire.hub.memory import MemoryStreamLog
from tokenwire.hub.redis_log import RedisStreamLog


def meta(stream_id: str) -> StreamMeta:
    return StreamMeta(stream_id, "c", "m", "model", "ann")


def events(*payloads: Delta | Done | Start, first: int = 1) -> tuple[Event, ...]:
    return tuple(Event.make(first + i, p) for i, p in enumerate(payloads))


@pytest.fixture(params=["memory", "redis"])
async def log(request: pytest.FixtureRequest) -> AsyncIterator[StreamLog]:
    if request.param == "memory":
        memory = MemoryStreamLog()
        yield memory
        await memory.close()
        return
    url: str = request.getfixturevalue("redis_url")
    shared = RedisStreamLog(url, prefix=f"t{uuid.uuid4().hex[:8]}:")
    yield shared
    await shared.close()


async def test_meta_round_trips_and_unknown_streams_are_not_found(log: StreamLog) -> None:
    await log.create(meta("s"))
    assert await log.meta("s") == meta("s")
    with pytest.raises(StreamNotFound):
        await log.meta("nope")
    with pytest.raises(StreamNotFound):
        await log.read("nope", 0, timeout=0)


async def test_a_reader_behind_gets_everything_in_one_batch(log: StreamLog) -> None:
    await log.create(meta("s"))
    for i in range(1, 6):
        await log.append("s", events(Delta(str(i)), first=i))
    batch = await log.read("s", 2, timeout=1)
    assert [e.seq for e in batch.events] == [3, 4, 5] and not batch.ended
    assert [e.json for e in batch.events] == [Event.make(i, Delta(str(i))).json for i in (3, 4, 5)]


async def test_a_waiting_reader_wakes_on_append_and_times_out_idle(log: StreamLog) -> None:
    await log.create(meta("s"))
    assert (await log.read("s", 0, timeout=0.05)).events == ()
    reader = asyncio.create_task(log.read("s", 0, timeout=30))
    await asyncio.sleep(0.2)
    assert not reader.done()
    await log.append("s", events(Delta("x")))
    batch = await asyncio.wait_for(reader, 10)
    assert [e.seq for e in batch.events] == [1]


async def test_the_end_is_reported_and_nothing_may_follow_it(log: StreamLog) -> None:
    await log.create(meta("s"))
    await log.append("s", events(Delta("x"), Done()))
    batch = await log.read("s", 0, timeout=5)
    assert [e.seq for e in batch.events] == [1, 2] and batch.ended
    assert (await asyncio.wait_for(log.read("s", 2, timeout=30), 5)).ended_without_events
    with pytest.raises(ValueError):
        await log.append("s", events(Delta("late"), first=3))


async def test_a_reader_ahead_of_the_stream_waits_until_passed(log: StreamLog) -> None:
    await log.create(meta("s"))
    reader = asyncio.create_task(log.read("s", 2, timeout=30))
    await log.append("s", events(Start("s", "c", "m", "model")))
    await log.append("s", events(Delta("x"), first=2))
    await asyncio.sleep(0.3)
    assert not reader.done()  # seq 1 and 2 are not news to it
    await log.append("s", events(Delta("y"), first=3))
    assert [e.seq for e in (await asyncio.wait_for(reader, 10)).events] == [3]


async def test_many_readers_see_the_same_sequence(log: StreamLog) -> None:
    await log.create(meta("s"))

    async def read_all() -> list[int]:
        seen: list[int] = []
        while True:
            batch = await log.read("s", seen[-1] if seen else 0, timeout=30)
            seen.extend(e.seq for e in batch.events)
            if batch.ended:
                return seen

    readers = [asyncio.create_task(read_all()) for _ in range(5)]
    for seq in range(1, 50):
        await log.append("s", events(Delta(f"{seq} "), first=seq))
    await log.append("s", events(Done(), first=50))
    results = await asyncio.wait_for(asyncio.gather(*readers), 30)
    assert all(r == list(range(1, 51)) for r in results)
