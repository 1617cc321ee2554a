"""What every provider is: an async stream of payloads for one generation.

A provider yields ``Delta``, ``Reasoning`` and ``Usage`` payloads and may end with a ``Done``
(``finish_reason`` ``stop`` or ``length``); when it ends without one the hub adds ``Done("stop")``.
A failure is raised as ``ProviderError``, which the hub turns into the one terminal ``error`` event.
Cancellation is the consumer cancelling its task: the generator's ``finally`` must stop the work
(close the upstream response, stop the model thread) promptly.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol

from tokenwire.errors import TokenwireError
from tokenwire.events import Delta, Done, Reasoning, Usage

ProviderPayload = Delta | Reasoning | Usage | Done


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Sampling parameters a client may set; ``None`` leaves the provider's default."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


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
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncGenerator[ProviderPayload, None]: ...

    async def aclose(self) -> None: ...
