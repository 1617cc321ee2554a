"""Every limit answers with a clear 4xx or 429 (with ``Retry-After`` where waiting helps), and the
server goes on serving."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests.server.test_auth import create_token
from tests.support.helpers import post_chat, text_of
from tests.support.servers import ANSWER, run_server
from tokenwire.hub.hub import fit_history


async def test_a_message_over_the_limit_is_refused(tmp_path: Path) -> None:
    with run_server(tmp_path, max_message_chars=100) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            response, _ = await post_chat(client, {"message": "x" * 101})
            assert response.status_code == 413
            assert response.json()["error"]["code"] == "message_too_long"
            ok, events = await post_chat(client, {"message": "x" * 100})
            assert ok.status_code == 200 and text_of(events) == ANSWER


async def test_v1_refuses_a_conversation_over_the_context_limit(tmp_path: Path) -> None:
    with run_server(tmp_path, max_context_chars=50) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            response = await client.post(
                "/v1/chat/completions",
                json={
                    "model": "replay",
                    "messages": [
                        {"role": "user", "content": "a" * 30},
                        {"role": "assistant", "content": "b" * 30},
                    ],
                },
            )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


def test_long_histories_keep_their_most_recent_turns() -> None:
    history = [
        {"role": "user", "content": "a" * 10},
        {"role": "assistant", "content": "b" * 10},
        {"role": "user", "content": "c" * 10},
        {"role": "assistant", "content": "d" * 10},
    ]
    assert fit_history(history, 100) == history
    assert fit_history(history, 20) == history[2:]
    # Never starts with the model's turn: the question it answered would be missing.
    assert fit_history(history, 30) == history[2:]
    assert fit_history(history, 5) == []


async def test_the_sent_history_is_trimmed_to_the_context_limit(tmp_path: Path) -> None:
    with run_server(tmp_path, max_context_chars=len(ANSWER) + 40) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            first, _ = await post_chat(client, {"message": "q" * 30})
            conversation = first.headers["x-conversation-id"]
            second, events = await post_chat(
                client, {"message": "second", "conversation_id": conversation}
            )
            assert second.status_code == 200 and text_of(events) == ANSWER
            third, _ = await post_chat(
                client, {"message": "third", "conversation_id": conversation}
            )
            assert third.status_code == 200
            stored = (await client.get(f"/api/conversations/{conversation}")).json()
    # Everything is still stored; only what goes upstream is cut.
    assert len(stored["messages"]) == 6


async def test_concurrent_streams_are_limited_in_total(tmp_path: Path) -> None:
    with run_server(tmp_path, max_concurrent_streams=1) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            body = {"message": "hi", "model": "crawl"}
            async with client.stream("POST", "/api/chat", json=body) as first:
                stream_id = first.headers["x-stream-id"]
                refused, _ = await post_chat(client, {"message": "hi"})
                assert refused.status_code == 429
                assert refused.json()["error"]["code"] == "too_many_streams"
                assert refused.headers["retry-after"] == "1"
                one = [{"role": "user", "content": "hi"}]
                v1 = await client.post(
                    "/v1/chat/completions", json={"model": "replay", "messages": one}
                )
                assert v1.status_code == 429
            await client.post(f"/api/streams/{stream_id}/cancel")
            ok, events = await post_chat(client, {"message": "hi"})
            assert ok.status_code == 200 and text_of(events) == ANSWER


async def test_concurrent_streams_are_limited_per_user(tmp_path: Path) -> None:
    alice, bob = ({"Authorization": f"Bearer {create_token(tmp_path, u)}"} for u in ("a", "b"))
    with run_server(tmp_path, max_streams_per_user=1) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            body = {"message": "hi", "model": "crawl"}
            async with client.stream("POST", "/api/chat", json=body, headers=alice):
                refused, _ = await post_chat(client, {"message": "hi"}, **alice)
                assert refused.status_code == 429
                assert "you have" in refused.json()["error"]["message"]
                other, events = await post_chat(client, {"message": "hi"}, **bob)
                assert other.status_code == 200 and text_of(events) == ANSWER


async def test_requests_per_address_are_rate_limited(tmp_path: Path) -> None:
    with run_server(tmp_path, rate_limit_ip="3/minute") as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            statuses = [(await client.get("/api/models")).status_code for _ in range(4)]
            refused = await client.get("/api/conversations")
            assert (await client.get("/healthz")).status_code == 200  # not an API route
    assert statuses == [200, 200, 200, 429]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_requests_per_user_are_rate_limited(tmp_path: Path) -> None:
    alice = {"Authorization": f"Bearer {create_token(tmp_path, 'alice')}"}
    with run_server(tmp_path, rate_limit_user="2/minute") as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            statuses = [(await client.get("/api/me", headers=alice)).status_code for _ in range(3)]
            v1 = await client.get("/v1/models", headers=alice)
    assert statuses == [200, 200, 429]
    assert v1.status_code == 429
    assert v1.json()["error"]["code"] == "rate_limited"  # in OpenAI's shape under /v1
    assert "retry-after" in v1.headers


async def test_websocket_frames_and_streams_per_socket_are_limited(tmp_path: Path) -> None:
    with run_server(tmp_path, ws_max_frame_bytes=2048, ws_max_streams=2) as server:
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(orjson.dumps({"type": "chat", "message": "x" * 3000}).decode())
            rejected = orjson.loads(await ws.recv())
            assert rejected["error"]["code"] == "frame_too_large"
            for ref in (1, 2, 3):
                frame = {"type": "chat", "message": "hi", "model": "crawl", "ref": ref}
                await ws.send(orjson.dumps(frame).decode())
            frames = []
            while not any(f.get("type") == "rejected" for f in frames):
                frames.append(orjson.loads(await ws.recv()))
            rejected = next(f for f in frames if f["type"] == "rejected")
            assert rejected["ref"] == 3
            assert rejected["error"]["code"] == "too_many_streams"
            assert sorted(f["ref"] for f in frames if f["type"] == "start") == [1, 2]


async def test_cors_is_closed_unless_origins_are_allowed(tmp_path: Path) -> None:
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    with run_server(tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            closed = await client.options("/api/chat", headers=preflight)
            simple = await client.get("/api/models", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in closed.headers
    assert "access-control-allow-origin" not in simple.headers
    with run_server(tmp_path, cors_origins=("https://app.example",)) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            opened = await client.options("/api/chat", headers=preflight)
            other = await client.options(
                "/api/chat", headers={**preflight, "Origin": "https://evil.example"}
            )
    assert opened.status_code == 200
    assert opened.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("rate", ["lots", "5/fortnight"])
def test_a_bad_rate_is_a_config_error(tmp_path: Path, rate: str) -> None:
    from tokenwire.config import ConfigError, load_settings

    config = tmp_path / "tokenwire.toml"
    config.write_text(f'rate_limit_user = "{rate}"\n', "utf-8")
    with pytest.raises(ConfigError, match="rate_limit_user"):
        load_settings(config, env={})
