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


async def test_a_finished_stream_reads_back_the_same_events_after_packing() -> None:
    log = MemoryStreamLog()
    await log.create(meta("s"))
    sent = events(Start("s", "c", "m", "model"), Delta('é\n"x"'), Delta("y"), Done())
    await log.append("s", sent[:2])
    await log.append("s", sent[2:])
    for after in (0, 2, 4, 9):
        batch = await log.read("s", after, timeout=0)
        assert [e.json for e in batch.events] == [e.json for e in sent[after:]]
        assert batch.ended


async def test_the_log_keeps_within_max_bytes_by_dropping_the_oldest_finished_streams() -> None:
    log = MemoryStreamLog(max_bytes=2_000)
    await log.create(meta("live"))
    await log.append("live", events(Delta("x" * 500)))
    for n in range(10):
        await log.create(meta(f"s{n}"))
        await log.append(f"s{n}", events(Delta("y" * 300), Done()))
        assert log.nbytes <= 2_000
    with pytest.raises(StreamNotFound):
        await log.read("s0", 0, timeout=0)
    assert (await log.read("s9", 0, timeout=0)).ended  # the newest finished stream stays
    assert [e.seq for e in (await log.read("live", 0, timeout=0)).events] == [1]  # live stays


async def test_byte_accounting_returns_to_zero_when_streams_expire() -> None:
    now = [0.0]
    log = MemoryStreamLog(retention=1, clock=lambda: now[0])
    for n in range(3):
        await log.create(meta(f"s{n}"))
        await log.append(f"s{n}", events(Delta("z" * 100), Done()))
    assert log.nbytes > 300
    now[0] = 5.0
    await log.create(meta("next"))  # a create sweeps the expired streams
    assert log.nbytes == 0
