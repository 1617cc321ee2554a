"""``/api/ws``: one socket carries many streams, in the frames of :mod:`tokenwire.server.multiplex`.

A reader that stops reading is dropped after ``send_timeout_seconds``. Closing the socket stops
reading, never the generations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.routing import WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from tokenwire.server.multiplex import FrameSession, ReaderGone
from tokenwire.server.state import AppState, app_state, owner_of

logger = logging.getLogger("tokenwire.server")


class SocketSink:
    """Writes frames to the socket: one lock and one send deadline for a whole batch."""

    def __init__(self, ws: WebSocket, state: AppState) -> None:
        self.ws = ws
        self.state = state
        self.lock = asyncio.Lock()
        self.dropped = asyncio.Event()  # the client stopped reading: end the session

    async def send(self, *frames: bytes) -> None:
        timeout = self.state.settings.send_timeout_seconds or None
        async with self.lock:
            try:
                async with asyncio.timeout(timeout):
                    for frame in frames:
                        await self.ws.send_text(frame.decode())
            except TimeoutError:
                if not self.dropped.is_set():
                    logger.info("dropped a WebSocket that stopped reading (%s)", self.ws.client)
                    self.state.metrics.dropped_readers.inc()
                    self.dropped.set()
                raise ReaderGone from None
            except (WebSocketDisconnect, RuntimeError) as exc:  # the socket closed under us
                raise ReaderGone from exc


async def websocket_endpoint(ws: WebSocket) -> None:
    await ws.accept()
    state = app_state(ws)
    sink = SocketSink(ws, state)
    session = FrameSession(state, owner_of(ws), sink)
    try:
        while True:
            message = await _receive_unless(ws, sink.dropped)
            if message is None or message["type"] == "websocket.disconnect":
                break
            await session.handle(message.get("text") or message.get("bytes") or b"")
    except (WebSocketDisconnect, ReaderGone):
        pass
    finally:
        await session.close()


async def _receive_unless(ws: WebSocket, dropped: asyncio.Event) -> Message | None:
    """The next client message, or None once the session was dropped for not reading."""
    receiving = asyncio.ensure_future(ws.receive())
    dropping = asyncio.ensure_future(dropped.wait())
    try:
        await asyncio.wait((receiving, dropping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        dropping.cancel()
    if receiving.done():
        return receiving.result()
    receiving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await receiving
    return None


routes = [WebSocketRoute("/api/ws", websocket_endpoint)]
