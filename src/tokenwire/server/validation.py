"""Reading and checking request bodies: size-limited, JSON, every field typed, every error a 4xx
that names the field."""

from __future__ import annotations

import math
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from tokenwire.providers.base import GenerationParams
from tokenwire.server.errors import ApiError

MAX_STOP_SEQUENCES = 4


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object; 413 past ``max_bytes`` (counted as it arrives)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, "body_too_large", f"the request body is over {max_bytes} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise ApiError(413, "body_too_large", f"the request body is over {max_bytes} bytes")
    except ClientDisconnect:  # the client left mid-body: nobody to answer, nothing to log
        raise ApiError(400, "body_incomplete", "the client left before sending its body") from None
    return parse_json_object(bytes(body))


def parse_json_object(body: bytes | str) -> dict[str, Any]:
    if not body:
        raise ApiError(400, "invalid_json", "the request body is empty; send a JSON object")
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ApiError(400, "invalid_request", "the request body must be a JSON object")
    return obj


def invalid(message: str, param: str | None = None) -> ApiError:
    """A 400 for what the caller sent; ``param`` names the parameter at fault."""
    return ApiError(400, "invalid_request", message, param=param)


def optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise invalid(f"`{name}` must be a non-empty string")
    return value


def required_message(body: dict[str, Any], name: str = "message", *, max_chars: int = 0) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise invalid(f"`{name}` is required and must be a string")
    if not value.strip():
        raise invalid(f"`{name}` must not be empty")
    if max_chars and len(value) > max_chars:
        raise ApiError(413, "message_too_long", f"`{name}` is over {max_chars} characters")
    return value


def _number(params: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(f"`{name}` must be a number", name)
    if not low <= value <= high:
        raise invalid(f"`{name}` must be between {low:g} and {high:g}", name)
    return float(value)


def _integer(params: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"`{name}` must be an integer", name)
    if not low <= value <= high:
        raise invalid(f"`{name}` must be between {low} and {high}", name)
    return value


def _stop(params: dict[str, Any]) -> tuple[str, ...]:
    value = params.get("stop")
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or not all(isinstance(s, str) and s for s in items)
        or len(items) > MAX_STOP_SEQUENCES
    ):
        raise invalid(
            f"`stop` must be a string or a list of up to {MAX_STOP_SEQUENCES} strings", "stop"
        )
    return tuple(items)


PARAM_NAMES = frozenset({"max_tokens", "temperature", "top_p", "seed", "stop"})


def generation_params(params: Any, *, field: str = "params") -> GenerationParams:
    """Check sampling parameters; unknown names are refused rather than silently ignored."""
    if params is None:
        return GenerationParams()
    if not isinstance(params, dict):
        raise invalid(f"`{field}` must be an object")
    unknown = set(params) - PARAM_NAMES
    if unknown:
        raise invalid(
            f"unknown parameter(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(PARAM_NAMES))}"
        )
    return GenerationParams(
        max_tokens=_integer(params, "max_tokens", 1, 1_000_000),
        temperature=_number(params, "temperature", 0.0, 2.0),
        top_p=_number(params, "top_p", 0.0, 1.0),
        seed=_integer(params, "seed", -(2**63), 2**63 - 1),
        stop=_stop(params),
    )


def resume_point(last_event_id: str | None, after: str | None) -> int:
    """The seq to read after: ``Last-Event-ID`` wins over ``?after=``; 0 when neither is given."""
    raw = last_event_id if last_event_id is not None else after
    if raw is None or raw == "":
        return 0
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        source = "Last-Event-ID" if last_event_id is not None else "after"
        raise ApiError(400, "invalid_last_event_id", f"`{source}` must be a non-negative integer")
    return int(raw)
