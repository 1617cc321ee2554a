"""What a producer keeps of its live streams so that Redis restarting costs its readers nothing.

While Redis cannot be reached, a generation's events are **held** here, in order, and written when
Redis answers again; a write whose reply was lost is simply sent again, since the append script
skips the seqs already written. If Redis came back empty (no persistence, or a new node), the
stream is written again from its ``start``: so every event of a live stream is kept until its
terminal event is written. Holding is bounded - ``max_seconds`` from the first held event and
``max_events`` held at once; past either, the stream is given up (``LogOutageTooLong``) and its
generation ends ``log_unavailable``, its partial text stored.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from tokenwire.events import Event
from tokenwire.hub.log import LogUnavailable, StreamMeta


class LogOutageTooLong(LogUnavailable):
    """Redis stayed unreachable past the outage bounds: the stream's events cannot all be kept."""


@dataclass(slots=True)
class ProducedStream:
    """A live stream this process produces: every event so far, and how many Redis has."""

    meta: StreamMeta
    events: list[Event] = field(default_factory=list)  # events[i].seq == i + 1
    written: int = 0  # the last seq Redis confirmed
    outage_since: float | None = None  # monotonic time of the first write that failed
    given_up: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one write at a time, in order
    flusher: asyncio.Task[None] | None = None

    def add(self, events: list[Event]) -> None:
        if self.given_up:
            raise LogOutageTooLong(f"stream {self.meta.stream_id}: redis was unreachable too long")
        assert events[0].seq == len(self.events) + 1, "events are appended in seq order"
        self.events.extend(events)

    def unwritten(self) -> list[Event]:
        return self.events[self.written :]

    @property
    def ended(self) -> bool:
        """Its terminal event is written: nothing more to keep."""
        return self.written > 0 and self.events[self.written - 1].is_terminal


class HeldAppends:
    """The bounds, and the streams being produced, by id."""

    def __init__(self, *, max_seconds: float = 30.0, max_events: int = 10_000) -> None:
        self.max_seconds = max_seconds
        self.max_events = max_events
        self.streams: dict[str, ProducedStream] = {}

    def start(self, meta: StreamMeta) -> ProducedStream:
        produced = self.streams[meta.stream_id] = ProducedStream(meta)
        return produced

    def get(self, stream_id: str) -> ProducedStream | None:
        return self.streams.get(stream_id)

    def drop(self, stream_id: str) -> None:
        self.streams.pop(stream_id, None)

    def failed(self, produced: ProducedStream) -> bool:
        """A write failed: hold on, or give up (True) when past the bounds."""
        now = time.monotonic()
        if produced.outage_since is None:
            produced.outage_since = now
        too_long = now - produced.outage_since > self.max_seconds
        if too_long or len(produced.unwritten()) > self.max_events:
            produced.given_up = True
        return produced.given_up

    @property
    def held(self) -> int:
        """Events held, in every stream: what ``/metrics`` shows."""
        return sum(len(p.unwritten()) for p in self.streams.values() if p.outage_since is not None)
