"""One client floods the server with huge answers streamed at full speed from the loopback stub;
another client's answer still completes while the flood runs, and the in-process log stays within
its byte budget. (Completion is what is checked, not how fast: speed belongs in bench/.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.helpers import assert_complete_stream, events_of
from tests.support.servers import RunningServer, run_server
from tests.support.upstream_stub import ThreadedUpstream
from tokenwire.config import ModelConfig
from tokenwire.events import Done

FLOODS = 4
# Echoed word by word: a million chunks as fast as the stub writes them, far more than the test
# waits for; each flood is cancelled once the other client's answer has completed.
FLOOD_MESSAGE = "a " * 1_000_000
MAX_LOG_BYTES = 1_000_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with ThreadedUpstream() as stub:
        echo = ModelConfig(id="echo", provider="openai", base_url=stub.base_url, model="echo")
        with run_server(
            tmp_path,
            (echo,),
            max_log_bytes=MAX_LOG_BYTES,
            max_events_per_stream=len(FLOOD_MESSAGE),
            max_answer_chars=0,
            max_message_chars=len(FLOOD_MESSAGE),
            max_body_bytes=4 * len(FLOOD_MESSAGE),
        ) as running:
            yield running


async def flood(http: httpx.AsyncClient, started: asyncio.Queue[str]) -> None:
    """Ask for a huge answer and read it at full speed, to its end or until its body ends."""
    body = {"message": FLOOD_MESSAGE, "model": "echo"}
    async with http.stream("POST", "/api/chat", json=body) as response:
        assert response.status_code == 200
        await events_of(response, limit=2)  # start and a first delta: it floods
        await started.put(response.headers["x-stream-id"])
        await events_of(response)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "issue 17 item 5, not fixed yet: the other client's 3-event answer completed only after "
        "the first flood had ended (about 33 s on the 2-core dev machine), so it starves"
    ),
)
async def test_another_clients_answer_completes_while_a_flood_runs(
    server: RunningServer,
) -> None:
    limits = httpx.Limits(max_connections=FLOODS + 1)
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=60, limits=limits) as flooder,
        httpx.AsyncClient(base_url=server.base_url, timeout=60) as other,
    ):
        started: asyncio.Queue[str] = asyncio.Queue()
        floods = [asyncio.create_task(flood(flooder, started)) for _ in range(FLOODS)]
        flood_ids = [await started.get() for _ in range(FLOODS)]

        async with other.stream(
            "POST", "/api/chat", json={"message": "hello there", "model": "echo"}
        ) as response:
            answer = await events_of(response)
        assert_complete_stream(answer)
        assert answer[-1].payload == Done("stop")
        assert "".join(getattr(e.payload, "text", "") for e in answer[1:-1]) == "hello there"

        # Each flood was still generating after that answer completed: the cancel finds it
        # running ("cancelled"), not over ("finished").
        for stream_id in flood_ids:
            cancel = await other.post(f"/api/streams/{stream_id}/cancel")
            # 410 stream_expired or "finished": that flood was over before the answer completed
            assert cancel.status_code == 200, cancel.text
            assert cancel.json()["status"] == "cancelled"
        await asyncio.gather(*floods)

    async def held() -> int:
        return int(server.hub.log.nbytes)

    assert 0 < server.call(held()) <= MAX_LOG_BYTES  # every stream over: within the budget
