"""Getting an answer started: retries before the first token, then fallback models.

Until a model has yielded anything, a retryable failure (429, 5xx, a refused or timed-out
connection) costs the reader nothing but time, so it is retried with capped, jittered backoff —
waiting at least what ``Retry-After`` asked — while the model's ``retry_deadline`` allows. Then each
fallback model gets the same chance. Once a payload has gone out, a failure ends the stream: a retry
would have to start the answer again, and the reader has already seen its beginning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

from tokenwire.providers.base import (
    ChatMessage,
    GenerationParams,
    Provider,
    ProviderError,
    ProviderPayload,
)
from tokenwire.providers.batches import payload_batches

logger = logging.getLogger("tokenwire.hub")

BASE_DELAY = 0.25
MAX_DELAY = 8.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    deadline: float = 20.0  # seconds from the first attempt; 0 turns retries off
    max_retries: int = 4


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class Candidate:
    provider: Provider
    policy: RetryPolicy = DEFAULT_POLICY


def backoff(attempt: int, retry_after: float | None) -> float:
    """Full-jitter exponential delay, never shorter than what the upstream asked for."""
    delay = random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2**attempt))
    return max(delay, retry_after or 0.0)


async def stream_with_retries(
    candidates: Sequence[Candidate],
    messages: list[ChatMessage],
    params: GenerationParams,
    *,
    on_retry: Callable[[Provider, ProviderError], None] = lambda p, e: None,
    on_fallback: Callable[[Provider, Provider], None] = lambda a, b: None,
    on_seen: Callable[[Provider, ProviderError | None], None] = lambda p, e: None,
) -> AsyncGenerator[list[ProviderPayload], None]:
    """The payload batches of the first candidate that gets going; its failure after that is
    raised. ``on_seen`` hears how each request went: ``None`` at its first batch, else its error."""
    assert candidates
    last: ProviderError | None = None
    for index, candidate in enumerate(candidates):
        if index:
            on_fallback(candidates[index - 1].provider, candidate.provider)
        started = False
        deadline = time.monotonic() + candidate.policy.deadline
        for attempt in range(candidate.policy.max_retries + 1):
            stream = payload_batches(candidate.provider, messages, params)
            try:
                async with contextlib.aclosing(stream):
                    async for batch in stream:
                        if not started:
                            started = True
                            on_seen(candidate.provider, None)
                        yield batch
                return
            except ProviderError as exc:
                on_seen(candidate.provider, exc)
                if started or not exc.retryable:
                    raise
                last = exc
                delay = backoff(attempt, exc.retry_after)
                if attempt == candidate.policy.max_retries or time.monotonic() + delay > deadline:
                    break
                logger.info(
                    "model %s: %s; retry %d in %.2f s",
                    candidate.provider.id,
                    exc.code,
                    attempt + 1,
                    delay,
                )
                on_retry(candidate.provider, exc)
                await asyncio.sleep(delay)
    assert last is not None
    raise last
