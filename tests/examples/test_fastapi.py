"""examples/fastapi_mount: FastAPI mounting tokenwire, whose model function calls an
OpenAI-compatible API (the loopback stub) with the ``openai`` SDK; all of it over real sockets."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from examples.fastapi_mount.app import create_app
from tests.support.helpers import assert_complete_stream
from tests.support.hosts import Host, serve
from tests.support.upstream_stub import Reply, ThreadedUpstream
from tokenwire.client import Client
from tokenwire.events import Event

WAIT = 30.0
SECRET = "sk-fastapi-example-0123456789"


@pytest.fixture
def upstream() -> Iterator[ThreadedUpstream]:
    with ThreadedUpstream() as stub:
        yield stub


@pytest.fixture
def host(tmp_path: Path, upstream: ThreadedUpstream) -> Iterator[Host]:
    app = create_app(
        base_url=upstream.base_url,
        api_key=SECRET,
        model="echo",
        database_url=f"sqlite:///{tmp_path / 'app.db'}",
    )
    with serve(app) as running:
        yield running


def ask(host: Host, message: str) -> list[Event]:
    with Client(host.base_url + "/tokenwire") as client, client.chat(message) as stream:
        return list(stream)


def text(events: list[Event]) -> str:
    return "".join(e.payload.text for e in events if e.type == "delta")  # type: ignore[union-attr]


def test_the_host_keeps_its_routes(host: Host) -> None:
    home = httpx.get(host.base_url + "/", timeout=WAIT)
    assert home.json() == {"app": "my app", "chat": "/tokenwire/api/chat"}
    assert httpx.get(host.base_url + "/nope", timeout=WAIT).status_code == 404


def test_the_model_function_streams_the_upstream_answer(
    host: Host, upstream: ThreadedUpstream
) -> None:
    events = ask(host, "Hello from the example")
    assert_complete_stream(events)
    assert text(events) == "Hello from the example"
    usage = next(e.to_dict() for e in events if e.type == "usage")
    assert usage["completion_tokens"] == 4
    sent = upstream.last_request
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.json["model"] == "echo" and sent.json["stream"] is True
    with Client(host.base_url + "/tokenwire") as client:
        conversation_id = events[0].to_dict()["conversation_id"]
        stored = client.conversation(conversation_id)["messages"][1]
    assert (stored["content"], stored["status"]) == ("Hello from the example", "complete")


def test_reasoning_and_sampling_params_go_through(host: Host, upstream: ThreadedUpstream) -> None:
    upstream.script(Reply(reasoning=["Let me", " think."], content=["Done", "."]))
    with (
        Client(host.base_url + "/tokenwire") as client,
        client.chat("hi", params={"temperature": 0.25, "max_tokens": 10}) as stream,
    ):
        events = list(stream)
    reasoning = "".join(e.payload.text for e in events if e.type == "reasoning")  # type: ignore[union-attr]
    assert (reasoning, text(events)) == ("Let me think.", "Done.")
    sent = upstream.last_request.json
    assert (sent["temperature"], sent["max_tokens"]) == (0.25, 10)


def test_cancel_closes_the_upstream_request(host: Host, upstream: ThreadedUpstream) -> None:
    upstream.script(Reply(content=[f"word{i} " for i in range(200)], delay=0.05))
    with Client(host.base_url + "/tokenwire") as client, client.chat("go on") as stream:
        events = []
        for event in stream:
            events.append(event)
            if event.type == "delta":
                assert client.cancel(event_stream_id(events)) == "cancelled"
                break
        events += list(stream)
    assert events[-1].to_dict()["finish_reason"] == "cancelled"
    assert upstream.wait_disconnect(timeout=WAIT)  # the upstream request stopped too


def event_stream_id(events: list[Event]) -> str:
    return str(events[0].to_dict()["stream_id"])


def test_an_upstream_failure_is_an_error_event_without_the_key(
    host: Host, upstream: ThreadedUpstream, tmp_path: Path
) -> None:
    upstream.script("fault:http-401")  # this stub echoes the key it got, as some servers do
    events = ask(host, "hi")
    error = events[-1].to_dict()
    assert (error["type"], error["code"]) == ("error", "upstream_http_error")
    assert "401" in error["message"] and SECRET not in error["message"]
    with sqlite3.connect(tmp_path / "app.db") as db:
        stored = [row for row in db.execute("SELECT * FROM messages")]
    assert SECRET not in repr(stored)


def test_its_openai_compatible_endpoint_serves_the_sdk(host: Host) -> None:
    base = host.base_url + "/tokenwire/v1"
    with openai.OpenAI(base_url=base, api_key="x", max_retries=0) as sdk:
        stream = sdk.chat.completions.create(
            model="assistant", messages=[{"role": "user", "content": "via the SDK"}], stream=True
        )
        pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == "via the SDK"
