"""Many streams over one carrier: the frame protocol of ``/api/ws``, apart from the socket.

Client frames: ``{"type": "chat", ...}`` (the body of ``POST /api/chat``, a new turn or a turn's
continuation with ``tool_results``, plus an optional ``ref`` echoed on the stream's ``start``
frame), ``{"type": "resume", "stream_id", "after"}`` and ``{"type": "cancel", "stream_id"}``.
Server frames are the protocol events with ``stream_id`` added, and ``{"type": "rejected", "ref",
"error": {"code", "message"}}`` for a client frame that could not be acted on, its code and message
those the HTTP routes answer (:mod:`tokenwire.server.error_map`).

The carrier is a :class:`FrameSink`: the WebSocket endpoint writes frames to its socket, the desktop
window hands them to its page over QWebChannel. Ending a session stops reading, never generating.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

import orjson

from tokenwire.errors import TokenwireError
from tokenwire.hub.log import LogUnavailable, StreamNotFound
from tokenwire.server.error_map import api_error
from tokenwire.server.errors import ApiError
from tokenwire.server.state import AppState
from tokenwire.server.streaming import read_stream
from tokenwire.server.validation import chat_request, optional_str, parse_json_object

logger = logging.getLogger("tokenwire.server")

_FRAME_FAILED = ApiError(500, "internal_error", "the frame failed; see the server log")


class ReaderGone(TokenwireError):
    """The carrier closed or its reader stopped reading: nothing more can be sent."""


class FrameSink(Protocol):
    async def send(self, *frames: bytes) -> None:
        """Deliver frames (JSON objects) in order, as one unit among the session's streams, or
        raise :class:`ReaderGone`."""


class FrameSession:
    """One carrier's streams: acts on client frames, relays each followed stream's events."""

    def __init__(self, state: AppState, owner: str, sink: FrameSink) -> None:
        self.state = state
        self.owner = owner
        self.sink = sink
        self.readers: dict[str, asyncio.Task[None]] = {}

    async def reject(self, ref: Any, code: str, message: str) -> None:
        await self.sink.send(
            orjson.dumps(
                {"type": "rejected", "ref": ref, "error": {"code": code, "message": message}}
            )
        )

    async def reject_error(self, ref: Any, exc: TokenwireError) -> None:
        """Reject with what the HTTP routes would answer for ``exc``."""
        error = api_error(exc)
        if error is None:
            logger.error("a stream frame failed", exc_info=exc)
            error = _FRAME_FAILED
        await self.reject(ref, error.code, error.message)

    async def handle(self, raw: str | bytes, owner: str | None = None) -> None:
        """Act on one client frame, for ``owner`` (the session's by default); one that cannot be
        acted on is answered ``rejected``."""
        owner = self.owner if owner is None else owner
        ref = None
        try:
            limit = self.state.settings.ws_max_frame_bytes
            if limit and len(raw) > limit:
                raise ApiError(413, "frame_too_large", f"the frame is over {limit} bytes")
            frame = parse_json_object(raw)
            ref = frame.get("ref")
            kind = frame.get("type")
            if kind == "chat":
                await self.chat(frame, ref, owner)
            elif kind == "resume":
                stream_id, after = _stream_id(frame), _after(frame)
                await self.state.hub.meta(stream_id, owner)
                if not await self.state.hub.resume_point_known(stream_id, after):
                    message = f"event {after} of this stream has not been written yet"
                    raise ApiError(400, "invalid_last_event_id", message)
                self.check_room(stream_id)
                self.follow(stream_id, after, ref)
            elif kind == "cancel":
                await self.state.hub.cancel(_stream_id(frame), owner)
            else:
                raise ApiError(400, "invalid_request", "`type` must be chat, resume or cancel")
        except ReaderGone:
            raise
        except TokenwireError as exc:
            await self.reject_error(ref, exc)
        except Exception:
            logger.exception("a stream frame failed")
            await self.reject(ref, _FRAME_FAILED.code, _FRAME_FAILED.message)

    def check_room(self, stream_id: str | None) -> None:
        limit = self.state.settings.ws_max_streams
        if stream_id not in self.readers and 0 < limit <= len(self.readers):
            raise ApiError(
                429,
                "too_many_streams",
                f"this socket already reads {limit} streams; close one or open another socket",
            )

    async def chat(self, frame: dict[str, Any], ref: Any, owner: str) -> None:
        self.check_room(None)
        turn = chat_request(frame, max_chars=self.state.settings.max_message_chars)
        handle = await turn.start(self.state.hub, owner)
        self.follow(handle.stream_id, 0, ref)

    def follow(self, stream_id: str, after: int, ref: Any) -> None:
        previous = self.readers.pop(stream_id, None)
        if previous is not None:
            previous.cancel()

        task = asyncio.create_task(self.relay(stream_id, after, ref))
        self.readers[stream_id] = task
        task.add_done_callback(
            lambda t: (
                self.readers.pop(stream_id, None) if self.readers.get(stream_id) is t else None
            )
        )

    async def relay(self, stream_id: str, after: int, ref: Any) -> None:
        # Splice stream_id (and ref on start) into the event's own JSON rather than encoding again.
        head = b'{"stream_id":' + orjson.dumps(stream_id) + b","
        start_head = head + b'"ref":' + orjson.dumps(ref) + b"," if ref is not None else head
        keepalive = self.state.settings.keepalive_seconds
        try:
            async for events in read_stream(self.state.hub, stream_id, after, keepalive):
                if events:
                    await self.sink.send(
                        *((start_head if e.seq == 1 else head) + e.json[1:] for e in events)
                    )
        except (StreamNotFound, LogUnavailable) as exc:  # unavailable: resume later
            with contextlib.suppress(ReaderGone):
                await self.reject_error(ref, exc)
        except ReaderGone:
            pass

    async def close(self) -> None:
        """Stop relaying; the generations go on."""
        for task in list(self.readers.values()):
            task.cancel()
        for task in list(self.readers.values()):
            with contextlib.suppress(BaseException):
                await task


def _stream_id(frame: dict[str, Any]) -> str:
    stream_id = optional_str(frame, "stream_id")
    if stream_id is None:
        raise ApiError(400, "invalid_request", "`stream_id` is required")
    return stream_id


def _after(frame: dict[str, Any]) -> int:
    after = frame.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ApiError(400, "invalid_last_event_id", "`after` must be a non-negative integer")
    return after
