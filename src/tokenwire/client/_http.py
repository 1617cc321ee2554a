"""The requests both clients make, built the same way; the sending is theirs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from tokenwire.client._errors import ApiError, StreamError

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
SSE = "text/event-stream"
TOOL_CHOICES = ("auto", "none", "required")
NAMED_TOOL_CHOICE = '{"type": "function", "function": {"name": ...}}'
TOOL_EXAMPLE = '[{"type": "function", "function": {"name": ..., "parameters": {...}}}]'
_OPTIONAL_FUNCTION_FIELDS: tuple[tuple[str, type, str], ...] = (
    ("description", str, "a string"),
    ("parameters", Mapping, "a mapping (a JSON Schema)"),
)


def client_headers(token: str | None) -> dict[str, str]:
    # httpx hides the Authorization header in its reprs; the clients keep no copy of the token.
    return {"Authorization": f"Bearer {token}"} if token else {}


def stream_timeout(timeout: float | httpx.Timeout, idle_timeout: float) -> httpx.Timeout:
    """The client's timeouts, but a read may wait ``idle_timeout``: while a stream is quiet the
    server sends a keepalive comment every few seconds, so silence past that means it is gone."""
    base = httpx.Timeout(timeout)
    return httpx.Timeout(connect=base.connect, read=idle_timeout, write=base.write, pool=base.pool)


def chat_body(
    message: str,
    conversation_id: str | None,
    model: str | None,
    params: Mapping[str, Any] | None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: str | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of ``POST /api/chat`` for a new message.

    ``tools`` and ``tool_choice`` are checked for their shape only (what the server checks too,
    and the model's upstream after it): a ``TypeError`` or ``ValueError`` here, rather than a 400
    after a round trip.
    """
    body: dict[str, Any] = {"message": message}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    if model is not None:
        body["model"] = model
    if params is not None:
        body["params"] = dict(params)
    if tools is not None:
        body["tools"] = tool_definitions(tools)
    if tool_choice is not None:
        body["tool_choice"] = _tool_choice(tool_choice, body.get("tools", []))
    return body


def tool_results_body(
    conversation_id: str, tool_results: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The body of ``POST /api/chat`` that continues a turn ended by ``tool_calls``:
    ``{"conversation_id", "tool_results": [{"tool_call_id", "content"}]}``, and no message."""
    if not isinstance(conversation_id, str):
        raise TypeError(f"`conversation_id` must be a string, not {type(conversation_id).__name__}")
    if not conversation_id:
        raise ValueError("`conversation_id` is empty: name the conversation whose turn goes on")
    results = _sequence(
        tool_results, "tool_results", 'e.g. [{"tool_call_id": ..., "content": ...}]'
    )
    if not results:
        raise ValueError("`tool_results` is empty: answer each call the model made")
    body: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, result in enumerate(results):
        where = f"tool_results[{i}]"
        if not isinstance(result, Mapping):
            raise TypeError(
                f'{where} must be a mapping {{"tool_call_id": ..., "content": ...}}, '
                f"not {type(result).__name__}"
            )
        unknown = sorted(set(result) - {"tool_call_id", "content"}, key=str)
        if unknown:
            only = "a result has only `tool_call_id` and `content`"
            raise ValueError(f"{where} has unknown key {unknown[0]!r}: {only}")
        call_id = _required_str(result, "tool_call_id", where)
        content = result.get("content")
        if not isinstance(content, str):
            raise TypeError(
                f"{where}.content must be a string, not {type(content).__name__}: "
                "send a structured result as JSON text (json.dumps)"
            )
        if call_id in seen:
            raise ValueError(f"{where}.tool_call_id {call_id!r} is answered twice")
        seen.add(call_id)
        body.append({"tool_call_id": call_id, "content": content})
    return {"conversation_id": conversation_id, "tool_results": body}


def tool_definitions(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI's function tools, ``{"type": "function", "function": {"name", "description"?,
    "parameters"?}}``, checked for that shape and copied."""
    checked: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, tool in enumerate(
        _sequence(tools, "tools", f"OpenAI's function tools, e.g. {TOOL_EXAMPLE}")
    ):
        where = f"tools[{i}]"
        if not isinstance(tool, Mapping):
            raise TypeError(f"{where} must be a mapping, not {type(tool).__name__}: {TOOL_EXAMPLE}")
        if tool.get("type") != "function":
            raise ValueError(f'{where}.type must be "function", not {tool.get("type")!r}')
        function = tool.get("function")
        if not isinstance(function, Mapping):
            kind = type(function).__name__
            raise TypeError(f'{where}.function must be a mapping with a "name", not {kind}')
        name = _required_str(function, "name", f"{where}.function")
        for key, expected, what in _OPTIONAL_FUNCTION_FIELDS:
            value = function.get(key)
            if value is not None and not isinstance(value, expected):
                raise TypeError(
                    f"{where}.function.{key} must be {what}, not {type(value).__name__}"
                )
        if name in names:
            raise ValueError(f"{where}.function.name {name!r} is declared twice")
        names.add(name)
        checked.append({**tool, "function": dict(function)})
    if not checked:
        raise ValueError("`tools` is empty: leave it out when the model may call no tool")
    return checked


def _tool_choice(
    choice: str | Mapping[str, Any], tools: list[dict[str, Any]]
) -> str | dict[str, Any]:
    if not tools:
        raise ValueError("`tool_choice` needs `tools` to choose from")
    if isinstance(choice, str):
        if choice not in TOOL_CHOICES:
            raise ValueError(
                f"`tool_choice` must be auto, none, required or {NAMED_TOOL_CHOICE}, not {choice!r}"
            )
        return choice
    if not isinstance(choice, Mapping):
        raise TypeError(f"`tool_choice` must be a string or a mapping, not {type(choice).__name__}")
    function = choice.get("function")
    if choice.get("type") != "function" or not isinstance(function, Mapping):
        raise ValueError(f"a named `tool_choice` is {NAMED_TOOL_CHOICE}")
    name = _required_str(function, "name", "tool_choice.function")
    if name not in {tool["function"]["name"] for tool in tools}:
        raise ValueError(f"`tool_choice` names {name!r}, which is not among `tools`")
    return {**choice, "function": dict(function)}


def _sequence(value: object, name: str, hint: str) -> Sequence[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise TypeError(f"`{name}` must be a list: {hint}; not {type(value).__name__}")
    return value


def _required_str(mapping: Mapping[str, Any], key: str, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str):
        raise TypeError(f"{where}.{key} must be a string, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{where}.{key} is empty")
    return value


def resume_headers(last_seq: int) -> dict[str, str]:
    return {"Accept": SSE, "Last-Event-ID": str(last_seq)}


def check_event_stream(response: httpx.Response) -> None:
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith(SSE):
        raise StreamError(f"expected an event stream, got {content_type or 'no content type'!r}")


def json_of(response: httpx.Response) -> Any:
    """The JSON of a read response, or the ``ApiError`` it carries."""
    if response.is_error:
        raise ApiError.from_response(response.status_code, response.content)
    return response.json()
