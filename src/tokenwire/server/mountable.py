"""tokenwire as one ASGI application that runs on its own or mounts inside another.

A host application (FastAPI, Starlette, anything ASGI) that mounts tokenwire under a prefix does
not run the mounted app's lifespan, so ``TokenwireApp`` starts itself on its first request: the
store opened, the models built, the hub running, on the host's event loop. Hosts that want start-up
and shutdown explicit call ``startup``/``shutdown`` or enter ``lifespan`` from their own lifespan;
run directly by an ASGI server, it answers the lifespan protocol itself.

The running parts are bound to the event loop that started them: a request from another, still
running loop is refused rather than handed asyncio objects of a foreign loop; after that loop has
closed, the next request starts afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from tokenwire.config import ModelConfig, Settings, load_settings
from tokenwire.errors import TokenwireError
from tokenwire.hub.hub import Hub
from tokenwire.hub.tools import build_tools
from tokenwire.providers.python import check_entry
from tokenwire.server.app import create_app as create_starlette_app
from tokenwire.server.error_map import error_response
from tokenwire.server.errors import ApiError

__all__ = ["ForeignLoop", "TokenwireApp", "create_app"]

logger = logging.getLogger("tokenwire.server")


def create_app(
    config_file: str | Path | None = None,
    *,
    models: Iterable[ModelConfig | Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | None = None,
    **settings: Any,
) -> TokenwireApp:
    """tokenwire's ASGI application, configured from Python as fully as from a TOML file.

    ``models`` are ``ModelConfig``s or dicts shaped like the ``[[models]]`` entries (a python
    model's ``entry`` may be the function itself); ``tools`` likewise ``ToolConfig``s or dicts
    shaped like the ``[[tools]]`` entries (``function`` may be the callable itself); every other
    keyword is a setting of the same name (``database_url``, ``keepalive_seconds``, ...) and wins
    over the file and the environment. Python models' and tools' functions are imported and
    checked here; nothing is opened until it starts.
    """
    known = {f.name for f in fields(Settings)} - {"models"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(
            f"create_app() got unknown setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    loaded = load_settings(config_file, env=env, models=models, **settings)
    for model in loaded.models:
        if model.provider == "python":
            check_entry(model.entry)  # a bad function fails here, not at the first request
    build_tools(loaded.tools)
    return TokenwireApp(loaded)


class ForeignLoop(TokenwireError, RuntimeError):
    """The app was asked to serve on an event loop other than the running one it started on."""


class TokenwireApp:
    """The ASGI callable; ``app.hub`` once started."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_starlette_app(settings)
        self._guard = threading.Lock()  # one check-and-start, whichever thread's loop asks
        self._run: _Run | None = None

    @property
    def state(self) -> State:
        return self.app.state

    @property
    def hub(self) -> Hub:
        run = self._run
        if run is None or not run.ready.done() or run.failed:
            raise RuntimeError("tokenwire has not started yet")
        hub: Hub = self.app.state.tokenwire.hub
        return hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        try:
            await self.startup()
        except ForeignLoop:
            raise
        except Exception:
            await _unavailable(scope, send)
            return
        await self.app(scope, receive, send)

    async def startup(self) -> None:
        """Start, or wait for the start begun by a concurrent request; idempotent."""
        loop = asyncio.get_running_loop()
        with self._guard:
            run = self._run
            if run is None or run.failed or (run.loop is not loop and run.loop.is_closed()):
                run = self._run = _Run(self.app, loop)
            elif run.loop is not loop:
                raise ForeignLoop(
                    "this tokenwire app runs on another event loop; create one app per loop"
                )
        await asyncio.shield(run.ready)

    async def shutdown(self) -> None:
        """Stop every generation (stored as interrupted), close the store and the models."""
        with self._guard:
            run, self._run = self._run, None
        if run is not None and not run.loop.is_closed():
            await run.stop()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """For a host's lifespan: ``FastAPI(lifespan=tw.lifespan)`` or ``async with``."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    async def _serve_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


class _Run:
    """One start of the app on one event loop, kept by a task that enters and leaves the app's
    lifespan itself, so both happen in one task whoever asks for them."""

    def __init__(self, app: Starlette, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ready: asyncio.Future[None] = loop.create_future()
        self.failed = False
        self._stopping = asyncio.Event()
        self._task = loop.create_task(self._keep(app), name="tokenwire lifespan")

    async def _keep(self, app: Starlette) -> None:
        try:
            async with app.router.lifespan_context(app):
                self.ready.set_result(None)
                await self._stopping.wait()
        except asyncio.CancelledError:
            self.failed = True
            if not self.ready.done():
                self.ready.cancel()
            raise
        except Exception as exc:
            self.failed = True
            logger.exception("tokenwire failed to %s", "stop" if self.ready.done() else "start")
            if not self.ready.done():
                self.ready.set_exception(exc)

    async def stop(self) -> None:
        self._stopping.set()
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if not self._task.cancelled():  # we were cancelled ourselves, not the start
                raise


async def _unavailable(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1011})
        return
    failed = ApiError(503, "unavailable", "tokenwire failed to start; see the log")
    response = error_response(scope, failed)
    await send({"type": "http.response.start", "status": 503, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
