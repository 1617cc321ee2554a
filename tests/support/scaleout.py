"""Several real ``tokenwire serve`` processes sharing one Redis and one PostgreSQL, for tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

from tests.support.helpers import events_of
from tests.support.servers import ANSWER
from tests.support.services import free_port
from tokenwire.events import Event

LONG = " ".join([ANSWER] * 5)  # half a minute at 8 tokens a second


@dataclass
class Process:
    base: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def write_config(
    path: Path, *, database_url: str, redis_url: str, upstream: str | None = None, extra: str = ""
) -> Path:
    models = f"""
[[models]]
id = "crawl"
provider = "replay"
text = {json.dumps(ANSWER, ensure_ascii=False)}
tokens_per_second = 8

[[models]]
id = "long"
provider = "replay"
text = {json.dumps(LONG, ensure_ascii=False)}
tokens_per_second = 8
"""
    if upstream is not None:
        models += f"""
[[models]]
id = "up"
provider = "openai"
base_url = "{upstream}"
model = "slow:0.3"
"""
    path.write_text(
        f'database_url = "{database_url}"\nredis_url = "{redis_url}"\n'
        f"producer_lease_seconds = 1.5\n{extra}{models}",
        encoding="utf-8",
    )
    return path


@contextmanager
def serve(
    config: Path,
    name: str,
    *,
    program: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[Process]:
    """``tokenwire serve`` in a process; ``program`` is the command before ``serve`` (this
    checkout's, by default), ``env`` its environment (this one's) and ``cwd`` where it runs."""
    port = free_port()
    log = config.with_name(f"{name}.log")
    command = [
        *(program or [sys.executable, "-m", "tokenwire.cli"]),
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    environment = {**(os.environ if env is None else env), "OPENAI_API_KEY": ""}
    with log.open("ab") as out:
        popen = subprocess.Popen(
            command, env=environment, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    process = Process(f"http://127.0.0.1:{port}", popen, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{process.base}/healthz", timeout=2).raise_for_status()
                break
            except httpx.TransportError:
                assert popen.poll() is None, process.output()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield process
    finally:
        if popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(15)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(10)


@contextmanager
def cluster(config: Path, count: int) -> Iterator[list[Process]]:
    with ExitStack() as stack:
        yield [stack.enter_context(serve(config, f"p{i}")) for i in range(count)]


async def wait_for_log(process: Process, text: str, timeout: float = 20.0) -> None:
    """Wait until a process has logged ``text``: the line that proves it noticed something."""
    deadline = time.monotonic() + timeout
    while text not in process.output():
        assert time.monotonic() < deadline, f"{process.base} never logged {text!r}"
        await asyncio.sleep(0.05)


async def wait_for_status(
    http: httpx.AsyncClient, method: str, url: str, status: int, **kwargs: Any
) -> httpx.Response:
    """Ask again until the answer has ``status`` (a service came back); a minute at most."""
    deadline = time.monotonic() + 60
    while True:
        response = await http.request(method, url, **kwargs)
        if response.status_code == status:
            return response
        assert time.monotonic() < deadline, f"{url}: still {response.status_code}"
        await asyncio.sleep(0.3)


# Readers for the tests that stop and start Redis or PostgreSQL under live streams.


async def start_and_leave(base: str, body: dict[str, Any]) -> dict[str, Any]:
    """Start a stream, read its ``start``, leave: the generation goes on without us."""
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream("POST", f"{base}/api/chat", json=body) as response,
    ):
        assert response.status_code == 200, await response.aread()
        events = await events_of(response, limit=1)
    return events[0].to_dict()


async def read_all(base: str, stream_id: str, reading: asyncio.Event) -> list[Event]:
    """The whole stream; ``reading`` is set once its first event has arrived."""
    async with (
        httpx.AsyncClient(timeout=120) as http,
        http.stream("GET", f"{base}/api/streams/{stream_id}") as response,
    ):
        assert response.status_code == 200, await response.aread()
        first = await events_of(response, limit=1)
        reading.set()
        return first + await events_of(response)


async def read_all_over_socket(base: str, stream_id: str, reading: asyncio.Event) -> list[Event]:
    """The whole stream over the WebSocket; ``reading`` as above."""
    events: list[Event] = []
    async with websockets.connect(base.replace("http://", "ws://") + "/api/ws") as ws:
        await ws.send(orjson.dumps({"type": "resume", "stream_id": stream_id, "after": 0}))
        while not events or not events[-1].is_terminal:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
            assert frame["type"] != "rejected", frame
            if frame["type"] != "start":  # the socket names the stream in every frame
                del frame["stream_id"]
            events.append(Event.from_dict(frame))
            reading.set()
    return events


async def stored_when_ended(base: str, conversation_id: str) -> dict[str, Any]:
    """The stored answer, once it no longer says ``streaming``."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=30) as http:
        while True:
            response = await http.get(f"{base}/api/conversations/{conversation_id}")
            answer: dict[str, Any] = response.json()["messages"][-1]
            if answer["status"] != "streaming":
                return answer
            assert time.monotonic() < deadline, "the answer never ended"
            await asyncio.sleep(0.2)


async def all_reading(flags: list[asyncio.Event], readers: list[asyncio.Task[Any]]) -> None:
    """Until every reader has its first event; a reader that failed first fails the test."""
    waits = [asyncio.create_task(flag.wait()) for flag in flags]
    await asyncio.wait([asyncio.gather(*waits), *readers], return_when=asyncio.FIRST_COMPLETED)
    for reader in readers:
        if reader.done():
            reader.result()
    assert all(flag.is_set() for flag in flags)
