"""The blocking client: ``Client`` and the ``ChatStream`` it opens.

``_async.py`` is the same code with ``async``; change one, change the other the same way.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Generator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from tokenwire.client._backoff import Backoff
from tokenwire.client._errors import ApiError, ConnectionLost, StreamError
from tokenwire.client._http import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    SSE,
    chat_body,
    check_event_stream,
    client_headers,
    json_of,
    resume_headers,
    stream_timeout,
    tool_results_body,
)
from tokenwire.client._state import StreamState, StreamView
from tokenwire.client._stored import stored_ending
from tokenwire.events import Event


class Client:
    """A tokenwire server's chat API; streams resume by themselves after a dropped connection.

    ``token`` is sent as ``Authorization: Bearer``. A stream that sends nothing at all, not even a
    keepalive comment, for ``idle_timeout`` seconds counts as dropped: keep it above the server's
    keepalive interval (15 s by default). A dropped stream is resumed up to ``max_retries`` times
    in a row, waiting ``backoff_base * 2**n`` seconds at most (full jitter, capped at
    ``backoff_cap``), and never less than the server's SSE ``retry:``. ``transport`` replaces
    the network, e.g. with an app running in this process.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 8,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
        idle_timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url, headers=client_headers(token), timeout=timeout, transport=transport
        )
        self._stream_timeout = stream_timeout(timeout, idle_timeout)
        self._backoff = (max_retries, backoff_base, backoff_cap)

    def __repr__(self) -> str:
        return f"<Client base_url={str(self._http.base_url)!r}>"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def chat(
        self,
        message: str,
        *,
        conversation_id: str | None = None,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
    ) -> ChatStream:
        """Ask; the answer streams when the returned stream is entered with ``with``.

        ``tools`` are OpenAI's function tools the model may call, ``tool_choice`` how it picks
        (``"auto"``, ``"none"``, ``"required"`` or ``{"type": "function", "function": {"name"}}``);
        their shape is checked here, so a mistake raises ``TypeError`` or ``ValueError`` before
        anything is sent. A turn whose calls are the caller's to run ends with ``finish_reason``
        ``"tool_calls"``: see ``continue_with_tool_results``.
        """
        body = chat_body(message, conversation_id, model, params, tools, tool_choice)
        return self._chat_stream(body)

    def continue_with_tool_results(
        self, conversation_id: str, tool_results: Sequence[Mapping[str, Any]]
    ) -> ChatStream:
        """Answer the tool calls a turn ended with; the model's next answer streams like a chat.

        ``tool_results`` holds ``{"tool_call_id": call.id, "content": "..."}`` for each of the
        stream's ``pending_tool_calls`` (``content`` is text: JSON-encode a structured result).
        Their shape is checked here (``TypeError``, ``ValueError``); what the server refuses,
        such as an unknown call id, raises ``ApiError`` when the stream is entered.
        """
        return self._chat_stream(tool_results_body(conversation_id, tool_results))

    def stream(self, stream_id: str, after: int = 0) -> ChatStream:
        """Read a stream that is running or recently ended, from the event after ``after``."""
        return ChatStream(self, StreamState(stream_id, after), None)

    def cancel(self, stream_id: str) -> str:
        """Stop a generation: ``"cancelled"``, or ``"finished"`` when it had already ended."""
        data = self._json("POST", f"/api/streams/{quote(stream_id, safe='')}/cancel")
        return str(data["status"])

    def conversations(self, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Stored conversations, newest first, without their messages."""
        params = {"limit": limit, "offset": offset}
        data = self._json("GET", "/api/conversations", params=params)
        return list(data["data"])

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        """One stored conversation with its messages."""
        return dict(self._json("GET", _conversation_url(conversation_id)))

    def delete_conversation(self, conversation_id: str) -> None:
        response = self._send("DELETE", _conversation_url(conversation_id))
        if response.is_error:
            raise ApiError.from_response(response.status_code, response.content)

    def models(self) -> list[dict[str, Any]]:
        return list((self._json("GET", "/api/models"))["data"])

    def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        return json_of(self._send(method, url, **kwargs))

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectionLost(f"{method} {url} failed: {type(exc).__name__}") from exc

    def _chat_stream(self, body: dict[str, Any]) -> ChatStream:
        request = self._http.build_request(
            "POST", "/api/chat", json=body, headers={"Accept": SSE}, timeout=self._stream_timeout
        )
        return ChatStream(self, StreamState(), request)

    def _resume_request(self, state: StreamState) -> httpx.Request:
        assert state.stream_id is not None
        return self._http.build_request(
            "GET",
            f"/api/streams/{quote(state.stream_id, safe='')}",
            headers=resume_headers(state.last_seq),
            timeout=self._stream_timeout,
        )


class ChatStream(StreamView):
    """One answer as it streams, across as many connections as it takes.

    ``with client.chat("hi") as stream: for event in stream: ...`` yields each event
    once, in order, ``start`` first and ``done`` or ``error`` last. When the connection drops it
    reconnects with ``Last-Event-ID``: the prompt is never sent twice.
    """

    def __init__(self, client: Client, state: StreamState, request: httpx.Request | None) -> None:
        self._client = client
        self._state = state
        self._request = request  # the POST that starts the stream; None to attach to one
        self._backoff = Backoff(*client._backoff)
        self._response: httpx.Response | None = None
        self._chunks: Iterator[bytes] | None = None
        self._pending: deque[Event] = deque()
        self._failure: BaseException | None = None  # why the last connection or attempt failed
        self._opened = self._closed = False

    def __enter__(self) -> ChatStream:
        if self._opened:
            raise RuntimeError("a stream can be entered only once")
        self._opened = True
        if self._request is None:
            self._connect(wait=False)
        else:
            self._start(self._request)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection. The generation goes on: ``cancel`` stops it."""
        self._closed = True
        self._drop()

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> Event:
        while not self._pending:
            if self._state.broken:
                raise self._state.broken
            if self._state.ended:
                raise StopIteration
            self._receive()
        return self._state.take(self._pending.popleft())

    def text_until_done(self) -> str:
        """Read to the end and return the whole text (partial if ``.error`` is set)."""
        for _ in self:
            pass
        return self.text

    def cancel(self) -> str:
        """Stop the generation; keep iterating to receive its ``done`` (``cancelled``)."""
        if self._state.stream_id is None:
            raise StreamError("the server has not named the stream yet")
        return self._client.cancel(self._state.stream_id)

    def _start(self, request: httpx.Request) -> None:
        try:
            response = self._client._http.send(request, stream=True)
        except httpx.TransportError as exc:
            # Not sent again: the server may have started the answer before the failure.
            raise ConnectionLost(f"the chat request failed: {type(exc).__name__}") from exc
        if response.is_error:
            raise _error(response)
        self._state.stream_id = response.headers.get("x-stream-id")
        self._state.conversation_id = response.headers.get("x-conversation-id")
        self._use(response)

    def _connect(self, *, wait: bool = True) -> None:
        """Open ``GET /api/streams/{id}`` after the last event seen, retrying with backoff."""
        state = self._state
        if state.stream_id is None:
            raise ConnectionLost("the connection dropped before the stream was named") from (
                self._failure
            )
        while True:
            if wait:
                delay = self._backoff.next_delay((state.retry_ms or 0) / 1000)
                if delay is None:
                    raise self._lost() from self._failure
                time.sleep(delay)
            wait = True
            try:
                response = self._client._http.send(self._client._resume_request(state), stream=True)
            except httpx.TransportError as exc:
                self._failure = exc
                continue
            if response.is_server_error:
                self._failure = _error(response)
                continue
            conversation_id = response.headers.get("x-conversation-id")
            if response.status_code == 410 and conversation_id and state.seen_from_start:
                # stream_expired: the log forgot it, the store has the answer to finish with.
                response.close()
                self._pending.extend(
                    stored_ending(state, self._client.conversation(conversation_id))
                )
                return
            if response.is_error:
                raise _error(response)
            if response.status_code == 204:  # the stream ended at or before the event we have
                response.close()
                self._state.ended = True
                return
            self._use(response)
            return

    def _use(self, response: httpx.Response) -> None:
        try:
            check_event_stream(response)
        except StreamError:
            response.close()
            raise
        self._response, self._chunks = response, response.iter_bytes()
        self._state.new_connection()

    def _receive(self) -> None:
        """Read the next piece of the body, reconnecting first when the connection is gone."""
        if self._closed:
            raise RuntimeError("the stream is closed")
        if self._chunks is None:
            self._connect()
            if self._chunks is None:  # no body to read: it ended (204) or was stored (410)
                return
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._failure = None  # the body ended before the terminal event
        except httpx.TransportError as exc:  # dropped, or silent for idle_timeout
            self._failure = exc
        else:
            events = self._state.feed(chunk)
            if events:
                self._backoff.reset()
                self._pending.extend(events)
            if self._state.ended or self._state.broken:
                self._drop()
            return
        self._drop()

    def _drop(self) -> None:
        response, chunks = self._response, self._chunks
        self._response = self._chunks = None
        if isinstance(chunks, Generator):  # close it now rather than whenever it is collected
            chunks.close()
        if response is not None:
            response.close()

    def _lost(self) -> ConnectionLost:
        state, attempts = self._state, self._backoff.attempts
        return ConnectionLost(
            f"lost stream {state.stream_id} after event {state.last_seq}: "
            f"{attempts} attempt(s) to reconnect failed",
            stream_id=state.stream_id,
            last_seq=state.last_seq,
            attempts=attempts,
        )


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.read()
    except httpx.TransportError:
        body = b""
    finally:
        response.close()
    return ApiError.from_response(response.status_code, body)


def _conversation_url(conversation_id: str) -> str:
    return f"/api/conversations/{quote(conversation_id, safe='')}"
