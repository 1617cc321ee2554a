"""A finished stream's events kept compactly: one bytes of their JSON and an offset per event.

A live stream holds its events as ``Event`` objects, which readers take as they come. Once the
stream has ended, its events are only read again by a late reader resuming it, so the log packs
them: an ``Event`` with its payload dataclass and JSON costs about 290 bytes of memory besides
its text, its line in this buffer the JSON alone plus 4 bytes of offset (see docs/benchmarks.md).
A resume decodes the events it returns, which is rare next to the streaming that produced them.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from tokenwire.events import Event


class EventBuffer:
    """The events of seq ``1..len(buffer)``, encoded back to back."""

    __slots__ = ("_data", "_offsets")

    def __init__(self, events: Sequence[Event]) -> None:
        # Offsets are 64-bit: a long answer's JSON may pass 4 GiB only in theory, but it is
        # 8 bytes an event against the ~100 of its JSON, and no overflow to reason about.
        offsets = array("q", [0])
        total = 0
        for event in events:
            total += len(event.json)
            offsets.append(total)
        self._offsets = offsets
        self._data = b"".join([event.json for event in events])

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @property
    def nbytes(self) -> int:
        """The memory this buffer's contents take: the JSON and its offsets."""
        return len(self._data) + self._offsets.itemsize * len(self._offsets)

    def after(self, seq: int) -> list[Event]:
        """The events after ``seq`` (seq n sits at index n - 1), decoded."""
        data, offsets = self._data, self._offsets
        return [
            Event.from_json(data[offsets[i] : offsets[i + 1]])
            for i in range(max(seq, 0), len(offsets) - 1)
        ]
