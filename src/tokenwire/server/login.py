"""Logging in from a browser: ``POST /api/login`` trades a token for an HttpOnly cookie.

A page cannot put an ``Authorization`` header on an ``EventSource`` or a WebSocket, but the browser
sends a same-site cookie on both. The cookie holds the token itself: HttpOnly, so the page's scripts
(and anything injected into them) cannot read it, ``SameSite=Strict`` against cross-site requests.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenwire.server.auth import COOKIE_NAME, InvalidToken
from tokenwire.server.errors import ApiError
from tokenwire.server.state import app_state, owner_of
from tokenwire.server.validation import read_json_object

COOKIE_MAX_AGE = 30 * 24 * 3600


async def login(request: Request) -> Response:
    state = app_state(request)
    body = await read_json_object(request, 4096)
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise ApiError(400, "invalid_request", "`token` is required and must be a string")
    user = await state.auth.user_for(token.strip())
    if user is None:
        raise InvalidToken()
    response = JSONResponse({"user": user, "auth": True})
    response.set_cookie(
        COOKIE_NAME,
        token.strip(),
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return response


async def me(request: Request) -> Response:
    """Who this request acts for; the guard has already answered 401 when nobody."""
    return JSONResponse(
        {"user": owner_of(request), "auth": await app_state(request).auth.enabled()}
    )


routes = [
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me, methods=["GET"]),
]
