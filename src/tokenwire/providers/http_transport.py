"""An httpx transport for long streamed answers: HTTP/1.1 on asyncio protocols, parsed by httptools.

Why: with httpx's default transport (httpcore and h11, pure Python) every HTTP chunk of an
upstream stream costs about 25 us of parsing and wrapping; an OpenAI-compatible server sends one
chunk per token, so the upstream read was over half the CPU of a relayed event. Here the C parser
(llhttp, via httptools, which uvicorn already uses) runs in ``data_received``, and the body
pieces that arrived together are handed to the reader as *one* bytes: a reader that falls behind
catches up in one iteration instead of one per chunk.

It does what the provider needs and no more: HTTP/1.1 (http and https), a request body of bytes,
keep-alive pooling per host, connect timeouts, and httpx's exception types, so callers and
their error mapping do not change. Proxies from the environment still go through httpx's own
proxy transports (httpx mounts them in front of this one).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import httptools
import httpx

__all__ = ["BODY_EXTENSION", "StreamingTransport"]

# The response extension holding the body stream itself, for a reader that wants to skip httpx's
# per-read wrapping; closing the response still closes it.
BODY_EXTENSION = "tokenwire.body"

_HIGH_WATER = 1 << 20  # bytes buffered before the socket stops being read
_NO_BODY_STATUS = frozenset({204, 304})


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and the response being read on it."""

    def __init__(self, key: tuple[str, str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        # Set once the socket is really closed, which asyncio does a loop iteration after close().
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pieces: list[bytes] = []  # body bytes received and not read yet
        self.buffered = 0
        self.complete = False
        self.until_eof = False  # a body without length or chunking ends when the socket closes
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.active = False
        self.keep_alive = False

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport

    def data_received(self, data: bytes) -> None:
        if not self.active:  # bytes on an idle pooled connection: it cannot be trusted again
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP response: {exc}"))
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(None)
        if self.active and not self.complete and self.error is None:
            if self.headers_done.done() and self.until_eof:
                self.complete = True
            elif exc is not None:
                self.error = httpx.ReadError(str(exc) or type(exc).__name__)
            elif self.headers_done.done():
                self.error = httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )
            else:
                self.error = httpx.RemoteProtocolError("server disconnected without a response")
        if not self.headers_done.done():
            self.headers_done.set_result(None)
        self._wake()

    # --- httptools callbacks ----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        # Asked now: llhttp forgets it once the message is complete.
        self.keep_alive = self.parser.should_keep_alive()
        names = {name.lower() for name, _ in self.headers}
        self.until_eof = (
            b"content-length" not in names
            and b"transfer-encoding" not in names
            and self.status not in _NO_BODY_STATUS
        )
        if not self.headers_done.done():
            self.headers_done.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.pieces.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        self.complete = True

    # --- used by the transport and the body stream ------------------------------------------

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        self.close()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self) -> bytes:
        """Everything received since the last call, as one bytes."""
        pieces = self.pieces
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()
        self.buffered = 0
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()
        return data

    def begin(self) -> None:
        self._reset()
        self.active = True

    @property
    def reusable(self) -> bool:
        return (
            self.complete
            and not self.closed
            and self.error is None
            and not self.pieces
            and not self.until_eof
            and self.keep_alive
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Body(httpx.AsyncByteStream):
    """The response body: what arrived together comes out together."""

    def __init__(self, conn: _Connection, pool: StreamingTransport) -> None:
        self._conn = conn
        self._pool = pool
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        loop = asyncio.get_running_loop()
        while True:
            if conn.pieces:
                yield conn.take()
            elif conn.error is not None:
                raise conn.error
            elif conn.complete:
                return
            elif conn.closed:
                raise httpx.ReadError("the connection closed")
            else:
                conn.waiter = loop.create_future()
                try:
                    await conn.waiter
                finally:
                    conn.waiter = None

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release(self._conn)


class StreamingTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with pooled keep-alive connections, for httpx clients that stream."""

    def __init__(
        self,
        *,
        max_idle_per_host: int = 100,
        keepalive_expiry: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._max_idle = max_idle_per_host
        self._expiry = keepalive_expiry
        self._ssl = ssl_context
        self._closed = False
        self._open: weakref.WeakSet[_Connection] = weakref.WeakSet()  # idle and in use

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.scheme, url.host, port)
        body = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
        head = _head(request, body)
        conn = self._pooled(key)
        if conn is None:
            timeouts: dict[str, Any] = request.extensions.get("timeout", {})
            conn = await self._connect(key, timeouts.get("connect"))
        conn.begin()
        try:
            assert conn.transport is not None
            conn.transport.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                conn.transport.write(body)
            await conn.headers_done
            if conn.error is not None:
                raise conn.error
        except BaseException:
            conn.close()
            raise
        stream = _Body(conn, self)
        return httpx.Response(
            conn.status,
            headers=conn.headers,
            stream=stream,
            extensions={"http_version": b"HTTP/1.1", BODY_EXTENSION: stream},
        )

    def _pooled(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self._expiry:
                return conn
            conn.close()
        return None

    async def _connect(self, key: tuple[str, str, int], timeout: float | None) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        conn = _Connection(key)
        context = None
        if scheme == "https":
            context = self._ssl = self._ssl or httpx.create_ssl_context()
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(
                    lambda: conn, host, port, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError:
            conn.close()
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        self._open.add(conn)
        return conn

    def _release(self, conn: _Connection) -> None:
        conn.active = False
        if self._closed or not conn.reusable:
            conn.close()
            return
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= self._max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def aclose(self) -> None:
        """Close every connection, in use or idle, and wait until their sockets are: the loop may
        be closed right after, and a close still pending then would leave the socket open."""
        self._closed = True
        self._idle.clear()
        conns = list(self._open)
        for conn in conns:
            conn.close()
        pending = [conn.lost for conn in conns if conn.transport is not None]
        if pending:
            await asyncio.wait(pending, timeout=1.0)


def _head(request: httpx.Request, body: bytes) -> bytes:
    target = request.url.raw_path
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), target)]
    has_length = False
    for name, value in request.headers.raw:
        lower = name.lower()
        if lower == b"content-length":
            has_length = True
        elif lower == b"transfer-encoding":
            continue  # the body is sent whole, with its length
        lines.append(b"%s: %s" % (name, value))
    if not has_length and (body or request.method in ("POST", "PUT", "PATCH")):
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n"
