"""Any OpenAI-compatible chat completions API, streamed over httpx.

Works with OpenAI, DeepSeek, Qwen (DashScope compatible mode), Ollama, vLLM and the llama.cpp
server: ``POST {base_url}/chat/completions`` with ``"stream": true``, the answer read as SSE.

How a stream is read, and the decisions behind it:

- ``choices[0].delta.content`` becomes ``Delta``; ``delta.reasoning_content`` (DeepSeek, Qwen) or
  ``delta.reasoning`` (newer Ollama and vLLM; ``reasoning_content`` wins when both are sent)
  becomes ``Reasoning``. Empty strings and ``null`` are skipped.
- ``usage`` may come in the finish chunk, in a chunk of its own after it, or (some servers) on
  every chunk as a running total. The last one seen is yielded once, as ``Usage``, just before
  ``Done``.
- ``finish_reason`` is remembered; ``Done`` is yielded when ``data: [DONE]`` arrives, with
  ``"length"`` for ``"length"`` and ``"stop"`` for anything else (``stop``, ``tool_calls``,
  ``content_filter``...). ``[DONE]`` without a finish reason is a normal ``Done("stop")``.
- A body that ends without ``[DONE]`` is ``upstream_incomplete``, *unless* a finish reason was
  already seen: then the answer is complete by the upstream's own word, and several servers
  (some Ollama versions among them) omit ``[DONE]``, so it ends as ``Done``. For the same reason
  a stall, a reset or a truncated body *after* a finish reason also ends as ``Done``.
- A server that ignores ``"stream": true`` and answers one ``application/json`` completion is
  accepted too: its message is yielded as one ``Reasoning``/``Delta``, then ``Usage`` and ``Done``.

Deadlines are kept here, around each read, not by httpx's read timeout (which is switched off):

- ``first_token_timeout`` runs from when the request is sent until the first content or
  reasoning text (or a finish reason) arrives. It covers waiting for the response headers and
  is *not* extended by chunks without text (role-only chunks, keep-alive comments).
- ``idle_timeout`` then bounds every gap between two reads of the body.
- ``connect_timeout`` is httpx's connect timeout (TCP and TLS) and its pool timeout.

Every failure is raised as exactly one ``ProviderError``; its ``code`` is one of:

=================================  =========  ==============================================
code                               retryable  when
=================================  =========  ==============================================
``upstream_http_error``            see note   a non-2xx answer; the message has the status and
                                              the upstream's error message (300 chars at most)
``upstream_unreachable``           yes        connection refused, DNS failure, proxy error
``upstream_connect_timeout``       yes        TCP/TLS connect (or a pooled connection) too slow
``upstream_first_token_timeout``   yes        no text within ``first_token_timeout``
``upstream_idle_timeout``          yes        a gap over ``idle_timeout`` after the first text
``upstream_reset``                 yes        connection reset or broken framing mid-stream
``upstream_malformed``             no         a data line that is not a JSON chunk
``upstream_error``                 see note   the upstream sent ``{"error": ...}`` mid-stream
``upstream_incomplete``            yes        the body ended with no ``[DONE]``, no finish reason
``invalid_request``                no         the request body cannot be encoded as JSON
=================================  =========  ==============================================

``upstream_http_error`` is retryable for 408, 409, 429 and 5xx only. ``upstream_error`` is
retryable when its ``type``/``code`` says server error, overload, rate limit or timeout (or is a
numeric status that would be retryable).

``params.extra`` is merged into the request body last; ``model``, ``messages`` and ``stream`` in
it are ignored, and a key set to ``None`` removes that key (``{"stream_options": None}`` for a
server that rejects ``stream_options``).

Secrets: the API key (and the value of any sensitive header given in ``headers``) is replaced by
``[redacted]`` in every error message and log line, even when the upstream echoes it back, and
``repr`` shows neither the key nor the userinfo or query of ``base_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any, Final, cast

import httpx
import orjson

from tokenwire.events import Delta, Done, Reasoning, Usage, tight
from tokenwire.providers.base import GenerationParams, ProviderError, ProviderPayload
from tokenwire.providers.http_transport import BODY_EXTENSION, StreamingTransport
from tokenwire.providers.watchdog import Watchdog
from tokenwire.wire.formats import MEDIA_TYPES
from tokenwire.wire.sse import SSEDecoder

__all__ = ["OpenAIProvider"]

logger = logging.getLogger(__name__)

_DONE_STOP: Final = Done("stop")
_DONE_LENGTH: Final = Done("length")
_RETRYABLE_STATUS: Final = frozenset({408, 409, 429})
_RETRYABLE_WORDS: Final = ("server_error", "overloaded", "rate_limit", "timeout", "unavailable")
_SENSITIVE_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "x-goog-api-key", "cookie"}
)
_RESERVED_BODY_KEYS: Final = frozenset({"model", "messages", "stream"})
_MESSAGE_LIMIT: Final = 300  # characters of an upstream error message kept
_ERROR_BODY_LIMIT: Final = 64 * 1024  # bytes of a non-2xx body read
_ERROR_BODY_TIMEOUT: Final = 5.0  # seconds at most to read a non-2xx body
_DRAIN_TIMEOUT: Final = 1.0  # seconds to read to the end after [DONE], to keep the connection
_REDACTED: Final = "[redacted]"


class OpenAIProvider:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    One ``httpx.AsyncClient`` (keep-alive pooled) serves every stream; it is created on first use
    and closed by ``aclose()``, unless it was passed in as ``client``, which stays the caller's.
    """

    __slots__ = (
        "_client",
        "_connect_timeout",
        "_display_url",
        "_first_token_timeout",
        "_headers",
        "_idle_timeout",
        "_owns_client",
        "_secrets",
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
        client: httpx.AsyncClient | None = None,
    ) -> None:
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
            if name.lower() in _SENSITIVE_HEADERS and header:
                secrets.add(header)
                scheme, _, token = header.partition(" ")
                if token and scheme.isalpha():
                    secrets.add(token.strip())
        # httpx.Headers shows authorization as [secure] in its repr.
        self._headers = httpx.Headers(merged)
        # Longest first, so that a secret containing another is replaced whole.
        self._secrets = tuple(sorted((s for s in secrets if s), key=len, reverse=True))
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
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
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
        for key, value in params.extra.items():
            if key in _RESERVED_BODY_KEYS:
                continue
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return body

    async def stream(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncGenerator[ProviderPayload, None]:
        """Stream one answer; see the module docstring for the rules and the error codes."""
        batches = self.stream_batches(messages, params)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                for payload in batch:
                    yield payload

    async def stream_batches(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncGenerator[list[ProviderPayload], None]:
        """``stream``, as the payloads of each upstream read together (never an empty list).

        The hub appends a batch to the log as one write, so a burst of upstream chunks costs
        one wake-up of each reader instead of one per chunk.
        """
        try:
            content = tight(orjson.dumps(self._request_body(messages, params)))
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise self._error(
                "invalid_request", f"cannot encode the request: {exc}", False
            ) from exc
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
                raise self._first_token_error() from None
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from exc

            status = response.status_code
            if status < 200 or status > 299:
                raise await self._http_error(response)
            if response.headers.get("content-type", "").startswith("application/json"):
                yield [payload async for payload in self._json_answer(response, deadline)]
                return

            # The per-chunk path: keep it lean. asyncio.timeout around each read would cost about
            # 5 us per read (a timer scheduled and cancelled every time); the watchdog keeps one
            # timer per stream and moves a float per read instead.
            feed = SSEDecoder().feed
            chunks = _body_chunks(response)
            next_chunk = chunks.__anext__
            current_task = asyncio.current_task
            loads = orjson.loads
            idle = self._idle_timeout
            watchdog = Watchdog(loop, deadline)
            started = False  # text or a finish reason seen: the idle deadline applies
            finish: str | None = None
            usage: Usage | None = None
            while True:
                if started:
                    watchdog.when = loop.time() + idle
                watchdog.arm(current_task())
                try:
                    chunk = await next_chunk()
                except (asyncio.CancelledError, StopAsyncIteration, httpx.HTTPError) as exc:
                    watchdog.armed = False
                    if watchdog.expired():
                        if finish is not None:
                            break
                        if started:
                            raise self._error(
                                "upstream_idle_timeout",
                                f"no data from the upstream for {idle:g} s",
                                True,
                            ) from None
                        raise self._first_token_error() from None
                    if isinstance(exc, StopAsyncIteration):
                        break
                    if isinstance(exc, httpx.HTTPError):
                        if finish is not None:
                            break
                        raise self._transport_error(exc) from exc
                    raise  # cancelled by the consumer
                watchdog.armed = False

                out: list[ProviderPayload] = []
                ended = False  # [DONE] seen
                try:
                    for sse in feed(chunk):
                        data = sse.data
                        if sse.event != "message":
                            if sse.event == "error":
                                raise self._stream_error(_loads_or_text(data))
                            continue  # pings and other named events are not chunks
                        if data == "[DONE]":
                            if usage is not None:
                                out.append(usage)
                            out.append(_DONE_LENGTH if finish == "length" else _DONE_STOP)
                            ended = True
                            break
                        try:
                            obj = loads(data)
                        except orjson.JSONDecodeError:
                            raise self._malformed("a data line is not JSON", data) from None
                        if type(obj) is not dict:
                            raise self._malformed("a chunk is not a JSON object", data)
                        error = obj.get("error")
                        if error is not None:
                            raise self._stream_error(error)
                        choices = obj.get("choices")
                        raw_usage = obj.get("usage")
                        if choices:
                            try:
                                choice = choices[0]
                                delta = choice.get("delta")
                                if delta:
                                    reasoning = delta.get("reasoning_content") or delta.get(
                                        "reasoning"
                                    )
                                    text = delta.get("content")
                                else:
                                    reasoning = text = None
                                reason = choice.get("finish_reason")
                            except (AttributeError, IndexError, KeyError, TypeError):
                                raise self._malformed("a chunk has no valid choice", data) from None
                            if reasoning:
                                if type(reasoning) is not str:
                                    raise self._malformed("reasoning is not a string", data)
                                started = True
                                out.append(Reasoning(reasoning))
                            if text:
                                if type(text) is not str:
                                    raise self._malformed("content is not a string", data)
                                started = True
                                out.append(Delta(text))
                            if reason:
                                finish = reason if type(reason) is str else "stop"
                                started = True
                        elif choices is None and raw_usage is None:
                            if obj.get("object") == "error":  # vLLM's bare error object
                                raise self._stream_error(obj)
                            raise self._malformed("a chunk has neither choices nor usage", data)
                        if raw_usage is not None:
                            usage = self._usage(raw_usage, data)
                except ProviderError:
                    if out:  # what came before the failure was received: it is part of the answer
                        yield out
                    raise
                if out:
                    yield out
                if ended:
                    # Read to the end (normally the next bytes, often already here) so the
                    # connection goes back to the pool instead of being closed.
                    watchdog.close()
                    with contextlib.suppress(TimeoutError, httpx.HTTPError):
                        async with asyncio.timeout(_DRAIN_TIMEOUT):
                            async for _ in chunks:
                                pass
                    return

            if finish is None:
                raise self._error(
                    "upstream_incomplete",
                    "the upstream ended the stream without [DONE] or a finish reason",
                    True,
                )
            yield [
                *([] if usage is None else [usage]),
                _DONE_LENGTH if finish == "length" else _DONE_STOP,
            ]
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
        self, response: httpx.Response, deadline: float
    ) -> AsyncGenerator[ProviderPayload, None]:
        """The upstream ignored ``stream`` and answered one chat.completion object."""
        try:
            async with asyncio.timeout_at(deadline):
                body = await response.aread()
        except TimeoutError:
            raise self._first_token_error() from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise self._malformed(
                "the answer is not JSON", body.decode("utf-8", "replace")
            ) from None
        if type(obj) is not dict:
            raise self._malformed("the answer is not a JSON object", str(obj))
        if obj.get("error") is not None:
            raise self._stream_error(obj["error"])
        try:
            choice = obj["choices"][0]
            message = choice["message"]
            reasoning = message.get("reasoning_content") or message.get("reasoning")
            text = message.get("content")
            reason = choice.get("finish_reason")
        except (AttributeError, IndexError, KeyError, TypeError):
            raise self._malformed(
                "the answer is not a chat completion", body.decode("utf-8", "replace")
            ) from None
        if reasoning:
            yield Reasoning(str(reasoning))
        if text:
            yield Delta(str(text))
        if obj.get("usage") is not None:
            yield self._usage(obj["usage"], "")
        yield _DONE_LENGTH if reason == "length" else _DONE_STOP

    # --- errors -------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        return text

    def _error(self, code: str, message: str, retryable: bool) -> ProviderError:
        message = self._scrub(message)
        logger.debug("provider %s (%s): %s: %s", self.id, self._display_url, code, message)
        return ProviderError(code, message, retryable=retryable)

    def _first_token_error(self) -> ProviderError:
        return self._error(
            "upstream_first_token_timeout",
            f"no answer from the upstream within {self._first_token_timeout:g} s",
            True,
        )

    def _malformed(self, what: str, data: str) -> ProviderError:
        excerpt = _truncate(self._scrub(data), 100)
        return self._error("upstream_malformed", f"{what}: {excerpt!r}", False)

    def _usage(self, raw: Any, data: str) -> Usage:
        try:
            prompt = raw.get("prompt_tokens") or 0
            completion = raw.get("completion_tokens") or 0
        except AttributeError:
            raise self._malformed("usage is not an object", data) from None
        if type(prompt) is not int or type(completion) is not int:
            raise self._malformed("token counts are not integers", data)
        return Usage(prompt, completion)

    def _stream_error(self, error: Any) -> ProviderError:
        detail = _truncate(" ".join(self._scrub(_message_of(error) or "").split()), _MESSAGE_LIMIT)
        return self._error(
            "upstream_error",
            f"the upstream reported an error: {detail or 'no message'}",
            _stream_error_retryable(error),
        )

    async def _http_error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        body = bytearray()
        pieces = cast("AsyncGenerator[bytes, None]", response.aiter_bytes())
        try:
            async with asyncio.timeout(_ERROR_BODY_TIMEOUT):
                async for piece in pieces:
                    body += piece
                    if len(body) >= _ERROR_BODY_LIMIT:
                        break
        except (TimeoutError, httpx.HTTPError):
            pass  # the status alone will do
        finally:
            with contextlib.suppress(Exception):
                await pieces.aclose()
        detail = _error_detail(bytes(body[:_ERROR_BODY_LIMIT]))
        # Scrub before truncating, so that a cut cannot leave half a secret behind.
        detail = _truncate(self._scrub(detail), _MESSAGE_LIMIT)
        phrase = response.reason_phrase or ""
        message = f"upstream answered HTTP {status}" + (f" {phrase}" if phrase else "")
        if detail:
            message += f": {detail}"
        retryable = status in _RETRYABLE_STATUS or status >= 500
        error = self._error("upstream_http_error", message, retryable)
        error.retry_after = _retry_after(response.headers.get("retry-after"))
        return error

    def _transport_error(self, exc: httpx.HTTPError) -> ProviderError:
        where = self._display_url
        why = _describe(exc)
        if isinstance(exc, httpx.ConnectTimeout):
            return self._error(
                "upstream_connect_timeout",
                f"connecting to {where} took over {self._connect_timeout:g} s",
                True,
            )
        if isinstance(exc, httpx.PoolTimeout):
            return self._error(
                "upstream_connect_timeout",
                f"no free connection to {where} within {self._connect_timeout:g} s",
                True,
            )
        if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
            return self._error("upstream_unreachable", f"cannot connect to {where}: {why}", True)
        if isinstance(exc, httpx.UnsupportedProtocol):
            return self._error("upstream_unreachable", f"cannot connect to {where}: {why}", False)
        if isinstance(exc, httpx.TimeoutException):
            # Only from a client passed in with read/write timeouts of its own.
            return self._error("upstream_idle_timeout", f"{where} timed out: {why}", True)
        if isinstance(exc, httpx.DecodingError):
            return self._error("upstream_malformed", f"cannot decode the body: {why}", False)
        return self._error("upstream_reset", f"the connection to {where} broke: {why}", True)


def _body_chunks(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The body as it arrives. From our own transport, read directly when it is not encoded:
    httpx's layers (a context manager, a decoder and a chunker per read) cost about 4 us a read."""
    body = response.extensions.get(BODY_EXTENSION)
    if body is not None and response.headers.get("content-encoding", "identity") == "identity":
        return cast("AsyncGenerator[bytes, None]", body.__aiter__())
    return cast("AsyncGenerator[bytes, None]", response.aiter_bytes())


def _describe(exc: BaseException) -> str:
    """The first non-empty message down the exception chain (httpx's ReadError often has none)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if str(seen):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__


def _display_url(url: httpx.URL) -> str:
    """The URL without userinfo, query or fragment, which may carry credentials."""
    netloc = url.netloc.decode("ascii", "replace")
    return f"{url.scheme}://{netloc}{url.path}".rstrip("/")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _loads_or_text(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data


def _message_of(obj: Any) -> str | None:
    """The human message of an error in any of the shapes compatible servers use."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, list) and obj:  # Gemini's compatible endpoint: [{"error": {...}}]
        return _message_of(obj[0])
    if isinstance(obj, dict):
        inner = obj.get("error")
        if inner is not None and inner is not obj:
            found = _message_of(inner)
            if found:
                return found
        for key in ("message", "msg", "detail"):
            value = obj.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, list | dict):
                return orjson.dumps(value).decode()
    return None


def _error_detail(body: bytes) -> str:
    if not body:
        return ""
    text = body.decode("utf-8", "replace")
    try:
        found = _message_of(orjson.loads(body))
    except orjson.JSONDecodeError:
        found = None
    return " ".join((found or text).split())


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, from either of its forms (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _stream_error_retryable(error: Any) -> bool:
    if not isinstance(error, dict):
        return False
    for value in (error.get("code"), error.get("type"), error.get("status")):
        if isinstance(value, int) and not isinstance(value, bool):
            if value in _RETRYABLE_STATUS or 500 <= value <= 599:
                return True
        elif isinstance(value, str):
            lowered = value.lower()
            if any(word in lowered for word in _RETRYABLE_WORDS):
                return True
    return False
