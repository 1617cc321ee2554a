"""A ``POST /v1/responses`` body, checked and turned into the chat-completions request that the
upstreams keep speaking.

The Responses fields are translated (``input`` and ``instructions`` to messages, ``tools`` and
``tool_choice`` to chat tools, ``max_output_tokens`` to ``max_tokens``, ``text.format`` to
``response_format``) and the result goes through :func:`completion_request`, so a model is asked
only what it can honour. Every error is a 400 in OpenAI's shape naming the Responses parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tokenwire.config import ModelConfig
from tokenwire.server.errors import ApiError
from tokenwire.server.openai_request import CompletionRequest, completion_request, invalid
from tokenwire.wire.responses import ResponseSpec

_ACCEPTED: Final = frozenset(
    {
        "model",
        "input",
        "instructions",
        "stream",
        "background",
        "store",
        "previous_response_id",
        "tools",
        "tool_choice",
        "max_output_tokens",
        "temperature",
        "top_p",
        "text",
        "metadata",
        "parallel_tool_calls",
    }
)
# A chat-completions parameter's name as the Responses caller wrote it, for error.param.
_PARAM_NAMES: Final = {
    "messages": "input",
    "max_tokens": "max_output_tokens",
    "response_format": "text.format",
}


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    completion: CompletionRequest
    stream: bool
    background: bool
    store: bool
    previous_response_id: str | None
    input_items: list[dict[str, Any]]
    spec_fields: dict[str, Any]

    def spec(self, response_id: str, model: str, created_at: int) -> ResponseSpec:
        return ResponseSpec(id=response_id, model=model, created_at=created_at, **self.spec_fields)


def responses_request(
    body: dict[str, Any],
    models: Mapping[str, ModelConfig],
    max_context_chars: int,
    prior: list[dict[str, Any]] | None = None,
) -> ResponsesRequest:
    """Check ``body``; ``prior`` is what its ``previous_response_id`` chain said and answered."""
    for name in body:
        if name not in _ACCEPTED:
            raise invalid(
                f"Unrecognized request argument supplied: {name}", name, "unknown_parameter"
            )
    stream = _flag(body, "stream", False)
    background = _flag(body, "background", False)
    store = _flag(body, "store", True)
    if background and not store:
        raise invalid(
            "`background` needs `store`: a background response is retrieved later", "background"
        )
    previous = previous_response_id(body)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise invalid("`instructions` must be a string", "instructions")
    given = _input_items(body.get("input"))
    items = (prior or []) + given
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    messages += _messages(prior or []) + _messages(given)
    tools = _tools(body.get("tools"))
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages, "stream": stream}
    if tools:
        chat["tools"] = tools
    if "tool_choice" in body and body["tool_choice"] is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    if body.get("parallel_tool_calls") is not None:
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    for ours, theirs in (
        ("max_output_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
    ):
        if body.get(ours) is not None:
            chat[theirs] = body[ours]
    text = body.get("text")
    if text is not None:
        chat_format = _text_format(text)
        if chat_format is not None:
            chat["response_format"] = chat_format
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise invalid("`metadata` must be an object of strings", "metadata")
    try:
        completion = completion_request(chat, models, max_context_chars)
    except ApiError as exc:
        if exc.param is not None:
            head, dot, rest = exc.param.partition(".")
            base, bracket, index = head.partition("[")
            exc.param = _PARAM_NAMES.get(base, base) + bracket + index + dot + rest
        raise
    return ResponsesRequest(
        completion=completion,
        stream=stream,
        background=background,
        store=store,
        previous_response_id=previous,
        input_items=items,
        spec_fields={
            "instructions": instructions,
            "background": background,
            "store": store,
            "previous_response_id": previous,
            "tools": body.get("tools") or [],
            "tool_choice": body.get("tool_choice") or "auto",
            "temperature": body.get("temperature"),
            "top_p": body.get("top_p"),
            "max_output_tokens": body.get("max_output_tokens"),
            "text": text if isinstance(text, dict) else {"format": {"type": "text"}},
            "metadata": metadata or {},
        },
    )


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid(f"`{name}` must be a boolean", name)
    return value


def previous_response_id(body: dict[str, Any]) -> str | None:
    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise invalid("`previous_response_id` must be a string", "previous_response_id")
    return previous


def _input_items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise invalid("`input` must be a string or a non-empty list of items", "input")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid(f"`input[{i}]` must be an object", f"input[{i}]")
    return value


def _content_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("input_text", "output_text") or not isinstance(part.get("text"), str):
                raise invalid(
                    f"`{where}.content[{j}]` must be an input_text or output_text part",
                    f"{where}.content[{j}]",
                )
            texts.append(part["text"])
        return "".join(texts)
    raise invalid(f"`{where}.content` must be a string or a list of parts", f"{where}.content")


def _messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input items as chat messages; consecutive function calls join one assistant message."""
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "developer", "assistant"):
                raise invalid(
                    f"`{where}.role` must be user, system, developer or assistant", f"{where}.role"
                )
            out.append({"role": role, "content": _content_text(item.get("content"), where)})
        elif kind == "function_call":
            call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
            if not all(isinstance(v, str) for v in (call_id, name, arguments)):
                raise invalid(f"`{where}` needs call_id, name and arguments strings", where)
            call = {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str) or not isinstance(output, str):
                raise invalid(f"`{where}` needs call_id and output strings", where)
            out.append({"role": "tool", "tool_call_id": call_id, "content": output})
        elif kind == "reasoning":
            continue  # a previous answer's reasoning: not sent upstream again
        else:
            raise invalid(f"`{where}.type` {kind!r} is not supported", f"{where}.type")
    return out


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("`tools` must be a list", "tools")
    out = []
    for i, tool in enumerate(value):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise invalid(f"`tools[{i}]`: only function tools are supported", f"tools[{i}]")
        function = {
            k: tool[k]
            for k in ("name", "description", "parameters", "strict")
            if tool.get(k) is not None
        }
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("type") == "function":
        return {"type": "function", "function": {"name": value.get("name")}}
    raise invalid("`tool_choice` must be none, auto, required or a function", "tool_choice")


def _text_format(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, dict):
        raise invalid("`text` must be an object", "text")
    fmt = text.get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    raise invalid("`text.format.type` must be text, json_object or json_schema", "text.format")
