"""Errors the API answers with: JSON ``{"error": {"code", "message"}}`` and a fitting status.

Bad input is a 4xx and never a 500; a 500 means a bug of ours, and its body says nothing about it
beyond that (the details go to the log).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tokenwire.errors import TokenwireError

logger = logging.getLogger("tokenwire.server")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


class ApiError(TokenwireError):
    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def too_many_streams(per_user: bool) -> ApiError:
    which = "you have" if per_user else "the server has"
    return ApiError(429, "too_many_streams",
                    f"{which} too many answers streaming; wait for one to finish",
                    headers={"Retry-After": "1"})  # fmt: skip


def shutting_down() -> ApiError:
    return ApiError(503, "shutting_down", "the server is shutting down; try again in a moment",
                    headers={"Retry-After": "2"})  # fmt: skip


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    response = error_response(exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


UNAVAILABLE = ApiError(
    503, "unavailable", "a service tokenwire needs is unreachable; try again soon"
)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "an unexpected error occurred; see the server log")
