"""The door every API request passes: who is calling, whether they may, and how often.

A pure-ASGI middleware (no ``BaseHTTPMiddleware``: it would buffer streams) in front of ``/api``,
``/v1`` and ``/metrics``. The web app's shell, its assets and ``/healthz`` stay open. The caller's
token and origin are checked by :mod:`tokenwire.server.auth`, their rate by
:mod:`tokenwire.server.rate_limits`; a request refused is answered here, as JSON, on HTTP and on a
WebSocket handshake alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from tokenwire.config import Settings
from tokenwire.server.auth import USER_KEY, Authenticator, bearer_token, cookie_token, same_origin
from tokenwire.server.rate_limits import RateLimits
from tokenwire.server.scope import client_address, route_path
from tokenwire.store.database import DatabaseUnavailable
from tokenwire.wire import openai as oa

logger = logging.getLogger("tokenwire.server")

PROTECTED = ("/api/", "/v1/", "/metrics")
OPEN = frozenset({"/api/login", "/api/logout"})


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: str
    message: str
    retry_after: int | None = None


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
            verdict = await self.check(scope)
        except (DatabaseUnavailable, RedisError, ConnectionError, TimeoutError):
            # Tokens or rate limits cannot be checked: refuse clearly, never a 500.
            logger.error("cannot check the request's token or rate: a backing store is down")
            verdict = Refusal(503, "unavailable", "the server's store is unreachable; try again "
                              "soon", retry_after=2)  # fmt: skip
        if isinstance(verdict, Refusal):
            await deny(scope, receive, send, verdict.status, verdict.code, verdict.message,
                       retry_after=verdict.retry_after)  # fmt: skip
            return
        scope[USER_KEY] = verdict
        await self.app(scope, receive, send)

    async def check(self, scope: Scope) -> str | Refusal:
        """The user the request acts for, or why it is refused."""
        state = scope["app"].state.tokenwire
        settings: Settings = state.settings
        auth: Authenticator = state.auth
        limits: RateLimits = state.rate_limits
        websocket = scope["type"] == "websocket"

        wait = await limits.retry_after(limits.per_ip, "ip", client_address(scope))
        if wait is not None:
            message = f"too many requests from this address; retry in {wait} s"
            return Refusal(429, "rate_limited", message, wait)
        if not await auth.enabled():
            if websocket and not same_origin(scope, settings.cors_origins):
                return Refusal(403, "forbidden_origin", "WebSocket from another origin")
            return ""
        token = bearer_token(scope)
        from_cookie = token is None
        if from_cookie:
            token = cookie_token(scope)
        user = await auth.user_for(token) if token else None
        if user is None:
            if not token:
                return Refusal(401, "unauthorized",
                               "this server needs an API token: send `Authorization: Bearer "
                               "<token>`")  # fmt: skip
            return Refusal(401, "unauthorized", "the API token is not valid (unknown or revoked)")
        if from_cookie and websocket and not same_origin(scope, settings.cors_origins):
            return Refusal(403, "forbidden_origin", "WebSocket from another origin")
        wait = await limits.retry_after(limits.per_user, "user", user)
        if wait is not None:
            message = f"too many requests for this user; retry in {wait} s"
            return Refusal(429, "rate_limited", message, wait)
        return user


async def deny(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    retry_after: int | None = None,
) -> None:
    """Refuse a request with a JSON error, on HTTP and on a WebSocket handshake alike."""
    if route_path(scope).startswith("/v1/"):
        body = orjson.dumps(oa.error_body(code, message))
    else:
        body = orjson.dumps({"error": {"code": code, "message": message}})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="tokenwire"'))
    if retry_after is not None:
        headers.append((b"retry-after", b"%d" % retry_after))
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    # WebSocket: answer the handshake with an HTTP error where the server can, else refuse it.
    if (await receive())["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": code})
