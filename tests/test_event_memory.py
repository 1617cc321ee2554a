"""What the stream log holds costs about what it says: an event's memory is near its JSON's length.

The memory log keeps every event of a stream for its retention time (10 minutes by default), so the
bytes an event holds, times events per answer, times answers in ten minutes, is the server's memory.
"""

from __future__ import annotations

import tracemalloc

from tokenwire.events import Delta, Event

EVENTS = 1000


def test_an_event_holds_about_its_json() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        events = [Event.make(seq, Delta(" word")) for seq in range(2, EVENTS + 2)]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    json_bytes = sum(len(event.json) for event in events)
    # The JSON, the dataclasses around it and the list: a few hundred bytes an event at most.
    assert held / EVENTS < json_bytes / EVENTS + 400, f"{held / EVENTS:.0f} bytes an event"
