"""The in-process stream log: batches, waiting, bounds and retention."""

from __future__ import annotations

import asyncio

import pytest

from tokenwire.events import Delta, Done, Event, Start
from tokenwire.hub.log import LogFull, StreamMeta, StreamNotFound
from tokenwire.hub.memory import MemoryStreamLog


def meta(stream_id: str) -> StreamMeta:
    return StreamMeta(stream_id, "c", "m", "model")


def events(*payloads: Delta | Done | Start, first: int = 1) -> tuple[Event, ...]:
    return tuple(Event.make(first + i, p) for i, p in enumerate(payloads))


async def test_a_reader_behind_gets_everything_in_one_batch() -> None:
    log = MemoryStreamLog()
    await log.create(meta("s"))
    for i in range(1, 6):
        await log.append("s", events(Delta(str(i)), first=i))
    batch = await log.read("s", 2, timeout=1)
    assert [e.seq for e in batch.events] == [3, 4, 5] and not batch.ended


async def test_a_waiting_reader_wakes_on_append_and_times_out_idle() -> None:
    log = MemoryStreamLog()
    await log.create(meta("s"))
    assert (await log.read("s", 0, timeout=0.01)).events == ()
    reader = asyncio.create_task(log.read("s", 0, timeout=5))
    await asyncio.sleep(0.01)
    await log.append("s", events(Delta("x")))
    assert [e.seq for e in (await reader).events] == [1]


async def test_the_end_is_reported_and_nothing_may_follow_it() -> None:
    log = MemoryStreamLog()
    await log.create(meta("s"))
    await log.append("s", events(Delta("x"), Done()))
    assert (await log.read("s", 2, timeout=5)).ended  # at once, not after the timeout
    with pytest.raises(ValueError):
        await log.append("s", events(Delta("late"), first=3))


async def test_finished_streams_expire_after_retention() -> None:
    now = [0.0]
    log = MemoryStreamLog(retention=10, clock=lambda: now[0])
    await log.create(meta("s"))
    await log.append("s", events(Done()))
    now[0] = 9.0
    assert (await log.read("s", 0, timeout=0)).ended
    now[0] = 11.0
    with pytest.raises(StreamNotFound):
        await log.read("s", 0, timeout=0)


async def test_when_full_finished_streams_make_room_but_live_ones_never() -> None:
    log = MemoryStreamLog(max_streams=2)
    await log.create(meta("a"))
    await log.create(meta("b"))
    await log.append("a", events(Done()))
    await log.create(meta("c"))  # "a" had ended: it makes room
    with pytest.raises(StreamNotFound):
        await log.meta("a")
    with pytest.raises(LogFull):
        await log.create(meta("d"))  # "b" and "c" are live


async def test_a_reader_ahead_of_the_stream_waits_until_passed() -> None:
    log = MemoryStreamLog()
    await log.create(meta("s"))
    reader = asyncio.create_task(log.read("s", 2, timeout=5))
    await log.append("s", events(Start("s", "c", "m", "model")))
    await log.append("s", events(Delta("x"), first=2))
    await asyncio.sleep(0.01)
    assert not reader.done()  # seq 1 and 2 are not news to it
    await log.append("s", events(Delta("y"), first=3))
    assert [e.seq for e in (await reader).events] == [3]
