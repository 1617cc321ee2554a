"""PostgreSQL behind the async ``Database`` face: psycopg 3 with a connection pool, shared by any
number of server processes.

The store's SQL uses ``?`` placeholders; they become ``%s`` here (and a literal ``%`` becomes
``%%``), outside quoted strings. Every call has a time limit, and a connection that broke (the
server restarted) is checked and replaced by the pool, so the store recovers by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from tokenwire.store.database import Conflict, DatabaseUnavailable, Params, Row

logger = logging.getLogger("tokenwire.store")

T = TypeVar("T")
Connection = psycopg.AsyncConnection[tuple[object, ...]]


@lru_cache(maxsize=256)
def to_pyformat(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s``, leaving quoted text alone."""
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
            out.append("%%" if char == "%" else char)
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        else:
            out.append("%%" if char == "%" else char)
    return "".join(out)


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 5.0
    ) -> None:
        self.url = url  # the producer lock opens a connection of its own
        self.timeout = timeout
        self._pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            check=AsyncConnectionPool.check_connection,
            kwargs={
                "autocommit": True,
                "connect_timeout": max(1, int(timeout)),
                "options": f"-c statement_timeout={int(timeout * 1000)}",
            },
        )
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._available = True

    async def _open(self) -> None:
        async with self._open_lock:
            if not self._opened:
                await self._pool.open(wait=False)
                self._opened = True

    async def _run(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        await self._open()
        try:
            async with asyncio.timeout(self.timeout * 2):
                async with self._pool.connection() as conn:
                    result = await fn(conn)
        except pg_errors.UniqueViolation as exc:
            raise Conflict(str(exc)) from exc
        except (psycopg.OperationalError, PoolTimeout, TimeoutError, OSError) as exc:
            if self._available:
                logger.error("postgresql is unreachable: %s", str(exc).strip() or type(exc))
            self._available = False
            raise DatabaseUnavailable(f"postgresql: {type(exc).__name__}") from exc
        if not self._available:
            logger.warning("postgresql is reachable again")
            self._available = True
        return result

    async def execute(self, sql: str, params: Params = ()) -> int:
        async def run(conn: Connection) -> int:
            cursor = await conn.execute(to_pyformat(sql), params)
            return cursor.rowcount

        return await self._run(run)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async def run(conn: Connection) -> list[Row]:
            cursor = await conn.execute(to_pyformat(sql), params)
            return [tuple(row) for row in await cursor.fetchall()]

        return await self._run(run)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async def run(conn: Connection) -> Row | None:
            cursor = await conn.execute(to_pyformat(sql), params)
            row = await cursor.fetchone()
            return None if row is None else tuple(row)

        return await self._run(run)

    async def transaction(self, statements: Sequence[tuple[str, Params]]) -> list[int]:
        async def run(conn: Connection) -> list[int]:
            counts: list[int] = []
            async with conn.transaction():
                for sql, params in statements:
                    cursor = await conn.execute(to_pyformat(sql), params)
                    counts.append(cursor.rowcount)
            return counts

        return await self._run(run)

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False
