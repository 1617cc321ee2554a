"""Bad input gets a 4xx with a JSON error body naming the problem, never a 500, and the server
keeps serving."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.helpers import assert_complete_stream, post_chat
from tests.support.servers import RunningServer, run_server


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        yield http


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[1, 2]", "invalid_request"),
        (b'"hello"', "invalid_request"),
        (b"{}", "invalid_request"),
        (b'{"message": ""}', "invalid_request"),
        (b'{"message": "   \\n"}', "invalid_request"),
        (b'{"message": 42}', "invalid_request"),
        (b'{"message": null}', "invalid_request"),
        (b'{"message": "hi", "model": 7}', "invalid_request"),
        (b'{"message": "hi", "conversation_id": ["x"]}', "invalid_request"),
        (b'{"message": "hi", "params": "hot"}', "invalid_request"),
        (b'{"message": "hi", "params": {"temperature": "hot"}}', "invalid_request"),
        (b'{"message": "hi", "params": {"temperature": 9}}', "invalid_request"),
        (b'{"message": "hi", "params": {"max_tokens": 0}}', "invalid_request"),
        (b'{"message": "hi", "params": {"max_tokens": true}}', "invalid_request"),
        (b'{"message": "hi", "params": {"stop": [1]}}', "invalid_request"),
        (b'{"message": "hi", "params": {"frequency": 1}}', "invalid_request"),
    ],
)
async def test_malformed_chat_bodies_are_400(
    client: httpx.AsyncClient, body: bytes, code: str
) -> None:
    response = await client.post(
        "/api/chat", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, 400, code)


async def test_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    response, _ = await post_chat(client, {"message": "hi", "model": "gpt-99"})
    assert_error(response, 404, "model_not_found")


async def test_unknown_conversation_is_404(client: httpx.AsyncClient) -> None:
    response, _ = await post_chat(client, {"message": "hi", "conversation_id": "conv_nope"})
    assert_error(response, 404, "conversation_not_found")
    assert (await client.get("/api/conversations")).json()["data"] == []  # nothing half-stored


async def test_unknown_stream_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/streams/str_nope"), 404, "stream_not_found")
    assert_error(await client.post("/api/streams/str_nope/cancel"), 404, "stream_not_found")


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "１２", "99999999999999999999999"])
async def test_non_numeric_last_event_id_is_400(client: httpx.AsyncClient, value: str) -> None:
    _, events = await post_chat(client, {"message": "hi"})
    stream_id = events[0].to_dict()["stream_id"]
    header = value.encode()  # sent as UTF-8 bytes, as a careless client would
    response = await client.get(f"/api/streams/{stream_id}", headers={"Last-Event-ID": header})
    assert_error(response, 400, "invalid_last_event_id")
    response = await client.get(f"/api/streams/{stream_id}", params={"after": value})
    assert_error(response, 400, "invalid_last_event_id")


async def test_body_over_the_limit_is_413(tmp_path: Any) -> None:
    with run_server(tmp_path, max_body_bytes=2048) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            big = {"message": "x" * 4096}
            assert_error(await http.post("/api/chat", json=big), 413, "body_too_large")

            async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
                yield b'{"message": "'
                for _ in range(10):
                    yield b"y" * 512
                yield b'"}'

            assert_error(await http.post("/api/chat", content=chunks()), 413, "body_too_large")
            ok, events = await post_chat(http, {"message": "small"})
            assert ok.status_code == 200 and events[-1].type == "done"


async def test_conversation_busy_while_an_answer_streams(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", "/api/chat", json={"message": "a", "model": "crawl"}) as r:
        from tests.support.helpers import events_of

        start = (await events_of(r, limit=1))[0].to_dict()
        response, _ = await post_chat(
            client, {"message": "b", "conversation_id": start["conversation_id"]}
        )
        assert_error(response, 409, "conversation_busy")
        await client.post(f"/api/streams/{start['stream_id']}/cancel")


async def test_unknown_route_and_method_are_json(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/nothing"), 404, "not_found")
    assert_error(await client.get("/api/chat"), 405, "method_not_allowed")


@pytest.mark.parametrize("query", ["limit=x", "limit=-1", "limit=100000", "offset=z"])
async def test_bad_paging_is_400(client: httpx.AsyncClient, query: str) -> None:
    assert_error(await client.get(f"/api/conversations?{query}"), 400, "invalid_request")


async def test_server_keeps_serving_after_bad_input(client: httpx.AsyncClient) -> None:
    for body in (b"{", b"[]", b'{"message": 1}', b"\x00" * 100):
        await client.post("/api/chat", content=body)
    response, events = await post_chat(client, {"message": "still there?"})
    assert response.status_code == 200
    assert_complete_stream(events)
    assert (await client.get("/healthz")).json()["status"] == "ok"
