"""Saving an answer while the database (PostgreSQL) restarts: the stream does not wait for it.

Saves during the stream run in the background, one at a time: a save that fails is simply made
again by the next one (each writes the whole answer so far), and the stream's events never wait on
a database that does not answer. The final save is retried while the database is away. If it stays
away longer than ``outage_seconds``, the stream ends with ``error`` ``store_unavailable``; the
answer with that error is still saved in the background as soon as the database is back, so what
the reader was shown is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from tokenwire.errors import TokenwireError
from tokenwire.events import Error
from tokenwire.store.database import DatabaseUnavailable

logger = logging.getLogger("tokenwire.hub")

STORE_UNAVAILABLE = Error(
    "store_unavailable", "the database was unreachable for too long", retryable=True
)
RETRY_EVERY = 0.5  # seconds between two tries of the final save
LATE_RETRY_EVERY = 2.0  # and of a save that goes on after the stream ended

Save = Callable[[], Awaitable[None]]
_late: set[asyncio.Task[None]] = set()  # saves of ended streams, kept referenced until done


class StoreOutageTooLong(TokenwireError):
    """The database stayed unreachable past ``store_outage_seconds`` during a stream."""


class StoreWrites:
    """One generation's saves."""

    def __init__(self, outage_seconds: float = 30.0) -> None:
        self.outage_seconds = outage_seconds
        self.outage_since: float | None = None
        self._pending: asyncio.Task[None] | None = None

    def _failed(self) -> None:
        if self.outage_since is None:
            self.outage_since = time.monotonic()

    def past_bound(self) -> bool:
        since = self.outage_since
        return since is not None and time.monotonic() - since > self.outage_seconds

    async def _try(self, save: Save) -> bool:
        try:
            await save()
        except DatabaseUnavailable:
            self._failed()
            return False
        self.outage_since = None
        return True

    def during(self, save: Save) -> None:
        """A save mid-stream, in the background; raises ``StoreOutageTooLong`` past the bound."""
        if self.past_bound():
            raise StoreOutageTooLong("the database was unreachable for too long")
        if self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._background(save))

    async def _background(self, save: Save) -> None:
        await self._try(save)

    async def final(self, save: Save) -> bool:
        """The last save; retried while the database is away within the bound. False when it
        could not be made (it goes on in the background)."""
        if self._pending is not None:
            with contextlib.suppress(Exception):
                await self._pending  # in order: the last save is the last written
        while True:
            if await self._try(save):
                return True
            if self.past_bound():
                return False
            await asyncio.sleep(RETRY_EVERY)

    @staticmethod
    def later(save: Save, what: str) -> None:
        """Keep trying ``save`` until the database takes it (the process may end first)."""

        async def forever() -> None:
            while True:
                await asyncio.sleep(LATE_RETRY_EVERY)
                with contextlib.suppress(DatabaseUnavailable):
                    await save()
                    logger.warning("%s saved once the database was back", what)
                    return

        task = asyncio.create_task(forever(), name=f"late save: {what}")
        _late.add(task)
        task.add_done_callback(_late.discard)
