"""Any ASGI app (a host that mounts tokenwire, an example) on a real uvicorn server on loopback.

The server runs under ``asyncio.run`` in a thread of its own, as ``uvicorn.run`` would run it: at
the end, tasks still pending (such as a lazily started tokenwire) are cancelled and finish.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass
class Host:
    base_url: str
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the server's event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextmanager
def serve(app: Any, *, lifespan: str = "on") -> Iterator[Host]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan=lifespan, timeout_graceful_shutdown=2)
    )
    loops: list[asyncio.AbstractEventLoop] = []

    async def run() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve(sockets=[sock])

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the host server did not start")
        threading.Event().wait(0.01)
    try:
        yield Host(f"http://127.0.0.1:{port}", loops[0])
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
