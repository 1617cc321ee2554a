"""A ``POST /v1/chat/completions`` body, checked as OpenAI checks it and against what the model
it names can do.

Every top-level parameter is one of three kinds, and none is ignored:

- **carried**: checked, then given to the model. ``model``, ``messages``, ``stream``,
  ``stream_options`` (``include_usage``), ``temperature``, ``top_p``, ``seed``, ``stop``,
  ``max_tokens``/``max_completion_tokens`` and ``n`` (1) reach every model; ``tools`` and
  ``tool_choice`` reach the models that call tools (openai, python, replay); and the parameters
  only an OpenAI-compatible upstream takes (:data:`UPSTREAM_ONLY`: ``parallel_tool_calls``,
  ``response_format``, ``frequency_penalty``, ``presence_penalty``, ``logit_bias``,
  ``logprobs``/``top_logprobs``, ``user``, ``reasoning_effort``) go through to openai models as
  they came. Image parts of a message go to models configured with ``vision = true``; text
  parts are joined into one string for the others.
- **refused**: OpenAI's own parameters that tokenwire does not carry (``n`` over 1, ``audio``,
  ``functions``...): a 400 ``unsupported_parameter`` naming it.
- **unknown**: a 400 ``unknown_parameter``, ``Unrecognized request argument supplied: x``, as
  OpenAI answers it.

A parameter the model cannot honour, or one of its fallbacks (which may answer in its place), is a
400 that names the parameter and the model: ``tools_unsupported`` for tools (the code the chat API
answers too), ``images_unsupported`` for image parts, ``unsupported_parameter`` otherwise. Every
error names its parameter in OpenAI's ``error.param``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from tokenwire.config import ModelConfig
from tokenwire.hub.hub import ModelNotFound
from tokenwire.providers.base import ChatMessage, GenerationParams
from tokenwire.server.errors import ApiError
from tokenwire.server.validation import generation_params

__all__ = ["UPSTREAM_ONLY", "CompletionRequest", "completion_request"]

# Given to an OpenAI-compatible upstream as they came; no other provider can honour them.
UPSTREAM_ONLY: Final = frozenset(
    {
        "parallel_tool_calls",
        "response_format",
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "user",
        "reasoning_effort",
    }
)
_CARRIED: Final = UPSTREAM_ONLY | {
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "tools",
    "tool_choice",
}
# OpenAI's parameters that tokenwire does not carry: refused by name rather than taken for typos.
_REFUSED: Final = frozenset(
    {
        "audio",
        "modalities",
        "prediction",
        "functions",
        "function_call",
        "store",
        "metadata",
        "service_tier",
        "web_search_options",
        "verbosity",
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
    }
)
_ROLES: Final = ("system", "developer", "user", "assistant", "tool")
_FIELDS: Final[dict[str, frozenset[str]]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    # refusal, annotations, audio and function_call come back empty in an SDK's own message
    # object when it is sent again: taken when empty, and not passed on.
    "assistant": frozenset(
        {
            "role",
            "content",
            "name",
            "tool_calls",
            "reasoning_content",
            "refusal",
            "annotations",
            "audio",
            "function_call",
        }
    ),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}
_FUNCTION_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOOL_CHOICES: Final = ("none", "auto", "required")
_DETAILS: Final = ("auto", "low", "high")
_RESPONSE_FORMATS: Final = ("text", "json_object", "json_schema")
_MAX_LOGIT_BIAS: Final = 1024
# Values of UPSTREAM_ONLY parameters that ask for nothing: any model takes them.
_DEFAULTS: Final[dict[str, Any]] = {
    "parallel_tool_calls": True,
    "frequency_penalty": 0,
    "presence_penalty": 0,
    "logprobs": False,
}


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """What a checked request asks: the model, its messages, how to answer, and the parameters."""

    model: str
    messages: list[ChatMessage]
    stream: bool
    include_usage: bool
    logprobs: bool
    params: GenerationParams


@dataclass(frozen=True, slots=True)
class _Can:
    """What one configured model can honour."""

    id: str
    tools: bool  # tools and tool_choice
    upstream_only: bool  # the parameters of UPSTREAM_ONLY
    vision: bool  # image parts

    @classmethod
    def of(cls, model: ModelConfig) -> _Can:
        kind = model.provider
        return cls(
            model.id,
            tools=kind != "local",
            upstream_only=kind == "openai",
            vision=model.vision,
        )


def invalid(message: str, param: str | None, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message, param=param)


def completion_request(
    body: dict[str, Any], models: Mapping[str, ModelConfig], max_context_chars: int
) -> CompletionRequest:
    """Check ``body`` for the model it names (404 when there is none); every error is a 400
    that names its parameter."""
    for name in body:
        if name not in _CARRIED:
            if name in _REFUSED:
                raise invalid(
                    f"`{name}` is not supported by tokenwire's /v1/chat/completions",
                    name,
                    "unsupported_parameter",
                )
            raise invalid(
                f"Unrecognized request argument supplied: {name}", name, "unknown_parameter"
            )
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise invalid("`model` is required", "model")
    model = models.get(model_id)
    if model is None:
        raise ModelNotFound(model_id)
    # The model, then its fallbacks: any of them may be the one that answers.
    can = [_Can.of(model)] + [_Can.of(models[f]) for f in model.fallbacks if f in models]

    stream = body.get("stream")
    if stream is None:  # null is the default, as for every parameter
        stream = False
    if not isinstance(stream, bool):
        raise invalid("`stream` must be a boolean", "stream")
    include_usage = _stream_options(body.get("stream_options"), stream)
    n = body.get("n")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 128:
            raise invalid("`n` must be an integer from 1 to 128", "n")
        if n > 1:
            raise invalid(
                "`n` over 1 is not supported: ask once per answer you want",
                "n",
                "unsupported_parameter",
            )

    messages = _messages(body.get("messages"), vision=all(c.vision for c in can), can=can)
    if max_context_chars and _chars(messages) > max_context_chars:
        raise invalid(
            f"the messages are over {max_context_chars} characters in all",
            "messages",
            "context_length_exceeded",
        )

    tools = _tools(body.get("tools"))
    tool_choice = _tool_choice(body.get("tool_choice"), tools)
    if tools or tool_choice is not None:
        _honoured(can, "tools" if tools else "tool_choice", lambda c: c.tools, "tools_unsupported")

    upstream = all(c.upstream_only for c in can)
    extra: dict[str, Any] = {}
    for name, check in _UPSTREAM_CHECKS.items():
        value = body.get(name)
        if value is None:
            continue
        value = check(value, body)
        if name in _DEFAULTS and value == _DEFAULTS[name]:
            # Asks for nothing a model would not do anyway: any model takes it.
            if upstream:
                extra[name] = value
            continue
        _honoured(can, name, lambda c: c.upstream_only)
        extra[name] = value
    if body.get("parallel_tool_calls") is not None and not tools:
        raise invalid(
            "`parallel_tool_calls` is only allowed when `tools` are given", "parallel_tool_calls"
        )
    if body.get("top_logprobs") is not None and body.get("logprobs") is not True:
        raise invalid("`top_logprobs` needs `logprobs` set to true", "top_logprobs")

    max_tokens = body.get("max_tokens")
    max_completion_tokens = body.get("max_completion_tokens")
    if max_tokens is not None and max_completion_tokens is not None:
        raise invalid(
            "give one of `max_tokens` and `max_completion_tokens`, not both",
            "max_completion_tokens",
        )
    sampling: dict[str, Any] = {
        k: body[k] for k in ("temperature", "top_p", "seed", "stop") if body.get(k) is not None
    }
    sampling["max_tokens"] = max_completion_tokens if max_tokens is None else max_tokens
    try:
        params = generation_params(sampling, field="body")
    except ApiError as exc:
        if exc.param == "max_tokens" and max_completion_tokens is not None:
            raise invalid(
                exc.message.replace("max_tokens", "max_completion_tokens"),
                "max_completion_tokens",
            ) from None
        raise
    if max_completion_tokens is not None and upstream:
        # To an upstream under the name the client used: newer OpenAI models refuse max_tokens,
        # and some older servers know only max_tokens, which the client then chose.
        extra["max_tokens"] = None
        extra["max_completion_tokens"] = params.max_tokens
    return CompletionRequest(
        model=model.id,
        messages=messages,
        stream=stream,
        include_usage=include_usage,
        logprobs=extra.get("logprobs") is True,
        params=GenerationParams(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
            stop=params.stop,
            extra=extra,
            tools=tuple(tools),
            tool_choice=tool_choice,
        ),
    )


def _honoured(
    can: list[_Can], param: str, able: Callable[[_Can], bool], code: str = "unsupported_parameter"
) -> None:
    for model in can:
        if not able(model):
            raise invalid(f"{_who(can, model)} cannot honour `{param}`", param, code)


def _who(can: list[_Can], unable: _Can) -> str:
    """The model asked for, and which of its fallbacks is the one that cannot."""
    if unable is can[0]:
        return f"model {unable.id!r}"
    return f"model {can[0].id!r} (through its fallback {unable.id!r})"


def _stream_options(value: Any, stream: bool) -> bool:
    """``include_usage``: the client wants the usage chunk (the upstream is always asked)."""
    if value is None:
        return False
    if not stream:
        raise invalid("`stream_options` is only allowed when `stream` is true", "stream_options")
    if not isinstance(value, dict):
        raise invalid("`stream_options` must be an object", "stream_options")
    for key in value:
        if key != "include_usage":
            raise invalid(
                f"`stream_options.{key}` is not supported",
                f"stream_options.{key}",
                "unsupported_parameter",
            )
    include = value.get("include_usage", False)
    if not isinstance(include, bool):
        raise invalid(
            "`stream_options.include_usage` must be a boolean", "stream_options.include_usage"
        )
    return include


# --- messages -----------------------------------------------------------------------------------


def _messages(value: Any, *, vision: bool, can: list[_Can]) -> list[ChatMessage]:
    if not isinstance(value, list) or not value:
        raise invalid("`messages` must be a non-empty array", "messages")
    out: list[ChatMessage] = []
    pending: dict[str, int] = {}  # tool calls not answered yet -> the message that made them
    for i, item in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(item, dict) or item.get("role") not in _ROLES:
            raise invalid(f"`{where}.role` must be one of {', '.join(_ROLES)}", f"{where}.role")
        role = item["role"]
        for key in item:
            if key not in _FIELDS[role]:
                raise invalid(
                    f"`{where}.{key}` is not a field of a {role} message", f"{where}.{key}"
                )
        if role != "tool" and pending:
            raise _unanswered(pending)
        message: ChatMessage = {"role": role}
        name = item.get("name")
        if name is not None:
            if not isinstance(name, str) or not name:
                raise invalid(f"`{where}.name` must be a non-empty string", f"{where}.name")
            message["name"] = name
        if role == "user":
            message["content"] = _user_content(item.get("content"), where, vision, can)
        elif role == "assistant":
            _assistant(item, where, message, pending, i)
        elif role == "tool":
            call_id = item.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise invalid(f"`{where}.tool_call_id` is required", f"{where}.tool_call_id")
            if pending.pop(call_id, None) is None:
                raise invalid(
                    f"`{where}.tool_call_id` {call_id!r} answers no tool call of the assistant "
                    "message before it",
                    f"{where}.tool_call_id",
                )
            message["tool_call_id"] = call_id
            message["content"] = _text(item.get("content"), where)
        else:
            message["content"] = _text(item.get("content"), where)
        out.append(message)
    if pending:
        raise _unanswered(pending)
    return out


def _unanswered(pending: dict[str, int]) -> ApiError:
    call_id, index = next(iter(pending.items()))
    return invalid(
        f"`messages[{index}].tool_calls`: no tool message answers the call {call_id!r}; an "
        "assistant message with tool_calls must be followed by one tool message per call",
        f"messages[{index}].tool_calls",
    )


def _text(content: Any, where: str, *, nullable: bool = False) -> str | None:
    """A string, or text parts joined into one."""
    if isinstance(content, str):
        return content
    if content is None and nullable:
        return None
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise invalid(
                    f"`{where}.content[{j}]` must be a text part", f"{where}.content[{j}]"
                )
            texts.append(_part_text(part, f"{where}.content[{j}]"))
        return "".join(texts)
    raise invalid(
        f"`{where}.content` must be a string or an array of text parts", f"{where}.content"
    )


def _part_text(part: dict[str, Any], where: str) -> str:
    text = part.get("text")
    if not isinstance(text, str) or set(part) - {"type", "text"}:
        raise invalid(f'`{where}` must be {{"type": "text", "text": string}}', where)
    return text


def _user_content(content: Any, where: str, vision: bool, can: list[_Can]) -> Any:
    """A user message's content: text, text parts joined for a model that reads only text, or
    the parts as they are (text and images) for a model that reads images."""
    if not isinstance(content, list):
        return _text(content, where)
    has_image = False
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            _part_text(part, at)
        elif kind == "image_url":
            has_image = True
            if not vision:
                blind = next(c for c in can if not c.vision)
                raise invalid(
                    f"`{at}` is an image, and {_who(can, blind)} cannot read images",
                    at,
                    "images_unsupported",
                )
            _image_part(part, at)
        elif isinstance(kind, str):
            raise invalid(
                f"`{at}.type` {kind!r} is not supported", f"{at}.type", "unsupported_parameter"
            )
        else:
            raise invalid(f"`{at}` must be a content part with a `type`", at)
    return content if has_image else _text(content, where)


def _image_part(part: dict[str, Any], where: str) -> None:
    image = part.get("image_url")
    if set(part) - {"type", "image_url"} or not isinstance(image, dict):
        raise invalid(f'`{where}` must be {{"type": "image_url", "image_url": {{"url"}}}}', where)
    url = image.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:image/")):
        raise invalid(
            f"`{where}.image_url.url` must be an http(s) URL or a data:image/ URL",
            f"{where}.image_url.url",
        )
    detail = image.get("detail")
    if set(image) - {"url", "detail"} or (detail is not None and detail not in _DETAILS):
        raise invalid(
            f"`{where}.image_url` takes `url` and `detail` ({', '.join(_DETAILS)})",
            f"{where}.image_url",
        )


def _assistant(
    item: dict[str, Any], where: str, message: ChatMessage, pending: dict[str, int], index: int
) -> None:
    for key in ("refusal", "audio", "function_call"):
        if item.get(key) is not None:
            raise invalid(
                f"`{where}.{key}` is not supported in a message",
                f"{where}.{key}",
                "unsupported_parameter",
            )
    annotations = item.get("annotations")
    if annotations not in (None, []):
        raise invalid(
            f"`{where}.annotations` is not supported in a message",
            f"{where}.annotations",
            "unsupported_parameter",
        )
    calls = item.get("tool_calls")
    if calls is not None:
        message["tool_calls"] = _tool_calls(calls, where)
        for call in message["tool_calls"]:
            pending[call["id"]] = index
    content = _text(item.get("content"), where, nullable=True)
    if content is None and calls is None:
        raise invalid(
            f"`{where}.content` is required unless `tool_calls` is given", f"{where}.content"
        )
    message["content"] = content
    reasoning = item.get("reasoning_content")
    if reasoning is not None:
        if not isinstance(reasoning, str):
            raise invalid(
                f"`{where}.reasoning_content` must be a string", f"{where}.reasoning_content"
            )
        message["reasoning_content"] = reasoning


def _tool_calls(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise invalid(f"`{where}.tool_calls` must be a non-empty array", f"{where}.tool_calls")
    out = []
    seen: set[str] = set()
    for j, call in enumerate(value):
        at = f"{where}.tool_calls[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(call, dict)
            or set(call) - {"id", "type", "function"}
            or call.get("type") != "function"
            or not isinstance(call.get("id"), str)
            or not call["id"]
            or not isinstance(function, dict)
            or set(function) - {"name", "arguments"}
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
        ):
            raise invalid(
                f'`{at}` must be {{"id", "type": "function", "function": '
                '{"name", "arguments"}} with strings',
                at,
            )
        if call["id"] in seen:
            raise invalid(f"`{at}.id` {call['id']!r} is given twice", f"{at}.id")
        seen.add(call["id"])
        out.append(
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": function["name"], "arguments": function["arguments"]},
            }
        )
    return out


def _chars(messages: list[ChatMessage]) -> int:
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(p["text"]) for p in content if p.get("type") == "text")
        for call in message.get("tool_calls", ()):
            total += len(call["function"]["arguments"])
    return total


# --- tools --------------------------------------------------------------------------------------


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("`tools` must be an array", "tools")
    names: set[str] = set()
    out = []
    for i, tool in enumerate(value):
        at = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise invalid(f'`{at}.type` must be "function"', f"{at}.type")
        function = tool.get("function")
        if set(tool) - {"type", "function"} or not isinstance(function, dict):
            raise invalid(f'`{at}` must be {{"type": "function", "function": {{…}}}}', at)
        unknown = set(function) - {"name", "description", "parameters", "strict"}
        if unknown:
            field = sorted(unknown)[0]
            raise invalid(
                f"`{at}.function.{field}` is not a field of a function", f"{at}.function.{field}"
            )
        name = function.get("name")
        if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
            raise invalid(
                f"`{at}.function.name` must be 1 to 64 letters, digits, _ or -",
                f"{at}.function.name",
            )
        if name in names:
            raise invalid(f"`{at}.function.name` {name!r} is given twice", f"{at}.function.name")
        names.add(name)
        if not isinstance(function.get("description", ""), str):
            raise invalid(
                f"`{at}.function.description` must be a string", f"{at}.function.description"
            )
        parameters = function.get("parameters")
        if parameters is not None and (
            not isinstance(parameters, dict) or parameters.get("type", "object") != "object"
        ):
            raise invalid(
                f'`{at}.function.parameters` must be a JSON Schema object of type "object"',
                f"{at}.function.parameters",
            )
        strict = function.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise invalid(f"`{at}.function.strict` must be a boolean", f"{at}.function.strict")
        out.append(tool)
    return out


def _tool_choice(value: Any, tools: list[dict[str, Any]]) -> str | dict[str, Any] | None:
    if value is None:
        return None
    if not tools:
        raise invalid("`tool_choice` is only allowed when `tools` are given", "tool_choice")
    if isinstance(value, str):
        if value not in _TOOL_CHOICES:
            raise invalid(
                f"`tool_choice` must be one of {', '.join(_TOOL_CHOICES)} or a function",
                "tool_choice",
            )
        return value
    function = value.get("function") if isinstance(value, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if (
        not isinstance(value, dict)
        or set(value) != {"type", "function"}
        or value["type"] != "function"
        or not isinstance(function, dict)
        or set(function) != {"name"}
        or not isinstance(name, str)
    ):
        raise invalid(
            '`tool_choice` must be a string or {"type": "function", "function": {"name"}}',
            "tool_choice",
        )
    if name not in {t["function"]["name"] for t in tools}:
        raise invalid(
            f"`tool_choice` names {name!r}, which is not among `tools`", "tool_choice.function.name"
        )
    return value


# --- the parameters only an upstream takes ------------------------------------------------------


def _boolean(name: str) -> Callable[[Any, dict[str, Any]], Any]:
    def check(value: Any, body: dict[str, Any]) -> Any:
        if not isinstance(value, bool):
            raise invalid(f"`{name}` must be a boolean", name)
        return value

    return check


def _penalty(name: str) -> Callable[[Any, dict[str, Any]], Any]:
    def check(value: Any, body: dict[str, Any]) -> Any:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise invalid(f"`{name}` must be a number", name)
        if not -2.0 <= value <= 2.0:
            raise invalid(f"`{name}` must be between -2 and 2", name)
        return value

    return check


def _logit_bias(value: Any, body: dict[str, Any]) -> Any:
    if not isinstance(value, dict) or len(value) > _MAX_LOGIT_BIAS:
        raise invalid(
            f"`logit_bias` must be an object of at most {_MAX_LOGIT_BIAS} entries", "logit_bias"
        )
    for token, bias in value.items():
        if not token.isascii() or not token.isdigit():
            raise invalid(f"`logit_bias` keys are token ids; {token!r} is not one", "logit_bias")
        if isinstance(bias, bool) or not isinstance(bias, int | float) or not -100 <= bias <= 100:
            raise invalid(
                f"`logit_bias[{token!r}]` must be a number from -100 to 100", "logit_bias"
            )
    return value


def _top_logprobs(value: Any, body: dict[str, Any]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
        raise invalid("`top_logprobs` must be an integer from 0 to 20", "top_logprobs")
    return value


def _user(value: Any, body: dict[str, Any]) -> Any:
    if not isinstance(value, str) or len(value) > 256:
        raise invalid("`user` must be a string of at most 256 characters", "user")
    return value


def _reasoning_effort(value: Any, body: dict[str, Any]) -> Any:
    # Vendors name their own levels (OpenAI's minimal..high, DeepSeek's max): the upstream judges.
    if not isinstance(value, str) or not re.fullmatch(r"[a-z]{1,16}", value):
        raise invalid(
            "`reasoning_effort` must be a level such as low, medium or high", "reasoning_effort"
        )
    return value


def _response_format(value: Any, body: dict[str, Any]) -> Any:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in _RESPONSE_FORMATS:
        raise invalid(
            f"`response_format.type` must be one of {', '.join(_RESPONSE_FORMATS)}",
            "response_format.type",
        )
    assert isinstance(value, dict)
    allowed = {"type", "json_schema"} if kind == "json_schema" else {"type"}
    if set(value) - allowed:
        field = sorted(set(value) - allowed)[0]
        raise invalid(
            f"`response_format.{field}` is not allowed with type {kind}", f"response_format.{field}"
        )
    if kind == "json_schema":
        schema = value.get("json_schema")
        name = schema.get("name") if isinstance(schema, dict) else None
        if (
            not isinstance(schema, dict)
            or not isinstance(name, str)
            or not _FUNCTION_NAME.fullmatch(name)
        ):
            raise invalid(
                "`response_format.json_schema.name` must be 1 to 64 letters, digits, _ or -",
                "response_format.json_schema.name",
            )
        unknown = set(schema) - {"name", "description", "schema", "strict"}
        if unknown or not isinstance(schema.get("schema", {}), dict):
            raise invalid(
                "`response_format.json_schema` takes name, description, schema (an object) and "
                "strict",
                "response_format.json_schema",
            )
    return value


_UPSTREAM_CHECKS: Final[dict[str, Callable[[Any, dict[str, Any]], Any]]] = {
    "parallel_tool_calls": _boolean("parallel_tool_calls"),
    "response_format": _response_format,
    "frequency_penalty": _penalty("frequency_penalty"),
    "presence_penalty": _penalty("presence_penalty"),
    "logit_bias": _logit_bias,
    "logprobs": _boolean("logprobs"),
    "top_logprobs": _top_logprobs,
    "user": _user,
    "reasoning_effort": _reasoning_effort,
}
assert set(_UPSTREAM_CHECKS) == UPSTREAM_ONLY
