"""Real tokenwire servers for tests: uvicorn on a loopback port, in a thread of its own.

Streaming is only honest over a real socket (an in-memory ASGI transport collects whole bodies), and
a thread lets sync clients such as the ``openai`` SDK talk to the same server as async ones.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from tokenwire.config import ModelConfig, Settings
from tokenwire.server.app import create_app

ANSWER = (
    "Streaming works. 你好，世界！Emoji too: 🌍👩‍💻. "
    "This answer is long enough to be split into many small events for the tests to count."
)


def replay(id: str, text: str = ANSWER, tokens_per_second: float = 0.0) -> ModelConfig:
    return ModelConfig(id=id, provider="replay", text=text, tokens_per_second=tokens_per_second)


DEFAULT_MODELS = (
    replay("replay"),  # first, so the default
    replay("slow", tokens_per_second=40),
    replay("crawl", tokens_per_second=4),
)


@dataclass
class RunningServer:
    base_url: str
    settings: Settings
    app: Any
    loop: asyncio.AbstractEventLoop

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/api/ws"

    @property
    def hub(self) -> Any:
        return self.app.state.tokenwire.hub

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the server's own event loop (to look at its state) and wait."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextmanager
def run_server(
    tmp_path: Path, models: tuple[ModelConfig, ...] = DEFAULT_MODELS, **settings: Any
) -> Iterator[RunningServer]:
    config = Settings(
        models=models,
        database_url=f"sqlite:///{tmp_path / 'tokenwire.db'}",
        **{"keepalive_seconds": 15.0, "rate_limit_user": "", "rate_limit_ip": "", **settings},
    )
    app = create_app(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(server.serve(sockets=[sock])), daemon=True
    )
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        threading.Event().wait(0.01)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", config, app, loop)
    finally:
        server.should_exit = True
        thread.join(15)
        loop.close()
        sock.close()
