"""Opt-in gzip of SSE and NDJSON streams: the decoded stream is the same, event for event."""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ANSWER, replay, run_server
from tokenwire.events import Event
from tokenwire.server.compression import accepts_gzip, gzip_stream
from tokenwire.wire.ndjson import NDJSONDecoder
from tokenwire.wire.sse import SSEDecoder


async def raw_stream(
    base_url: str, accept: str, accept_encoding: str
) -> tuple[httpx.Headers, list[bytes]]:
    """The body exactly as sent (not decoded), one item per read."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=10) as client,
        client.stream(
            "POST",
            "/api/chat",
            json={"message": "hi"},
            headers={"accept": accept, "accept-encoding": accept_encoding},
        ) as response,
    ):
        assert response.status_code == 200
        return response.headers, [piece async for piece in response.aiter_raw()]


def events_of(body: bytes, accept: str) -> list[dict[str, object]]:
    if accept == "application/x-ndjson":
        decoder = NDJSONDecoder()
        return [*decoder.feed(body), *decoder.flush()]
    return [Event.from_json(e.data).to_dict() for e in SSEDecoder().feed(body)]


def without_ids(events: list[dict[str, object]]) -> list[dict[str, object]]:
    keep = ("stream_id", "conversation_id", "message_id")
    return [{k: v for k, v in e.items() if k not in keep} for e in events]


@pytest.mark.parametrize("accept", ["text/event-stream", "application/x-ndjson"])
async def test_gzipped_stream_decodes_to_the_same_events(tmp_path: Path, accept: str) -> None:
    models = (replay("replay", tokens_per_second=200.0),)
    with run_server(tmp_path, models, stream_gzip=True) as server:
        plain_headers, plain = await raw_stream(server.base_url, accept, "identity")
        headers, packed = await raw_stream(server.base_url, accept, "gzip, deflate")
    assert "content-encoding" not in plain_headers
    assert headers["content-encoding"] == "gzip" and headers["vary"] == "Accept-Encoding"
    # Every read decompresses on its own, as far as it goes: nothing waits in the compressor.
    inflater = zlib.decompressobj(31)
    body = b"".join(inflater.decompress(piece) for piece in packed)
    assert inflater.eof  # the gzip trailer came at the end
    decoded = events_of(body, accept)
    assert without_ids(decoded) == without_ids(events_of(b"".join(plain), accept))
    assert "".join(str(e.get("text", "")) for e in decoded if e["type"] == "delta") == ANSWER


async def test_gzip_is_off_unless_the_setting_is_on(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        headers, body = await raw_stream(server.base_url, "text/event-stream", "gzip")
    assert "content-encoding" not in headers
    assert b"event: done" in b"".join(body)


async def test_each_write_is_flushed_whole() -> None:
    async def body() -> AsyncGenerator[bytes, None]:
        for i in range(50):
            yield b"data: %d\n\n" % i

    inflater = zlib.decompressobj(31)
    pieces = [piece async for piece in gzip_stream(body())]
    for i, piece in enumerate(pieces[:-1]):
        assert inflater.decompress(piece) == b"data: %d\n\n" % i
    assert inflater.decompress(pieces[-1]) == b"" and inflater.eof


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("GZIP;q=0.5", True),
        ("br, gzip;q=1.0", True),
        ("*", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("", False),
        ("deflate, br", False),
        ("gzip;q=x", False),
    ],
)
def test_accept_encoding(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected
