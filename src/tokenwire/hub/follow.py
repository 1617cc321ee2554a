"""Reading a stream through a stream-log outage: a reader's body never just stops.

When Redis cannot be reached, or comes back without the stream while its producer writes it again
(:mod:`tokenwire.hub.held_appends`), a reader keeps its connection - idle batches, so SSE sends
keepalives - and tries again; once the log answers, it reads on after the last seq it sent, so the
client sees one uninterrupted stream. If the log stays away longer than the outage bound, the
reader ends with a terminal ``error`` ``log_unavailable`` of its own, numbered after its last event;
its producer has given up by then too, and stored the answer with that error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tokenwire.events import Error, Event
from tokenwire.hub.log import Batch, LogUnavailable, StreamNotFound

logger = logging.getLogger("tokenwire.hub")

LOG_UNAVAILABLE = Error(
    "log_unavailable", "the stream log was unreachable for too long", retryable=True
)
RETRY_EVERY = 0.25  # seconds between two reads while the log is away

Read = Callable[[str, int, float], Awaitable[Batch]]


class Follower:
    """One reader's reads of one stream, across outages of the log."""

    def __init__(self, read: Read, stream_id: str, outage_seconds: float) -> None:
        self._read = read
        self.stream_id = stream_id
        self.outage_seconds = outage_seconds
        self._outage_since: float | None = None

    async def read(self, after: int, timeout: float) -> Batch:
        """The events after ``after``, as the log's ``read``; during an outage an empty batch
        every ``timeout`` seconds, and after too long an outage the ``log_unavailable`` end.
        Raises ``StreamNotFound`` only when no outage explains the stream's absence."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                wait = 0.0 if self._outage_since is not None else timeout
                batch = await self._read(self.stream_id, after, wait)
            except LogUnavailable:
                pass
            except StreamNotFound:
                if self._outage_since is None:
                    raise
                # The log is back without the stream: its producer is writing it again.
            else:
                if self._outage_since is not None:
                    logger.warning("stream %s: reading again after seq %d", self.stream_id, after)
                    self._outage_since = None
                return batch
            now = loop.time()
            if self._outage_since is None:
                self._outage_since = now
            if now - self._outage_since > self.outage_seconds:
                logger.error("stream %s: the stream log stayed unreachable", self.stream_id)
                return Batch((Event.make(after + 1, LOG_UNAVAILABLE),), True)
            if now >= deadline:
                return Batch((), False)
            await asyncio.sleep(min(RETRY_EVERY, deadline - now))
