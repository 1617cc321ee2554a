"""A stream's state, kept the same way by the async and the sync client: no I/O here.

``StreamState.feed`` takes the bytes of one connection's body as they come and returns only the
events not seen before. The server resends from ``Last-Event-ID``, so an event at or below
``last_seq`` is a repeat and is dropped; one beyond ``last_seq + 1`` means events went missing,
which no reconnection can repair: feeding stops there and ``broken`` says why, to be raised once
the events before it have been taken.

``answer`` (text, tool calls, how it ended) adds up the events *taken*, one by one as the stream
hands them out (``take``), not as they are received: a chunk may bring many events at once, and
what the stream shows must be what the caller has seen so far.
"""

from __future__ import annotations

from tokenwire.client._errors import StreamError
from tokenwire.events import (
    Answer,
    Delta,
    Done,
    Error,
    Event,
    FinishReason,
    Reasoning,
    Start,
    ToolResult,
    Usage,
    WholeToolCall,
)
from tokenwire.wire.sse import SSEDecoder


class StreamState:
    def __init__(self, stream_id: str | None = None, after: int = 0) -> None:
        self.stream_id = stream_id
        self.conversation_id: str | None = None
        self.message_id: str | None = None
        self.model: str | None = None
        self.last_seq = after
        # Text received (not only taken): a resume of an expired stream goes on from here.
        # Only a stream read from its first event knows all the text that came before.
        self.received_chars = 0
        self.received_reasoning = 0
        self.seen_from_start = after == 0
        self.answer = Answer()
        self.ended = False
        self.broken: StreamError | None = None
        self.retry_ms: int | None = None  # the server's SSE ``retry:``, the least wait to resume
        self._decoder = SSEDecoder()

    def new_connection(self) -> None:
        """Forget the half-received block of a dropped connection; the next body starts clean."""
        self._decoder = SSEDecoder()

    def feed(self, chunk: bytes) -> list[Event]:
        fresh: list[Event] = []
        for message in self._decoder.feed(chunk):
            if self.ended or self.broken:
                break
            try:
                event = Event.from_json(message.data)
            except ValueError as exc:
                self.broken = StreamError(f"stream {self.stream_id}: {exc}")
                break
            if event.seq <= self.last_seq:
                continue
            if event.seq != self.last_seq + 1:
                self.broken = StreamError(
                    f"stream {self.stream_id}: event {event.seq} came after {self.last_seq}; "
                    "events are missing"
                )
                break
            self.apply(event)
            fresh.append(event)
        if self._decoder.retry is not None:
            self.retry_ms = self._decoder.retry
        return fresh

    def apply(self, event: Event) -> None:
        self.last_seq = event.seq
        payload = event.payload
        if isinstance(payload, Delta):
            self.received_chars += len(payload.text)
        elif isinstance(payload, Reasoning):
            self.received_reasoning += len(payload.text)
        if isinstance(payload, Start):
            self.stream_id = self.stream_id or payload.stream_id
            self.conversation_id = payload.conversation_id
            self.message_id = payload.message_id
            self.model = payload.model
        else:
            self.ended = event.is_terminal

    def take(self, event: Event) -> Event:
        """An event is handed to the caller: the answer adds it up."""
        if not isinstance(event.payload, Start):
            self.answer.add(event.payload)
        return event


class StreamView:
    """The read-only face of a stream, shared by ``AsyncChatStream`` and ``ChatStream``."""

    _state: StreamState

    @property
    def stream_id(self) -> str | None:
        return self._state.stream_id

    @property
    def conversation_id(self) -> str | None:
        return self._state.conversation_id

    @property
    def message_id(self) -> str | None:
        return self._state.message_id

    @property
    def model(self) -> str | None:
        return self._state.model

    @property
    def text(self) -> str:
        """The answer so far: every ``delta`` the stream has yielded, joined."""
        return self._state.answer.text

    @property
    def reasoning(self) -> str:
        return self._state.answer.reasoning

    @property
    def tool_calls(self) -> list[WholeToolCall]:
        """Every tool call so far, its pieces (the ``ToolCall`` events yielded) joined by index:
        ``id``, ``name`` and the JSON ``arguments`` string, which grows while the call streams.
        Calls the server ran are here too, answered in ``tool_results``."""
        return list(self._state.answer.tool_calls)

    @property
    def tool_results(self) -> list[ToolResult]:
        """The results of the tools the server ran in this stream, in order."""
        return list(self._state.answer.tool_results)

    @property
    def pending_tool_calls(self) -> list[WholeToolCall]:
        """The calls no ``tool_result`` of this stream answered. After ``finish_reason``
        ``"tool_calls"``, these are the caller's to run: send their results with
        ``continue_with_tool_results``."""
        answered = {result.tool_call_id for result in self._state.answer.tool_results}
        return [call for call in self._state.answer.tool_calls if call.id not in answered]

    @property
    def finish_reason(self) -> FinishReason | None:
        final = self._state.answer.final
        return final.finish_reason if isinstance(final, Done) else None

    @property
    def error(self) -> Error | None:
        """The ``error`` payload the stream ended with, if it did."""
        final = self._state.answer.final
        return final if isinstance(final, Error) else None

    @property
    def usage(self) -> Usage | None:
        return self._state.answer.usage

    @property
    def last_seq(self) -> int:
        return self._state.last_seq

    @property
    def ended(self) -> bool:
        """The terminal event (``done`` or ``error``) has been received."""
        return self._state.ended
