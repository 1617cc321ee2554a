"""Your function is a model: async and sync generators behind a real server, every way they end."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
import websockets

from tests.support import model_functions as mf
from tests.support.helpers import assert_complete_stream, events_of, post_chat, text_of
from tests.support.servers import RunningServer, run_server
from tests.support.services import free_port
from tokenwire.config import ConfigError, ModelConfig, load_settings
from tokenwire.events import Event
from tokenwire.providers.python import PythonProvider, load_entry

SRC = Path(__file__).resolve().parents[2] / "src"


def python_model(id: str, function: Any, **options: Any) -> ModelConfig:
    return ModelConfig(id=id, provider="python", entry=function, **options)


@pytest.fixture
def probe() -> mf.Probe:
    return mf.Probe()


@pytest.fixture
def server(tmp_path: Path, probe: mf.Probe) -> Iterator[RunningServer]:
    models = (
        python_model("echo", mf.echo),
        python_model("sync-echo", mf.sync_echo),
        python_model("sync-slow-echo", mf.sync_slow_echo),
        python_model("rich", mf.rich(probe), max_tokens=99),
        python_model("endless-async", mf.endless_async(probe)),
        python_model("endless-sync", mf.endless_sync(probe)),
        python_model("blocked-sync", mf.blocked_sync(probe)),
        python_model("failing-async", mf.failing(probe, sync=False)),
        python_model("failing-sync", mf.failing(probe, sync=True)),
        python_model("yields-error", mf.yields_error),
        python_model("yields-garbage", mf.yields_garbage),
        python_model("stops-early", mf.stops_early),
        python_model("whole", mf.whole),
    )
    with run_server(tmp_path, models) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=mf.WAIT) as http:
        yield http


async def stored_answer(client: httpx.AsyncClient, events: list[Event]) -> dict[str, Any]:
    conversation_id = events[0].to_dict()["conversation_id"]
    stored = (await client.get(f"/api/conversations/{conversation_id}")).json()
    answer: dict[str, Any] = stored["messages"][1]
    return answer


@pytest.mark.parametrize("model", ["echo", "sync-echo"])
async def test_a_generator_streams_its_text_and_sees_the_history(
    client: httpx.AsyncClient, model: str
) -> None:
    _, first = await post_chat(client, {"message": "one two three", "model": model})
    assert_complete_stream(first)
    assert text_of(first) == "one two three "
    assert [e.type for e in first].count("delta") == 3  # one event per yield
    conversation_id = first[0].to_dict()["conversation_id"]
    _, second = await post_chat(
        client, {"message": "four", "model": model, "conversation_id": conversation_id}
    )
    assert text_of(second) == "four "
    assert (await stored_answer(client, first))["status"] == "complete"


WORDS = " ".join(f"w{i}" for i in range(30))


async def test_a_dropped_reader_resumes_where_it_left_off(client: httpx.AsyncClient) -> None:
    body = {"message": WORDS, "model": "sync-slow-echo"}
    async with client.stream("POST", "/api/chat", json=body) as response:
        seen = await events_of(response, limit=4)  # then the connection drops
    stream_id = seen[0].to_dict()["stream_id"]
    async with client.stream(
        "GET", f"/api/streams/{stream_id}", headers={"Last-Event-ID": str(seen[-1].seq)}
    ) as resumed:
        events = seen + await events_of(resumed)
    assert_complete_stream(events)
    assert text_of(events) == WORDS + " "


async def test_the_websocket_carries_it_too(server: RunningServer) -> None:
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(orjson.dumps({"type": "chat", "message": "by socket", "model": "sync-echo"}))
        frames = []
        while not frames or frames[-1]["type"] not in ("done", "error"):
            frames.append(orjson.loads(await asyncio.wait_for(ws.recv(), mf.WAIT)))
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "by socket "


async def test_reasoning_and_usage_pass_through_and_are_stored(
    client: httpx.AsyncClient, probe: mf.Probe
) -> None:
    _, events = await post_chat(
        client, {"message": "hi", "model": "rich", "params": {"temperature": 0.5}}
    )
    assert [e.type for e in events] == [
        "start",
        "reasoning",
        "delta",
        "delta",
        "usage",
        "done",
    ]
    assert text_of(events) == "Hello, world."
    stored = await stored_answer(client, events)
    assert stored["content"] == "Hello, world."
    assert stored["reasoning"] == "Thinking it over."
    assert (stored["prompt_tokens"], stored["completion_tokens"]) == (7, 3)
    messages, params = probe.calls[0]
    assert messages == [{"role": "user", "content": "hi"}]
    assert params.temperature == 0.5
    assert params.max_tokens == 99  # the model's configured default fills in


async def test_a_sync_generator_runs_in_a_worker_thread(
    client: httpx.AsyncClient, server: RunningServer, probe: mf.Probe
) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "hi", "model": "endless-sync"}):
        assert probe.started.wait(mf.WAIT)
    loop_thread = server.call(_current_thread_name())
    assert probe.threads[0].startswith("tokenwire-model-endless-sync")
    assert probe.threads[0] != loop_thread


async def _current_thread_name() -> str:
    return threading.current_thread().name


async def test_an_async_function_may_return_the_whole_text(client: httpx.AsyncClient) -> None:
    _, events = await post_chat(client, {"message": "hi", "model": "whole"})
    assert text_of(events) == "all at once"
    assert events[-1].to_dict()["finish_reason"] == "stop"


@pytest.mark.parametrize("model", ["endless-async", "endless-sync"])
async def test_cancel_closes_the_generator(
    client: httpx.AsyncClient, probe: mf.Probe, model: str
) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "hi", "model": model}) as r:
        seen = await events_of(r, limit=3)
        stream_id = seen[0].to_dict()["stream_id"]
        cancelled = await client.post(f"/api/streams/{stream_id}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        rest = await events_of(r)
    assert probe.closed.wait(mf.WAIT)  # its finally ran
    events = seen + rest
    assert_complete_stream(events)
    assert events[-1].to_dict()["finish_reason"] == "cancelled"
    yielded = probe.yielded
    stored = await stored_answer(client, events)
    assert stored["status"] == "cancelled"
    assert stored["content"] == text_of(events)
    threading.Event().wait(0.2)
    assert probe.yielded == yielded  # and it runs no more


async def test_a_blocked_sync_generator_stops_at_its_next_yield(
    client: httpx.AsyncClient, probe: mf.Probe
) -> None:
    async with client.stream(
        "POST", "/api/chat", json={"message": "hi", "model": "blocked-sync"}
    ) as r:
        seen = await events_of(r, limit=2)
        stream_id = seen[0].to_dict()["stream_id"]
        # The thread cannot be interrupted, but the stream ends at once all the same.
        cancelled = await client.post(f"/api/streams/{stream_id}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        events = seen + await events_of(r)
    assert_complete_stream(events)
    assert text_of(events) == "first "
    assert not probe.closed.is_set()
    probe.release.set()
    assert probe.closed.wait(mf.WAIT)
    assert probe.yielded == 1  # it reached its next yield, and was closed there


@pytest.mark.parametrize("model", ["failing-async", "failing-sync"])
async def test_an_exception_ends_the_stream_with_an_error_and_the_partial_text(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, model: str
) -> None:
    caplog.set_level(logging.ERROR, logger="tokenwire")
    _, events = await post_chat(client, {"message": "hi", "model": model})
    assert_complete_stream(events)
    error = events[-1].to_dict()
    assert error["type"] == "error"
    assert error["code"] == "model_error"
    assert error["retryable"] is False
    assert mf.SECRET not in error["message"]
    stored = await stored_answer(client, events)
    assert (stored["status"], stored["content"]) == ("error", "partial answer")
    assert stored["error_code"] == "model_error"
    # The traceback is in the server's log, the secret with it, and nowhere the client can see.
    failure = next(r for r in caplog.records if r.exc_info)
    assert "ValueError" in caplog.text and "fail()" in caplog.text
    assert model in failure.getMessage()
    assert mf.SECRET not in str(stored)


async def test_a_yielded_error_ends_the_stream_with_that_error(client: httpx.AsyncClient) -> None:
    _, events = await post_chat(client, {"message": "hi", "model": "yields-error"})
    assert_complete_stream(events)
    assert text_of(events) == "so far "
    assert events[-1].to_dict() == {
        "type": "error",
        "seq": events[-1].seq,
        "code": "quota_exceeded",
        "message": "the monthly quota is used up",
        "retryable": False,
    }


async def test_yielding_something_else_is_a_model_error(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="tokenwire")
    _, events = await post_chat(client, {"message": "hi", "model": "yields-garbage"})
    assert text_of(events) == "fine "
    assert events[-1].to_dict()["code"] == "model_error"
    assert "not int" in caplog.text


async def test_a_yielded_done_ends_the_answer(client: httpx.AsyncClient) -> None:
    _, events = await post_chat(client, {"message": "hi", "model": "stops-early"})
    assert text_of(events) == "cut "
    assert events[-1].to_dict()["finish_reason"] == "length"


async def test_ndjson_and_the_openai_endpoint_carry_it_too(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    _, events = await post_chat(
        client, {"message": "a b", "model": "sync-echo"}, accept="application/x-ndjson"
    )
    assert text_of(events) == "a b "
    sdk = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)
    answer = await sdk.chat.completions.create(
        model="rich", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "Hello, world."
    assert answer.usage is not None and answer.usage.completion_tokens == 3
    await sdk.close()


@pytest.mark.parametrize("model", ["endless-async", "endless-sync"])
async def test_a_v1_reader_that_leaves_closes_the_generator(
    server: RunningServer, probe: mf.Probe, model: str
) -> None:
    sdk = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)
    stream = await sdk.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await stream.close()
    await sdk.close()
    assert probe.closed.wait(mf.WAIT)
    await sdk.close()


def test_an_entry_names_a_function_in_the_toml(tmp_path: Path) -> None:
    path = tmp_path / "tokenwire.toml"
    path.write_text(
        '[[models]]\nid = "mine"\nprovider = "python"\n'
        'entry = "tests.support.model_functions:sync_echo"\n',
        encoding="utf-8",
    )
    settings = load_settings(path, env={})
    assert settings.models[0].entry == "tests.support.model_functions:sync_echo"
    with run_server(tmp_path, settings.models) as running:
        response = httpx.post(
            running.base_url + "/api/chat", json={"message": "from toml"}, timeout=mf.WAIT
        )
    assert b'"text":"toml "' in response.content
    assert b'"finish_reason":"stop"' in response.content


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("tests.support.model_functions", "must look like"),
        ("tests.no_such_module:echo", "cannot import"),
        ("tests.support.model_functions:nope", "has no 'nope'"),
        ("tests.support.model_functions:SECRET", "not callable"),
    ],
)
def test_a_bad_entry_is_a_clear_config_error(entry: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        load_entry(entry)


def test_the_function_must_take_messages_and_params() -> None:
    with pytest.raises(ConfigError, match=r"must accept \(messages, params\)"):
        PythonProvider(id="x", function=mf.wrong_signature)


def test_a_python_model_needs_an_entry(tmp_path: Path) -> None:
    path = tmp_path / "tokenwire.toml"
    path.write_text('[[models]]\nid = "mine"\nprovider = "python"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="needs `entry`"):
        load_settings(path, env={})


def test_tokenwire_serve_finds_model_functions_in_the_current_directory(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "mymodels.py").write_text(
        "def shout(messages, params):\n    yield messages[-1]['content'].upper()\n",
        encoding="utf-8",
    )
    (project / "tokenwire.toml").write_text(
        f'database_url = "sqlite:///{tmp_path / "tw.db"}"\n\n'
        '[[models]]\nid = "shout"\nprovider = "python"\nentry = "mymodels:shout"\n',
        encoding="utf-8",
    )
    # As the installed `tokenwire` script runs: from a directory of its own, not the project's.
    script = tmp_path / "bin" / "tokenwire"
    script.parent.mkdir()
    script.write_text("from tokenwire.cli import main\nmain()\n", encoding="utf-8")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC), "OPENAI_API_KEY": ""}
    command = [
        sys.executable,
        str(script),
        "serve",
        "--config",
        "tokenwire.toml",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        response = _post_when_up(f"http://127.0.0.1:{port}/api/chat", process)
        assert b'"text":"HELLO"' in response.content
    finally:
        process.terminate()
        process.communicate(timeout=mf.WAIT)


def _post_when_up(url: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + mf.WAIT
    while True:
        try:
            return httpx.post(url, json={"message": "hello"}, timeout=mf.WAIT)
        except httpx.TransportError:
            if process.poll() is not None:
                raise AssertionError(process.communicate()[0].decode()) from None
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)


def test_tokenwire_serve_names_a_bad_entry_and_exits(tmp_path: Path) -> None:
    (tmp_path / "tokenwire.toml").write_text(
        '[[models]]\nid = "x"\nprovider = "python"\nentry = "nowhere:fn"\n', encoding="utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-m", "tokenwire.cli", "serve", "--config", "tokenwire.toml"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        timeout=mf.WAIT,
        check=False,
    )
    assert done.returncode != 0
    assert b"entry 'nowhere:fn': cannot import 'nowhere'" in done.stderr
    assert b"Traceback" not in done.stderr
