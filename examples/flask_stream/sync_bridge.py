"""Running tokenwire's async providers under a sync WSGI server such as Flask's.

A provider (``tokenwire.providers``) is async: its HTTP client and its timeouts live on an event
loop. ``LoopThread`` keeps one loop in a thread of its own for the whole app, so the provider's
connection pool is reused between requests, and turns a provider's async stream into the plain
iterator a WSGI response takes. Closing that iterator (the WSGI server does when the reader leaves)
closes the provider's stream on its loop, which closes the upstream request: the model stops.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Awaitable, Iterator
from typing import TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` on the loop and wait for its result in this thread."""

        async def wrapped() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result()

    def iterate(self, stream: AsyncGenerator[T, None]) -> Iterator[T]:
        """The items of ``stream``, one at a time; closing this iterator closes ``stream``."""
        try:
            while True:
                try:
                    item = self.run(anext(stream))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            self.run(stream.aclose())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
