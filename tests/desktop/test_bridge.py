"""The desktop bridge and tool calls: the QWebChannel bridge relays every event type as the hub
logged it, and takes the ``chat`` frame that carries ``tool_results`` as it takes any frame.

A bare ``StreamBridge`` (no window, no web page) on the real embedded server runs in a process of
its own (tests/support/bridge_driver.py), whose hub serves ``ToolCallingModel``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.support.drivers import qt_offscreen_env, run_driver
from tests.support.tool_models import CALLS, PREAMBLE

ROOT = Path(__file__).parents[2]
HAS_PYSIDE = importlib.util.find_spec("PySide6") is not None

pytestmark = [
    pytest.mark.skipif(not HAS_PYSIDE, reason="PySide6 is not installed (the `desktop` extra)"),
    pytest.mark.timeout(180),
]


def drive(tmp_path: Path, *args: str) -> dict[str, Any]:
    report, _ = run_driver(
        "bridge_driver.py", str(tmp_path / "tw.db"), *args, env=qt_offscreen_env()
    )
    return report


def relayed(stream_id: str, logged: list[dict[str, Any]], ref: str) -> list[dict[str, Any]]:
    """The frames that relay these logged events: each with ``stream_id``, ``start`` with the
    ``ref`` of the frame that asked."""
    return [
        {**event, "stream_id": stream_id, **({"ref": ref} if event["type"] == "start" else {})}
        for event in logged
    ]


def test_the_bridge_relays_tool_call_events_as_the_hub_logged_them(tmp_path: Path) -> None:
    report = drive(tmp_path)
    frames = report["frames"]
    [(stream_id, logged)] = report["logged"].items()
    assert frames == relayed(stream_id, logged, "ask")
    calls = [frame for frame in frames if frame["type"] == "tool_call"]
    assert [(c["id"], c["name"]) for c in calls if "id" in c] == [(i, n) for i, n, _ in CALLS]
    assert {c["index"] for c in calls} == {0, 1}
    assert frames[1] == {"stream_id": stream_id, "type": "delta", "seq": 2, "text": PREAMBLE}
    assert frames[-1]["type"] == "done" and frames[-1]["finish_reason"] == "tool_calls"


def test_a_chat_frame_with_tool_results_over_the_bridge_streams_the_next_answer(
    tmp_path: Path,
) -> None:
    report = drive(tmp_path, "--continue")
    frames = report["frames"]
    assert [f for f in frames if f["type"] == "rejected"] == []
    first, second = report["logged"]
    followed = [f for f in frames if f.get("stream_id") == second]
    assert followed == relayed(second, report["logged"][second], "go on")
    assert followed[0]["conversation_id"] == report["logged"][first][0]["conversation_id"]
    text = "".join(
        f["text"] for f in frames if f.get("stream_id") == second and f["type"] == "delta"
    )
    assert text == "The tools said: get_weather ok; get_time ok."
    assert followed[-1]["type"] == "done" and followed[-1]["finish_reason"] == "stop"
