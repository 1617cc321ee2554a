"""Every error an API request can get, mapped from the exception that says what went wrong.

:data:`ERRORS` maps each exception tokenwire raises on purpose (the hub's, the stream log's, the
store's, the guard's) to a status, a code, a message and, where waiting helps, ``Retry-After``.
Everything that answers an error goes through here, so they all say the same thing:

- the ``/api`` routes: ``{"error": {"code", "message"}}``;
- the ``/v1`` routes: OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, which its
  SDKs turn into typed exceptions;
- a WebSocket frame that cannot be acted on: ``{"type": "rejected", "ref", "error": {"code",
  "message"}}`` (:mod:`tokenwire.server.multiplex`);
- the guard's refusals, on HTTP and on a WebSocket handshake (:mod:`tokenwire.server.guard`).

Bad input is a 4xx and never a 500; a 500 means a bug of ours, and its body says nothing about it
beyond that (the details go to the log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from tokenwire.errors import TokenwireError
from tokenwire.hub.hub import (
    ConversationBusy,
    ConversationNotFound,
    InvalidTools,
    MissingToolResults,
    ModelNotFound,
    NoPendingToolCalls,
    ShuttingDown,
    ToolsUnsupported,
    TooManyStreams,
    UnknownToolCall,
)
from tokenwire.hub.log import LogFull, LogUnavailable, StreamEnded, StreamExpired, StreamNotFound
from tokenwire.server.auth import ForbiddenOrigin, InvalidToken, MissingToken
from tokenwire.server.errors import ApiError
from tokenwire.server.rate_limits import RateLimited
from tokenwire.server.reader_counts import RETRY_AFTER_SECONDS, TooManyReaders
from tokenwire.server.scope import route_path
from tokenwire.store.database import Conflict, DatabaseUnavailable
from tokenwire.store.tokens import InvalidUser
from tokenwire.wire import openai as oa

logger = logging.getLogger("tokenwire.server")


@dataclass(frozen=True, slots=True)
class Rule:
    """How one exception is answered. ``message`` and ``retry_after`` may read the exception."""

    status: int
    code: str
    message: str | Callable[[Any], str]
    retry_after: int | Callable[[Any], int] | None = None
    headers: tuple[tuple[str, str], ...] | Callable[[Any], tuple[tuple[str, str], ...]] = ()
    log: bool = False  # a service is down: say so in the log, once per request

    def error(self, exc: BaseException) -> ApiError:
        message = self.message if isinstance(self.message, str) else self.message(exc)
        headers = dict(self.headers(exc) if callable(self.headers) else self.headers)
        wait = self.retry_after(exc) if callable(self.retry_after) else self.retry_after
        if wait is not None:
            headers["Retry-After"] = str(wait)
        return ApiError(self.status, self.code, message, headers=headers or None)


def _named(exc: BaseException) -> str:
    """The id the exception was raised with, quoted (``'conv_x'``)."""
    return repr(exc.args[0]) if exc.args else "(none)"


_UNAVAILABLE = Rule(
    503,
    "unavailable",
    "a service tokenwire needs is unreachable; try again soon",
    retry_after=2,
    log=True,
)
_UNAUTHORIZED = (("WWW-Authenticate", 'Bearer realm="tokenwire"'),)

ERRORS: dict[type[TokenwireError], Rule] = {
    # what the request names does not exist (or is another user's)
    ModelNotFound: Rule(
        404,
        "model_not_found",
        lambda e: f"no model named {_named(e)}; see GET /api/models or GET /v1/models",
    ),
    ConversationNotFound: Rule(
        404, "conversation_not_found", lambda e: f"no conversation {_named(e)}"
    ),
    StreamNotFound: Rule(
        404, "stream_not_found", lambda e: f"no stream {_named(e)}: it never existed or has expired"
    ),
    StreamExpired: Rule(
        410,
        "stream_expired",
        lambda e: (
            f"stream {_named(e)} has expired; its answer is stored: "
            f"GET /api/conversations/{e.conversation_id}"
        ),
        headers=lambda e: (("X-Conversation-Id", e.conversation_id),),
    ),
    # the request clashes with what is happening
    ConversationBusy: Rule(
        409,
        "conversation_busy",
        "an answer is still streaming in this conversation; wait for it or cancel it",
    ),
    StreamEnded: Rule(409, "stream_ended", "the stream has already ended"),
    Conflict: Rule(409, "conflict", "someone else changed this at the same time; try again"),
    InvalidUser: Rule(400, "invalid_user", str),
    # tools (docs/tools.md): the messages name the field
    ToolsUnsupported: Rule(
        400,
        "tools_unsupported",
        lambda e: (
            f"model {_named(e)} cannot be offered tools (its chat template has none); "
            "leave out `tools`, or ask another model"
        ),
    ),
    InvalidTools: Rule(400, "invalid_request", str),
    UnknownToolCall: Rule(400, "unknown_tool_call", str),
    MissingToolResults: Rule(400, "missing_tool_results", str),
    NoPendingToolCalls: Rule(409, "no_pending_tool_calls", str),
    # limits and load
    TooManyStreams: Rule(
        429,
        "too_many_streams",
        lambda e: (
            f"{'you have' if e.per_user else 'the server has'} too many answers "
            "streaming; wait for one to finish"
        ),
        retry_after=1,
    ),
    RateLimited: Rule(
        429,
        "rate_limited",
        lambda e: (
            f"too many requests {'for this user' if e.per_user else 'from this address'}; "
            f"retry in {e.retry_after} s"
        ),
        retry_after=lambda e: e.retry_after,
    ),
    TooManyReaders: Rule(
        429,
        "too_many_readers",
        lambda e: (
            f"{'this user has' if e.per_user else 'this address has'} {e.limit} streams open "
            "already; close one (a tab, a reader) and try again"
        ),
        retry_after=RETRY_AFTER_SECONDS,
    ),
    LogFull: Rule(503, "overloaded", "too many streams are live; try again soon"),
    ShuttingDown: Rule(
        503, "shutting_down", "the server is shutting down; try again in a moment", retry_after=2
    ),
    LogUnavailable: _UNAVAILABLE,
    DatabaseUnavailable: _UNAVAILABLE,
    # who is calling
    MissingToken: Rule(
        401,
        "unauthorized",
        "this server needs an API token: send `Authorization: Bearer <token>`",
        headers=_UNAUTHORIZED,
    ),
    InvalidToken: Rule(
        401,
        "unauthorized",
        "the API token is not valid (unknown or revoked)",
        headers=_UNAUTHORIZED,
    ),
    ForbiddenOrigin: Rule(403, "forbidden_origin", "WebSocket from another origin"),
}

HANDLED: tuple[type[TokenwireError], ...] = (ApiError, *ERRORS)
"""The exceptions the app answers through this module; any other is a 500."""

INTERNAL = ApiError(500, "internal_error", "an unexpected error occurred; see the server log")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def rule_for(exc: BaseException) -> Rule | None:
    for cls in type(exc).__mro__:
        rule = ERRORS.get(cls)
        if rule is not None:
            return rule
    return None


def api_error(exc: BaseException) -> ApiError | None:
    """The answer to ``exc`` in the API's terms; None for an exception not mapped (a bug)."""
    if isinstance(exc, ApiError):
        return exc
    rule = rule_for(exc)
    return rule.error(exc) if rule is not None else None


def unavailable() -> ApiError:
    """A service the request needs (the database, Redis) cannot be reached."""
    return _UNAVAILABLE.error(DatabaseUnavailable())


def error_body(scope: Scope, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    """The error's JSON body: OpenAI's shape under ``/v1`` (with the ``param`` at fault),
    tokenwire's everywhere else."""
    if route_path(scope).startswith("/v1/"):
        return oa.error_body(code, message, param=param)
    return {"error": {"code": code, "message": message}}


def error_response(scope: Scope, error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(scope, error.code, error.message, error.param),
        status_code=error.status,
        headers=error.headers,
    )


async def handle_error(request: Request, exc: Exception) -> Response:
    """The app's handler for every exception in :data:`HANDLED`."""
    rule = rule_for(exc)
    if rule is not None and rule.log:
        logger.error("%s %s: %s", request.method, request.url.path, exc)
    error = api_error(exc)
    assert error is not None, "registered only for the exceptions mapped here"
    return error_response(request.scope, error)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route, a method not allowed), in the same shapes."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    error = ApiError(exc.status_code, code, str(exc.detail), headers=headers)
    return error_response(request.scope, error)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(request.scope, INTERNAL)
