"""What went wrong with an OpenAI-compatible upstream, as exactly one ``ProviderError``.

Every failure of a request to the upstream is raised as one ``ProviderError``; its ``code`` is one
of:

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

``upstream_http_error`` is retryable for 408, 409, 429 and 5xx only, and carries the wait the
upstream asked for in ``Retry-After`` (seconds or an HTTP date) as ``retry_after``.
``upstream_error`` is retryable when its ``type``/``code`` says server error, overload, rate limit
or timeout (or is a numeric status that would be retryable).

Secrets (the API key, the value of any sensitive header) are replaced by ``[redacted]`` in every
message and log line, even when the upstream echoes them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import time
from collections.abc import AsyncGenerator, Iterable
from typing import Any, Final, cast

import httpx
import orjson

from tokenwire.providers.base import ProviderError
from tokenwire.wire.openai import AnswerError, IncompleteAnswer, MalformedAnswer, ReportedError

__all__ = ["UpstreamErrors"]

# The provider's log, where these lines have always gone.
logger = logging.getLogger("tokenwire.providers.openai")

_RETRYABLE_STATUS: Final = frozenset({408, 409, 429})
_RETRYABLE_WORDS: Final = ("server_error", "overloaded", "rate_limit", "timeout", "unavailable")
_MESSAGE_LIMIT: Final = 300  # characters of an upstream error message kept
_ERROR_BODY_LIMIT: Final = 64 * 1024  # bytes of a non-2xx body read
_ERROR_BODY_TIMEOUT: Final = 5.0  # seconds at most to read a non-2xx body
_REDACTED: Final = "[redacted]"


class UpstreamErrors:
    """The ``ProviderError`` for each way a request to one upstream can fail.

    One per provider, made with what the messages name: the provider's ``id``, the upstream as
    ``where`` (its URL without userinfo or query) and the timeouts. Each error is logged at debug
    level as it is made.
    """

    __slots__ = (
        "_connect_timeout",
        "_first_token_timeout",
        "_idle_timeout",
        "_provider",
        "_secrets",
        "_where",
    )

    def __init__(
        self,
        *,
        provider: str,
        where: str,
        secrets: Iterable[str],
        connect_timeout: float,
        first_token_timeout: float,
        idle_timeout: float,
    ) -> None:
        self._provider = provider
        self._where = where
        # Longest first, so that a secret containing another is replaced whole.
        self._secrets = tuple(sorted((s for s in secrets if s), key=len, reverse=True))
        self._connect_timeout = connect_timeout
        self._first_token_timeout = first_token_timeout
        self._idle_timeout = idle_timeout

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced by ``[redacted]``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        return text

    def error(self, code: str, message: str, retryable: bool) -> ProviderError:
        message = self.scrub(message)
        logger.debug("provider %s (%s): %s: %s", self._provider, self._where, code, message)
        return ProviderError(code, message, retryable=retryable)

    def invalid_request(self, exc: Exception) -> ProviderError:
        return self.error("invalid_request", f"cannot encode the request: {exc}", False)

    def first_token_timeout(self) -> ProviderError:
        return self.error(
            "upstream_first_token_timeout",
            f"no answer from the upstream within {self._first_token_timeout:g} s",
            True,
        )

    def idle_timeout(self) -> ProviderError:
        return self.error(
            "upstream_idle_timeout", f"no data from the upstream for {self._idle_timeout:g} s", True
        )

    def answer_error(self, exc: AnswerError) -> ProviderError:
        """The error for what the upstream sent, as the chunk decoder found it."""
        if isinstance(exc, MalformedAnswer):
            return self.malformed(exc.what, exc.data)
        if isinstance(exc, ReportedError):
            return self.reported(exc.error)
        if isinstance(exc, IncompleteAnswer):
            return self.incomplete()
        raise TypeError(f"no ProviderError for {type(exc).__name__}") from exc

    def malformed(self, what: str, data: str) -> ProviderError:
        """What the upstream sent is not what the API sends: ``what`` says how, ``data`` is it."""
        excerpt = _truncate(self.scrub(data), 100)
        return self.error("upstream_malformed", f"{what}: {excerpt!r}", False)

    def reported(self, error: Any) -> ProviderError:
        """The upstream sent an error (its object in any shape, or its text) instead of chunks."""
        detail = _truncate(" ".join(self.scrub(_message_of(error) or "").split()), _MESSAGE_LIMIT)
        return self.error(
            "upstream_error",
            f"the upstream reported an error: {detail or 'no message'}",
            _stream_error_retryable(error),
        )

    def incomplete(self) -> ProviderError:
        return self.error(
            "upstream_incomplete",
            "the upstream ended the stream without [DONE] or a finish reason",
            True,
        )

    async def http_error(self, response: httpx.Response) -> ProviderError:
        """The error for a non-2xx answer, with the upstream's message from (the start of) its
        body when it can be read in time."""
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
        detail = _truncate(self.scrub(detail), _MESSAGE_LIMIT)
        phrase = response.reason_phrase or ""
        message = f"upstream answered HTTP {status}" + (f" {phrase}" if phrase else "")
        if detail:
            message += f": {detail}"
        retryable = status in _RETRYABLE_STATUS or status >= 500
        error = self.error("upstream_http_error", message, retryable)
        error.retry_after = _retry_after(response.headers.get("retry-after"))
        return error

    def transport_error(self, exc: httpx.HTTPError) -> ProviderError:
        """The error for an exception of httpx: connecting, a timeout of its own, a broken body."""
        where = self._where
        why = _describe(exc)
        if isinstance(exc, httpx.ConnectTimeout):
            return self.error(
                "upstream_connect_timeout",
                f"connecting to {where} took over {self._connect_timeout:g} s",
                True,
            )
        if isinstance(exc, httpx.PoolTimeout):
            return self.error(
                "upstream_connect_timeout",
                f"no free connection to {where} within {self._connect_timeout:g} s",
                True,
            )
        if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
            return self.error("upstream_unreachable", f"cannot connect to {where}: {why}", True)
        if isinstance(exc, httpx.UnsupportedProtocol):
            return self.error("upstream_unreachable", f"cannot connect to {where}: {why}", False)
        if isinstance(exc, httpx.TimeoutException):
            # Only from a client passed in with read/write timeouts of its own.
            return self.error("upstream_idle_timeout", f"{where} timed out: {why}", True)
        if isinstance(exc, httpx.DecodingError):
            return self.error("upstream_malformed", f"cannot decode the body: {why}", False)
        return self.error("upstream_reset", f"the connection to {where} broke: {why}", True)


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


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
