"""Tool calls and their results as lines a terminal shows: one line each, safe to print.

A call's name and arguments come from the model and a result from a tool: neither may move the
cursor, recolour the screen or set the window's title, so escape sequences and control characters
are taken out (and bidirectional overrides, which reorder what is shown), and the line is cut to
the width it is shown at. ``CallLines`` says when each call of a stream is complete.
"""

from __future__ import annotations

import contextlib
import json
import re

from rich.cells import cell_len, set_cell_size

from tokenwire.events import Answer, Payload, ToolCall, ToolResult, WholeToolCall

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/SOS/PM/APC (ESC P|X|^|_ ... ST), and any
# other escape with the character that follows it.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b.?",
    re.DOTALL,
)
# C0 and C1 controls and DEL (tab and newline among them: a line stays one line), and the
# bidirectional controls.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+")
_SLACK = 64  # characters read past the width: escapes taken out may leave fewer to show


def clean(text: str, limit: int | None = None) -> str:
    """``text`` with no escape sequence or control character, and its whitespace runs as single
    spaces. With ``limit``, only about the first ``limit`` characters are read."""
    if limit is not None and len(text) > limit:
        text = text[:limit] + " …"
    text = _CONTROLS.sub(" ", _ESCAPES.sub("", text))
    return " ".join(text.split())


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal cells, an ellipsis in the last one if it was longer."""
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(0, width - 1)).rstrip() + "…"


def call_line(call: WholeToolCall, width: int) -> str:
    """``⚙ get_weather({"city": "Paris"})``: the arguments as JSON, or as sent if not JSON."""
    limit = 4 * width + _SLACK
    arguments = call.arguments
    if len(arguments) <= limit:
        with contextlib.suppress(ValueError, RecursionError):
            arguments = json.dumps(json.loads(arguments), ensure_ascii=False)
    return fit(f"⚙ {clean(call.name, limit)}({clean(arguments, limit)})", width)


def result_line(result: ToolResult, width: int) -> str:
    """``→ sunny, 25°C``, or ``→ error: …`` for a tool that failed."""
    mark = "→ error: " if result.is_error else "→ "
    return fit(mark + clean(result.content, 4 * width + _SLACK), width)


def tool_names(calls: list[WholeToolCall]) -> str:
    """The calls' tool names, each once, for a sentence."""
    names = dict.fromkeys(clean(call.name, 200) or "?" for call in calls)
    return ", ".join(names)


class CallLines:
    """Which tool calls of a stream are complete, as its events are read in order.

    A call's pieces arrive by index, and parallel calls' pieces may interleave, so a call is
    known to be complete only when something else comes: an event that is not a ``tool_call``
    (text, a result, the end), or a new call at the same index. ``add`` returns the calls each
    payload completes, in the order they began.
    """

    def __init__(self) -> None:
        self._answer = Answer()  # only tool calls go in
        self._shown = 0
        self._open: set[int] = set()

    def add(self, payload: Payload) -> list[WholeToolCall]:
        if not isinstance(payload, ToolCall):
            return self.complete()
        done = []
        if payload.id is not None and payload.index in self._open:
            done = self.complete()
        self._answer.add(payload)
        self._open.add(payload.index)
        return done

    def complete(self) -> list[WholeToolCall]:
        """Every call not yet returned: the stream has moved past them, or ended."""
        calls = self._answer.tool_calls[self._shown :]
        self._shown += len(calls)
        self._open.clear()
        return calls
