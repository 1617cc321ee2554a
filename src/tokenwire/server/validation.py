"""Reading and checking request bodies: size-limited, JSON, every field typed, every error a 4xx
that names the field."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from tokenwire.config import TOOL_NAME
from tokenwire.events import ToolResult
from tokenwire.hub.generation import StreamHandle
from tokenwire.hub.hub import Hub
from tokenwire.hub.schema import schema_problem
from tokenwire.providers.base import GenerationParams
from tokenwire.server.errors import ApiError

MAX_STOP_SEQUENCES = 4
MAX_TOOLS = 128  # as OpenAI's API: tools offered, and results given, per request


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


# --- the chat request: a new turn, or a turn's continuation with tool results ---------------------


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A checked ``POST /api/chat`` body (or WebSocket ``chat`` frame): a new turn with its
    ``message`` (and the tools it offers, in ``params``), or, with ``tool_results`` instead, the
    continuation of a turn that ended with ``tool_calls``."""

    conversation_id: str | None
    model: str | None
    params: GenerationParams
    message: str | None = None
    tool_results: tuple[ToolResult, ...] = ()

    async def start(self, hub: Hub, owner: str) -> StreamHandle:
        if self.message is None:
            assert self.conversation_id is not None
            return await hub.continue_chat(
                owner=owner,
                conversation_id=self.conversation_id,
                results=self.tool_results,
                model=self.model,
                params=self.params,
            )
        return await hub.start_chat(
            owner=owner,
            message=self.message,
            conversation_id=self.conversation_id,
            model=self.model,
            params=self.params,
        )


def chat_request(body: dict[str, Any], *, max_chars: int = 0) -> ChatRequest:
    conversation_id = optional_str(body, "conversation_id")
    model = optional_str(body, "model")
    params = generation_params(body.get("params"))
    if body.get("tool_results") is None:
        tools = tools_of(body.get("tools"))
        params = replace(params, tools=tools, tool_choice=tool_choice_of(body.get("tool_choice")))
        message = required_message(body, max_chars=max_chars)
        return ChatRequest(conversation_id, model, params, message=message)
    if body.get("message") is not None:
        raise invalid(
            "`message` and `tool_results` cannot come together: continue the turn with its tool"
            " results, then send the next message"
        )
    for name in ("tools", "tool_choice"):
        if body.get(name) is not None:
            raise invalid(
                f"`{name}` cannot come with `tool_results`: a continuation offers the tools its"
                " turn offered"
            )
    if conversation_id is None:
        raise invalid("`conversation_id` is required with `tool_results`")
    results = tool_results_of(body["tool_results"], max_chars=max_chars)
    return ChatRequest(conversation_id, model, params, tool_results=results)


_TOOL_KEYS = frozenset({"type", "function"})
_FUNCTION_KEYS = frozenset({"name", "description", "parameters", "strict"})


def tools_of(value: Any) -> tuple[dict[str, Any], ...]:
    """The function tools a request offers, in OpenAI's shape, each checked."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid("`tools` must be a list of function tools")
    if len(value) > MAX_TOOLS:
        raise invalid(f"`tools` may offer at most {MAX_TOOLS} tools")
    seen: dict[str, int] = {}
    for i, tool in enumerate(value):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise invalid(f"`{where}` must be an object")
        _known_keys(tool, _TOOL_KEYS, where)
        if tool.get("type") != "function":
            raise invalid(f'`{where}.type` must be "function"')
        function = tool.get("function")
        if not isinstance(function, dict):
            raise invalid(f"`{where}.function` must be an object")
        _known_keys(function, _FUNCTION_KEYS, f"{where}.function")
        name = function.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise invalid(f"`{where}.function.name` must be 1 to 64 letters, digits, _ or -")
        if name in seen:
            raise invalid(
                f"`{where}.function.name`: {name!r} is offered twice (tools[{seen[name]}])"
            )
        seen[name] = i
        if not isinstance(function.get("description", ""), str):
            raise invalid(f"`{where}.function.description` must be a string")
        if not isinstance(function.get("strict", False), bool):
            raise invalid(f"`{where}.function.strict` must be a boolean")
        if "parameters" in function:
            problem = schema_problem(function["parameters"])
            if problem is not None:
                path, what = problem
                field = f"{where}.function.parameters" + (f".{path}" if path else "")
                raise invalid(f"`{field}` {what}")
    return tuple(value)


def tool_choice_of(value: Any) -> str | dict[str, Any] | None:
    if value is None or value in ("auto", "none", "required"):
        return value  # type: ignore[no-any-return]
    if isinstance(value, dict) and value.get("type") == "function":
        function = value.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return {"type": "function", "function": {"name": function["name"]}}
        raise invalid("`tool_choice.function.name` must be the name of an offered tool")
    raise invalid(
        '`tool_choice` must be "auto", "none", "required" or'
        ' {"type": "function", "function": {"name": ...}}'
    )


def tool_results_of(value: Any, *, max_chars: int = 0) -> tuple[ToolResult, ...]:
    """What the caller's tools answered: ``[{"tool_call_id", "content", "is_error"?}]``."""
    if not isinstance(value, list) or not value:
        raise invalid("`tool_results` must be a non-empty list of {tool_call_id, content}")
    if len(value) > MAX_TOOLS:
        raise invalid(f"`tool_results` may hold at most {MAX_TOOLS} results")
    results: list[ToolResult] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        where = f"tool_results[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"`{where}` must be an object with `tool_call_id` and `content`")
        _known_keys(item, frozenset({"tool_call_id", "content", "is_error"}), where)
        call_id, content = item.get("tool_call_id"), item.get("content")
        if not isinstance(call_id, str) or not call_id:
            raise invalid(f"`{where}.tool_call_id` must be a non-empty string")
        if call_id in seen:
            raise invalid(f"`{where}.tool_call_id`: {call_id!r} is answered twice")
        seen[call_id] = i
        if not isinstance(content, str):
            raise invalid(f"`{where}.content` must be a string (JSON text, or any text)")
        if max_chars and len(content) > max_chars:
            raise ApiError(
                413, "message_too_long", f"`{where}.content` is over {max_chars} characters"
            )
        is_error = item.get("is_error", False)
        if not isinstance(is_error, bool):
            raise invalid(f"`{where}.is_error` must be a boolean")
        results.append(ToolResult(call_id, content, is_error))
    return tuple(results)


def _known_keys(obj: dict[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(obj) - known)
    if unknown:
        raise invalid(
            f"`{where}.{unknown[0]}` is not a known field; known: {', '.join(sorted(known))}"
        )
