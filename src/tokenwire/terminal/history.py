"""``tokenwire history``: stored conversations, listed, or one of them shown as it was answered.

An answer's tool calls and the tools' results show as ``tokenwire chat`` showed them, a line each.
"""

from __future__ import annotations

import time
from typing import Any

from rich import box
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from tokenwire.events import ToolResult, WholeToolCall
from tokenwire.terminal.render import CODE_THEME, PLAIN_WIDTH
from tokenwire.terminal.tools import call_line, result_line

_STATUS_NOTES = {
    "cancelled": "stopped by the reader",
    "error": "ended with an error",
    "interrupted": "the server stopped during this answer",
    "streaming": "still streaming",
}


def when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def print_list(console: Console, conversations: list[dict[str, Any]], *, rich: bool) -> None:
    if not conversations:
        console.print("no stored conversations", style="dim")
        return
    if not rich:
        for c in conversations:  # tab-separated, for cut and awk
            console.file.write(f"{c['id']}\t{when(c['updated_at'])}\t{c['title']}\n")
        return
    table = Table(box=box.SIMPLE, show_edge=False)
    table.add_column("conversation", no_wrap=True, style="cyan")
    table.add_column("updated", no_wrap=True, style="dim")
    table.add_column("title")
    for c in conversations:
        table.add_row(c["id"], when(c["updated_at"]), Text(c["title"]))
    console.print(table)


def print_conversation(console: Console, conversation: dict[str, Any], *, rich: bool) -> None:
    console.print(
        Text(conversation["title"], style="bold") if rich else conversation["title"], markup=False
    )
    width = console.width if rich else PLAIN_WIDTH
    tool_lines = False  # the last line printed is a tool call's or a result's
    for message in conversation["messages"]:
        role = message["role"]
        if role == "tool":  # under the calls, as it was shown while it streamed
            result = _result_of(message)
            if not tool_lines:
                console.print()
            _line(console, result_line(result, width), "red" if result.is_error else "dim", rich)
            tool_lines = True
            continue
        tool_lines = False
        console.print()
        if role == "user":
            console.print(Text(f"› {message['content']}", style="bold cyan" if rich else ""))
            continue
        content = message["content"]
        if content and rich:
            console.print(Markdown(content, code_theme=CODE_THEME))
        elif content:
            console.print(content, markup=False, highlight=False)
        calls = message.get("tool_calls") or []
        if content and calls:
            console.print()
        for call in calls:
            _line(console, call_line(_call_of(call), width), "cyan", rich)
            tool_lines = True
        note = _STATUS_NOTES.get(message.get("status", ""))
        if message.get("error_message"):
            note = f"{note}: {message['error_code']}: {message['error_message']}"
        if note:
            console.print(Text(f"[{note}]", style="yellow"))
            tool_lines = False


def _line(console: Console, line: str, style: str, rich: bool) -> None:
    console.print(Text(line, style=style if rich else ""), no_wrap=True, overflow="ignore")


def _result_of(message: dict[str, Any]) -> ToolResult:
    return ToolResult(
        str(message.get("tool_call_id") or ""),
        str(message.get("content") or ""),
        bool(message.get("is_error")),
    )


def _call_of(call: dict[str, Any]) -> WholeToolCall:
    return WholeToolCall(
        str(call.get("id") or ""), str(call.get("name") or ""), str(call.get("arguments") or "")
    )
