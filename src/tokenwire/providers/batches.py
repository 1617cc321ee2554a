"""Payloads in batches: what a provider received together, to be appended to the log together.

A provider may offer ``stream_batches`` next to ``stream`` (the OpenAI provider does: one batch
per upstream read). The hub then appends each batch in one write, which wakes each reader once
per batch instead of once per payload. Any other provider is read one payload per batch.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol, runtime_checkable

from tokenwire.providers.base import ChatMessage, GenerationParams, Provider, ProviderPayload


@runtime_checkable
class BatchingProvider(Protocol):
    def stream_batches(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[list[ProviderPayload], None]:
        """Like ``stream``, as non-empty lists of the payloads that arrived together, in order."""
        ...


def payload_batches(
    provider: Provider, messages: list[ChatMessage], params: GenerationParams
) -> AsyncGenerator[list[ProviderPayload], None]:
    if isinstance(provider, BatchingProvider):
        return provider.stream_batches(messages, params)
    return _one_by_one(provider.stream(messages, params))


async def _one_by_one(
    stream: AsyncGenerator[ProviderPayload, None],
) -> AsyncGenerator[list[ProviderPayload], None]:
    try:
        async for payload in stream:
            yield [payload]
    finally:
        await stream.aclose()  # closed now, not when collected: its finally stops the work
