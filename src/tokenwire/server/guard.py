"""The door every API request passes: who is calling, whether they may, and how often.

A pure-ASGI middleware (no ``BaseHTTPMiddleware``: it would buffer streams) in front of ``/api``,
``/v1`` and ``/metrics``. The web app's shell, its assets, ``/healthz`` and ``/readyz`` stay open.
The caller's token and origin are checked by :mod:`tokenwire.server.auth`, their rate by
:mod:`tokenwire.server.rate_limits`; a request refused is answered here, as JSON, on HTTP and on a
WebSocket handshake alike.
"""

from __future__ import annotations

import logging

import orjson
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from tokenwire.config import Settings
from tokenwire.server.auth import (
    USER_KEY,
    Authenticator,
    ForbiddenOrigin,
    InvalidToken,
    MissingToken,
    Unauthorized,
    bearer_token,
    cookie_token,
    same_origin,
)
from tokenwire.server.error_map import api_error, error_body, unavailable
from tokenwire.server.errors import ApiError
from tokenwire.server.rate_limits import RateLimited, RateLimits
from tokenwire.server.scope import client_address, route_path
from tokenwire.store.database import DatabaseUnavailable

logger = logging.getLogger("tokenwire.server")

PROTECTED = ("/api/", "/v1/", "/metrics")
OPEN = frozenset({"/api/login", "/api/logout"})


class Guard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if not path.startswith(PROTECTED) or path in OPEN:
            await self.app(scope, receive, send)
            return
        try:
            user = await self.check(scope)
        except (DatabaseUnavailable, RedisError, ConnectionError, TimeoutError):
            # Tokens or rate limits cannot be checked: refuse clearly, never a 500.
            logger.error("cannot check the request's token or rate: a backing store is down")
            await deny(scope, receive, send, unavailable())
            return
        except (Unauthorized, ForbiddenOrigin, RateLimited) as exc:
            refusal = api_error(exc)
            assert refusal is not None
            await deny(scope, receive, send, refusal)
            return
        scope[USER_KEY] = user
        await self.app(scope, receive, send)

    async def check(self, scope: Scope) -> str:
        """The user the request acts for; raises why it is refused."""
        state = scope["app"].state.tokenwire
        settings: Settings = state.settings
        auth: Authenticator = state.auth
        limits: RateLimits = state.rate_limits
        websocket = scope["type"] == "websocket"

        wait = await limits.retry_after(limits.per_ip, "ip", client_address(scope))
        if wait is not None:
            raise RateLimited(per_user=False, retry_after=wait)
        if not await auth.enabled():
            if websocket and not same_origin(scope, settings.cors_origins):
                raise ForbiddenOrigin()
            return ""
        token = bearer_token(scope)
        from_cookie = token is None
        if from_cookie:
            token = cookie_token(scope)
        user = await auth.user_for(token) if token else None
        if user is None:
            raise InvalidToken() if token else MissingToken()
        if from_cookie and websocket and not same_origin(scope, settings.cors_origins):
            raise ForbiddenOrigin()
        wait = await limits.retry_after(limits.per_user, "user", user)
        if wait is not None:
            raise RateLimited(per_user=True, retry_after=wait)
        return user


async def deny(scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
    """Refuse a request with a JSON error, on HTTP and on a WebSocket handshake alike."""
    body = orjson.dumps(error_body(scope, error.code, error.message))
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (error.headers or {}).items()
    ]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    # WebSocket: answer the handshake with an HTTP error where the server can, else refuse it.
    if (await receive())["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {"type": "websocket.http.response.start", "status": error.status, "headers": headers}
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": error.code})
