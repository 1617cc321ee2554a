"""The ``tokenwire`` command."""

from __future__ import annotations

import logging

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
    if settings.database_url.startswith(("postgresql://", "postgres://")):
        _migrate(settings.database_url)  # a shared database down: say so clearly, and exit
    click.echo(
        f"tokenwire: models {', '.join(settings.model_ids())}; store {_safe(settings.database_url)}"
        + (f"; streams {_safe(settings.redis_url)}" if settings.redis_url else "")
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=3,
    )


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
    import asyncio

    from tokenwire.store.database import DatabaseUnavailable, database_from_url
    from tokenwire.store.migrations import migrate as apply

    async def run() -> list[str]:
        db = database_from_url(url)
        try:
            return await apply(db)
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except DatabaseUnavailable as exc:
        raise click.ClickException(f"cannot use the database {_safe(url)}: {exc}") from exc


def _safe(url: str) -> str:
    """A database URL without its password, fit for a log line."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        creds, _, host = rest.rpartition("@")
        return f"{scheme}://{creds.split(':')[0]}:***@{host}"
    return url


if __name__ == "__main__":
    main()
