"""The requests both clients make, built the same way; the sending is theirs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tokenwire.client._errors import ApiError, StreamError

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
SSE = "text/event-stream"


def client_headers(token: str | None) -> dict[str, str]:
    # httpx hides the Authorization header in its reprs; the clients keep no copy of the token.
    return {"Authorization": f"Bearer {token}"} if token else {}


def stream_timeout(timeout: float | httpx.Timeout, idle_timeout: float) -> httpx.Timeout:
    """The client's timeouts, but a read may wait ``idle_timeout``: while a stream is quiet the
    server sends a keepalive comment every few seconds, so silence past that means it is gone."""
    base = httpx.Timeout(timeout)
    return httpx.Timeout(connect=base.connect, read=idle_timeout, write=base.write, pool=base.pool)


def chat_body(
    message: str,
    conversation_id: str | None,
    model: str | None,
    params: Mapping[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    if model is not None:
        body["model"] = model
    if params is not None:
        body["params"] = dict(params)
    return body


def resume_headers(last_seq: int) -> dict[str, str]:
    return {"Accept": SSE, "Last-Event-ID": str(last_seq)}


def check_event_stream(response: httpx.Response) -> None:
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith(SSE):
        raise StreamError(f"expected an event stream, got {content_type or 'no content type'!r}")


def json_of(response: httpx.Response) -> Any:
    """The JSON of a read response, or the ``ApiError`` it carries."""
    if response.is_error:
        raise ApiError.from_response(response.status_code, response.content)
    return response.json()
