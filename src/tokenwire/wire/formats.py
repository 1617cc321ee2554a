"""The two streamed formats of the protocol, defined once: their media types, the headers a
streamed response carries, and which format an ``Accept`` header asks for.

Used by the server's responses, the OpenAI-compatible endpoint, the upstream request of the
OpenAI provider and the stand-alone encoder (``tokenwire.standalone``).
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["HEADERS", "MEDIA_TYPES", "NDJSON_TYPES", "StreamFormat", "negotiate"]

StreamFormat = Literal["sse", "ndjson"]
MEDIA_TYPES: Final[dict[StreamFormat, str]] = {
    "sse": "text/event-stream",
    "ndjson": "application/x-ndjson",
}
# Send these with a streamed response: no caching, and no buffering by nginx-like proxies.
HEADERS: Final = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
# The media types in an ``Accept`` header that ask for NDJSON.
NDJSON_TYPES: Final = ("application/x-ndjson", "application/jsonl", "application/ndjson")


def negotiate(accept: str | None) -> StreamFormat:
    """The format an ``Accept`` header asks for: NDJSON when it names it, else SSE."""
    return "ndjson" if accept and any(t in accept for t in NDJSON_TYPES) else "sse"
