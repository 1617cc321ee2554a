"""The ``tokenwire`` command."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import os
import sys
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import click

from tokenwire import __version__
from tokenwire.config import ConfigError, Settings, load_settings
from tokenwire.store.connect import database_from_url
from tokenwire.store.database import Database, DatabaseUnavailable
from tokenwire.store.migrations import migrate as apply_migrations
from tokenwire.store.tokens import InvalidUser, TokenInfo, TokenStore


@click.group()
@click.version_option(__version__, prog_name="tokenwire")
def main() -> None:
    """tokenwire: stream a language model's answer to whoever reads it."""


def _settings(config_file: str | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config_file, **overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


config_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="A tokenwire.toml."
)


@main.command()
@config_option
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8000).")
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object per line, with the stream id.",
)
@click.option(
    "--insecure", is_flag=True, help="Listen beyond loopback without tokens: anyone may use it."
)
def serve(
    config_file: str | None,
    host: str | None,
    port: int | None,
    log_level: str,
    log_format: str,
    insecure: bool,
) -> None:
    """Run the server: the chat API, the OpenAI-compatible API and the web app."""
    from tokenwire.hub.tools import build_tools
    from tokenwire.logs import configure_logging
    from tokenwire.providers.python import check_entry
    from tokenwire.providers.registry import secret_headers
    from tokenwire.server.runner import run_server

    # Model functions (`entry = "module:function"`) import from here, as uvicorn's apps do.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    settings = _settings(config_file, host=host, port=port)
    try:
        build_tools(settings.tools)  # [[tools]] functions import from here too
        for model in settings.models:  # a clear message now rather than a failed start later
            if model.provider == "python":
                check_entry(model.entry)
            secret_headers(model, os.environ)  # every header's variable is set
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(log_level, log_format)
    if settings.database_url.startswith(("postgresql://", "postgres://")):
        _migrate(settings.database_url)  # a shared database down: say so clearly, and exit
    if (
        not is_loopback(settings.host)
        and not insecure
        and not asyncio.run(_auth_configured(settings))
    ):
        raise click.ClickException(
            f"refusing to listen on {settings.host} without auth: anyone who can reach it could "
            "use your models and read every conversation. Create a token with "
            "`tokenwire token create USER` first, or pass --insecure."
        )
    click.echo(
        f"tokenwire: models {', '.join(settings.model_ids())}; store {_safe(settings.database_url)}"
        + (f"; streams {_safe(settings.redis_url)}" if settings.redis_url else "")
    )
    run_server(settings, log_level=log_level)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


async def _auth_configured(settings: Settings) -> bool:
    if settings.auth_required:
        return True
    async with _token_store(settings) as tokens:
        return await tokens.any()


@contextlib.asynccontextmanager
async def _database(url: str) -> AsyncIterator[tuple[Database, list[str]]]:
    """The database, migrated (with the steps just applied), closed on the way out."""
    db = database_from_url(url)
    try:
        yield db, await apply_migrations(db)
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def _token_store(settings: Settings) -> AsyncIterator[TokenStore]:
    async with _database(settings.database_url) as (db, _):
        yield TokenStore(db)


@main.group()
def token() -> None:
    """API tokens: who may use a server that is not only yours."""


@token.command("create")
@config_option
@click.argument("user")
@click.option("--name", default="", help="A note to tell this token apart, e.g. 'laptop'.")
def token_create(config_file: str | None, user: str, name: str) -> None:
    """Create a token for USER and print it (it is shown only this once)."""

    async def create() -> tuple[str, TokenInfo]:
        async with _token_store(_settings(config_file)) as tokens:
            return await tokens.create(user, name=name)

    try:
        secret, info = asyncio.run(create())
    except InvalidUser as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(secret)
    click.echo(f"token {info.id} for {info.user}: keep it secret, it is not shown again", err=True)


@token.command("list")
@config_option
@click.option("--user", default=None, help="Only this user's tokens.")
def token_list(config_file: str | None, user: str | None) -> None:
    """List tokens (their ids, never the secrets)."""

    async def listed() -> list[TokenInfo]:
        async with _token_store(_settings(config_file)) as tokens:
            return await tokens.list(user)

    for info in asyncio.run(listed()):
        created = datetime.datetime.fromtimestamp(info.created_at).isoformat(timespec="seconds")
        click.echo(f"{info.id}  {info.user}  {created}  {info.name}")


@token.command("revoke")
@config_option
@click.argument("token_id")
def token_revoke(config_file: str | None, token_id: str) -> None:
    """Revoke the token with TOKEN_ID (as `tokenwire token list` shows it)."""

    async def revoke() -> bool:
        async with _token_store(_settings(config_file)) as tokens:
            return await tokens.revoke(token_id)

    if not asyncio.run(revoke()):
        raise click.ClickException(f"no token {token_id!r}")
    click.echo(f"revoked {token_id}")


@main.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="A tokenwire.toml.")
def migrate(config_file: str | None) -> None:
    """Apply the database's schema migrations (the server also does at start-up) and exit."""
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    applied = _migrate(settings.database_url)
    where = _safe(settings.database_url)
    click.echo(f"{where}: applied {', '.join(applied)}" if applied else f"{where}: up to date")


def _migrate(url: str) -> list[str]:
    """Apply the migrations; a database that cannot be reached is a one-line error, not a trace."""

    async def run() -> list[str]:
        async with _database(url) as (_, applied):
            return applied

    try:
        return asyncio.run(run())
    except DatabaseUnavailable as exc:
        raise click.ClickException(f"cannot use the database {_safe(url)}: {exc}") from exc


_remote = [
    click.option("--url", envvar="TOKENWIRE_URL", help="A tokenwire server (default: in-process)."),
    click.option("--token", envvar="TOKENWIRE_TOKEN", help="Sent as Authorization: Bearer."),
    click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        help="A tokenwire.toml, when running in-process.",
    ),
    click.option("--plain", is_flag=True, help="Plain text even on a terminal."),
]


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
def chat(
    message: tuple[str, ...],
    continue_last: bool,
    conversation_id: str | None,
    model: str | None,
    url: str | None,
    token: str | None,
    config_file: str | None,
    plain: bool,
) -> None:
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
    sys.exit(
        commands.chat(
            target,
            question,
            continue_last=continue_last,
            conversation_id=conversation_id,
            model=model,
            plain=plain,
        )
    )


@main.command()
@click.argument("conversation_id", required=False)
@click.option("-n", "--limit", default=20, show_default=True, help="How many to list.")
@_target_options
def history(
    conversation_id: str | None,
    limit: int,
    url: str | None,
    token: str | None,
    config_file: str | None,
    plain: bool,
) -> None:
    """List stored conversations, newest first, or show CONVERSATION_ID."""
    from tokenwire.terminal import commands

    target = commands.Target(url, token, config_file)
    commands.history(target, conversation_id, limit=limit, plain=plain)


@main.command()
@config_option
@click.option("--url", envvar="TOKENWIRE_URL", help="Show this server's web app instead.")
def desktop(config_file: str | None, url: str | None) -> None:
    """Open the chat app in a desktop window (needs the `desktop` extra: PySide6).

    Without --url it runs the server of `serve` in-process, on a free loopback port.
    """
    from tokenwire.desktop.launch import launch
    from tokenwire.logs import configure_logging

    settings = None
    if url is not None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise click.BadParameter(
                "an http:// or https:// URL, e.g. http://host:8000", param_hint="--url"
            )
    else:
        settings = _settings(config_file)
        _check_python_models(settings)
        configure_logging("warning", "text")  # the window is the interface; problems still show
        if settings.database_url.startswith(("postgresql://", "postgres://")):
            _migrate(settings.database_url)  # a shared database down: say so clearly, and exit
    sys.exit(launch(settings, url))


def _check_python_models(settings: Settings) -> None:
    """As `serve` does: model functions import from the working directory, checked up front."""
    from tokenwire.hub.tools import build_tools
    from tokenwire.providers.python import check_entry

    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        for model in settings.models:
            if model.provider == "python":
                check_entry(model.entry)
        build_tools(settings.tools)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _safe(url: str) -> str:
    """A database URL without its password, fit for a log line."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        creds, _, host = rest.rpartition("@")
        return f"{scheme}://{creds.split(':')[0]}:***@{host}"
    return url


if __name__ == "__main__":
    main()
