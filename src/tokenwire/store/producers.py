"""Which processes are still writing their answers, so that a process opening the store marks as
``interrupted`` only the answers whose process died, never those another live process streams.

``tokenwire serve``, an in-process ``tokenwire chat`` or ``history`` and ``tokenwire desktop`` may
share one database. Each process stores its producer id on every answer it starts and holds a lock
that is released when the process ends, however it ends (SIGKILL included):

- a SQLite file: an exclusive ``flock`` on a file of its own in ``<database>-producers/``;
- PostgreSQL: a session advisory lock, on a connection of its own (taken again when that connection
  breaks; meanwhile another process opening the store may take this one's answers for dead);
- an in-memory database, or no ``flock``: no other process can be writing, so all others are dead.

With Redis, producer leases in the stream log decide instead (``hub/redis_log.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import psycopg

    from tokenwire.store.database import Database

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("tokenwire.store")


class Producers(Protocol):
    id: str  # this process, as stored on the answers it writes

    async def start(self) -> None:
        """Take this process's lock."""

    async def alive(self, ids: Collection[str]) -> set[str]:
        """Those of ``ids`` whose process still runs (this one included)."""

    async def close(self) -> None: ...


def producers_for(db: Database) -> Producers:
    from tokenwire.store.sqlite import SQLiteDatabase

    if isinstance(db, SQLiteDatabase) and db.path != ":memory:" and fcntl is not None:
        return FileLockProducers(Path(f"{db.path}-producers"))
    if db.dialect == "postgresql":  # not imported otherwise: SQLite users need no psycopg
        return AdvisoryLockProducers(db)
    return SoloProducer()


class SoloProducer:
    """The only process that can write: every other producer is dead."""

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex

    async def start(self) -> None:
        return None

    async def alive(self, ids: Collection[str]) -> set[str]:
        return {self.id} & set(ids)

    async def close(self) -> None:
        return None


class FileLockProducers:
    """One locked file per live process, named by its producer id."""

    def __init__(self, directory: Path) -> None:
        self.id = uuid.uuid4().hex
        self.directory = directory
        self._fd: int | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    async def alive(self, ids: Collection[str]) -> set[str]:
        return await asyncio.to_thread(lambda: {i for i in ids if self._held(i)})

    async def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.directory / self.id)
            os.close(self._fd)
            self._fd = None

    def _start(self) -> None:
        assert fcntl is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        # Locked before it has its name: a file found under a producer's name is always held
        # while that producer lives.
        pending = self.directory / f".{self.id}.new"
        fd = os.open(pending, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(pending, self.directory / self.id)
        self._fd = fd
        for entry in os.listdir(self.directory):  # files of processes that died since
            if not entry.startswith("."):
                self._held(entry)

    def _held(self, producer: str) -> bool:
        """Whether the producer's lock is held; a lock found free is removed with its file."""
        assert fcntl is not None
        if not producer or "/" in producer or producer.startswith("."):
            return False
        path = self.directory / producer
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            # flock belongs to an open file, so even this process's own lock blocks this one.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return False
        finally:
            os.close(fd)


# Every granted session-level advisory lock on a bigint key in this database (pg_locks shows the
# key's halves in classid and objid, objsubid 1).
_HELD_KEYS = (
    "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks"
    " WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
_PREFIX = "pg:"


class AdvisoryLockProducers:
    """A PostgreSQL advisory lock per live process, held on a connection of its own."""

    keepalive_seconds = 5.0

    def __init__(self, db: Database) -> None:
        from tokenwire.store.postgres import PostgresDatabase

        assert isinstance(db, PostgresDatabase)
        self._db = db  # for the lookups; the lock needs a connection the pool cannot recycle
        self._key = secrets.randbits(62) + 1  # positive, so the halves reassemble as they were
        self.id = f"{_PREFIX}{self._key}"
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._keeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._lock()
        self._keeper = asyncio.create_task(self._keep())

    async def alive(self, ids: Collection[str]) -> set[str]:
        held = {row[0] for row in await self._db.fetchall(_HELD_KEYS)}
        return {i for i in ids if _key_of(i) in held}

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()  # the lock goes with its session
            self._conn = None

    async def _lock(self) -> None:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            self._db.url, autocommit=True, connect_timeout=max(1, int(self._db.timeout))
        )
        await conn.execute("SELECT pg_advisory_lock(%s)", (self._key,))
        self._conn = conn

    async def _keep(self) -> None:
        """Take the lock again on a new connection when the old one broke (a server restart)."""
        lost = False
        while True:
            await asyncio.sleep(self.keepalive_seconds)
            try:
                if self._conn is None or self._conn.closed:
                    await self._lock()
                else:
                    await self._conn.execute("SELECT 1")
            except Exception as exc:
                if not lost:
                    logger.warning(
                        "the producer lock's connection to postgresql broke (%s); "
                        "taking the lock again",
                        type(exc).__name__,
                    )
                lost = True
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        await self._conn.close()
                    self._conn = None
            else:
                if lost:
                    logger.warning("the producer lock is held again")
                lost = False


def _key_of(producer: str) -> int | None:
    digits = producer.removeprefix(_PREFIX)
    return int(digits) if producer.startswith(_PREFIX) and digits.isdigit() else None
