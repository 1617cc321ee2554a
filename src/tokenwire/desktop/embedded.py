"""The server that ``tokenwire desktop`` runs for itself: the ``serve`` app on a loopback port.

It runs in a thread of its own with its own event loop, so the Qt event loop never waits on it. It
stops the way ``serve`` does on SIGTERM: running answers get ``shutdown_grace_seconds`` to finish
and are stored, so closing the window loses nothing.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn

from tokenwire.config import Settings
from tokenwire.desktop.tickets import Tickets
from tokenwire.errors import TokenwireError
from tokenwire.server.app import create_app
from tokenwire.server.runner import DrainingServer
from tokenwire.server.state import AppState


class EmbeddedServerError(TokenwireError, RuntimeError):
    """The embedded server did not start; the message says why."""


class EmbeddedServer:
    def __init__(self, settings: Settings, *, log_level: str = "warning") -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.tickets = Tickets()  # who the window's page acts as, for its bridge
        self.app.router.routes.insert(0, self.tickets.route())
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))  # loopback only, a free port: nothing else can reach it
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level=log_level,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=5,
            ws_max_size=4 * settings.ws_max_frame_bytes if settings.ws_max_frame_bytes else 2**24,
        )
        self._server = DrainingServer(config, self.app, settings.shutdown_grace_seconds)
        self._thread = threading.Thread(target=self._run, name="tokenwire-server", daemon=True)
        self._failure: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> AppState:
        """The hub, store and settings, once started."""
        state: AppState = self.app.state.tokenwire
        return state

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self._server.serve(sockets=[self._sock])

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start(); the thread must not die silently
            self._failure = exc

    def start(self, timeout: float = 60.0) -> str:
        """Start serving and return the base URL once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                reason = self._failure or "it did not start in time"
                self._server.should_exit = True
                raise EmbeddedServerError(f"the embedded server failed: {reason}")
            time.sleep(0.02)
        return self.base_url

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, let running answers finish (and be stored), then return."""
        if timeout is None:
            timeout = self.settings.shutdown_grace_seconds + 15
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()
