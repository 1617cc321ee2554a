"""Build the ASGI application: settings in, a Starlette app out, its parts wired in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tokenwire.config import Settings, load_settings
from tokenwire.hub.hub import Hub
from tokenwire.hub.log import LogUnavailable
from tokenwire.providers.base import ProviderError
from tokenwire.providers.local import LocalProvider
from tokenwire.providers.registry import build_provider
from tokenwire.server import api, openai_compat, web, websocket
from tokenwire.server.backends import open_log, open_store, wire_cancels
from tokenwire.server.errors import (
    UNAVAILABLE,
    ApiError,
    api_error_handler,
    http_error_handler,
    unexpected_error_handler,
)
from tokenwire.server.state import AppState
from tokenwire.store.database import DatabaseUnavailable

logger = logging.getLogger("tokenwire.server")


async def _error(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/v1/"):
        return await openai_compat.openai_error_handler(request, exc)
    return await api_error_handler(request, exc)


async def _unavailable(request: Request, exc: Exception) -> Response:
    """Redis or the database is down: say so (once in the log per request), and when to retry."""
    logger.error("%s %s: %s", request.method, request.url.path, exc)
    response = await _error(request, UNAVAILABLE)
    response.headers["Retry-After"] = "2"
    return response


async def _open(settings: Settings) -> AppState:
    store = await open_store(settings)
    log = await open_log(settings, store)
    providers = {m.id: build_provider(m) for m in settings.models}
    hub = Hub(log, store, providers, max_events=settings.max_events_per_stream)
    wire_cancels(log, hub)
    return AppState(settings=settings, hub=hub)


async def _warm_up(provider: LocalProvider) -> None:
    try:
        await provider.warm_up()
    except ProviderError as exc:
        logger.error("model %s cannot load: %s", provider.id, exc.message)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = await _open(settings)
        app.state.tokenwire = state
        # Load local models now rather than at the first question.
        warm = [
            asyncio.create_task(_warm_up(p))
            for p in state.hub.providers.values()
            if isinstance(p, LocalProvider)
        ]
        try:
            yield
        finally:
            for task in warm:
                task.cancel()
            await state.hub.close()
            await state.hub.log.close()
            await state.hub.store.close()

    return Starlette(
        routes=[*api.routes, *openai_compat.routes, *websocket.routes, *web.routes],
        exception_handlers={
            ApiError: _error,
            HTTPException: http_error_handler,
            LogUnavailable: _unavailable,
            DatabaseUnavailable: _unavailable,
            Exception: unexpected_error_handler,
        },
        lifespan=lifespan,
    )
