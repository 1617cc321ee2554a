"""Redis restarting mid-stream, against real processes and a real Redis the tests stop and start.

The Redis the tests run keeps nothing on disk, so it comes back empty: the harder case, where
each producer writes its streams again from their ``start``. While it is away, readers keep their
connections; new requests get a clear 503.
"""

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
    read_all_over_socket,
    start_and_leave,
    stored_when_ended,
    wait_for_log,
    wait_for_status,
    write_config,
)
from tests.support.services import RedisServer
from tokenwire.events import Error


@pytest.fixture
def config(tmp_path: Path, postgres_url: str, redis_url: str) -> Path:
    return write_config(tmp_path / "tokenwire.toml", database_url=postgres_url, redis_url=redis_url)


async def test_a_redis_restart_mid_stream_costs_its_readers_nothing(
    config: Path, restart_redis: RedisServer
) -> None:
    with cluster(config, 2) as (a, b):
        start = await start_and_leave(a.base, {"message": "hi", "model": "long"})
        stream_id = start["stream_id"]
        flags = [asyncio.Event() for _ in range(3)]
        readers = [
            asyncio.create_task(read_all(a.base, stream_id, flags[0])),
            asyncio.create_task(read_all(b.base, stream_id, flags[1])),
            asyncio.create_task(read_all_over_socket(b.base, stream_id, flags[2])),
        ]
        await all_reading(flags, readers)  # all reading when Redis goes
        restart_redis.stop()
        async with httpx.AsyncClient(timeout=30) as http:
            chat = await http.post(f"{b.base}/api/chat", json={"message": "hi"})
            assert chat.status_code == 503
            assert chat.json()["error"]["code"] == "unavailable"
            assert chat.headers["retry-after"] == "2"
            resume = await http.get(f"{b.base}/api/streams/{stream_id}")
            assert resume.status_code == 503
            for process in (a, b):  # each has seen the outage, so the restart is mid-stream
                await wait_for_log(process, "redis is unreachable")
            assert not any(reader.done() for reader in readers)  # nobody was cut off
            restart_redis.start()  # empty: the producer writes its stream again
            await wait_for_log(a, "redis had lost it; written again")
        results = await asyncio.wait_for(asyncio.gather(*readers), 90)
        for events in results:
            assert_complete_stream(events)  # every seq once, in order, one terminal event
            assert events[-1].type == "done"
            assert text_of(events) == LONG
        assert [e.json for e in results[0]] == [e.json for e in results[1]]
        answer = await stored_when_ended(b.base, start["conversation_id"])
        assert (answer["status"], answer["content"]) == ("complete", LONG)
        async with httpx.AsyncClient(timeout=30) as http:  # and a resume reads it all again
            again = await http.get(f"{b.base}/api/streams/{stream_id}")
        assert again.status_code == 200


async def test_redis_away_past_the_outage_bound_ends_streams_log_unavailable(
    tmp_path: Path, postgres_url: str, redis_url: str, restart_redis: RedisServer
) -> None:
    config = write_config(
        tmp_path / "tokenwire.toml",
        database_url=postgres_url,
        redis_url=redis_url,
        extra="log_outage_seconds = 2\n",
    )
    with cluster(config, 2) as (a, b):
        start = await start_and_leave(a.base, {"message": "hi", "model": "long"})
        flags = [asyncio.Event(), asyncio.Event()]
        readers = [
            asyncio.create_task(read_all(p.base, start["stream_id"], flag))
            for p, flag in zip((a, b), flags, strict=True)
        ]
        await all_reading(flags, readers)
        restart_redis.stop()
        results = await asyncio.wait_for(asyncio.gather(*readers), 60)
        for events in results:
            assert_complete_stream(events)
            assert events[-1].payload == Error(
                "log_unavailable", "the stream log was unreachable for too long", retryable=True
            )
            assert LONG.startswith(text_of(events))
        # The producer gave up too, and stored what it had, with the same error.
        await wait_for_log(a, "redis unreachable for too long")
        answer = await stored_when_ended(a.base, start["conversation_id"])
        assert answer["status"] == "error"
        assert answer["error_code"] == "log_unavailable"
        assert answer["content"] and LONG.startswith(answer["content"])
        assert answer["content"].startswith(text_of(results[0]))
        restart_redis.start()
        async with httpx.AsyncClient(timeout=30) as http:  # and new answers work again
            await wait_for_status(http, "GET", f"{a.base}/api/streams/x", 404)
