"""Any OpenAI-compatible chat completions API, streamed over httpx.

Works with OpenAI, DeepSeek, Qwen (DashScope compatible mode), Baidu Qianfan, Kimi, Ollama, vLLM
and the llama.cpp server (docs/vendors.md has a tested config for each): ``POST
{base_url}/chat/completions`` with ``"stream": true``, the answer read as SSE.

How a stream is read: ``tokenwire.wire.openai.ChunkDecoder`` turns the body into payloads
(``delta.content`` as ``Delta``, ``reasoning_content`` or ``reasoning`` as ``Reasoning``,
``delta.tool_calls`` as ``ToolCall`` pieces by index, the last ``usage`` once before ``Done``,
``Done`` at ``[DONE]`` with the finish reason seen) and lists its rules; this module does the I/O
around it:

- A body that ends without ``[DONE]`` is ``upstream_incomplete``, *unless* a finish reason was
  already seen: then the answer is complete by the upstream's own word, and several servers
  (some Ollama versions among them) omit ``[DONE]``, so it ends as ``Done``. For the same reason
  a stall, a reset or a truncated body *after* a finish reason also ends as ``Done``.
- What was decoded before a failure in the same read is yielded before the error is raised.
- A server that ignores ``"stream": true`` and answers one ``application/json`` completion is
  accepted too: its message is yielded as one ``Reasoning``/``Delta``, then ``Usage`` and ``Done``.

Deadlines are kept here, around each read, not by httpx's read timeout (which is switched off):

- ``first_token_timeout`` runs from when the request is sent until the first content or
  reasoning text (or a finish reason) arrives. It covers waiting for the response headers and
  is *not* extended by chunks without text (role-only chunks, keep-alive comments).
- ``idle_timeout`` then bounds every gap between two reads of the body.
- ``connect_timeout`` is httpx's connect timeout (TCP and TLS) and its pool timeout.

Every failure is raised as exactly one ``ProviderError``; ``tokenwire.providers.upstream_errors``
lists its codes and when each is raised.

The request body is built in layers, each over the one before: tokenwire's own (``model``,
``messages``, ``"stream": true``, and ``stream_options.include_usage``, so usage is always known),
then the model's configured ``extra_body`` (a vendor's switches, such as Qwen's
``enable_thinking``), then the request's parameters (sampling, ``tools``/``tool_choice``), then
``params.extra`` (what ``/v1`` passes through as it came). In ``extra_body`` and
``params.extra``, ``model``, ``messages`` and ``stream`` are ignored, and a key set to ``None``
removes that key (``{"stream_options": None}`` for a server that rejects ``stream_options``).
When ``params.extra`` asks for ``logprobs``, they are decoded too.

Secrets: the API key, the values of ``secret_headers`` and of any sensitive header given in
``headers`` are replaced by ``[redacted]`` in every error message and log line, even when the
upstream echoes them back, and ``repr`` shows neither the key nor the userinfo or query of
``base_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping
from typing import Any, Final, cast

import httpx
import orjson

from tokenwire.config import SECRET_HEADERS
from tokenwire.events import tight
from tokenwire.providers.base import ChatMessage, GenerationParams, ProviderPayload
from tokenwire.providers.http_transport import BODY_EXTENSION, StreamingTransport
from tokenwire.providers.upstream_errors import UpstreamErrors
from tokenwire.providers.watchdog import Watchdog
from tokenwire.wire.formats import MEDIA_TYPES
from tokenwire.wire.openai import AnswerError, ChunkDecoder, decode_completion
from tokenwire.wire.sse import SSEDecoder

__all__ = ["OpenAIProvider"]

_RESERVED_BODY_KEYS: Final = frozenset({"model", "messages", "stream"})
_DRAIN_TIMEOUT: Final = 1.0  # seconds to read to the end after [DONE], to keep the connection


class OpenAIProvider:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    One ``httpx.AsyncClient`` (keep-alive pooled) serves every stream; it is created on first use
    and closed by ``aclose()``, unless it was passed in as ``client``, which stays the caller's.
    """

    __slots__ = (
        "_client",
        "_connect_timeout",
        "_display_url",
        "_errors",
        "_extra_body",
        "_first_token_timeout",
        "_headers",
        "_idle_timeout",
        "_owns_client",
        "_timeout",
        "_url",
        "base_url",
        "id",
        "model",
    )

    def __init__(
        self,
        *,
        id: str,
        base_url: str,
        model: str,
        api_key: str | None = None,
        connect_timeout: float = 10.0,
        first_token_timeout: float = 60.0,
        idle_timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
        secret_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        """``headers`` go with every request; ``secret_headers`` too, and their values are
        redacted like the key; ``extra_body`` is merged into every request body (see above)."""
        url = httpx.URL(base_url)
        display = _display_url(url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an http:// or https:// URL, not {display!r}")
        for name, value in (
            ("connect_timeout", connect_timeout),
            ("first_token_timeout", first_token_timeout),
            ("idle_timeout", idle_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds: {value!r}")
        self.id = id
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._display_url = display
        self._url = url.copy_with(path=url.path.rstrip("/") + "/chat/completions")
        self._connect_timeout = float(connect_timeout)
        self._first_token_timeout = float(first_token_timeout)
        self._idle_timeout = float(idle_timeout)
        # Reads have no httpx timeout: the first-token and idle deadlines are kept per read here.
        # Writing the (small) request is covered by the first-token deadline.
        self._timeout = httpx.Timeout(
            connect=self._connect_timeout, read=None, write=None, pool=self._connect_timeout
        )
        merged: dict[str, str] = {
            "accept": MEDIA_TYPES["sse"],
            # A compressed stream is buffered by whoever compresses it: ask for none.
            "accept-encoding": "identity",
            "content-type": "application/json",
        }
        secrets: set[str] = set()
        if api_key:
            merged["authorization"] = f"Bearer {api_key}"
            secrets.add(api_key)
        for name, header in (headers or {}).items():
            merged[name.lower()] = header
            if name.lower() in SECRET_HEADERS and header:
                secrets.update(_secret_parts(header))
        for name, header in (secret_headers or {}).items():
            merged[name.lower()] = header
            if header:
                secrets.update(_secret_parts(header))
        self._extra_body = dict(extra_body or {})
        # httpx.Headers shows authorization as [secure] in its repr.
        self._headers = httpx.Headers(merged)
        self._errors = UpstreamErrors(
            provider=id,
            where=display,
            secrets=secrets,
            connect_timeout=self._connect_timeout,
            first_token_timeout=self._first_token_timeout,
            idle_timeout=self._idle_timeout,
        )
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(id={self.id!r}, base_url={self._display_url!r}, "
            f"model={self.model!r})"
        )

    async def aclose(self) -> None:
        """Close the client if this provider made it; a later ``stream`` makes a new one."""
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _get_client(self) -> httpx.AsyncClient:
        client = self._client
        if client is None:
            # The streaming transport parses in C and batches what arrives together: the
            # upstream read is the hot path of a relay (see bench/relay and docs/benchmarks.md).
            client = self._client = httpx.AsyncClient(
                timeout=self._timeout,
                transport=StreamingTransport(max_idle_per_host=100, keepalive_expiry=30.0),
            )
        return client

    def _request_body(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        _merge(body, self._extra_body)
        if params.max_tokens is not None:
            body["max_tokens"] = params.max_tokens
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        if params.tools:
            body["tools"] = list(params.tools)
        if params.tool_choice is not None:
            body["tool_choice"] = params.tool_choice
        _merge(body, params.extra)
        return body

    async def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[ProviderPayload, None]:
        """Stream one answer; see the module docstring for the rules and the error codes."""
        batches = self.stream_batches(messages, params)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                for payload in batch:
                    yield payload

    async def stream_batches(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[list[ProviderPayload], None]:
        """``stream``, as the payloads of each upstream read together (never an empty list).

        The hub appends a batch to the log as one write, so a burst of upstream chunks costs
        one wake-up of each reader instead of one per chunk.
        """
        errors = self._errors
        try:
            content = tight(orjson.dumps(self._request_body(messages, params)))
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise errors.invalid_request(exc) from exc
        client = self._get_client()
        request = client.build_request(
            "POST", self._url, content=content, headers=self._headers, timeout=self._timeout
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._first_token_timeout
        response: httpx.Response | None = None
        chunks: AsyncGenerator[bytes, None] | None = None
        watchdog: Watchdog | None = None
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    response = await client.send(request, stream=True)
            except TimeoutError:
                raise errors.first_token_timeout() from None
            except httpx.HTTPError as exc:
                raise errors.transport_error(exc) from exc

            status = response.status_code
            if status < 200 or status > 299:
                raise await errors.http_error(response)
            logprobs = bool(params.extra.get("logprobs"))
            if response.headers.get("content-type", "").startswith("application/json"):
                yield await self._json_answer(response, deadline, logprobs)
                return

            # The per-chunk path: keep it lean. The watchdog keeps one timer per stream and
            # moves a float per read; the decoder makes one pass over what each read brought.
            decoder = ChunkDecoder(SSEDecoder(), logprobs=logprobs)
            decode = decoder.feed
            chunks = _body_chunks(response)
            next_chunk = chunks.__anext__
            current_task = asyncio.current_task
            idle = self._idle_timeout
            watchdog = Watchdog(loop, deadline)
            while True:
                if decoder.started:  # the first text came: the idle deadline applies
                    watchdog.when = loop.time() + idle
                watchdog.arm(current_task())
                try:
                    chunk = await next_chunk()
                except (asyncio.CancelledError, StopAsyncIteration, httpx.HTTPError) as exc:
                    watchdog.armed = False
                    # After a finish reason, a stall, a reset or a cut body is the end of a
                    # complete answer (several servers omit [DONE]).
                    if watchdog.expired():
                        if decoder.finish_reason is not None:
                            break
                        if decoder.started:
                            raise errors.idle_timeout() from None
                        raise errors.first_token_timeout() from None
                    if isinstance(exc, StopAsyncIteration):
                        break
                    if isinstance(exc, httpx.HTTPError):
                        if decoder.finish_reason is not None:
                            break
                        raise errors.transport_error(exc) from exc
                    raise  # cancelled by the consumer
                watchdog.armed = False

                try:
                    payloads = decode(chunk)
                except AnswerError as exc:
                    error = errors.answer_error(exc)
                    if exc.payloads:  # received before the failure: part of the answer
                        yield exc.payloads
                    raise error from None
                if payloads:
                    yield payloads
                if decoder.ended:
                    # Read to the end (normally the next bytes, often already here) so the
                    # connection goes back to the pool instead of being closed.
                    watchdog.close()
                    with contextlib.suppress(TimeoutError, httpx.HTTPError):
                        async with asyncio.timeout(_DRAIN_TIMEOUT):
                            async for _ in chunks:
                                pass
                    return

            try:
                last = decoder.end()
            except AnswerError as exc:
                raise errors.answer_error(exc) from None
            yield last
        finally:
            if watchdog is not None:
                watchdog.close()
            # Runs on success, on error, on cancellation and on aclose(): the upstream request
            # must not outlive its consumer (closing an unfinished response closes the socket).
            if chunks is not None:
                with contextlib.suppress(Exception):
                    await chunks.aclose()
            if response is not None:
                with contextlib.suppress(httpx.HTTPError, OSError):
                    await response.aclose()

    async def _json_answer(
        self, response: httpx.Response, deadline: float, logprobs: bool
    ) -> list[ProviderPayload]:
        """The upstream ignored ``stream`` and answered one chat.completion object."""
        try:
            async with asyncio.timeout_at(deadline):
                body = await response.aread()
        except TimeoutError:
            raise self._errors.first_token_timeout() from None
        except httpx.HTTPError as exc:
            raise self._errors.transport_error(exc) from exc
        try:
            return decode_completion(body, logprobs=logprobs)
        except AnswerError as exc:
            raise self._errors.answer_error(exc) from None


def _merge(body: dict[str, Any], layer: Mapping[str, Any]) -> None:
    """``layer`` over ``body``: a key set to None removes it; the reserved keys stay as they are."""
    for key, value in layer.items():
        if key in _RESERVED_BODY_KEYS:
            continue
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value


def _secret_parts(value: str) -> set[str]:
    """A secret header's value, and its token alone when it has a scheme (``Bearer x``)."""
    parts = {value}
    scheme, _, token = value.partition(" ")
    if token.strip() and scheme.isalpha():
        parts.add(token.strip())
    return parts


def _body_chunks(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The body as it arrives. From our own transport, read directly when it is not encoded:
    httpx's layers (a context manager, a decoder and a chunker per read) cost about 4 us a read."""
    body = response.extensions.get(BODY_EXTENSION)
    if body is not None and response.headers.get("content-encoding", "identity") == "identity":
        return cast("AsyncGenerator[bytes, None]", body.__aiter__())
    return cast("AsyncGenerator[bytes, None]", response.aiter_bytes())


def _display_url(url: httpx.URL) -> str:
    """The URL without userinfo, query or fragment, which may carry credentials."""
    netloc = url.netloc.decode("ascii", "replace")
    return f"{url.scheme}://{netloc}{url.path}".rstrip("/")
