"""Who is calling: API tokens checked with a short cache, and where a request carries its token.

Auth is off while no token exists and ``auth_required`` is not set: a personal tool on loopback.
Once on, a request needs ``Authorization: Bearer <token>`` or the HttpOnly cookie that
``POST /api/login`` sets for the browser. A browser WebSocket carries no CORS check, so its
``Origin`` must be this server's own or an allowed one; otherwise any page the user visits could
read their conversations.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from http.cookies import SimpleCookie

from starlette.types import Scope

from tokenwire.errors import TokenwireError
from tokenwire.server.scope import header
from tokenwire.store.tokens import TokenStore

COOKIE_NAME = "tokenwire_token"
USER_KEY = "tokenwire.user"  # where the guard puts the user a request acts for, in its scope


class Unauthorized(TokenwireError):
    """The request carries no API token that holds, while the server needs one."""


class MissingToken(Unauthorized):
    """The server needs an API token and the request carries none."""


class InvalidToken(Unauthorized):
    """The request's API token is unknown or revoked."""


class ForbiddenOrigin(TokenwireError):
    """A browser's WebSocket handshake from a page of another origin."""


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


def same_origin(scope: Scope, allowed: tuple[str, ...]) -> bool:
    """A browser's WebSocket handshake from this server's own page or an allowed origin."""
    origin = header(scope, b"origin")
    if origin is None:  # not a browser: nothing to forge
        return True
    if origin in allowed or "*" in allowed:
        return True
    host = header(scope, b"host")
    return host is not None and origin.split("://", 1)[-1] == host
