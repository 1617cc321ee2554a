"""Property-based fuzzing of every endpoint against a real server on loopback.

Random JSON bodies, bytes, headers, path ids, query parameters, raw HTTP with lying
``Content-Length``, and WebSocket frames (text and binary). Whatever arrives: never a 5xx, every
4xx is ``{"error": {"code", "message"}}``, every stream answered is whole, nothing is logged at
ERROR, and afterwards the server still answers ``/healthz`` and a normal chat.

Deterministic (``derandomize``) and bounded: a few hundred requests in all.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect as ws_connect

from tests.support.fuzzing import (
    MODELS,
    ErrorLog,
    bodies,
    chat_objects,
    check_answer,
    check_error_body,
    check_events,
    describe,
    headers,
    json_values,
    objects,
    openai_objects,
    query_params,
    texts,
)
from tests.support.servers import RunningServer, replay, run_server
from tokenwire.events import Event

MAX_BODY = 16 * 1024
ANSWER = "Fuzzed, 答え, still whole."

fuzz = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # the autouse check runs once per test, on purpose
    ],
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, ErrorLog]]:
    models = (
        replay("replay", ANSWER),
        replay("other", "Another answer."),
        replay("paced", "One two three four five six.", tokens_per_second=20),  # not in MODELS
    )
    with run_server(tmp_path_factory.mktemp("fuzz"), models, max_body_bytes=MAX_BODY) as server:
        errors = ErrorLog()
        # Attached after uvicorn configured its logging, which would have dropped it.
        loggers = [logging.getLogger(name) for name in ("tokenwire", "uvicorn.error")]
        for logger in loggers:
            logger.addHandler(errors)
        try:
            yield server, errors
        finally:
            for logger in loggers:
                logger.removeHandler(errors)


@pytest.fixture(scope="module")
def server(live: tuple[RunningServer, ErrorLog]) -> RunningServer:
    return live[0]


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=20) as client:
        yield client


@pytest.fixture(scope="module")
def known(http: httpx.Client) -> dict[str, list[str]]:
    """Ids that exist, so the fuzzers also hit real streams and conversations."""
    starts = []
    for i in range(3):
        response = http.post("/api/chat", json={"message": f"seed {i}"})
        starts.append(orjson.loads(response.text.split("data: ", 2)[1].split("\n", 1)[0]))
    return {
        "stream": [s["stream_id"] for s in starts],
        "conversation": [s["conversation_id"] for s in starts],
    }


@pytest.fixture(autouse=True)
def still_serving(live: tuple[RunningServer, ErrorLog]) -> Iterator[None]:
    """After each fuzz test: nothing logged at ERROR, and the server answers as if all was well."""
    yield
    server, errors = live
    logged, errors.records = errors.records, []  # each test answers for its own
    assert logged == [], logged[0]
    with httpx.Client(base_url=server.base_url, timeout=20) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        response = client.post("/api/chat", json={"message": "still there?"})
        assert response.status_code == 200
        events = [
            Event.from_json(line[6:])
            for line in response.text.split("\n")
            if line.startswith("data: ")
        ]
        check_events(events, "the chat after fuzzing")
        assert events[0].seq == 1 and events[-1].to_dict()["finish_reason"] == "stop"
        assert "".join(str(e.to_dict().get("text", "")) for e in events) == ANSWER


def encoded(text: str, safe: str = "") -> str:
    """Percent-encoded as UTF-8; a lone surrogate becomes the invalid bytes it stands for."""
    return quote(text, safe=safe, errors="surrogatepass")


def ids(kind: str, known: dict[str, list[str]]) -> st.SearchStrategy[str]:
    """A real id of this kind, a mangled one, or any text; percent-encoded, or only where a URL
    cannot carry the character at all (so ``/``, ``?``, ``#`` and ``%`` go as they are)."""
    real = st.sampled_from(known[kind])
    mangled = st.builds(lambda i, extra: i + extra, real, texts)
    raw = st.one_of(real, real, mangled, texts.filter(bool))
    safe = st.sampled_from(["", "/?#&=%:@"])
    return st.builds(encoded, raw, safe)


def with_query(path: str, params: dict[str, str]) -> str:
    if not params:
        return path
    return path + "?" + "&".join(f"{encoded(k)}={encoded(v)}" for k, v in params.items())


@fuzz
@given(body=bodies(chat_objects), sent_headers=headers)
def test_chat(http: httpx.Client, body: bytes, sent_headers: dict[bytes, bytes]) -> None:
    check_answer(http.post("/api/chat", content=body, headers=sent_headers))


@fuzz
@given(body=bodies(openai_objects), sent_headers=headers)
def test_openai_chat_completions(
    http: httpx.Client, body: bytes, sent_headers: dict[bytes, bytes]
) -> None:
    check_answer(http.post("/v1/chat/completions", content=body, headers=sent_headers))


@fuzz
@given(data=st.data(), sent_headers=headers, params=query_params, cancel=st.booleans())
def test_streams(
    http: httpx.Client,
    known: dict[str, list[str]],
    data: st.DataObject,
    sent_headers: dict[bytes, bytes],
    params: dict[str, str],
    cancel: bool,
) -> None:
    stream_id = data.draw(ids("stream", known))
    if cancel:
        response = http.post(f"/api/streams/{stream_id}/cancel", headers=sent_headers)
    else:
        response = http.get(with_query(f"/api/streams/{stream_id}", params), headers=sent_headers)
    check_answer(response)


@fuzz
@given(data=st.data(), method=st.sampled_from(["GET", "DELETE"]), params=query_params)
def test_conversations(
    http: httpx.Client,
    known: dict[str, list[str]],
    data: st.DataObject,
    method: str,
    params: dict[str, str],
) -> None:
    if data.draw(st.booleans()):
        check_answer(http.get(with_query("/api/conversations", params)))
    conversation_id = data.draw(ids("conversation", known))
    check_answer(http.request(method, with_query(f"/api/conversations/{conversation_id}", params)))


PATHS = [
    "/",
    "/healthz",
    "/metrics",
    "/api/chat",
    "/api/models",
    "/api/conversations",
    "/api/ws",
    "/api/streams/x",
    "/api/streams/x/cancel",
    "/v1/models",
    "/v1/chat/completions",
    "/api",
    "/api/",
    "//api//chat",
    "/api/chat/",
    "/v1",
    "/static/../../etc/passwd",
    "/%2e%2e/",
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


@fuzz
@given(
    path=st.sampled_from(PATHS) | texts.map(lambda t: "/" + encoded(t, safe="/")),
    method=st.sampled_from(METHODS),
    params=query_params,
    sent_headers=headers,
    body=st.binary(max_size=64),
)
def test_any_route_any_method(
    http: httpx.Client,
    path: str,
    method: str,
    params: dict[str, str],
    sent_headers: dict[bytes, bytes],
    body: bytes,
) -> None:
    content = body if method in ("POST", "PUT", "PATCH") else None
    url = with_query(path, params)
    check_answer(http.request(method, url, headers=sent_headers, content=content))


def test_reading_ahead_of_a_running_stream(http: httpx.Client) -> None:
    with http.stream("POST", "/api/chat", json={"message": "x", "model": "paced"}) as started:
        stream_id = started.headers["x-stream-id"]
        response = http.get(f"/api/streams/{stream_id}", headers={"Last-Event-ID": "999"})
    assert response.status_code in (204, 400), describe(response)
    check_answer(response)


# --- raw HTTP: what httpx would refuse to send ----------------------------------------------------


def raw_exchange(server: RunningServer, request: bytes) -> bytes:
    """Send bytes, close our side, and read whatever comes back until the server closes."""
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


# uvicorn answers requests it cannot parse as HTTP itself, before the app sees them.
UVICORN_REJECTION = b"Invalid HTTP request received."


TARGETS = [b"/api/chat", b"/v1/chat/completions", b"/api/conversations/x", b"/api/streams/x"]


@fuzz
@given(
    method=st.sampled_from([b"POST", b"GET", b"DELETE"]),
    target=st.sampled_from(TARGETS)
    | st.binary(min_size=1, max_size=20).map(lambda b: b"/api/streams/" + b.replace(b" ", b"_")),
    body=bodies(chat_objects),
    data=st.data(),
)
def test_raw_requests(
    server: RunningServer, method: bytes, target: bytes, body: bytes, data: st.DataObject
) -> None:
    # Content-Length: garbage, or at most the body's length (the rest is a second, pipelined
    # request). A longer one, then the end of the connection, is test_body_cut_short below.
    length = data.draw(
        st.integers(0, len(body)).map(lambda n: str(n).encode())
        | st.sampled_from([b"-1", b"abc", b"1e3", b"0x10", b"1, 2", b""])
    )
    request = (
        method + b" " + target + b" HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + length + b"\r\nConnection: close\r\n\r\n" + body
    )
    check_raw_answer(request, raw_exchange(server, request))


def check_raw_answer(request: bytes, answer: bytes) -> None:
    if not answer:
        return  # closed without an answer: what uvicorn does when the client is gone first
    head, _, rest = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    where = f"{request[:200]!r} -> {answer[:300]!r}"
    assert status < 500, where
    fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
    content_type = fields.get(b"content-type", b"").decode()
    if status >= 400 and rest != UVICORN_REJECTION:
        check_error_body(status, content_type, _unchunked(rest, fields), where)


@pytest.mark.parametrize("target", [b"/api/chat", b"/v1/chat/completions"])
def test_body_cut_short(live: tuple[RunningServer, ErrorLog], target: bytes) -> None:
    server, errors = live
    request = (
        b"POST " + target + b" HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\nConnection: close\r\n\r\n{"message": "hi"'
    )
    try:
        check_raw_answer(request, raw_exchange(server, request))
        # The server may log after it closed the connection: give it time to, if it does.
        deadline = time.monotonic() + 2.0
        while not errors.records and time.monotonic() < deadline:
            time.sleep(0.05)
        assert errors.records == [], errors.records[0]
    finally:
        # The other tests check the log from here on: let the server finish logging this one.
        seen, deadline = -1, time.monotonic() + 3.0
        while seen != len(errors.records) and time.monotonic() < deadline:
            seen = len(errors.records)
            time.sleep(0.3)
        errors.records.clear()


def _unchunked(body: bytes, fields: dict[bytes, bytes]) -> bytes:
    if fields.get(b"transfer-encoding") != b"chunked":
        return body
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        out, body = out + body[:size], body[size + 2 :]
    return out


# --- WebSocket frames -----------------------------------------------------------------------------

ws_objects = objects(
    {
        "type": st.sampled_from(["chat", "resume", "cancel", "CHAT", "ping"]) | json_values,
        "message": texts | json_values,
        "model": MODELS | texts | json_values,
        "conversation_id": texts | json_values,
        "params": json_values,
        "stream_id": texts | json_values,
        "after": st.integers(-5, 2**70) | json_values,
        "ref": json_values,
    }
)
ws_frames = st.one_of(
    ws_objects.map(json.dumps),  # text frames; lone surrogates escaped
    bodies(ws_objects),  # binary frames: anything, invalid UTF-8 included
    texts.filter(lambda t: t.isascii() or t == t.encode("utf-8", "replace").decode()),
    st.just("x" * (MAX_BODY + 1)),
)


def _ws_frames(server: RunningServer, frames: list[str | bytes]) -> list[dict[str, Any]]:
    """Send the frames and then a marker frame; the frames received until its rejection."""
    received: list[dict[str, Any]] = []
    with ws_connect(server.ws_url, open_timeout=20, close_timeout=2, max_size=None) as ws:
        for frame in frames:
            ws.send(frame)
        ws.send(orjson.dumps({"type": "marker", "ref": "marker"}).decode())
        while True:
            got = orjson.loads(ws.recv(timeout=20))
            if got.get("type") == "rejected" and got.get("ref") == "marker":
                return received
            received.append(got)


@fuzz
@given(frames=st.lists(ws_frames, min_size=1, max_size=5))
def test_websocket_frames(server: RunningServer, frames: list[str | bytes]) -> None:
    for got in _ws_frames(server, frames):
        if got["type"] == "rejected":
            error = got["error"]
            assert isinstance(error["code"], str) and isinstance(error["message"], str), got
            assert error["code"] != "internal_error", (frames, got)
        else:
            assert isinstance(got["stream_id"], str), got
            Event.from_dict(got)  # a protocol event
