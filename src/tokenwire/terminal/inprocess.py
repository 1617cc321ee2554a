"""The server's own ASGI app, run inside this process and spoken to without a port.

``httpx.ASGITransport`` collects a whole response body before returning it, which would hold back
a streaming answer until its end; ``StreamingASGITransport`` hands each body chunk on as the app
sends it, and tells the app the client went away when the response is closed. ``running_app``
runs the app's lifespan (models loaded, store opened, generations stopped and stored at the end).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@contextlib.asynccontextmanager
async def running_app(app: ASGIApp) -> AsyncIterator[None]:
    """Run the app's lifespan around the block: startup before it, shutdown after it."""
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(_call(app, scope, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    await _lifespan_reply(task, from_app, "startup")
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await _lifespan_reply(task, from_app, "shutdown")
        await task


async def _call(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The app's call as a coroutine, for a task (an ASGI app need only return an awaitable)."""
    await app(scope, receive, send)


async def _lifespan_reply(
    task: asyncio.Task[None], replies: asyncio.Queue[Message], step: str
) -> None:
    reply = asyncio.create_task(replies.get())
    await asyncio.wait((task, reply), return_when=asyncio.FIRST_COMPLETED)
    if reply.done() and reply.result()["type"] == f"lifespan.{step}.complete":
        return
    reply.cancel()
    # Failed: Starlette re-raises what went wrong, which is let through here, rather than the
    # traceback it reports as text.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), 5)
    raise RuntimeError(f"the app failed its lifespan {step}")


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """An httpx transport that calls an ASGI app in this event loop and streams its responses."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 0),
            "server": (request.url.host, request.url.port or 80),
            "state": {},
        }
        exchange = _Exchange(body)
        task = asyncio.create_task(_call(self._app, scope, exchange.receive, exchange.send))
        task.add_done_callback(exchange.app_ended)
        status, headers = await exchange.started
        return httpx.Response(status, headers=headers, stream=_Body(exchange, task))


class _Exchange:
    """One request's ASGI messages, both ways."""

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body
        self.closed = asyncio.Event()  # the client closed the response
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()  # None: the body ended
        self.started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = (
            asyncio.get_running_loop().create_future()
        )

    async def receive(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self.closed.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started.set_result((message["status"], list(message.get("headers", []))))
        elif message["type"] == "http.response.body":
            if message.get("body"):
                self.chunks.put_nowait(message["body"])
            if not message.get("more_body", False):
                self.chunks.put_nowait(None)

    def app_ended(self, task: asyncio.Task[None]) -> None:
        self.chunks.put_nowait(None)
        if not self.started.done():
            error = None if task.cancelled() else task.exception()
            self.started.set_exception(error or RuntimeError("the app ended without a response"))
        elif not task.cancelled():
            task.exception()  # seen: a failure after the response started only ends its body


class _Body(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange, task: asyncio.Task[None]) -> None:
        self._exchange = exchange
        self._task = task

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._exchange.chunks.get()) is not None:
            yield chunk

    async def aclose(self) -> None:
        self._exchange.closed.set()
        try:
            async with asyncio.timeout(5):
                await asyncio.shield(self._task)
        except TimeoutError:
            self._task.cancel()
        except Exception:
            pass  # already seen by app_ended
