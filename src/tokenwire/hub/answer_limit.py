"""``max_answer_chars``: how much text one answer may stream before it ends with ``length``.

An upstream that streams without end (a broken model, a loop, a hostile endpoint) would otherwise
grow the stream log and the stored message until ``max_events_per_stream``, which counts events,
not their size. The text and reasoning of a stream count together, across its tool steps; the
piece that crosses the limit is cut to fit, so what is shown and stored is exactly the limit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from tokenwire.events import Delta, Reasoning

P = TypeVar("P")


class AnswerLimit:
    __slots__ = ("left",)

    def __init__(self, max_chars: int) -> None:
        self.left = max_chars

    def take(self, payload: P) -> tuple[P | None, bool]:
        """The payload as it may go out (None: nothing of it), and whether the limit is reached."""
        if not isinstance(payload, Delta | Reasoning):
            return payload, False
        size = len(payload.text)
        if size < self.left:
            self.left -= size
            return payload, False
        kept = payload.text[: self.left]
        self.left = 0
        return (replace(payload, text=kept) if kept else None), True
