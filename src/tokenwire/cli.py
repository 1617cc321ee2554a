"""The ``tokenwire`` command."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import click

from tokenwire.config import ConfigError, load_settings


@click.group()
@click.version_option(package_name="tokenwire")
def main() -> None:
    """tokenwire: stream a language model's answer to whoever reads it."""


@main.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="A tokenwire.toml.")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8000).")
@click.option("--log-level", default="info", show_default=True)
def serve(config_file: str | None, host: str | None, port: int | None, log_level: str) -> None:
    """Run the server: the chat API, the OpenAI-compatible API and the web app."""
    import uvicorn

    from tokenwire.server.app import create_app

    try:
        settings = load_settings(config_file, host=host, port=port)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    click.echo(
        f"tokenwire: models {', '.join(settings.model_ids())}; store {_safe(settings.database_url)}"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=3,
    )


_remote = [
    click.option("--url", envvar="TOKENWIRE_URL", help="A tokenwire server (default: in-process)."),
    click.option("--token", envvar="TOKENWIRE_TOKEN", help="Sent as Authorization: Bearer."),
    click.option("--config", "config_file", type=click.Path(dir_okay=False),
                  help="A tokenwire.toml, when running in-process."),
    click.option("--plain", is_flag=True, help="Plain text even on a terminal."),
]  # fmt: skip


def _target_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_remote):
        command = option(command)
    return command


@main.command()
@click.argument("message", nargs=-1)
@click.option(
    "-c", "--continue", "continue_last", is_flag=True, help="Continue the latest conversation."
)
@click.option("--cid", "conversation_id", help="Continue this conversation.")
@click.option("-m", "--model", help="A configured model id; default: the first.")
@_target_options
def chat(message: tuple[str, ...], continue_last: bool, conversation_id: str | None,
         model: str | None, url: str | None, token: str | None, config_file: str | None,
         plain: bool) -> None:  # fmt: skip
    """Ask MESSAGE and stream the answer; with no MESSAGE, chat interactively.

    Text piped on stdin is added to the question. On a terminal the answer is rendered as
    markdown; piped, it streams as plain text. Ctrl-C stops the answer on the server.
    """
    from tokenwire.terminal import commands

    question = " ".join(message) or None
    if not sys.stdin.isatty():
        piped = sys.stdin.read()
        question = "\n\n".join(part for part in (question, piped) if part and part.strip())
        if not question:
            raise click.UsageError("nothing to ask: give a MESSAGE or pipe text in")
    target = commands.Target(url, token, config_file)
    sys.exit(commands.chat(target, question, continue_last=continue_last,
                           conversation_id=conversation_id, model=model, plain=plain))  # fmt: skip


@main.command()
@click.argument("conversation_id", required=False)
@click.option("-n", "--limit", default=20, show_default=True, help="How many to list.")
@_target_options
def history(conversation_id: str | None, limit: int, url: str | None, token: str | None,
            config_file: str | None, plain: bool) -> None:  # fmt: skip
    """List stored conversations, newest first, or show CONVERSATION_ID."""
    from tokenwire.terminal import commands

    target = commands.Target(url, token, config_file)
    commands.history(target, conversation_id, limit=limit, plain=plain)


def _safe(url: str) -> str:
    """A database URL without its password, fit for a log line."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        creds, _, host = rest.rpartition("@")
        return f"{scheme}://{creds.split(':')[0]}:***@{host}"
    return url


if __name__ == "__main__":
    main()
