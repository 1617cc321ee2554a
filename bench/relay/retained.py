"""Memory per event of finished streams kept for resume: Event objects against an EventBuffer.

Each variant runs in a fresh child process that fills an in-process ``MemoryStreamLog`` with
``--streams`` finished streams of ``--events`` short deltas (4 characters, a typical token) and
reports the growth of its resident set per event. ``list`` is the log as it was before finished
streams were packed (the events kept as they were appended); ``packed`` is the log as it is.
Run: ``python -m bench.relay.retained [--streams 200] [--events 2000]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = r"""
import asyncio, gc, json, sys
from tokenwire.events import Delta, Done, Event, Start
from tokenwire.hub.log import StreamMeta
from tokenwire.hub.memory import MemoryStreamLog

variant, streams, per_stream = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

async def main() -> None:
    log = MemoryStreamLog(max_streams=streams + 1, max_events=per_stream + 2, max_bytes=0)
    if variant == "list":
        log._pack = lambda stream: None  # the log before packing: events stay as appended
    gc.collect()
    before = rss()
    for n in range(streams):
        sid = f"s{n}"
        await log.create(StreamMeta(sid, "c", "m", "model"))
        await log.append(sid, [Event.make(1, Start(sid, "c", "m", "model"))])
        for seq in range(2, per_stream + 1):
            await log.append(sid, [Event.make(seq, Delta("tok "))])
        await log.append(sid, [Event.make(per_stream + 1, Done())])
    gc.collect()
    print(json.dumps({"bytes_per_event": (rss() - before) / (streams * (per_stream + 1))}))

asyncio.run(main())
"""


def measure(variant: str, streams: int, events: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, variant, str(streams), str(events)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(json.loads(out)["bytes_per_event"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    results = {v: measure(v, args.streams, args.events) for v in ("list", "packed")}
    for variant, per_event in results.items():
        print(f"{variant:7} {per_event:7.0f} B/event RSS")
    print(f"packed/list: {results['packed'] / results['list']:.2f}")


if __name__ == "__main__":
    main()
