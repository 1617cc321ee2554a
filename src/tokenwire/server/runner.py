"""Running the app under uvicorn, with a shutdown that lets answers finish.

On SIGTERM or Ctrl-C the server stops accepting connections, gives running generations
``shutdown_grace_seconds`` to finish, and ends the rest with a retryable ``interrupted`` error,
their partial text stored. Only then does uvicorn wait for connections to close: every reader has
its terminal event by that point, so they close at once.
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.applications import Starlette

from tokenwire.config import Settings
from tokenwire.server.app import create_app


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Starlette, grace: float) -> None:
        super().__init__(config)
        self.tokenwire_app = app
        self.grace = grace

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:  # no new connections while answers finish
            server.close()
        state = getattr(self.tokenwire_app.state, "tokenwire", None)
        if state is not None and not self.force_exit:
            await state.hub.drain(self.grace)
        await super().shutdown(sockets)


def run_server(settings: Settings, *, log_level: str = "info") -> None:
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        log_config=None,  # the command line configured logging already
        timeout_graceful_shutdown=5,
        # Frames a little over the limit get a clear `rejected` frame from the app; far over it,
        # the server closes the socket (1009) before reading them whole.
        ws_max_size=4 * settings.ws_max_frame_bytes if settings.ws_max_frame_bytes else 2**24,
    )
    DrainingServer(config, app, settings.shutdown_grace_seconds).run()
