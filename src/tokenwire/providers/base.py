"""What every provider is: an async stream of payloads for one generation.

A provider yields ``Delta``, ``Reasoning``, ``ToolCall`` and ``Usage`` payloads (``Logprobs`` too,
only when ``params.extra`` asks for ``logprobs``) and may end with a ``Done`` (``finish_reason``
``stop``, ``length`` or ``tool_calls``); when it ends without one the hub adds ``Done("stop")``.
It reads the conversation as OpenAI's chat messages (``ChatMessage``): ``system``/``user``/
``assistant``/``tool`` roles, an assistant's ``tool_calls`` and a tool message's
``tool_call_id`` included, so every provider sees one shape of history.
A failure is raised as ``ProviderError``, which the hub turns into the one terminal ``error`` event.
Cancellation is the consumer cancelling its task: the generator's ``finally`` must stop the work
(close the upstream response, stop the model thread) promptly.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol

from tokenwire.errors import TokenwireError
from tokenwire.events import Delta, Done, Logprobs, Reasoning, ToolCall, Usage

ProviderPayload = Delta | Reasoning | ToolCall | Logprobs | Usage | Done

# One message of a conversation in OpenAI's chat shape: {"role", "content"} plus, for an
# assistant that called tools, "tool_calls": [{"id", "type": "function", "function": {"name",
# "arguments"}}], and for a tool's result, "tool_call_id". Content may be a list of parts.
ChatMessage = dict[str, Any]


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Sampling parameters a client may set; ``None`` leaves the provider's default."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    # OpenAI's function tools, {"type": "function", "function": {"name", "description",
    # "parameters"}}, and its tool_choice ("auto", "none", "required" or a named function).
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, Any] | None = None


class ProviderError(TokenwireError):
    """A generation failed; ``code`` is stable, ``message`` safe to show (never a secret).

    ``retry_after`` is the wait in seconds the upstream asked for (``Retry-After``), if any.
    """

    def __init__(
        self, code: str, message: str, *, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class Provider(Protocol):
    """A model that can stream an answer to a conversation."""

    id: str

    def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[ProviderPayload, None]: ...

    async def aclose(self) -> None: ...


async def supports_tools(provider: Provider) -> bool:
    """Whether the model may be offered tools. A provider that cannot always take them says so
    with an async ``supports_tools()`` method of its own (the local model: only when its chat
    template has tools); any other can."""
    check = getattr(provider, "supports_tools", None)
    return True if check is None else bool(await check())
