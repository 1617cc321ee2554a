"""A TCP proxy on loopback that breaks connections on purpose, for resume and chaos tests.

Each accepted connection gets an ``Action``: forward untouched, cut after some bytes of the
response body (FIN or RST), stall (forever, or for a while and then close), answer canned bytes in
the server's place, or refuse. The actions come from a fixed plan (connection n gets ``plan[n]``)
or from a function of the connection's index, such as a seeded random choice. Request heads are
recorded, so a test can see exactly which requests the client made. WebSocket upgrades are
forwarded as raw bytes after the handshake, so their frames can be cut like any body.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Cut:
    """Forward ``after`` bytes of the response body, then close the client's side: with a FIN, or
    with a RST when ``reset``."""

    after: int
    reset: bool = False


@dataclass(frozen=True)
class Stall:
    """Forward ``after`` bytes of the response body, then nothing: keep the connection open, or
    close it (FIN) ``close_after`` seconds later."""

    after: int
    close_after: float | None = None


@dataclass(frozen=True)
class Answer:
    """Read the request, answer these bytes in the server's place, close."""

    raw: bytes


@dataclass(frozen=True)
class Refuse:
    """Reset the connection as soon as it is accepted."""


Action = Cut | Stall | Answer | Refuse | None  # None: forward both ways, untouched
Plan = Sequence[Action] | Callable[[int], Action]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    at: float  # time.monotonic() when its head arrived


class Proxy:
    """A loopback TCP proxy to ``upstream``, in a thread of its own so that sync clients can use it
    too. ``plan`` says what happens to connection n (from 0): ``plan[n]`` (connections past the end
    are forwarded), or ``plan(n)`` when it is a function."""

    def __init__(self, upstream: str, plan: Plan = ()) -> None:
        self.upstream_port = urlsplit(upstream).port
        self.plan = plan if callable(plan) else list(plan)
        self.requests: list[Request] = []
        self.actions: list[Action] = []  # what each connection got, by index
        self.cuts: list[float] = []  # time.monotonic() of each Cut
        self.connections = 0
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/api/ws"

    def __enter__(self) -> Proxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _action(self, index: int) -> Action:
        if callable(self.plan):
            return self.plan(index)
        return self.plan[index] if index < len(self.plan) else None

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        self.base_url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _stop(self) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        index, self.connections = self.connections, self.connections + 1
        action = self._action(index)
        self.actions.append(action)
        upstream_w: asyncio.StreamWriter | None = None
        try:
            if isinstance(action, Answer):
                await self._read_request(client_r)
                client_w.write(action.raw)
                await client_w.drain()
            elif not isinstance(action, Refuse):
                upstream_r, upstream_w = await asyncio.open_connection(
                    "127.0.0.1", self.upstream_port
                )
                pumps = [
                    asyncio.create_task(self._requests(client_r, upstream_w)),
                    asyncio.create_task(self._responses(upstream_r, client_w, action)),
                ]
                try:
                    await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for pump in pumps:
                        pump.cancel()
                    await asyncio.gather(*pumps, return_exceptions=True)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:  # the proxy is closing; the task is the top of its stack
            pass
        finally:
            if isinstance(action, Refuse) or (isinstance(action, Cut) and action.reset):
                client_w.transport.abort()
            for writer in (client_w, upstream_w):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(ConnectionError):
                        await writer.wait_closed()
            self._tasks.discard(task)

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bool]:
        """The next request, head and body; and whether it asks for a WebSocket upgrade."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        fields = (line.partition(":") for line in lines[1:] if line)
        headers = {name.strip().lower(): value.strip() for name, _, value in fields}
        self.requests.append(Request(method, path, headers, time.monotonic()))
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return head + body, headers.get("upgrade", "").lower() == "websocket"

    async def _requests(self, client: asyncio.StreamReader, upstream: asyncio.StreamWriter) -> None:
        # Recorded before it is forwarded: its answer cannot reach the client before the record.
        while True:
            request, upgrade = await self._read_request(client)
            upstream.write(request)
            await upstream.drain()
            if upgrade:  # from here on, WebSocket frames: forward them as they come
                while data := await client.read(65536):
                    upstream.write(data)
                    await upstream.drain()
                return

    async def _responses(
        self, upstream: asyncio.StreamReader, client: asyncio.StreamWriter, action: Action
    ) -> None:
        limit = action.after if isinstance(action, Cut | Stall) else None
        head, sent = b"", 0
        while data := await upstream.read(65536):
            if limit is None:
                client.write(data)
                await client.drain()
                continue
            if not head.endswith(b"\r\n\r\n"):  # forward the whole head before counting
                head += data
                end = head.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head, data = head[: end + 4], head[end + 4 :]
                client.write(head)
            piece = data[: max(limit - sent, 0)]
            client.write(piece)
            sent += len(piece)
            await client.drain()
            if sent >= limit and isinstance(action, Cut):
                self.cuts.append(time.monotonic())
                return
            if sent >= limit and isinstance(action, Stall) and action.close_after is not None:
                await asyncio.sleep(action.close_after)
                return
            # A Stall without close_after reads on and forwards nothing more.
