"""The door every API request passes: who is calling, whether they may, and how often.

A pure-ASGI middleware (no ``BaseHTTPMiddleware``: it would buffer streams) in front of ``/api``,
``/v1`` and ``/metrics``. The web app's shell, its assets and ``/healthz`` stay open.

- Auth is off while no token exists and ``auth_required`` is not set: a personal tool on loopback.
  Once on, a request needs ``Authorization: Bearer <token>`` or the HttpOnly cookie that
  ``POST /api/login`` sets for the browser; anything else is a 401.
- A browser WebSocket carries no CORS check, so its ``Origin`` must be this server's own or an
  allowed one; otherwise any page the user visits could read their conversations.
- Rate limits per client address (always) and per user (when auth is on), as a 429 with
  ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import orjson
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.exceptions import RedisError

from tokenwire.config import Settings
from tokenwire.store.database import DatabaseUnavailable
from tokenwire.store.tokens import TokenStore
from tokenwire.wire import openai as oa

logger = logging.getLogger("tokenwire.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE_NAME = "tokenwire_token"
USER_KEY = "tokenwire.user"
PROTECTED = ("/api/", "/v1/", "/metrics")
OPEN = frozenset({"/api/login", "/api/logout"})


class Authenticator:
    """Token checks with a short cache, so a request costs no database query most of the time.

    Tokens created or revoked by another process (``tokenwire token``) count within
    ``cache_seconds``.
    """

    def __init__(self, tokens: TokenStore, *, required: bool, cache_seconds: float = 5.0) -> None:
        self.tokens = tokens
        self.required = required
        self.cache_seconds = cache_seconds
        self._enabled: tuple[bool, float] | None = None
        self._users: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    async def enabled(self) -> bool:
        if self.required:
            return True
        now = time.monotonic()
        if self._enabled is None or self._enabled[1] < now:
            self._enabled = (await self.tokens.any(), now + self.cache_seconds)
        return self._enabled[0]

    async def user_for(self, token: str) -> str | None:
        now = time.monotonic()
        cached = self._users.get(token)
        if cached is not None and cached[1] >= now:
            return cached[0]
        user = await self.tokens.user_for(token)
        self._users[token] = (user, now + self.cache_seconds)
        self._users.move_to_end(token)
        while len(self._users) > 10_000:
            self._users.popitem(last=False)
        return user

    def forget(self) -> None:
        """Drop the cache (after this process created or revoked a token)."""
        self._enabled = None
        self._users.clear()


class RateLimits:
    """Moving-window limits, in memory or (with Redis) shared by every process.

    A limiter whose Redis is unreachable lets requests through rather than refusing them all: the
    limits guard against abuse, and an outage of their store is not abuse. It starts afresh on the
    next request, since a restarted Redis has lost the limiter's scripts.
    """

    def __init__(self, settings: Settings, redis_url: str | None = None) -> None:
        self._redis_url = redis_url
        self._limiter = self._new_limiter()
        self.per_user: RateLimitItem | None = (
            parse(settings.rate_limit_user) if settings.rate_limit_user else None
        )
        self.per_ip: RateLimitItem | None = (
            parse(settings.rate_limit_ip) if settings.rate_limit_ip else None
        )

    def _new_limiter(self) -> MovingWindowRateLimiter:
        storage: Storage = MemoryStorage()
        if self._redis_url:  # shared by every process, so a limit holds across them
            found = storage_from_string(f"async+{self._redis_url}", implementation="redispy")
            assert isinstance(found, Storage)
            storage = found
        return MovingWindowRateLimiter(storage)

    async def retry_after(self, item: RateLimitItem | None, kind: str, key: str) -> int | None:
        """None when the request may go on; otherwise the seconds until it may."""
        if item is None:
            return None
        try:
            if await self._limiter.hit(item, kind, key):
                return None
            stats = await self._limiter.get_window_stats(item, kind, key)
        except RedisError as exc:
            logger.warning("rate limits not applied: redis is unreachable (%s)", type(exc).__name__)
            self._limiter = self._new_limiter()
            return None
        return max(1, math.ceil(stats.reset_time - time.time()))


def route_path(scope: Scope) -> str:
    """The path within this app, also when it is mounted under a prefix."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def bearer_token(scope: Scope) -> str | None:
    value = header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


def cookie_token(scope: Scope) -> str | None:
    raw = header(scope, b"cookie")
    if not raw:
        return None
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(raw)
    except Exception:
        return None
    morsel = cookie.get(COOKIE_NAME)
    return morsel.value if morsel is not None else None


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def same_origin(scope: Scope, allowed: tuple[str, ...]) -> bool:
    """A browser's WebSocket handshake from this server's own page or an allowed origin."""
    origin = header(scope, b"origin")
    if origin is None:  # not a browser: nothing to forge
        return True
    if origin in allowed or "*" in allowed:
        return True
    host = header(scope, b"host")
    return host is not None and origin.split("://", 1)[-1] == host


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
