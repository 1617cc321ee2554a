"""Build the ASGI application: settings in, a Starlette app out, its parts wired in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from tokenwire.config import Settings, load_settings
from tokenwire.hub.attempts import RetryPolicy
from tokenwire.hub.hub import Hub
from tokenwire.hub.redis_log import RedisStreamLog
from tokenwire.hub.tools import model_tools
from tokenwire.metrics import Metrics
from tokenwire.providers.base import ProviderError
from tokenwire.providers.local import LocalProvider
from tokenwire.providers.registry import build_provider
from tokenwire.server import (
    api,
    health,
    login,
    metrics_endpoint,
    openai_compat,
    responses_api,
    web,
    websocket,
)
from tokenwire.server.auth import Authenticator
from tokenwire.server.backends import open_log, open_store, wire_cancels
from tokenwire.server.error_map import (
    HANDLED,
    handle_error,
    handle_http_exception,
    handle_unexpected,
)
from tokenwire.server.guard import Guard
from tokenwire.server.rate_limits import RateLimits
from tokenwire.server.reader_caps import ReaderCaps
from tokenwire.server.state import AppState
from tokenwire.store.tokens import TokenStore

logger = logging.getLogger("tokenwire.server")


async def _open(settings: Settings) -> AppState:
    # Models first: one that cannot be built (a bad `entry`) fails before anything is opened.
    providers = {m.id: build_provider(m) for m in settings.models}
    try:
        tools = await model_tools(settings, providers)
        store = await open_store(settings)
        log = await open_log(settings, store)
    except BaseException:
        for provider in providers.values():  # a start that failed leaves nothing open
            await provider.aclose()
        raise
    metrics = Metrics()
    hub = Hub(
        log,
        store,
        providers,
        max_events=settings.max_events_per_stream,
        policies={m.id: RetryPolicy(m.retry_deadline, m.max_retries) for m in settings.models},
        fallbacks={m.id: m.fallbacks for m in settings.models},
        max_concurrent=settings.max_concurrent_streams,
        max_per_user=settings.max_streams_per_user,
        max_context_chars=settings.max_context_chars,
        metrics=metrics,
        tools=tools,
        max_tool_steps={m.id: m.max_tool_steps for m in settings.models},
        log_outage_seconds=settings.log_outage_seconds,
        store_outage_seconds=settings.store_outage_seconds,
        max_answer_chars=settings.max_answer_chars,
    )
    wire_cancels(log, hub)
    metrics.add_gauge(
        "tokenwire_active_streams", "Generations running in this process.", lambda: hub.running
    )
    if isinstance(log, RedisStreamLog):
        held = log.held
        metrics.add_gauge(
            "tokenwire_log_held_events",
            "Events held in this process while Redis is unreachable.",
            lambda: held.held,
        )
    auth = Authenticator(TokenStore(store.db), required=settings.auth_required)
    return AppState(
        settings=settings,
        hub=hub,
        auth=auth,
        rate_limits=RateLimits(settings, settings.redis_url),
        metrics=metrics,
    )


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

    middleware = [
        Middleware(Guard),
        Middleware(
            ReaderCaps,
            per_user=settings.max_readers_per_user,
            per_ip=settings.max_readers_per_ip,
        ),
    ]
    if settings.cors_origins:
        middleware.insert(
            0,
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["authorization", "content-type", "last-event-id"],
                expose_headers=["x-stream-id", "x-conversation-id", "retry-after"],
                allow_credentials="*" not in settings.cors_origins,
                max_age=600,
            ),
        )
    return Starlette(
        routes=[
            *api.routes,
            *health.routes,
            *login.routes,
            *openai_compat.routes,
            *responses_api.routes,
            *websocket.routes,
            *metrics_endpoint.routes,
            *web.routes,
        ],
        middleware=middleware,
        exception_handlers={
            **dict.fromkeys(HANDLED, handle_error),
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
