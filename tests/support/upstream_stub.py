"""A real OpenAI-compatible HTTP/1.1 server on loopback, for tests, with faults at the byte level.

It is written on raw ``asyncio.start_server`` (no web framework) so a test can decide every byte
and every TCP write: split a UTF-8 character between two writes, stop mid-body, reset the socket.

Use it from an async test::

    async with UpstreamStub() as stub:
        provider = OpenAIProvider(id="up", base_url=stub.base_url, model="echo")
        ...
        assert stub.requests[-1].json["model"] == "echo"
        assert await stub.wait_disconnect(timeout=1.0)

or, for sync clients (the ``openai`` SDK), from a thread of its own::

    with ThreadedUpstream() as stub:
        client = openai.OpenAI(base_url=stub.base_url, api_key="sk-test")

Endpoints (also without the ``/v1`` prefix, and chat completions under any prefix, as vendors
mount them): ``POST /v1/chat/completions`` (``"stream": true`` answers SSE chunks with ``usage``
when ``stream_options.include_usage`` is set, then ``data: [DONE]``; otherwise one
``chat.completion`` JSON) and ``GET /v1/models``.

Tool calls, log probabilities and vendors' ways are scripted with ``Reply``: ``tool_calls`` (each a
``Call`` with its argument pieces), streamed as OpenAI does (``index``, ``id``, ``type`` and
``function.name`` on a call's first piece, then ``function.arguments`` pieces; ``interleave`` mixes
the pieces of parallel calls) or as some vendors do (``tool_ids``: ``repeat`` sends id, type and
name on every piece, as vLLM may; ``empty-later`` sends ``"id": ""`` on later pieces, as
DashScope does; ``none`` sends no id; ``tool_index=False`` leaves ``index`` out; ``whole_calls``
sends each call in one piece, as Ollama does); ``usage_at``
puts usage in a chunk of its own after the finish (OpenAI, with empty ``choices``), in the finish
chunk, inside the finish chunk's choice (Kimi) or on every chunk as a running total. A request
with ``"logprobs": true`` gets ``choices[0].logprobs`` on each content chunk (``top_logprobs``
entries too). Non-streamed answers carry ``message.tool_calls``.

What a chat request gets is chosen, in this order, by the next scripted reply
(``stub.script(Reply(...), "fault:reset", ...)``, first in first out, one per request) or by the
request's ``model``:

==========================  =======================================================================
model                       answer
==========================  =======================================================================
anything else, ``echo``     the last user message, word by word (``"Hello"``, ``" world"``);
                            ``max_tokens`` or ``max_completion_tokens`` cut it (finish: length)
``slow`` / ``slow:<s>``     echo, ``<s>`` seconds (default 0.05) before every chunk after the first
``reason`` / ``reason:F``   two reasoning chunks in field ``F`` (default ``reasoning_content``;
                            ``reason:reasoning`` is the Ollama/vLLM name), then the echo
``split``                   echo, but every event split into two HTTP chunks inside a UTF-8
                            character, and the bytes written in small pieces (at most 13 bytes,
                            every multi-byte character cut after its first byte) with a pause
``fault:http-<status>``     that status with an OpenAI-style JSON error body (401 echoes the key
                            it got, as some servers do; 429 adds ``retry-after``)
``fault:hang``              reads the request and never answers, until the client leaves
``fault:no-first-token``    200 and the headers and a role-only chunk, then nothing
``fault:stall``             two content chunks, then nothing (the connection stays open)
``fault:reset``             two content chunks, then a TCP reset (SO_LINGER 0, abort)
``fault:eof``               two content chunks, then a FIN in the middle of the chunked body
``fault:malformed``         one content chunk, then ``data: {not json``
``fault:error-event``       one content chunk, then ``data: {"error": {... "server_error"}}``
``fault:no-done``           two content chunks, the body ends: no finish reason, no ``[DONE]``
``fault:no-done-finished``  content, finish reason and usage, the body ends without ``[DONE]``
``fault:bad-utf8``          one content chunk, then one whose text holds bytes that are not UTF-8
==========================  =======================================================================

``stub.requests`` records every request (method, path, lower-case headers, body, parsed
``json``, which TCP connection carried it, whether the client left early). A client that closes
a response before the stub finished it counts in ``stub.disconnects``, sets
``stub.disconnected`` and wakes ``wait_disconnect``.

For connection faults: ``refused_base_url()`` is a loopback port nobody listens on (connection
refused). A connect *timeout* cannot be made honestly with a non-routable address here (we stay on
loopback), and a full listen backlog behaves differently per OS; instead ``stub.tls_blackhole_url``
is an ``https://`` URL of a loopback listener that accepts TCP and never says a word. httpx counts
the TLS handshake as part of connecting (httpcore wraps ``start_tls`` in the connect timeout and
raises ``ConnectTimeout``), so a client with a short connect timeout gets a real connect timeout
from its real transport, with no mock involved.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import logging
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson

from tests.support.services import free_port

__all__ = [
    "Call",
    "RecordedRequest",
    "Reply",
    "ThreadedUpstream",
    "UpstreamStub",
    "refused_base_url",
]

logger = logging.getLogger(__name__)

STUB_MODELS = ("echo", "slow", "reason", "split")
REASONING = ("Let me think.", " The user wants an echo.")
SPLIT_PAUSE = 0.0005  # seconds between two pieces of a split body: time for the client to read
SPLIT_STRIDE = 13  # longest piece of a split body, in bytes
RESET_PAUSE = 0.05  # seconds between the last chunk and a reset, so the client reads the chunks

_WORD = re.compile(r"\s*\S+")

End = Literal["close", "eof", "stall", "reset"]
ToolIds = Literal["first", "repeat", "empty-later", "none"]
UsageAt = Literal["own-chunk", "finish", "choice", "every-chunk"]


@dataclass(frozen=True)
class Call:
    """A tool call the stub makes: its id and name, and its JSON arguments in the pieces they
    are streamed in (one piece: the whole arguments in one delta, as Ollama sends them)."""

    id: str
    name: str
    arguments: Sequence[str] = ("{}",)

    @property
    def whole_arguments(self) -> str:
        return "".join(self.arguments)


# What the connection does after a response: serve the next request, close, or reset (done).
After = Literal["keep", "close", "reset"]


@dataclass(frozen=True)
class Reply:
    """What the stub does for one chat completion request.

    A streamed reply writes, in order: a role chunk (``content: ""``), one chunk per
    ``reasoning`` piece, one per ``content`` piece, ``inject`` (raw SSE bytes, as is), a finish
    chunk (when ``finish_reason`` is set), a usage chunk (when a finish chunk was sent and the
    request asked for usage), ``data: [DONE]`` (when ``done``), then ends as ``end`` says:
    ``close`` (the terminating zero-length chunk: a complete body, keep-alive), ``eof`` (close the
    socket mid-body), ``stall`` (say nothing more until the client leaves) or ``reset`` (RST).
    """

    content: Sequence[str] = ()
    reasoning: Sequence[str] = ()
    reasoning_field: str = "reasoning_content"
    finish_reason: str | None = "stop"
    usage: tuple[int, int] | None = None  # (prompt, completion); None: counted in words
    done: bool = True
    inject: bytes = b""
    end: End = "close"
    delay: float = 0.0  # seconds before every chunk after the first
    split: bool = False  # see the ``split`` model
    stream: bool | None = None  # None: as the request asks; False: JSON even for stream=true
    status: int = 200  # not 2xx: an OpenAI-style JSON error with ``error_message``
    error_message: str | None = None
    hang: bool = False  # read the request, never answer
    tool_calls: Sequence[Call] = ()
    interleave: bool = False  # parallel calls' pieces mixed, round robin, instead of in turn
    whole_calls: bool = False  # each call in one piece: id, name and all its arguments (Ollama)
    tool_ids: ToolIds = "first"
    tool_index: bool = True
    usage_at: UsageAt = "own-chunk"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    connection: int  # 1 for the first TCP connection the stub accepted, and so on
    received_at: float = field(default_factory=time.monotonic)
    disconnected: bool = False  # the client closed the connection before the answer was complete

    @property
    def json(self) -> Any:
        try:
            return orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            return None


def refused_base_url() -> str:
    """A base URL whose connections are refused (nothing listens on that loopback port)."""
    return f"http://127.0.0.1:{free_port()}/v1"


class _ClientGone(Exception):
    """The client closed the connection (or it broke) while the stub was answering."""


class _Connection:
    """One accepted TCP connection: buffered request reading, writes, and a watch for EOF."""

    def __init__(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.number = number
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.watch: asyncio.Task[None] | None = None

    # reading requests

    async def _fill(self) -> bool:
        data = await self.reader.read(65536)
        if not data:
            return False
        self.buf += data
        return True

    async def _read_until(self, sep: bytes) -> bytes | None:
        while (i := self.buf.find(sep)) < 0:
            if len(self.buf) > 1 << 20 or not await self._fill():
                return None
        out = bytes(self.buf[:i])
        del self.buf[: i + len(sep)]
        return out

    async def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not await self._fill():
                raise _ClientGone
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def read_request(self) -> tuple[str, str, dict[str, str], bytes] | None:
        head = await self._read_until(b"\r\n\r\n")
        if not head:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                size_line = await self._read_until(b"\r\n")
                if size_line is None:
                    raise _ClientGone
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while await self._read_until(b"\r\n"):  # trailers, up to the blank line
                        pass
                    break
                body += await self._read_exact(size)
                await self._read_exact(2)
            return method, target, headers, bytes(body)
        length = int(headers.get("content-length", "0") or "0")
        return method, target, headers, await self._read_exact(length)

    # watching for the client to leave while a response is written

    def start_watch(self) -> None:
        self.watch = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        # Ends only when the client closes (EOF) or the connection breaks; anything it sends
        # meanwhile is kept for the next request.
        with contextlib.suppress(ConnectionError):
            while data := await self.reader.read(65536):
                self.buf += data

    async def stop_watch(self) -> None:
        watch, self.watch = self.watch, None
        if watch is not None and not watch.done():
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    @property
    def gone(self) -> bool:
        return (self.watch is not None and self.watch.done()) or self.writer.is_closing()

    async def wait_gone(self) -> None:
        if self.watch is None:
            self.start_watch()
        assert self.watch is not None
        await asyncio.shield(self.watch)

    async def pause(self, seconds: float) -> None:
        """Sleep, but notice at once a client that leaves meanwhile."""
        if seconds > 0:
            if self.watch is not None:
                await asyncio.wait({self.watch}, timeout=seconds)
            else:
                await asyncio.sleep(seconds)
        if self.gone:
            raise _ClientGone

    # writing

    async def write(self, data: bytes) -> None:
        if self.gone:
            raise _ClientGone
        self.writer.write(data)
        try:
            await self.writer.drain()
        except ConnectionError:
            raise _ClientGone from None

    async def send_chunk(self, data: bytes, *, split: bool) -> None:
        """One piece of a chunked body; split: two HTTP chunks, written a few bytes at a time."""
        if not split:
            await self.write(b"%x\r\n%s\r\n" % (len(data), data))
            return
        cut = _cut_inside_character(data)
        framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (data[:cut], data[cut:]) if p)
        for piece in _pieces(framed):
            await self.write(piece)
            await self.pause(SPLIT_PAUSE)

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


def _cut_inside_character(data: bytes) -> int:
    """Where to split ``data`` in two non-empty parts: after the first byte of a multi-byte
    UTF-8 character when there is one, else in the middle."""
    for i, byte in enumerate(data):
        if byte >= 0xC0 and i + 1 < len(data):
            return i + 1
    return max(1, len(data) // 2)


def _pieces(data: bytes) -> Iterator[bytes]:
    """Cut after the first byte of every multi-byte character, and every SPLIT_STRIDE bytes."""
    cuts = {i + 1 for i, byte in enumerate(data) if byte >= 0xC0}
    cuts.update(range(SPLIT_STRIDE, len(data), SPLIT_STRIDE))
    start = 0
    for cut in sorted(c for c in cuts if 0 < c < len(data)):
        if cut > start:
            yield data[start:cut]
            start = cut
    yield data[start:]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _last_user_text(messages: Any) -> str:
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _text_of(message.get("content"))
    return ""


def _prompt_tokens(messages: Any) -> int:
    if not isinstance(messages, list):
        return 0
    return sum(len(_words(_text_of(m.get("content")))) for m in messages if isinstance(m, dict))


_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    409: ("conflict", None),
    429: ("requests", "rate_limit_exceeded"),
}


def _error_message(status: int, headers: dict[str, str]) -> str:
    if status == 401:
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not token:
            return "You didn't provide an API key."
        # Echoes the whole key, as some servers do (OpenAI itself masks it).
        return f"Incorrect API key provided: {token}. You can find your API key in your account."
    if status == 429:
        return "Rate limit reached for requests. Please try again in 1s."
    if status >= 500:
        return "The server had an error while processing your request. Sorry about that!"
    return f"The stub answers {status} as asked."


def _fault(kind: str, headers: dict[str, str]) -> Reply:
    two = ("Hello", " there")
    if kind.startswith("http-"):
        status = int(kind[5:])
        return Reply(status=status, error_message=_error_message(status, headers))
    faults: dict[str, Reply] = {
        "hang": Reply(hang=True),
        "no-first-token": Reply(finish_reason=None, done=False, end="stall"),
        "stall": Reply(content=two, finish_reason=None, done=False, end="stall"),
        "reset": Reply(content=two, finish_reason=None, done=False, end="reset"),
        "eof": Reply(content=two, finish_reason=None, done=False, end="eof"),
        "malformed": Reply(content=("Hello",), inject=b"data: {not json\n\n"),
        "error-event": Reply(
            content=("Hello",),
            inject=b'data: {"error": {"message": "The server had an error while processing '
            b'your request.", "type": "server_error", "param": null, "code": null}}\n\n',
        ),
        "no-done": Reply(content=two, finish_reason=None, done=False),
        "no-done-finished": Reply(content=two, done=False),
        # Bytes that are not UTF-8 inside a chunk's JSON string.
        "bad-utf8": Reply(
            content=("Hello",),
            inject=b'data: {"choices": [{"index": 0, "delta": {"content": " \xff\xfeok"}}]}\n\n',
        ),
    }
    if kind not in faults:
        return Reply(status=400, error_message=f"unknown stub fault {kind!r}")
    return faults[kind]


def reply_for_model(model: str, body: dict[str, Any], headers: dict[str, str]) -> Reply:
    """The behaviour the model name asks for (see the module docstring)."""
    name, _, arg = model.partition(":")
    if name == "fault":
        return _fault(arg, headers)
    words = _words(_last_user_text(body.get("messages")))
    finish = "stop"
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(limit, int) and 0 <= limit < len(words):
        words, finish = words[:limit], "length"
    echo = Reply(content=tuple(words), finish_reason=finish)
    if name == "slow":
        return replace(echo, delay=float(arg) if arg else 0.05)
    if name == "reason":
        return replace(echo, reasoning=REASONING, reasoning_field=arg or "reasoning_content")
    if name == "split":
        return replace(echo, split=True)
    return echo


class UpstreamStub:
    """An OpenAI-compatible server on ``127.0.0.1`` (port 0), as an async context manager."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.disconnected = asyncio.Event()
        self.on_disconnect: list[Callable[[], None]] = []  # called in the stub's loop
        self.blackhole_connections = 0
        self._script: deque[Reply | str] = deque()
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._blackhole: asyncio.Server | None = None
        self._open: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}  # connection handlers
        self._closing = False
        self._numbers = itertools.count(1)
        self._ids = itertools.count(1)
        self.port = 0
        self._blackhole_port = 0

    async def __aenter__(self) -> UpstreamStub:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._blackhole = await asyncio.start_server(self._swallow, "127.0.0.1", 0)
        self._blackhole_port = self._blackhole.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing = True
        for server in (self._server, self._blackhole):
            if server is not None:
                server.close()
        # End every connection from below (a handler task must not be cancelled: Python 3.11's
        # start_server logs a cancelled handler as an unhandled exception), then wait for them.
        for writer in self._open.values():
            writer.transport.abort()
        tasks = list(self._open)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for server in (self._server, self._blackhole):
            if server is not None:
                await server.wait_closed()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def tls_blackhole_url(self) -> str:
        """An https base URL whose TLS handshake never completes (a real connect timeout)."""
        return f"https://127.0.0.1:{self._blackhole_port}/v1"

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    def script(self, *replies: Reply | str) -> None:
        """Queue replies for the next chat requests, whatever their model; a string is a model
        name from the table in the module docstring (``"fault:reset"``, ``"slow:0.2"``...)."""
        self._script.extend(replies)

    async def wait_disconnect(self, count: int = 1, timeout: float = 1.0) -> bool:
        """True once ``count`` early client disconnects were seen in all, False after timeout."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.disconnects < count:
                    self._changed.clear()
                    await self._changed.wait()
        return self.disconnects >= count

    # --- connections ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _tracked(self, writer: asyncio.StreamWriter) -> Iterator[None]:
        task = asyncio.current_task()
        assert task is not None
        self._open[task] = writer
        try:
            yield
        finally:
            del self._open[task]

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.blackhole_connections += 1
        with self._tracked(writer), contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._tracked(writer):
            await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(next(self._numbers), reader, writer)
        reset = False
        try:
            while True:
                parsed = await conn.read_request()
                if parsed is None:
                    break
                method, target, headers, body = parsed
                request = RecordedRequest(method, target, headers, body, conn.number)
                self.requests.append(request)
                try:
                    after = await self._respond(conn, request)
                except _ClientGone:
                    self._note_disconnect(request)
                    break
                finally:
                    await conn.stop_watch()
                if after == "reset":
                    reset = True
                    break
                if after == "close" or headers.get("connection", "").lower() == "close":
                    break
        except (_ClientGone, ConnectionError):
            pass
        except Exception:  # a bug in the stub or a request it cannot parse: say so, go on
            logger.exception("upstream stub: connection %d failed", conn.number)
        finally:
            if not reset:
                await conn.close()

    def _note_disconnect(self, request: RecordedRequest) -> None:
        if self._closing:
            return  # the stub itself is stopping: not the client's doing
        request.disconnected = True
        self.disconnects += 1
        self.disconnected.set()
        self._changed.set()
        for callback in self.on_disconnect:
            callback()

    # --- answers ----------------------------------------------------------------------------

    async def _respond(self, conn: _Connection, request: RecordedRequest) -> After:
        path = request.path.split("?", 1)[0].rstrip("/")
        if path.startswith("/v1/"):
            path = path[3:]
        if request.method == "GET" and path == "/models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "upstream-stub"}
                for m in STUB_MODELS
            ]
            await self._send_json(conn, 200, {"object": "list", "data": data})
            return "keep"
        # Under any prefix, as vendors mount it: /compatible-mode/v1 (DashScope), /v2 (Qianfan).
        if request.method != "POST" or not path.endswith("/chat/completions"):
            await self._send_error(conn, 404, f"no route {request.method} {request.path}")
            return "keep"
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            await self._send_error(conn, 400, "the body must be a JSON object with messages")
            return "keep"
        reply: Reply | str = (
            self._script.popleft() if self._script else str(body.get("model", "echo"))
        )
        if isinstance(reply, str):
            reply = reply_for_model(reply, body, request.headers)
        return await self._chat(conn, request, body, reply)

    async def _chat(
        self, conn: _Connection, request: RecordedRequest, body: dict[str, Any], reply: Reply
    ) -> After:
        if reply.hang:
            await conn.wait_gone()
            raise _ClientGone
        if not 200 <= reply.status <= 299:
            await self._send_error(conn, reply.status, reply.error_message or "stub error")
            return "keep"
        streaming = body.get("stream") is True if reply.stream is None else reply.stream
        model = str(body.get("model", "stub"))
        content = list(reply.content)
        usage = reply.usage or (_prompt_tokens(body.get("messages")), len(content))
        if not streaming:
            if reply.end == "reset":
                conn.reset()
                return "reset"
            message: dict[str, Any] = {"role": "assistant", "content": "".join(content)}
            if reply.reasoning:
                message[reply.reasoning_field] = "".join(reply.reasoning)
            if reply.tool_calls:
                message["content"] = message["content"] or None
                message["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.whole_arguments},
                    }
                    for call in reply.tool_calls
                ]
            logprobs = None
            if body.get("logprobs") is True and content:
                top = body.get("top_logprobs")
                logprobs = {"content": _logprobs("".join(content), top), "refusal": None}
            await self._send_json(
                conn,
                200,
                {
                    "id": f"chatcmpl-stub{next(self._ids)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "logprobs": logprobs,
                            "finish_reason": reply.finish_reason or "stop",
                        }
                    ],
                    "usage": _usage(usage),
                },
            )
            return "keep"
        return await self._stream(conn, body, reply, model, content, usage)

    async def _stream(
        self,
        conn: _Connection,
        body: dict[str, Any],
        reply: Reply,
        model: str,
        content: list[str],
        usage: tuple[int, int],
    ) -> After:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        base = {
            "id": f"chatcmpl-stub{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": None,
        }

        logprobs = body.get("logprobs") is True
        top = body.get("top_logprobs")
        sent = [0]  # content chunks so far: the running total of usage_at="every-chunk"

        def chunk(delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> bytes:
            choice: dict[str, Any] = {
                "index": 0,
                "delta": delta,
                "logprobs": logprobs,
                "finish_reason": finish,
            }
            obj: dict[str, Any] = {**base, "choices": [choice]}
            if include_usage:
                obj["usage"] = None
                if reply.usage_at == "every-chunk":
                    sent[0] += 1 if delta.get("content") else 0
                    obj["usage"] = _usage((usage[0], sent[0]))
                if finish is not None and reply.usage_at == "finish":
                    obj["usage"] = _usage(usage)
                if finish is not None and reply.usage_at == "choice":
                    del obj["usage"]
                    choice["usage"] = _usage(usage)
            return b"data: " + orjson.dumps(obj) + b"\n\n"

        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": None, reply.reasoning_field: r}) for r in reply.reasoning]
        events += [
            chunk(
                {"content": c},
                logprobs={"content": _logprobs(c, top), "refusal": None} if logprobs else None,
            )
            for c in content
        ]
        events += [chunk({"tool_calls": [piece]}) for piece in _tool_call_pieces(reply)]
        if reply.inject:
            events.append(reply.inject)
        if reply.finish_reason is not None:
            events.append(chunk({}, reply.finish_reason))
            if include_usage and reply.usage_at == "own-chunk":
                usage_chunk = {**base, "choices": [], "usage": _usage(usage)}
                events.append(b"data: " + orjson.dumps(usage_chunk) + b"\n\n")
        if reply.done:
            events.append(b"data: [DONE]\n\n")

        conn.start_watch()
        await conn.write(
            b"HTTP/1.1 200 OK\r\n"
            b"content-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n"
            b"server: upstream-stub\r\n\r\n"
        )
        for i, event in enumerate(events):
            if i:
                await conn.pause(reply.delay)
            await conn.send_chunk(event, split=reply.split)
        if reply.end == "close":
            await conn.write(b"0\r\n\r\n")
            return "keep"
        if reply.end == "stall":
            await conn.wait_gone()
            raise _ClientGone
        await conn.pause(RESET_PAUSE)
        if reply.end == "reset":
            conn.reset()
            return "reset"
        return "close"  # eof: close without the terminating chunk

    async def _send_json(
        self,
        conn: _Connection,
        status: int,
        obj: Any,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        payload = orjson.dumps(obj)
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        head = [f"HTTP/1.1 {status} {phrase}", "content-type: application/json"]
        head += [f"content-length: {len(payload)}", "server: upstream-stub"]
        head += [f"{name}: {value}" for name, value in extra_headers]
        await conn.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)

    async def _send_error(self, conn: _Connection, status: int, message: str) -> None:
        kind, code = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else "error", None))
        extra = [("retry-after", "1")] if status == 429 else []
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        await self._send_json(conn, status, body, extra)


def _tool_call_pieces(reply: Reply) -> list[dict[str, Any]]:
    """The ``delta.tool_calls`` entries of the reply's calls, in the order they are streamed."""
    per_call: list[list[dict[str, Any]]] = []
    for index, call in enumerate(reply.tool_calls):
        first: dict[str, Any] = {"index": index, "id": call.id, "type": "function"}
        first["function"] = {"name": call.name, "arguments": ""}
        if reply.whole_calls:
            first["function"]["arguments"] = call.whole_arguments
        pieces = [first]
        for part in () if reply.whole_calls else call.arguments:
            piece: dict[str, Any] = {"index": index, "function": {"arguments": part}}
            if reply.tool_ids == "repeat":
                piece = {"index": index, "id": call.id, "type": "function"}
                piece["function"] = {"name": call.name, "arguments": part}
            elif reply.tool_ids == "empty-later":
                piece = {"index": index, "id": "", "type": "function", **piece}
            pieces.append(piece)
        for piece in pieces:
            if reply.tool_ids == "none":
                piece.pop("id", None)
            if not reply.tool_index:
                piece.pop("index")
        per_call.append(pieces)
    if not reply.interleave:
        return [piece for pieces in per_call for piece in pieces]
    mixed: list[dict[str, Any]] = []
    for round_ in itertools.zip_longest(*per_call):
        mixed += [piece for piece in round_ if piece is not None]
    return mixed


def _logprobs(text: str, top: Any) -> list[dict[str, Any]]:
    """Made-up log probabilities for ``text``, as one token, with ``top`` alternatives."""
    alternatives = top if isinstance(top, int) and top > 0 else 0
    entry = {"token": text, "logprob": -0.25, "bytes": list(text.encode())}
    return [
        {
            **entry,
            "top_logprobs": [
                {"token": f"{text}{i}", "logprob": -1.0 - i, "bytes": None}
                for i in range(alternatives)
            ],
        }
    ]


def _usage(usage: tuple[int, int]) -> dict[str, int]:
    prompt, completion = usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class ThreadedUpstream:
    """``UpstreamStub`` on an event loop of its own in a background thread, for sync clients."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="upstream-stub", daemon=True)
        self._disconnect = threading.Condition()
        self.stub: UpstreamStub | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> ThreadedUpstream:
        self._thread.start()

        async def start() -> UpstreamStub:
            stub = UpstreamStub()
            stub.on_disconnect.append(self._notify)
            return await stub.__aenter__()

        self.stub = self._call(start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.stub is not None:
                self._call(self.stub.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _notify(self) -> None:
        with self._disconnect:
            self._disconnect.notify_all()

    def _stub(self) -> UpstreamStub:
        if self.stub is None:
            raise RuntimeError("ThreadedUpstream is not started: use it in a with block")
        return self.stub

    @property
    def base_url(self) -> str:
        return self._stub().base_url

    @property
    def tls_blackhole_url(self) -> str:
        return self._stub().tls_blackhole_url

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._stub().requests

    @property
    def last_request(self) -> RecordedRequest:
        return self._stub().last_request

    @property
    def disconnects(self) -> int:
        return self._stub().disconnects

    def script(self, *replies: Reply | str) -> None:
        stub = self._stub()

        async def add() -> None:
            stub.script(*replies)

        self._call(add())

    def wait_disconnect(self, count: int = 1, timeout: float = 1.0) -> bool:
        stub = self._stub()
        with self._disconnect:
            return self._disconnect.wait_for(lambda: stub.disconnects >= count, timeout)
