"""The stream log: where a generation appends its numbered events and every reader reads them.

Any number of readers ask for the events after a seq; they get them in batches, so a reader that
falls behind catches up in one read instead of one wake-up per event. A stream is known from its
creation until its retention time after the terminal event has passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tokenwire.errors import TokenwireError
from tokenwire.events import Event


class StreamNotFound(TokenwireError, LookupError):
    """No such stream: never created, or expired after its retention time."""


class StreamExpired(StreamNotFound):
    """The log forgot the stream, but the store knows its answer: in ``conversation_id``."""

    def __init__(self, stream_id: str, conversation_id: str) -> None:
        super().__init__(stream_id)
        self.conversation_id = conversation_id


class LogFull(TokenwireError, RuntimeError):
    """The log holds as many live streams as it may; a new one must wait."""


class StreamEnded(TokenwireError, ValueError):
    """The stream already has its terminal event; nothing may follow it. With a shared log, another
    process may have ended it: the producer's lease ran out while it could not reach Redis."""


class LogUnavailable(TokenwireError, RuntimeError):
    """The log's service (Redis) cannot be reached right now; a later call may succeed."""


@dataclass(frozen=True, slots=True)
class StreamMeta:
    """What the log keeps about a stream besides its events."""

    stream_id: str
    conversation_id: str
    message_id: str
    model: str
    owner: str = ""


@dataclass(frozen=True, slots=True)
class Batch:
    """Events read after a seq; ``ended`` when they include, or follow, the terminal event."""

    events: Sequence[Event]
    ended: bool

    @property
    def ended_without_events(self) -> bool:
        """The reader already has everything, terminal event included."""
        return self.ended and not self.events


class StreamLog(Protocol):
    async def create(self, meta: StreamMeta) -> None:
        """Register a new stream; raises ``LogFull`` when no room is left."""

    async def append(self, stream_id: str, events: Sequence[Event]) -> None:
        """Append events, numbered by their producer, to a stream."""

    async def read(self, stream_id: str, after: int, timeout: float) -> Batch:
        """The events with seq > ``after``; waits up to ``timeout`` seconds for the first one.

        Returns an empty, not ended batch on timeout. Raises ``StreamNotFound``.
        """

    async def meta(self, stream_id: str) -> StreamMeta:
        """The stream's metadata; raises ``StreamNotFound``."""

    async def close(self) -> None: ...
