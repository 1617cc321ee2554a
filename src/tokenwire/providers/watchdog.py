"""A read deadline for a streamed body, kept with one timer per stream instead of one per read.

``asyncio.timeout`` around each read of an upstream body costs about 5 us per read (a timer
scheduled and cancelled every time); on the streaming hot path the watchdog moves a float per read
instead. Used by the OpenAI provider for its first-token and idle deadlines.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["Watchdog"]


class Watchdog:
    """The deadline of the read in progress, with one timer per stream instead of one per read.

    ``arm`` before each read and clear ``armed`` after it; ``when`` may move at any time (only a
    move earlier than the pending timer reschedules it). When the timer finds the deadline passed
    while a read is in progress, it cancels the reading task, exactly as ``asyncio.timeout``
    would; ``expired()`` then tells that cancellation apart from the consumer's and takes it back
    (``Task.uncancel``). While the generator is suspended at a ``yield`` (not reading), the timer
    never cancels anything: the consumer's own time is not the upstream's.
    """

    __slots__ = ("_cancelling", "_handle", "_loop", "_scheduled", "_task", "armed", "fired", "when")

    def __init__(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._loop = loop
        self._handle: asyncio.TimerHandle | None = None
        self._scheduled = 0.0
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0
        self.armed = False
        self.fired = False
        self.when = when

    def arm(self, task: asyncio.Task[Any] | None) -> None:
        self._task = task
        if task is not None:
            self._cancelling = task.cancelling()
        self.armed = True
        if self._handle is None or self.when < self._scheduled:
            if self._handle is not None:
                self._handle.cancel()
            self._scheduled = self.when
            self._handle = self._loop.call_at(self.when, self._on_timer)

    def _on_timer(self) -> None:
        self._handle = None
        if not self.armed or self._task is None:
            return  # not reading: the next arm() schedules a timer again
        if self.when - self._loop.time() > 0.001:  # the deadline moved on since
            self._scheduled = self.when
            self._handle = self._loop.call_at(self.when, self._on_timer)
            return
        self.armed = False
        self.fired = True
        self._task.cancel()

    def expired(self) -> bool:
        """After a failed read: True when our timer caused it (its cancellation is undone)."""
        if not self.fired or self._task is None:
            return False
        self.fired = False
        # As asyncio.timeout does: a cancellation from elsewhere at the same time still wins.
        return self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        self.armed = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
