"""``tokenwire history``: stored conversations, listed, or one of them shown as it was answered."""

from __future__ import annotations

import time
from typing import Any

from rich import box
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from tokenwire.terminal.render import CODE_THEME

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
    console.print(Text(conversation["title"], style="bold") if rich else conversation["title"],
                  markup=False)  # fmt: skip
    for message in conversation["messages"]:
        console.print()
        if message["role"] == "user":
            console.print(Text(f"› {message['content']}", style="bold cyan" if rich else ""))
            continue
        content = message["content"]
        if rich:
            console.print(Markdown(content, code_theme=CODE_THEME))
        else:
            console.print(content, markup=False, highlight=False)
        note = _STATUS_NOTES.get(message["status"])
        if message.get("error_message"):
            note = f"{note}: {message['error_code']}: {message['error_message']}"
        if note:
            console.print(Text(f"[{note}]", style="yellow"))
