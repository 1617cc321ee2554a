"""A small async database face that the store's SQL runs on, so SQLite and PostgreSQL share it.

SQL is written once with ``?`` placeholders; an adapter for a driver that wants another style
translates them. ``transaction`` runs several statements atomically in one round trip to the
database thread.

The backends (:mod:`~tokenwire.store.sqlite`, :mod:`~tokenwire.store.postgres`) import this module
and nothing above it; :mod:`tokenwire.store.connect` opens one of them by URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from tokenwire.errors import TokenwireError

Params = Sequence[Any]
Row = tuple[Any, ...]


class DatabaseUnavailable(TokenwireError, RuntimeError):
    """The database cannot be reached or used right now."""


class Conflict(TokenwireError, RuntimeError):
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
