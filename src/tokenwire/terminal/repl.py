"""The interactive ``tokenwire chat``: a prompt with history, multi-line input and slash commands.

Enter sends; Esc Enter (or Alt Enter) starts a new line, and pasted text keeps its lines. Up and
down walk through earlier questions, kept across sessions. Ctrl-C clears the line, or on an empty
line quits, as Ctrl-D does. Ctrl-C while an answer streams stops it (see ``session``).
"""

from __future__ import annotations

from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from rich.console import Console
from rich.text import Text

from tokenwire.terminal.session import Asker, ChatFailed

HELP = (
    "Enter sends · Esc Enter new line · ↑ earlier questions · Ctrl-C stops an answer · "
    "Ctrl-D quits · /new starts a new conversation"
)


def _bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @bindings.add("c-c")
    def _clear_or_quit(event: KeyPressEvent) -> None:
        if event.current_buffer.text:
            event.current_buffer.reset()
        else:
            event.app.exit(exception=KeyboardInterrupt)

    return bindings


async def run_repl(
    asker: Asker, console: Console, *, conversation_id: str | None, history_file: Path | None
) -> None:
    """Ask, show, repeat, in one conversation, until the reader quits."""
    history = InMemoryHistory() if history_file is None else _file_history(history_file)
    session: PromptSession[str] = PromptSession(
        history=history, key_bindings=_bindings(), prompt_continuation="… "
    )
    console.print(Text(HELP, style="dim"))
    if conversation_id is not None:
        console.print(Text(f"continuing conversation {conversation_id}", style="dim"))
    while True:
        try:
            message = await session.prompt_async("› ")
        except (EOFError, KeyboardInterrupt):
            return
        if not message.strip():
            continue
        if message.strip() in ("/quit", "/exit"):
            return
        if message.strip() == "/new":
            conversation_id = None
            console.print(Text("new conversation", style="dim"))
            continue
        try:
            outcome = await asker.ask(message, conversation_id)
        except ChatFailed as exc:
            console.print(Text(str(exc), style="red"))
            continue
        conversation_id = outcome.conversation_id or conversation_id
        console.print()


def _file_history(path: Path) -> FileHistory:
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileHistory(str(path))
