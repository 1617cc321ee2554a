"""The client's exceptions, rooted in :class:`tokenwire.errors.TokenwireError` (re-exported here,
so ``tokenwire.client.TokenwireError`` is the root of every tokenwire exception):

    TokenwireError
    ├── ApiError        the server answered with an error status (``status``, ``code``, ``message``)
    ├── StreamError     the stream broke the protocol: not an event, a gap in ``seq``, not SSE
    └── ConnectionLost  no answer: a request that must not be retried failed, or the retries
                        to resume a stream ran out (``stream_id``, ``last_seq`` say where)

The cause (the ``httpx`` error, the last failed attempt) is chained as ``__cause__``, not formatted
into the message. Nothing here ever holds the access token.
"""

from __future__ import annotations

from typing import Any

import orjson

from tokenwire.errors import TokenwireError

__all__ = ["ApiError", "ConnectionLost", "StreamError", "TokenwireError"]


class ApiError(TokenwireError):
    """The server refused the request: ``{"error": {"code", "message"}}`` with an error status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def from_response(cls, status: int, body: bytes) -> ApiError:
        """Read the JSON error body; anything else (a proxy's page) keeps the status."""
        try:
            parsed: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return cls(status, error["code"], str(error.get("message", "")))
        return cls(status, "http_error", f"HTTP {status} without a tokenwire error body")


class StreamError(TokenwireError):
    """The server sent something the protocol does not allow; resuming would not help."""


class ConnectionLost(TokenwireError):
    """The connection failed and could not, or must not, be made again.

    ``stream_id`` and ``last_seq`` (None and 0 when nothing was known yet) are where to pick the
    stream up later with ``client.stream(stream_id, after=last_seq)``; ``attempts`` counts the
    reconnections tried since the last event.
    """

    def __init__(
        self, message: str, *, stream_id: str | None = None, last_seq: int = 0, attempts: int = 0
    ) -> None:
        super().__init__(message)
        self.stream_id = stream_id
        self.last_seq = last_seq
        self.attempts = attempts
