"""A small async database face that the store's SQL runs on, so SQLite and PostgreSQL share it.

SQL is written once with ``?`` placeholders; an adapter for a driver that wants another style
translates them. ``transaction`` runs several statements atomically in one round trip to the
database thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

Params = Sequence[Any]
Row = tuple[Any, ...]


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or used right now."""


class Conflict(RuntimeError):
    """A write broke a uniqueness rule: someone else wrote the same row first."""


class Database(Protocol):
    dialect: str

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def transaction(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        """Run statements in one transaction; returns each one's changed-row count."""

    async def close(self) -> None: ...


def database_from_url(url: str) -> Database:
    """Open the database a ``TOKENWIRE_DATABASE_URL`` names: ``sqlite:///path`` (or a bare path),
    or ``postgresql://user:password@host/dbname``."""
    from tokenwire.store.sqlite import SQLiteDatabase

    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        path = path.removeprefix("/") if path.startswith("//") else path
        return SQLiteDatabase(path or ":memory:")
    if url.startswith(("postgresql://", "postgres://")):
        from tokenwire.store.postgres import PostgresDatabase

        return PostgresDatabase(url)
    if "://" in url:
        raise DatabaseUnavailable(f"unsupported database URL scheme: {url.split('://')[0]}")
    return SQLiteDatabase(url)
