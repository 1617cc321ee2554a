"""The end of a stream the server's log has forgotten, rebuilt from the stored answer.

A resume answered 410 ``stream_expired`` names the conversation that stores the answer. Its
assistant messages written by this stream hold all the text the stream sent (one message per
step when the server ran tools), so what the caller has not received yet is their text past what
it already has, and the terminal event is the last message's status. No I/O here.
"""

from __future__ import annotations

from typing import Any

from tokenwire.client._state import StreamState
from tokenwire.events import Delta, Done, Error, Event, Payload, Reasoning

_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "cancelled"})


def stored_ending(state: StreamState, conversation: dict[str, Any]) -> list[Event]:
    """The events after ``state.last_seq`` that the stored conversation implies, terminal last."""
    written = [
        m
        for m in conversation.get("messages", [])
        if m.get("role") == "assistant" and m.get("stream_id") == state.stream_id
    ]
    if not written:
        return [_event(state, Error("stream_expired", "the stream expired and stored no answer"))]
    payloads: list[Payload] = []
    reasoning = "".join(m.get("reasoning") or "" for m in written)[state.received_reasoning :]
    if reasoning:
        payloads.append(Reasoning(reasoning))
    text = "".join(m.get("content") or "" for m in written)[state.received_chars :]
    if text:
        payloads.append(Delta(text))
    payloads.append(_terminal(written[-1]))
    return [_event(state, payload) for payload in payloads]


def _terminal(message: dict[str, Any]) -> Done | Error:
    status = message.get("status")
    if status == "complete":
        reason = message.get("finish_reason")
        return Done(reason if reason in _FINISH_REASONS else "stop")
    if status == "cancelled":
        return Done("cancelled")
    if status == "streaming":  # another process still writes it, but its stream is gone
        return Error("stream_expired", "the stream expired while its answer was being written")
    return Error(
        message.get("error_code") or "interrupted",
        message.get("error_message") or "the answer did not finish",
    )


def _event(state: StreamState, payload: Payload) -> Event:
    event = Event.make(state.last_seq + 1, payload)
    state.apply(event)
    return event
