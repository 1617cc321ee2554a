"""API tokens: created on the command line, checked on every API route and transport, and each user
sees only their own conversations and streams."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import orjson
import pytest
import websockets
from click.testing import CliRunner

from tests.support.helpers import assert_complete_stream, post_chat, text_of
from tests.support.servers import ANSWER, RunningServer, run_server
from tokenwire.cli import is_loopback, main

Tokens = dict[str, str]


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "tokenwire.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "tokenwire.db"}"\n', "utf-8")
    return config


def create_token(tmp_path: Path, user: str) -> str:
    """``tokenwire token create USER``, run in a thread of its own (it runs its own event loop)."""
    args = ["token", "create", user, "--config", str(write_config(tmp_path))]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = pool.submit(CliRunner().invoke, main, args).result()
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.fixture
def tokens(tmp_path: Path) -> Tokens:
    return {user: create_token(tmp_path, user) for user in ("alice", "bob")}


@pytest.fixture
def server(tmp_path: Path, tokens: Tokens) -> Iterator[RunningServer]:
    with run_server(tmp_path) as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_without_tokens_a_loopback_server_is_open(tmp_path: Path) -> None:
    with run_server(tmp_path) as running:
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            assert (await client.get("/api/me")).json() == {"user": "", "auth": False}
            response, events = await post_chat(client, {"message": "hi"})
    assert response.status_code == 200
    assert text_of(events) == ANSWER


async def test_once_a_token_exists_every_api_route_needs_one(
    server: RunningServer, tokens: Tokens
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        for method, path in [
            ("GET", "/api/conversations"),
            ("POST", "/api/chat"),
            ("GET", "/api/models"),
            ("GET", "/api/streams/str_x"),
            ("GET", "/api/me"),
            ("GET", "/metrics"),
        ]:
            response = await client.request(method, path, json={"message": "hi"})
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"].startswith("Bearer")
        wrong = await client.get("/api/conversations", headers=bearer("tw_not-a-real-token"))
        assert wrong.status_code == 401
        assert "not valid" in wrong.json()["error"]["message"]
        assert (await client.get("/api/me", headers=bearer(tokens["alice"]))).json() == {
            "user": "alice",
            "auth": True,
        }
        # What stays open: the app's page and the health check.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/")).status_code == 200


async def test_each_user_sees_only_their_own(server: RunningServer, tokens: Tokens) -> None:
    alice, bob = bearer(tokens["alice"]), bearer(tokens["bob"])
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        response, events = await post_chat(client, {"message": "hi"}, **alice)
        assert_complete_stream(events)
        conversation = response.headers["x-conversation-id"]
        stream = response.headers["x-stream-id"]
        for method, path in [
            ("GET", f"/api/conversations/{conversation}"),
            ("DELETE", f"/api/conversations/{conversation}"),
            ("GET", f"/api/streams/{stream}"),
            ("POST", f"/api/streams/{stream}/cancel"),
        ]:
            # Another user's id is a 404, exactly like an id that does not exist.
            refused = await client.request(method, path, headers=bob)
            assert refused.status_code == 404, path
        continued, _ = await post_chat(
            client, {"message": "again", "conversation_id": conversation}, **bob
        )
        assert continued.status_code == 404
        assert (await client.get("/api/conversations", headers=bob)).json()["data"] == []
        mine = (await client.get("/api/conversations", headers=alice)).json()["data"]
        assert [c["id"] for c in mine] == [conversation]
        stored = (await client.get(f"/api/conversations/{conversation}", headers=alice)).json()
        assert stored["messages"][1]["content"] == ANSWER


async def test_websocket_needs_a_token_and_keeps_users_apart(
    server: RunningServer, tokens: Tokens
) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(server.ws_url):
            pass
    assert refused.value.response.status_code == 401
    async with websockets.connect(server.ws_url, additional_headers=bearer(tokens["alice"])) as ws:
        await ws.send(orjson.dumps({"type": "chat", "message": "hi"}).decode())
        start = orjson.loads(await ws.recv())
        assert start["type"] == "start"
    async with websockets.connect(server.ws_url, additional_headers=bearer(tokens["bob"])) as ws:
        await ws.send(orjson.dumps({"type": "resume", "stream_id": start["stream_id"]}).decode())
        rejected = orjson.loads(await ws.recv())
    assert rejected["type"] == "rejected"
    assert rejected["error"]["code"] == "stream_not_found"


async def test_browser_login_sets_an_httponly_cookie_that_every_transport_accepts(
    server: RunningServer, tokens: Tokens
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        bad = await client.post("/api/login", json={"token": "tw_wrong"})
        assert bad.status_code == 401
        login = await client.post("/api/login", json={"token": tokens["alice"]})
        assert login.status_code == 200
        assert login.json() == {"user": "alice", "auth": True}
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        # The client now sends the cookie by itself, as a browser does.
        assert (await client.get("/api/me")).json()["user"] == "alice"
        response, events = await post_chat(client, {"message": "hi"})
        assert text_of(events) == ANSWER
        stream = response.headers["x-stream-id"]
        async with client.stream("GET", f"/api/streams/{stream}?after=1") as resumed:
            assert resumed.status_code == 200
        session = "tokenwire_token=" + client.cookies["tokenwire_token"]
        await client.post("/api/logout")
        assert (await client.get("/api/me")).status_code == 401
    # A WebSocket with the cookie: from the server's own page, yes; from another site, no.
    own = {"Cookie": session, "Origin": server.base_url}
    async with websockets.connect(server.ws_url, additional_headers=own) as ws:
        await ws.send(orjson.dumps({"type": "resume", "stream_id": stream}).decode())
        assert orjson.loads(await ws.recv())["type"] == "start"
    foreign = {"Cookie": session, "Origin": "https://evil.example"}
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(server.ws_url, additional_headers=foreign):
            pass
    assert refused.value.response.status_code == 403


async def test_an_open_server_refuses_websockets_from_other_sites(tmp_path: Path) -> None:
    with run_server(tmp_path) as running:
        with pytest.raises(websockets.InvalidStatus) as refused:
            headers = {"Origin": "https://evil.example"}
            async with websockets.connect(running.ws_url, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403
        async with websockets.connect(
            running.ws_url, additional_headers={"Origin": running.base_url}
        ):
            pass


def test_the_openai_sdk_authenticates_with_a_token(server: RunningServer, tokens: Tokens) -> None:
    base = f"{server.base_url}/v1"
    wrong = openai.OpenAI(base_url=base, api_key="tw_wrong")
    with wrong, pytest.raises(openai.AuthenticationError) as refused:
        wrong.models.list()
    assert refused.value.code == "unauthorized"
    with openai.OpenAI(base_url=base, api_key=tokens["alice"]) as client:
        chunks = client.chat.completions.create(
            model="replay", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER


def test_responses_need_a_token_and_each_user_reaches_only_their_own(
    server: RunningServer, tokens: Tokens
) -> None:
    base = f"{server.base_url}/v1"
    wrong = openai.OpenAI(base_url=base, api_key="tw_wrong", max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError):
        wrong.responses.create(model="replay", input="hi")
    with (
        openai.OpenAI(base_url=base, api_key=tokens["alice"], max_retries=0) as alice,
        openai.OpenAI(base_url=base, api_key=tokens["bob"], max_retries=0) as bob,
    ):
        response = alice.responses.create(model="replay", input="hi", background=True)
        with alice.responses.retrieve(response.id, stream=True) as stream:
            assert list(stream)[-1].type == "response.completed"
        for reach in (
            lambda: bob.responses.retrieve(response.id),
            lambda: bob.responses.cancel(response.id),
            lambda: bob.responses.delete(response.id),
            lambda: bob.responses.input_items.list(response.id),
            lambda: bob.responses.create(
                model="replay", input="hi", previous_response_id=response.id
            ),
        ):
            with pytest.raises(openai.NotFoundError):
                reach()
        assert alice.responses.retrieve(response.id).output_text == ANSWER


def test_revoked_tokens_stop_working(tmp_path: Path, server: RunningServer, tokens: Tokens) -> None:
    config = str(write_config(tmp_path))
    listed = CliRunner().invoke(main, ["token", "list", "--config", config])
    assert listed.exit_code == 0
    assert tokens["alice"] not in listed.output and tokens["bob"] not in listed.output
    alice_id = next(line.split()[0] for line in listed.output.splitlines() if "alice" in line)
    revoked = CliRunner().invoke(main, ["token", "revoke", alice_id, "--config", config])
    assert revoked.exit_code == 0, revoked.output
    server.call(_forget(server))  # the server caches token checks for a few seconds
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/api/me", headers=bearer(tokens["alice"])).status_code == 401
        assert client.get("/api/me", headers=bearer(tokens["bob"])).status_code == 200
    again = CliRunner().invoke(main, ["token", "revoke", alice_id, "--config", config])
    assert again.exit_code != 0 and "no token" in again.output


async def _forget(server: RunningServer) -> None:
    server.app.state.tokenwire.auth.forget()


async def test_tokens_never_reach_a_log_line(
    server: RunningServer, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        await post_chat(client, {"message": "hi"}, **bearer(tokens["alice"]))
        await client.get("/api/me", headers=bearer("tw_guessed-secret-value"))
        await client.post("/api/login", json={"token": tokens["bob"]})
    await asyncio.sleep(0.1)
    server_lines = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("tokenwire", "uvicorn"))
    )
    assert "POST /api/chat" in server_lines or "stream" in server_lines  # the server did log
    for secret in (*tokens.values(), "tw_guessed-secret-value"):
        assert secret not in server_lines


def test_user_names_are_checked(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["token", "create", "not a name", "--config", str(write_config(tmp_path))]
    )
    assert result.exit_code != 0
    assert "user name" in result.output


def test_serve_refuses_a_public_address_without_auth(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    result = CliRunner().invoke(main, ["serve", "--config", config, "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "without auth" in result.output and "tokenwire token create" in result.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
