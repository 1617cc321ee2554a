"""Many server processes as one: Redis holds the streams, PostgreSQL the conversations.

Every test runs real ``tokenwire serve`` processes against the real servers the fixtures start,
and exercises one behaviour across processes.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.helpers import assert_complete_stream, events_of, text_of
from tests.support.scaleout import (
    LONG,
    cluster,
    serve,
    wait_for_status,
    write_config,
)
from tests.support.servers import ANSWER
from tests.support.services import PostgresServer, RedisServer, free_port
from tests.support.upstream_stub import ThreadedUpstream
from tokenwire.events import Done, Error, Event


@pytest.fixture
def config(tmp_path: Path, postgres_url: str, redis_url: str) -> Path:
    return write_config(tmp_path / "tokenwire.toml", database_url=postgres_url, redis_url=redis_url)


async def start_chat(
    base: str, body: dict[str, Any], first: int = 3
) -> tuple[dict[str, Any], list[Event]]:
    """Start a stream, read its first events, leave: the generation goes on without us."""
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream("POST", f"{base}/api/chat", json=body) as response,
    ):
        assert response.status_code == 200, await response.aread()
        events = await events_of(response, limit=first)
    start = events[0].to_dict()
    return start, events


async def read_stream(
    base: str, stream_id: str, after: int = 0, reading: asyncio.Event | None = None
) -> list[Event]:
    """The stream's events after ``after``; ``reading`` is set once the first has arrived."""
    async with (
        httpx.AsyncClient(timeout=60) as http,
        http.stream(
            "GET", f"{base}/api/streams/{stream_id}", headers={"Last-Event-ID": str(after)}
        ) as response,
    ):
        assert response.status_code == 200, await response.aread()
        first = await events_of(response, limit=1)
        if reading is not None:
            reading.set()
        return first + await events_of(response)


async def stored_answer(base: str, conversation_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(f"{base}/api/conversations/{conversation_id}")
    response.raise_for_status()
    answer: dict[str, Any] = response.json()["messages"][-1]
    return answer


async def test_resume_on_another_process_gets_exactly_the_rest(config: Path) -> None:
    with cluster(config, 3) as (a, b, c):
        start, first = await start_chat(a.base, {"message": "hi", "model": "crawl"}, first=4)
        stream_id = start["stream_id"]
        resumed, whole = await asyncio.gather(
            read_stream(b.base, stream_id, after=4), read_stream(c.base, stream_id)
        )
        assert_complete_stream(whole)
        assert [e.json for e in whole[:4]] == [e.json for e in first]
        assert [e.json for e in resumed] == [e.json for e in whole[4:]]
        assert text_of(whole) == ANSWER
        answer = await stored_answer(c.base, start["conversation_id"])
        assert (answer["status"], answer["content"]) == ("complete", ANSWER)


async def test_a_cancel_sent_to_b_stops_the_generation_and_its_upstream_request_on_a(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    with ThreadedUpstream() as upstream:
        config = write_config(
            tmp_path / "tokenwire.toml",
            database_url=postgres_url,
            redis_url=redis_url,
            upstream=upstream.base_url,
        )
        with cluster(config, 2) as (a, b):
            words = " ".join(f"w{i}" for i in range(200))  # a minute of answer
            start, _ = await start_chat(a.base, {"message": words, "model": "up"}, first=2)
            stream_id = start["stream_id"]
            reader = asyncio.create_task(read_stream(a.base, stream_id))
            async with httpx.AsyncClient(timeout=30) as http:
                sent = time.monotonic()
                response = await http.post(f"{b.base}/api/streams/{stream_id}/cancel")
                took = time.monotonic() - sent
            assert response.json() == {"stream_id": stream_id, "status": "cancelled"}
            assert took < 3.0  # a second when idle; slack for a loaded machine
            assert await asyncio.to_thread(upstream.wait_disconnect, 1, 10.0)
            events = await asyncio.wait_for(reader, 30)
            assert_complete_stream(events)
            assert events[-1].payload == Done("cancelled")
            answer = await stored_answer(b.base, start["conversation_id"])
            assert answer["status"] == "cancelled"
            assert answer["content"] == text_of(events)


async def test_a_killed_process_ends_its_streams_as_interrupted_for_readers_elsewhere(
    config: Path,
) -> None:
    with cluster(config, 2) as (a, b), serve(config, "doomed") as doomed:
        start, _ = await start_chat(doomed.base, {"message": "hi", "model": "long"})
        readers = [
            asyncio.create_task(read_stream(p.base, start["stream_id"], after=1)) for p in (a, b)
        ]
        # Until some text has streamed, and is stored (by another process: polled).
        while not (await stored_answer(a.base, start["conversation_id"]))["content"]:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        doomed.popen.send_signal(signal.SIGKILL)
        doomed.popen.wait(10)
        killed = time.monotonic()
        results = await asyncio.wait_for(asyncio.gather(*readers), 30)
        took = time.monotonic() - killed
    assert took < 10.0  # lease 1.5 s, renewed every 0.5 s: a few seconds at most
    assert [e.json for e in results[0]] == [e.json for e in results[1]]
    events = results[0]
    assert events[-1].payload == Error(
        "interrupted", "the server running this answer stopped", retryable=True
    )
    assert [e.is_terminal for e in events].count(True) == 1
    text = text_of(events)
    assert text and LONG.startswith(text) and text != LONG
    with serve(config, "after") as after:
        answer = await stored_answer(after.base, start["conversation_id"])
    assert (answer["status"], answer["error_code"]) == ("interrupted", "interrupted")
    assert answer["content"] == text  # exactly what the readers were shown


async def test_a_new_turn_while_another_process_streams_is_refused(config: Path) -> None:
    with cluster(config, 2) as (a, b):
        start, _ = await start_chat(a.base, {"message": "hi", "model": "long"})
        body = {"message": "again", "conversation_id": start["conversation_id"]}
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(f"{b.base}/api/chat", json=body)
            assert response.status_code == 409
            assert response.json()["error"]["code"] == "conversation_busy"
            await http.post(f"{b.base}/api/streams/{start['stream_id']}/cancel")
            async with http.stream("POST", f"{b.base}/api/chat", json=body) as second:
                assert second.status_code == 200  # free again once the first turn ended
                assert_complete_stream(await events_of(second))


async def test_deleting_a_conversation_on_b_cancels_its_answer_on_a(config: Path) -> None:
    with cluster(config, 2) as (a, b):
        start, _ = await start_chat(a.base, {"message": "hi", "model": "long"})
        reader = asyncio.create_task(read_stream(a.base, start["stream_id"]))
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.delete(f"{b.base}/api/conversations/{start['conversation_id']}")
            assert response.status_code == 204
            gone = await http.get(f"{a.base}/api/conversations/{start['conversation_id']}")
            assert gone.status_code == 404
        events = await asyncio.wait_for(reader, 30)
        assert_complete_stream(events)
        assert events[-1].payload == Done("cancelled")


async def test_a_process_starting_leaves_other_processes_answers_alone(config: Path) -> None:
    with serve(config, "a") as a:
        start, _ = await start_chat(a.base, {"message": "hi", "model": "long"})
        with serve(config, "late") as late:
            answer = await stored_answer(late.base, start["conversation_id"])
            assert answer["status"] == "streaming"  # not taken for a crash's leftover
            reader = asyncio.create_task(read_stream(late.base, start["stream_id"]))
            async with httpx.AsyncClient(timeout=30) as http:
                await http.post(f"{late.base}/api/streams/{start['stream_id']}/cancel")
            events = await asyncio.wait_for(reader, 30)
        assert events[-1].payload == Done("cancelled")  # still running on A until then
        assert (await stored_answer(a.base, start["conversation_id"]))["status"] == "cancelled"


async def test_postgresql_down_is_a_clear_503_and_recovers_by_itself(
    config: Path, restart_postgres: PostgresServer
) -> None:
    with cluster(config, 2) as (a, b):
        restart_postgres.stop()
        async with httpx.AsyncClient(timeout=30) as http:
            sent = time.monotonic()
            response = await http.get(f"{a.base}/api/conversations")
            assert time.monotonic() - sent < 20
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "unavailable"
            chat = await http.post(f"{b.base}/api/chat", json={"message": "hi"})
            assert chat.status_code == 503
            restart_postgres.start()
            await wait_for_status(http, "GET", f"{a.base}/api/conversations", 200)
            await wait_for_status(http, "GET", f"{b.base}/api/conversations", 200)
        assert "postgresql is unreachable" in a.output()


def test_migrate_command_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    config = tmp_path / "tokenwire.toml"
    config.write_text(f'database_url = "{postgres_url}"\n', encoding="utf-8")
    command = [sys.executable, "-m", "tokenwire.cli", "migrate", "--config", str(config)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "applied m001_initial" in first.stdout
    again = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert "up to date" in again.stdout


async def test_a_process_started_while_redis_is_down_serves_once_it_is_back(
    config: Path, restart_redis: RedisServer
) -> None:
    restart_redis.stop()
    with serve(config, "early") as process:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(f"{process.base}/api/chat", json={"message": "hi"})
            assert response.status_code == 503
            assert response.headers["retry-after"] == "2"
            restart_redis.start()
            await wait_for_status(http, "GET", f"{process.base}/api/streams/x", 404)
        _, events = await start_chat(process.base, {"message": "hi", "model": "crawl"})
        assert events[0].type == "start"


def test_serve_with_postgresql_unreachable_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "tokenwire.toml"
    url = f"postgresql://tokenwire:s3cret-pw@127.0.0.1:{free_port()}/tokenwire"
    config.write_text(f'database_url = "{url}"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "tokenwire.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "cannot use the database postgresql://tokenwire:***@127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
