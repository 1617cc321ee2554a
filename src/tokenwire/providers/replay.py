"""A scripted model: streams a given text at a given rate. For demos, tests and benchmarks."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from pathlib import Path

from tokenwire.events import Delta, Done
from tokenwire.providers.base import ChatMessage, GenerationParams, ProviderPayload

# Pieces about the size of a model's tokens: a run of spaces with up to four following characters.
_PIECE = re.compile(r"\s*\S{1,4}|\s+")
# With no rate limit, still let the event loop run now and then so readers keep up.
_YIELD_EVERY = 32


def split_tokens(text: str) -> list[str]:
    return _PIECE.findall(text)


class ReplayProvider:
    def __init__(
        self,
        *,
        id: str,
        text: str | None = None,
        text_file: str | Path | None = None,
        tokens_per_second: float = 0.0,
    ) -> None:
        if (text is None) == (text_file is None):
            raise ValueError("give exactly one of text and text_file")
        self.id = id
        if text is None:
            assert text_file is not None
            text = Path(text_file).read_text(encoding="utf-8")
        self.tokens = split_tokens(text)
        self.tokens_per_second = tokens_per_second

    async def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[ProviderPayload, None]:
        limit = params.max_tokens if params.max_tokens is not None else len(self.tokens)
        interval = 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i, token in enumerate(self.tokens[:limit]):
            if interval:
                # Keep to a schedule rather than sleep a fixed interval, so delays don't add up.
                await asyncio.sleep(max(0.0, started + i * interval - loop.time()))
            elif i % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            yield Delta(token)
        yield Done("length" if limit < len(self.tokens) else "stop")

    async def aclose(self) -> None:
        return None
