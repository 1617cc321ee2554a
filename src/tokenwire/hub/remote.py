"""Cancelling a generation that runs in another server process, through the shared stream log."""

from __future__ import annotations

import asyncio
from typing import Literal, Protocol

from tokenwire.events import Done
from tokenwire.hub.log import StreamLog


class RemoteCancel(Protocol):
    async def request_cancel(self, stream_id: str) -> None:
        """Ask the process that produces ``stream_id`` to cancel it."""


async def cancel_remote(
    remote: RemoteCancel, log: StreamLog, stream_id: str, *, timeout: float
) -> Literal["cancelled", "finished"]:
    """Send the cancel, then wait for the stream's terminal event: ``cancelled`` when it is a
    ``done`` with that reason, ``finished`` when the stream ended otherwise (or had already)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    batch = await log.read(stream_id, 0, timeout=0)
    if batch.ended:
        return "finished"
    after = batch.events[-1].seq if batch.events else 0
    await remote.request_cancel(stream_id)
    while (left := deadline - loop.time()) > 0:
        batch = await log.read(stream_id, after, timeout=left)
        if batch.events:
            after = batch.events[-1].seq
            last = batch.events[-1].payload
            if batch.events[-1].is_terminal:
                cancelled = isinstance(last, Done) and last.finish_reason == "cancelled"
                return "cancelled" if cancelled else "finished"
        elif batch.ended:
            return "finished"
    return "finished"
