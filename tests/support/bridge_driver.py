"""Drives the desktop bridge alone, without a window, in a process of its own (Qt in the pytest
process is fragile): the embedded server of ``tokenwire desktop``, whose hub also serves
``ToolCallingModel`` as ``tools``, and a ``StreamBridge`` on it under a ``QCoreApplication``.

It sends the page's frames through the bridge's ``send`` slot, as the page does, and prints one
JSON object: every frame the bridge's ``frames`` signal carried, and for each stream the events the
hub's log holds, to compare with. Run by tests/desktop/test_bridge.py.

    bridge_driver.py DB_PATH [--continue]

``--continue`` answers the calls with a ``chat`` frame that carries ``tool_results``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop

from tests.support.tool_models import ToolCallingModel
from tokenwire.config import load_settings
from tokenwire.desktop.bridge import StreamBridge
from tokenwire.desktop.embedded import EmbeddedServer
from tokenwire.desktop.tickets import Holder

WAIT = 60.0
ENDS = ("done", "error", "rejected")


def main() -> int:
    database, answer_calls = sys.argv[1], "--continue" in sys.argv[2:]
    settings = load_settings(
        None,
        env={},
        database_url=f"sqlite:///{database}",
        models=[{"id": "replay", "provider": "replay", "text": "hi"}],
        shutdown_grace_seconds=1,
    )
    server = EmbeddedServer(settings)
    server.start()
    server.state.hub.providers["tools"] = ToolCallingModel()
    app = QCoreApplication([])
    bridge = StreamBridge(server.state, loop_of(server), server.tickets)
    frames: list[dict[str, Any]] = []
    bridge.frames.connect(lambda batch: frames.extend(json.loads(batch)))
    bridge.open()
    ticket = server.tickets.issue(Holder("", None))
    report: dict[str, Any] = {"frames": frames, "logged": {}}
    try:
        ask = {"type": "chat", "ref": "ask", "message": "Weather?", "model": "tools"}
        bridge.send(ticket, json.dumps(ask))
        first = wait_for_end(app, frames, "ask")
        if answer_calls and first is not None:
            calls = [f for f in frames if f["type"] == "tool_call" and "id" in f]
            results = [{"tool_call_id": c["id"], "content": f"{c['name']} ok"} for c in calls]
            cid = next(f["conversation_id"] for f in frames if f["type"] == "start")
            go_on = {
                "type": "chat",
                "ref": "go on",
                "conversation_id": cid,
                "tool_results": results,
            }
            bridge.send(ticket, json.dumps(go_on))
            wait_for_end(app, frames, "go on")
        for stream_id in dict.fromkeys(f["stream_id"] for f in frames if "stream_id" in f):
            batch = asyncio.run_coroutine_threadsafe(
                server.state.hub.read(stream_id, 0, 0.0), loop_of(server)
            ).result(10)
            report["logged"][stream_id] = [json.loads(e.json) for e in batch.events]
    finally:
        bridge.close()
        server.stop()
    print(json.dumps(report))
    return 0


def loop_of(server: EmbeddedServer) -> asyncio.AbstractEventLoop:
    assert server.loop is not None
    return server.loop


def wait_for_end(app: QCoreApplication, frames: list[dict[str, Any]], ref: str) -> str | None:
    """Run Qt's events until the stream started by ``ref`` ends, or the frame is rejected."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        stream_ids = {f.get("stream_id") for f in frames if f.get("ref") == ref}
        for frame in frames:
            if frame["type"] in ENDS and (
                frame.get("ref") == ref or frame.get("stream_id") in stream_ids
            ):
                return str(frame["type"])
    return None


if __name__ == "__main__":
    sys.exit(main())
