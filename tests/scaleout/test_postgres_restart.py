"""PostgreSQL restarting mid-stream, against real processes and a real PostgreSQL the tests stop
and start: the stream goes on, its saves are made again once the database is back, and new
requests get a clear 503 meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.support.helpers import assert_complete_stream, text_of
from tests.support.scaleout import (
    LONG,
    all_reading,
    cluster,
    read_all,
    start_and_leave,
    stored_when_ended,
    wait_for_log,
    write_config,
)
from tests.support.services import PostgresServer
from tokenwire.events import Error


@pytest.fixture
def config(tmp_path: Path, postgres_url: str, redis_url: str) -> Path:
    return write_config(tmp_path / "tokenwire.toml", database_url=postgres_url, redis_url=redis_url)


async def test_a_postgresql_restart_mid_stream_loses_nothing(
    config: Path, restart_postgres: PostgresServer
) -> None:
    with cluster(config, 2) as (a, b):
        start = await start_and_leave(a.base, {"message": "hi", "model": "long"})
        flags = [asyncio.Event(), asyncio.Event()]
        readers = [
            asyncio.create_task(read_all(p.base, start["stream_id"], flag))
            for p, flag in zip((a, b), flags, strict=True)
        ]
        await all_reading(flags, readers)
        restart_postgres.stop()
        async with httpx.AsyncClient(timeout=30) as http:
            chat = await http.post(f"{b.base}/api/chat", json={"message": "hi"})
        assert chat.status_code == 503
        assert chat.json()["error"]["code"] == "unavailable"
        assert "retry-after" in chat.headers
        await wait_for_log(a, "postgresql is unreachable")  # a save of the answer failed
        assert not any(reader.done() for reader in readers)
        restart_postgres.start()
        results = await asyncio.wait_for(asyncio.gather(*readers), 90)
        for events in results:
            assert_complete_stream(events)
            assert events[-1].type == "done"
            assert text_of(events) == LONG
        answer = await stored_when_ended(b.base, start["conversation_id"])
        assert (answer["status"], answer["content"]) == ("complete", LONG)


async def test_postgresql_away_past_the_bound_ends_streams_store_unavailable(
    tmp_path: Path, postgres_url: str, redis_url: str, restart_postgres: PostgresServer
) -> None:
    config = write_config(
        tmp_path / "tokenwire.toml",
        database_url=postgres_url,
        redis_url=redis_url,
        extra="store_outage_seconds = 2\n",
    )
    with cluster(config, 2) as (a, b):
        start = await start_and_leave(a.base, {"message": "hi", "model": "long"})
        flag = asyncio.Event()
        reader = asyncio.create_task(read_all(b.base, start["stream_id"], flag))
        await all_reading([flag], [reader])
        restart_postgres.stop()
        events = await asyncio.wait_for(reader, 60)
        assert_complete_stream(events)
        assert events[-1].payload == Error(
            "store_unavailable", "the database was unreachable for too long", retryable=True
        )
        text = text_of(events)
        assert text and LONG.startswith(text) and text != LONG
        restart_postgres.start()
        # What the reader was shown is saved once the database is back, with the error.
        await wait_for_log(a, "saved once the database was back", timeout=60)
        answer = await stored_when_ended(b.base, start["conversation_id"])
        assert (answer["status"], answer["error_code"]) == ("error", "store_unavailable")
        assert answer["content"] == text
