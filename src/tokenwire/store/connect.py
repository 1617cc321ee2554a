"""Opening the database a URL names: the one module that knows every backend.

It sits above :mod:`tokenwire.store.sqlite` and :mod:`tokenwire.store.postgres`, which share only
:mod:`tokenwire.store.database` (the ``Database`` face and its exceptions), so no import goes in a
circle. PostgreSQL's module (and psycopg with it) is imported only for a PostgreSQL URL.
"""

from __future__ import annotations

from tokenwire.store.database import Database, DatabaseUnavailable
from tokenwire.store.sqlite import SQLiteDatabase


def database_from_url(url: str) -> Database:
    """Open the database a ``TOKENWIRE_DATABASE_URL`` names: ``sqlite:///path`` (or a bare path),
    or ``postgresql://user:password@host/dbname``."""
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
