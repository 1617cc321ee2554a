"""The Redis stream log against the memory log, in one run: cost per appended event, resume
latency (read everything after a seq of a long stream) and wake-up latency (append to a waiting
reader). Starts its own throwaway redis-server on a free loopback port.

    PYTHONPATH=src .venv/bin/python bench/redis_log.py [--events 5000]

Prints a Markdown table for docs/benchmarks.md; ratios are Redis / memory.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.services import RedisServer

from tokenwire.events import Delta, Event, Start
from tokenwire.hub.log import StreamLog, StreamMeta
from tokenwire.hub.memory import MemoryStreamLog
from tokenwire.hub.redis_log import RedisStreamLog

TOKEN = "word "  # about one model token


async def per_event_append(log: StreamLog, events: int) -> float:
    """Microseconds per event, one append per event, as a generation appends."""
    stream_id = uuid.uuid4().hex
    await log.create(StreamMeta(stream_id, "c", "m", "model"))
    batch = [Event.make(1, Start(stream_id, "c", "m", "model"))]
    batch += [Event.make(seq, Delta(TOKEN)) for seq in range(2, events + 1)]
    started = time.perf_counter()
    for event in batch:
        await log.append(stream_id, (event,))
    return (time.perf_counter() - started) / events * 1e6


async def resume_latency(log: StreamLog, events: int, rounds: int) -> float:
    """Milliseconds to read the second half of a stream of ``events`` events (median)."""
    stream_id = uuid.uuid4().hex
    await log.create(StreamMeta(stream_id, "c", "m", "model"))
    await log.append(stream_id, (Event.make(1, Start(stream_id, "c", "m", "model")),))
    await log.append(
        stream_id, tuple(Event.make(seq, Delta(TOKEN)) for seq in range(2, events + 1))
    )
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        batch = await log.read(stream_id, events // 2, timeout=0)
        times.append(time.perf_counter() - started)
        assert len(batch.events) == events - events // 2
    return statistics.median(times) * 1e3


async def wakeup_latency(log: StreamLog, rounds: int) -> float:
    """Milliseconds from an append to a waiting reader holding the event (median)."""
    stream_id = uuid.uuid4().hex
    await log.create(StreamMeta(stream_id, "c", "m", "model"))
    times = []
    for seq in range(1, rounds + 1):
        reader = asyncio.create_task(log.read(stream_id, seq - 1, timeout=10))
        await asyncio.sleep(0.005)  # the reader is waiting
        started = time.perf_counter()
        await log.append(stream_id, (Event.make(seq, Delta(TOKEN)),))
        batch = await reader
        times.append(time.perf_counter() - started)
        assert batch.events[-1].seq == seq
    return statistics.median(times) * 1e3


async def measure(make: Callable[[], Awaitable[StreamLog]], events: int) -> dict[str, float]:
    log = await make()
    try:
        await per_event_append(log, 200)  # warm up: connections, scripts loaded
        return {
            "append": min([await per_event_append(log, events) for _ in range(3)]),
            "resume": await resume_latency(log, events, 50),
            "wakeup": await wakeup_latency(log, 200),
        }
    finally:
        await log.close()


async def main(events: int) -> None:
    server = RedisServer()
    server.start()
    try:

        async def memory() -> StreamLog:
            return MemoryStreamLog()

        async def shared() -> StreamLog:
            return RedisStreamLog(server.url, prefix=f"bench{uuid.uuid4().hex[:6]}:")

        mem = await measure(memory, events)
        red = await measure(shared, events)
    finally:
        server.close()
    rows = [
        ("append, per event (µs)", "append"),
        (f"resume: read {events - events // 2} events after a seq (ms, median)", "resume"),
        ("wake-up: append to a waiting reader (ms, median)", "wakeup"),
    ]
    print("| measure | memory | Redis | Redis / memory |")
    print("|---|---:|---:|---:|")
    for label, key in rows:
        print(f"| {label} | {mem[key]:.3f} | {red[key]:.3f} | {red[key] / mem[key]:.0f}× |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    asyncio.run(main(parser.parse_args().events))
