"""tokenwire mounted under a prefix beside a host app's own routes, started on first use."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sqlite3
import threading
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

import tokenwire
from tests.support.helpers import assert_complete_stream, events_of, post_chat, text_of
from tests.support.hosts import Host, serve
from tests.support.servers import ANSWER
from tokenwire.client import AsyncClient
from tokenwire.server.mountable import TokenwireApp

WAIT = 30.0


def replay(id: str, **options: Any) -> dict[str, Any]:
    return {"id": id, "provider": "replay", "text": ANSWER, **options}


def make_tokenwire(tmp_path: Path, *models: dict[str, Any]) -> TokenwireApp:
    return tokenwire.create_app(
        models=models or [replay("replay"), replay("crawl", tokens_per_second=4)],
        database_url=f"sqlite:///{tmp_path / 'host.db'}",
        keepalive_seconds=5.0,
    )


async def hello(request: Request) -> Response:
    return JSONResponse({"host": "hello"})


def host_app(tw: TokenwireApp, **options: Any) -> Starlette:
    return Starlette(routes=[Route("/hello", hello), Mount("/tw", app=tw)], **options)


@pytest.fixture
def tw(tmp_path: Path) -> TokenwireApp:
    return make_tokenwire(tmp_path)


@pytest.fixture
def host(tw: TokenwireApp) -> Iterator[Host]:
    with serve(host_app(tw)) as running:  # the host has no lifespan that knows tokenwire
        yield running


@pytest.fixture
async def http(host: Host) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the mounted tokenwire: its base URL ends with the prefix."""
    async with httpx.AsyncClient(base_url=host.base_url + "/tw", timeout=WAIT) as client:
        yield client


async def test_the_host_routes_work_and_tokenwire_waits_for_its_first_request(
    http: httpx.AsyncClient, host: Host, tw: TokenwireApp
) -> None:
    assert (await http.get(host.base_url + "/hello")).json() == {"host": "hello"}
    with pytest.raises(RuntimeError, match="not started"):
        _ = tw.hub
    response, events = await post_chat(http, {"message": "hi"})
    assert_complete_stream(events)
    assert text_of(events) == ANSWER
    stream_id = events[0].to_dict()["stream_id"]
    assert response.headers["content-location"] == f"/tw/api/streams/{stream_id}"
    assert tw.hub.running == 0


async def test_resume_conversations_and_errors_under_the_prefix(http: httpx.AsyncClient) -> None:
    _, events = await post_chat(http, {"message": "hi"})
    start = events[0].to_dict()
    async with http.stream("GET", f"/api/streams/{start['stream_id']}?after=3") as resumed:
        assert [e.seq for e in await events_of(resumed)] == [e.seq for e in events[3:]]
    stored = (await http.get(f"/api/conversations/{start['conversation_id']}")).json()
    assert stored["messages"][1]["content"] == ANSWER
    missing = await http.get("/api/streams/str_nope")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "stream_not_found")
    bad = await http.post("/v1/chat/completions", json={"model": "replay"})
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"  # OpenAI's shape under /v1


async def test_the_python_client_and_the_openai_sdk_take_the_prefixed_url(host: Host) -> None:
    async with AsyncClient(host.base_url + "/tw") as client, client.chat("hi") as stream:
        text = "".join([e.payload.text async for e in stream if e.type == "delta"])  # type: ignore[union-attr]
    assert text == ANSWER
    sdk = openai.AsyncOpenAI(base_url=host.base_url + "/tw/v1", api_key="x", max_retries=0)
    answer = await sdk.chat.completions.create(
        model="replay", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == ANSWER
    await sdk.close()


async def test_the_websocket_under_the_prefix(host: Host) -> None:
    url = host.base_url.replace("http://", "ws://") + "/tw/api/ws"
    async with websockets.connect(url) as ws:
        await ws.send(orjson.dumps({"type": "chat", "message": "hi", "ref": 1}).decode())
        frames = []
        while not frames or frames[-1]["type"] not in ("done", "error"):
            frames.append(orjson.loads(await asyncio.wait_for(ws.recv(), WAIT)))
    assert frames[0]["ref"] == 1
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == ANSWER


async def test_concurrent_first_requests_start_it_once(tmp_path: Path) -> None:
    tw = make_tokenwire(tmp_path)
    starts = _count_starts(tw)
    transport = httpx.ASGITransport(app=host_app(tw))
    async with httpx.AsyncClient(transport=transport, base_url="http://host") as http:
        answers = await asyncio.gather(*(http.get("/tw/api/models") for _ in range(20)))
        assert {a.status_code for a in answers} == {200}
        assert starts == [1]
        assert (await http.get("/tw/healthz")).json()["status"] == "ok"
    await tw.shutdown()


def _count_starts(tw: TokenwireApp) -> list[int]:
    starts = [0]
    inner = tw.app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def counted(app: Any) -> AsyncIterator[None]:
        starts[0] += 1
        await asyncio.sleep(0.05)  # a slow start, so that the requests pile up behind it
        async with inner(app):
            yield

    tw.app.router.lifespan_context = counted
    return starts


def test_a_new_event_loop_gets_a_fresh_start_and_a_live_one_is_refused(tmp_path: Path) -> None:
    tw = make_tokenwire(tmp_path)

    async def models() -> int:
        transport = httpx.ASGITransport(app=tw)
        async with httpx.AsyncClient(transport=transport, base_url="http://tw") as http:
            return (await http.get("/api/models")).status_code

    # Two loops one after the other, as two test runs or a restarted host would use it.
    assert asyncio.run(models()) == 200
    first = tw.state.tokenwire
    assert asyncio.run(models()) == 200
    assert tw.state.tokenwire is not first

    # A loop that is still running keeps it: another loop must not share its asyncio objects.
    holding, done = threading.Event(), threading.Event()

    async def hold() -> None:
        await tw.startup()
        holding.set()
        await asyncio.to_thread(done.wait, WAIT)
        await tw.shutdown()

    thread = threading.Thread(target=lambda: asyncio.run(hold()))
    thread.start()
    try:
        assert holding.wait(WAIT)
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(tw.startup())
    finally:
        done.set()
        thread.join(WAIT)


async def test_a_start_that_fails_answers_503_json_says_why_and_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the database's directory should be", encoding="utf-8")
    tw = tokenwire.create_app(
        models=[replay("replay")], database_url=f"sqlite:///{blocker / 'tw.db'}"
    )
    transport = httpx.ASGITransport(app=host_app(tw))
    async with httpx.AsyncClient(transport=transport, base_url="http://host") as http:
        response = await http.get("/tw/api/models")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        assert (await http.get("/hello")).status_code == 200
        assert "tokenwire failed to start" in caplog.text
        blocker.unlink()  # the cause is fixed: the next request starts it
        assert (await http.get("/tw/api/models")).status_code == 200
    await tw.shutdown()


def test_a_bad_model_function_fails_at_create_app() -> None:
    with pytest.raises(tokenwire.ConfigError, match=r"cannot import 'tests\.nope'"):
        tokenwire.create_app(models=[{"id": "x", "provider": "python", "entry": "tests.nope:f"}])
    with pytest.raises(tokenwire.ConfigError, match=r"must accept \(messages, params\)"):
        tokenwire.create_app(models=[{"id": "x", "provider": "python", "entry": lambda: None}])


def test_the_exposed_lifespan_starts_and_stops_it_with_the_host(tmp_path: Path) -> None:
    tw = make_tokenwire(tmp_path)
    with serve(host_app(tw, lifespan=tw.lifespan)) as host:
        assert host.call(_started(tw))  # before any request
        with httpx.stream(
            "POST",
            host.base_url + "/tw/api/chat",
            json={"message": "hi", "model": "crawl"},
            headers={"Accept": "application/x-ndjson"},
            timeout=WAIT,
        ) as response:
            next(response.iter_lines())  # the start event: the answer is under way
    # The host stopped while the answer streamed: it is stored as interrupted, not lost.
    with sqlite3.connect(tmp_path / "host.db") as db:
        statuses = [
            row[0]
            for row in db.execute("SELECT status FROM messages WHERE role = ?", ("assistant",))
        ]
    assert statuses == ["interrupted"]


async def _started(tw: TokenwireApp) -> bool:
    return tw.hub is not None


def test_unknown_settings_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="databse_url"):
        tokenwire.create_app(models=[replay("r")], databse_url="sqlite:///x.db")


def test_model_dicts_are_checked_like_the_toml(tmp_path: Path) -> None:
    with pytest.raises(tokenwire.ConfigError, match=r"models\[0\] \(r\): a replay model needs"):
        tokenwire.create_app(models=[{"id": "r", "provider": "replay"}])
    with pytest.raises(tokenwire.ConfigError, match="declared twice"):
        tokenwire.create_app(models=[replay("r"), replay("r")])


def test_the_public_face_is_exactly_what_it_says() -> None:
    assert sorted(tokenwire.__all__) == tokenwire.__all__
    exported = {
        name
        for name, value in vars(tokenwire).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert exported <= set(tokenwire.__all__)  # an accidental export fails here
    for name in tokenwire.__all__:
        assert getattr(tokenwire, name) is not None
    with pytest.raises(AttributeError):
        _ = tokenwire.nothing_by_this_name  # type: ignore[attr-defined]


def test_on_its_own_it_answers_the_lifespan_protocol(tmp_path: Path) -> None:
    tw = make_tokenwire(tmp_path)
    with serve(tw) as host:
        assert host.call(_started(tw))  # started by uvicorn's lifespan, before any request
        models = httpx.get(host.base_url + "/api/models", timeout=WAIT).json()["data"]
        assert [m["id"] for m in models] == ["replay", "crawl"]
    with pytest.raises(RuntimeError, match="not started"):
        _ = tw.hub  # and stopped with the server


def test_keywords_win_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "tokenwire.toml"
    config.write_text(
        'keepalive_seconds = 3.0\nretry_ms = 500\n\n[[models]]\nid = "from-file"\n'
        'provider = "replay"\ntext = "x"\n',
        encoding="utf-8",
    )
    tw = tokenwire.create_app(config, env={}, retry_ms=2500, database_url="sqlite:///k.db")
    assert tw.settings.model_ids() == ["from-file"]
    assert (tw.settings.keepalive_seconds, tw.settings.retry_ms) == (3.0, 2500)
    assert tw.settings.database_url == "sqlite:///k.db"


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


def tagged(messages: list[dict[str, str]], params: tokenwire.GenerationParams) -> Iterator[str]:
    """A sync model function, so run in a thread: it still sees the host's context."""
    yield f"request {REQUEST_ID.get()}"


async def test_model_functions_see_the_hosts_context_variables(tmp_path: Path) -> None:
    tw = make_tokenwire(tmp_path, {"id": "tagged", "provider": "python", "entry": tagged})

    async def with_request_id(scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers", []))
        REQUEST_ID.set(headers.get(b"x-request-id", b"-").decode())
        await host_app(tw)(scope, receive, send)

    transport = httpx.ASGITransport(app=with_request_id)
    async with httpx.AsyncClient(transport=transport, base_url="http://host") as http:
        response = await http.post(
            "/tw/api/chat", json={"message": "hi"}, headers={"X-Request-Id": "r-42"}
        )
    assert b'"text":"request r-42"' in response.content
    await tw.shutdown()
