"""Newline-delimited JSON: one JSON value per line, for ``application/x-ndjson`` streams.

The decoder splits raw bytes on LF before decoding anything. A byte 0x0A never occurs inside a
multi-byte UTF-8 character, so a character split between two network chunks simply waits in the
unfinished line with the rest of it, and orjson decodes each complete line in one call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import orjson

from tokenwire.errors import TokenwireError
from tokenwire.events import Event

__all__ = ["NDJSONDecoder", "NDJSONError", "encode_event", "encode_events"]

# JSON's own whitespace: a line of only these (an empty line, a lone CR of a CRLF) holds no value.
_JSON_WHITESPACE = b" \t\r"


def encode_event(event: Event) -> bytes:
    """One event as one line."""
    return event.json + b"\n"


def encode_events(events: Sequence[Event]) -> bytes:
    """A batch of events as one bytes, joined once."""
    return b"".join([part for event in events for part in (event.json, b"\n")])


class NDJSONError(TokenwireError, ValueError):
    """A line that is not JSON. ``line`` is its 1-based number in the stream; ``values`` holds the
    values this call parsed before it, which would otherwise be lost with the exception."""

    def __init__(self, line: int, reason: str, values: list[Any]) -> None:
        super().__init__(f"NDJSON line {line} is not valid JSON: {reason}")
        self.line = line
        self.values = values


class NDJSONDecoder:
    """Incremental NDJSON parser: ``feed`` raw bytes in any chunking, get the parsed values.

    A malformed line raises ``NDJSONError`` and is dropped; the lines after it stay queued and come
    out of the next ``feed`` or ``flush``, so the decoder stays usable.
    """

    __slots__ = ("_lineno", "_lines", "_tail")

    def __init__(self) -> None:
        self._tail: list[bytes] = []  # the unfinished last line, as received fragments
        self._lines: deque[bytes] = deque()  # complete lines not parsed yet
        self._lineno = 0  # number of the last line taken from _lines

    def feed(self, data: bytes) -> list[Any]:
        """Parse the next chunk; return the values of the lines it completes."""
        if b"\n" not in data:
            # Keep fragments rather than re-concatenating a long line on every small chunk.
            if data:
                self._tail.append(data)
            return self._parse_queued() if self._lines else []
        self._tail.append(data)
        lines = b"".join(self._tail).split(b"\n")
        rest = lines.pop()
        self._tail = [rest] if rest else []
        self._lines.extend(lines)
        return self._parse_queued()

    def flush(self) -> list[Any]:
        """At the end of the stream: parse what is left, a final line without its LF included."""
        if self._tail:
            self._lines.append(b"".join(self._tail))
            self._tail = []
        return self._parse_queued()

    def _parse_queued(self) -> list[Any]:
        values: list[Any] = []
        lines = self._lines
        while lines:
            line = lines.popleft()
            self._lineno += 1
            if not line.strip(_JSON_WHITESPACE):
                continue
            try:
                values.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise NDJSONError(self._lineno, str(exc), values) from exc
        return values
