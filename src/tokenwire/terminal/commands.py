"""What ``tokenwire chat`` and ``tokenwire history`` do; ``cli.py`` only declares their options."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import platformdirs
from rich.console import Console

from tokenwire.client import AsyncClient, TokenwireError
from tokenwire.config import ConfigError
from tokenwire.store.database import DatabaseUnavailable
from tokenwire.terminal.backend import open_client
from tokenwire.terminal.history import print_conversation, print_list
from tokenwire.terminal.render import AnswerView, MarkdownStream, PlainStream
from tokenwire.terminal.repl import run_repl
from tokenwire.terminal.session import Asker, ChatFailed

T = TypeVar("T")
# A turn that ended with tool calls nobody here can run answered nothing: 1, as for an error.
EXIT_CODES = {
    "complete": 0,
    "length": 0,
    "tool_calls": 1,
    "error": 1,
    "cancelled": 130,
    "abandoned": 130,
}


@dataclass(frozen=True, slots=True)
class Target:
    """Which server: ``url`` (with ``token``), or the configuration's app run in this process."""

    url: str | None
    token: str | None
    config_file: str | None


def chat(
    target: Target,
    message: str | None,
    *,
    continue_last: bool,
    conversation_id: str | None,
    model: str | None,
    plain: bool,
) -> int:
    """Ask ``message`` (or, when None, open the interactive prompt); returns the exit code."""
    rich_output = sys.stdout.isatty() and not plain
    if rich_output:
        _trust_the_terminal_size()
    console = Console(highlight=False)
    notices = console if rich_output else Console(stderr=True, highlight=False)

    def view() -> AnswerView:
        if rich_output:
            return MarkdownStream(console)
        width = notices.width if notices.is_terminal else None  # the notes go where notices do
        return PlainStream(sys.stdout, sys.stderr, width=width)

    async def run() -> int:
        async with open_client(
            url=target.url, token=target.token, config_file=target.config_file
        ) as client:
            cid = conversation_id or (await _last_conversation(client) if continue_last else None)
            asker = Asker(client, view, notices, model=model)
            if message is None:
                history = Path(platformdirs.user_data_dir("tokenwire")) / "chat_history"
                await run_repl(asker, console, conversation_id=cid, history_file=history)
                return 0
            outcome = await asker.ask(message, cid)
            return EXIT_CODES[outcome.status]

    return _run(run())


def history(target: Target, conversation_id: str | None, *, limit: int, plain: bool) -> None:
    """List stored conversations, or show one."""
    rich_output = sys.stdout.isatty() and not plain
    console = Console(highlight=False, no_color=not rich_output)

    async def run() -> None:
        async with open_client(
            url=target.url, token=target.token, config_file=target.config_file
        ) as client:
            if conversation_id is None:
                print_list(console, await client.conversations(limit=limit), rich=rich_output)
            else:
                conversation = await client.conversation(conversation_id)
                print_conversation(console, conversation, rich=rich_output)

    _run(run())


def _trust_the_terminal_size() -> None:
    # rich prefers LINES and COLUMNS to the terminal's own size; exported, they are often stale,
    # and a live region taller than the real screen leaves copies of itself in the scrollback.
    for name in ("LINES", "COLUMNS"):
        os.environ.pop(name, None)


async def _last_conversation(client: AsyncClient) -> str:
    latest = await client.conversations(limit=1)
    if not latest:
        raise click.ClickException("there is no conversation to continue yet")
    return str(latest[0]["id"])


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command; what the user can fix becomes a one-line message, not a traceback."""
    try:
        return asyncio.run(coroutine)
    except BrokenPipeError:  # `tokenwire chat ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(141) from None
    except (ConfigError, ChatFailed, TokenwireError, DatabaseUnavailable, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
