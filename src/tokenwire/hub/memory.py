"""The in-process stream log: the default, with nothing to install or start.

Bounded: at most ``max_streams`` streams, ``max_events`` events a stream and ``max_bytes`` bytes
of event JSON in all; a finished stream is kept for ``retention`` seconds so a late reader can
still resume, then forgotten. When the log is full the oldest finished streams make room; live
streams are never evicted. A finished stream is packed into an ``EventBuffer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from tokenwire.events import Event
from tokenwire.hub.event_buffer import EventBuffer
from tokenwire.hub.log import Batch, LogFull, StreamEnded, StreamMeta, StreamNotFound


class _Stream:
    __slots__ = ("ended_at", "events", "meta", "nbytes", "packed", "waiters")

    def __init__(self, meta: StreamMeta) -> None:
        self.meta = meta
        self.events: list[Event] = []  # while live; emptied into `packed` at the end
        self.packed: EventBuffer | None = None
        self.nbytes = 0  # what this stream counts against the log's max_bytes
        self.ended_at: float | None = None
        # One future per waiting reader, resolved and dropped by the next append: an append
        # with nobody waiting costs nothing. Not asyncio.Event plus asyncio.timeout: that pair
        # cost about 6 us per wait, paid once per event by every reader of a paced stream.
        self.waiters: list[asyncio.Future[None]] = []

    def wake(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()

    def __len__(self) -> int:
        return len(self.events) if self.packed is None else len(self.packed)

    def after(self, seq: int) -> Sequence[Event]:
        if self.packed is not None:
            return self.packed.after(seq)
        # seq n sits at index n - 1, so the events after `seq` start at index `seq`.
        return self.events[max(seq, 0) :]


class MemoryStreamLog:
    def __init__(
        self,
        *,
        max_streams: int = 10_000,
        max_events: int = 100_000,
        retention: float = 600.0,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._streams: OrderedDict[str, _Stream] = OrderedDict()
        self._max_streams = max_streams
        self.max_events = max_events
        self._retention = retention
        self.max_bytes = max_bytes  # 0: no bound
        self.nbytes = 0  # event JSON (and packed offsets) held, over every stream
        self._clock = clock
        self._next_sweep = 0.0

    async def create(self, meta: StreamMeta) -> None:
        self._expire()
        if len(self._streams) >= self._max_streams and not self._evict_one():
            raise LogFull(f"{len(self._streams)} streams are live")
        self._streams[meta.stream_id] = _Stream(meta)

    async def append(self, stream_id: str, events: Sequence[Event]) -> None:
        stream = self._get(stream_id)
        if stream.ended_at is not None:
            raise StreamEnded(
                f"stream {stream_id} has ended; nothing may follow its terminal event"
            )
        stream.events.extend(events)
        added = sum(len(event.json) for event in events)
        stream.nbytes += added
        self.nbytes += added
        if events[-1].is_terminal:
            stream.ended_at = self._clock()
            self._pack(stream)
        if stream.waiters:
            stream.wake()
        if self.max_bytes and self.nbytes > self.max_bytes:
            self._shed_bytes()

    async def read(self, stream_id: str, after: int, timeout: float) -> Batch:
        stream = self._get(stream_id)
        if len(stream) <= after and stream.ended_at is None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            # A reader ahead of the stream (after > last seq) waits until it is passed.
            while len(stream) <= after and stream.ended_at is None:
                if loop.time() >= deadline:
                    return Batch((), False)
                waiter: asyncio.Future[None] = loop.create_future()
                stream.waiters.append(waiter)
                # The timer resolves the future too: a timeout is a wake-up with nothing new.
                timer = loop.call_at(deadline, _resolve, waiter)
                try:
                    await waiter
                finally:
                    timer.cancel()
                    if stream.waiters:  # timed out or cancelled: not removed by an append
                        with contextlib.suppress(ValueError):
                            stream.waiters.remove(waiter)
        return Batch(stream.after(after), stream.ended_at is not None)

    async def meta(self, stream_id: str) -> StreamMeta:
        return self._get(stream_id).meta

    async def close(self) -> None:
        self._streams.clear()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._streams)

    def _get(self, stream_id: str) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None or self._expired(stream):
            raise StreamNotFound(stream_id)
        return stream

    def _expired(self, stream: _Stream) -> bool:
        return stream.ended_at is not None and self._clock() - stream.ended_at > self._retention

    def _expire(self) -> None:
        # A full scan, so at most once a second rather than at every new stream.
        now = self._clock()
        if now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        for stream_id in [sid for sid, s in self._streams.items() if self._expired(s)]:
            self._drop(stream_id)

    def _evict_one(self) -> bool:
        for stream_id, stream in self._streams.items():  # oldest first
            if stream.ended_at is not None:
                self._drop(stream_id)
                return True
        return False

    def _shed_bytes(self) -> None:
        """Drop the oldest finished streams until the log is within ``max_bytes`` again."""
        while self.nbytes > self.max_bytes and self._evict_one():
            pass

    def _drop(self, stream_id: str) -> None:
        self.nbytes -= self._streams.pop(stream_id).nbytes

    def _pack(self, stream: _Stream) -> None:
        stream.packed = EventBuffer(stream.events)
        stream.events = []
        self.nbytes += stream.packed.nbytes - stream.nbytes
        stream.nbytes = stream.packed.nbytes


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
