"""Server-Sent Events: an encoder for our events and a WHATWG-exact incremental decoder.

The encoder writes ``id``/``event``/``data`` frames from the JSON each ``Event`` already carries.
The decoder follows HTML §9.2.6 "Interpreting an event stream" to the letter, so the server can
read any upstream SSE stream (OpenAI-compatible APIs) however the network chunks it. Its shape
follows rexxars/eventsource-parser: feed -> split lines -> parse line -> process field -> dispatch.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, get_args

from tokenwire.events import Event, EventType

__all__ = [
    "KEEPALIVE",
    "SSEDecoder",
    "ServerSentEvent",
    "encode",
    "encode_comment",
    "encode_event",
    "encode_events",
    "encode_retry",
]

# --- encoding ---------------------------------------------------------------------------------

KEEPALIVE: Final = b": keepalive\n\n"

# Everything between the seq and the JSON is fixed per event type: build it once.
_EVENT_TYPES: Final[tuple[EventType, ...]] = get_args(EventType)
_MIDDLE: Final[dict[str, bytes]] = {
    t: b"\nevent: " + t.encode() + b"\ndata: " for t in _EVENT_TYPES
}


def encode_event(event: Event) -> bytes:
    """One event as an SSE frame: ``id: <seq>``, ``event: <type>``, ``data: <json>``, blank line."""
    return b"".join((b"id: %d" % event.seq, _MIDDLE[event.type], event.json, b"\n\n"))


def encode_events(events: Sequence[Event]) -> bytes:
    """A batch of events as one bytes, joined once (the JSON of each event is copied once)."""
    parts: list[bytes] = []
    for event in events:
        parts += (b"id: %d" % event.seq, _MIDDLE[event.type], event.json, b"\n\n")
    return b"".join(parts)


def encode_retry(ms: int) -> bytes:
    """A ``retry:`` block telling the client how long to wait before reconnecting."""
    if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
        raise ValueError(f"retry must be a non-negative integer of milliseconds: {ms!r}")
    return b"retry: %d\n\n" % ms


def encode_comment(text: str) -> bytes:
    """A comment block; clients ignore it, proxies see traffic. Each line of text gets its colon."""
    lines = _split_text_lines(text)
    return "".join([f": {line}\n" for line in lines]).encode() + b"\n"


def encode(data: str, event: str | None = None, id: str | None = None) -> bytes:
    """A generic SSE frame; multi-line data (CR, LF or CRLF) becomes several ``data:`` lines."""
    out: list[str] = []
    if id is not None:
        # A NUL makes the client ignore the id, and a line break would end the field early.
        _check_field("id", id, forbidden="\r\n\0")
        out.append(f"id: {id}\n")
    if event is not None:
        _check_field("event", event, forbidden="\r\n")
        out.append(f"event: {event}\n")
    out += [f"data: {line}\n" for line in _split_text_lines(data)]
    out.append("\n")
    return "".join(out).encode()


def _split_text_lines(text: str) -> list[str]:
    # Only CR, LF and CRLF end an SSE line, so only they may split the text (not str.splitlines,
    # which also breaks on U+2028, U+0085 and others that the decoder keeps inside a line).
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _check_field(name: str, value: str, *, forbidden: str) -> None:
    if any(ch in value for ch in forbidden):
        raise ValueError(f"SSE {name} must not contain {forbidden!r}: {value!r}")


# --- decoding ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event, as an ``EventSource`` would deliver it."""

    event: str
    data: str
    id: str
    retry: int | None = None


class SSEDecoder:
    """Incremental ``text/event-stream`` parser, HTML §9.2.6, fed raw bytes in any chunking.

    ``last_event_id`` is the last event ID *string*: it changes only when a block is dispatched, so
    an unfinished block at the end of a stream never moves the resume point. ``retry`` is the
    current reconnection time, or None while the server has not set one.
    """

    __slots__ = (
        "_after_cr",
        "_at_start",
        "_block_retry",
        "_data",
        "_event_type",
        "_id_buffer",
        "_tail",
        "_utf8",
        "last_event_id",
        "retry",
    )

    def __init__(self) -> None:
        # "Streams must be decoded using the UTF-8 decode algorithm" (errors become U+FFFD); the
        # incremental decoder carries a character split between two chunks over to the next.
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._at_start = True  # no character decoded yet: a BOM may still come
        self._after_cr = False  # the last line ended with a CR: an LF next completes a CRLF
        self._tail: list[str] = []  # the unfinished last line, as received fragments
        # "a data buffer, an event type buffer, and a last event ID buffer ... initialized to
        # the empty string." The data buffer is kept as its lines, joined with LF at dispatch.
        self._data: list[str] = []
        self._event_type = ""
        self._id_buffer = ""
        self._block_retry: int | None = None
        self.last_event_id = ""
        self.retry: int | None = None

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Parse the next chunk of the stream; return the events it completes."""
        text = self._utf8.decode(data)
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            # "The UTF-8 decode algorithm strips one leading UTF-8 Byte Order Mark (BOM)."
            if text[0] == "\ufeff":
                text = text[1:]
        elif self._after_cr:
            self._after_cr = False
            # A CR ended the last chunk's last line; this LF is the rest of that CRLF, not a
            # second (blank) line.
            if text[0] == "\n":
                text = text[1:]
        if not text:
            return []
        out: list[ServerSentEvent] = []
        for line in self._split_lines(text):
            self._parse_line(line, out)
        return out

    def _split_lines(self, text: str) -> list[str]:
        """Return the complete lines, keeping the unfinished last one for the next chunk."""
        # "a CRLF character pair, a single LF character not preceded by a CR character, and a
        # single CR character not followed by a LF character being the ways in which a line can
        # end." Only these: U+2028, U+2029 and U+0085 stay inside the line.
        has_cr = "\r" in text
        if not has_cr and "\n" not in text:
            # No line end: store the fragment instead of re-concatenating the whole line on every
            # chunk, which would be quadratic for a long line arriving in small pieces.
            self._tail.append(text)
            return []
        if self._tail:
            self._tail.append(text)
            text = "".join(self._tail)
            self._tail.clear()
        if has_cr:
            # A CR at the very end already ends its line; remember it so that an LF at the start
            # of the next chunk is taken as the second half of a CRLF.
            self._after_cr = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        rest = lines.pop()
        if rest:
            self._tail.append(rest)
        return lines

    def _parse_line(self, line: str, out: list[ServerSentEvent]) -> None:
        # "If the line is empty (a blank line): Dispatch the event."
        if not line:
            self._dispatch(out)
            return
        # The common case first: a data line with the usual single space.
        if line.startswith("data: "):
            self._data.append(line[6:])
            return
        # "If the line contains a U+003A COLON character (:): Collect the characters on the line
        # before the first colon, and let field be that string. Collect the characters on the
        # line after the first colon, and let value be that string."
        # "Otherwise, the string is not empty but does not contain a colon: Process the field
        # using the whole line as the field name, and the empty string as the field value."
        # partition covers both: with no colon, field is the whole line and value is empty.
        field, _, value = line.partition(":")
        # "If the line starts with a U+003A COLON character (:): Ignore the line." (a comment;
        # the line is not empty, so an empty field means it starts with the colon)
        if not field:
            return
        # "If value starts with a U+0020 SPACE character, remove it from value."
        if value[:1] == " ":
            value = value[1:]
        self._process_field(field, value)

    def _process_field(self, field: str, value: str) -> None:
        # "Field names must be compared literally, with no case folding performed."
        if field == "data":
            # "Append the field value to the data buffer, then append a single U+000A LINE FEED
            # (LF) character to the data buffer."
            self._data.append(value)
        elif field == "event":
            # "Set the event type buffer to field value."
            self._event_type = value
        elif field == "id":
            # "If the field value does not contain U+0000 NULL, then set the last event ID buffer
            # to the field value. Otherwise, ignore the field."
            if "\0" not in value:
                self._id_buffer = value
        elif field == "retry":
            # "If the field value consists of only ASCII digits, then interpret the field value
            # as an integer in base ten, and set the event stream's reconnection time to that
            # integer. Otherwise, ignore the field."
            retry = _parse_retry(value)
            if retry is not None:
                self.retry = self._block_retry = retry
        # "Otherwise: The field is ignored."

    def _dispatch(self, out: list[ServerSentEvent]) -> None:
        # "Set the last event ID string of the event source to the value of the last event ID
        # buffer. The buffer does not get reset."
        self.last_event_id = self._id_buffer
        block_retry, self._block_retry = self._block_retry, None
        # "If the data buffer is an empty string, set the data buffer and the event type buffer
        # to the empty string and return." Every data line adds an LF, so only a block with no
        # data line at all has an empty buffer.
        if not self._data:
            self._event_type = ""
            return
        # "If the data buffer's last character is a U+000A LINE FEED (LF) character, then remove
        # the last character from the data buffer." Joining the lines with LF does exactly that.
        data = "\n".join(self._data)
        # "Initialize event's type attribute to "message" ... If the event type buffer has a
        # value other than the empty string, change the type ... to the event type buffer."
        event_type = self._event_type or "message"
        # "Set the data buffer and the event type buffer to the empty string."
        self._data = []
        self._event_type = ""
        out.append(ServerSentEvent(event_type, data, self.last_event_id, block_retry))


def _parse_retry(value: str) -> int | None:
    # str.isdigit alone would accept digits of other scripts, and superscripts.
    if not (value.isascii() and value.isdigit()):
        return None
    try:
        return int(value)
    except ValueError:
        # Python refuses to convert more than 4300 digits (a guard against slow parsing); such a
        # value could only come from a hostile stream, which must not take the parser down.
        return None
