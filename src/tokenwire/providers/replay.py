"""A scripted model: streams a given text at a given rate. For demos, tests and benchmarks.

It may also play a script of ``turns`` (``[[models.turns]]`` in the TOML), each some text and/or
tool calls, so that tool calls can be shown and tested without a key::

    [[models]]
    id = "weather-demo"
    provider = "replay"
    tokens_per_second = 30
    tools = ["get_weather"]          # the server runs this one; other names are the caller's

    [[models.turns]]
    text = "Let me look that up."
    tool_calls = [{ name = "get_weather", arguments = { city = "Paris" } }]

    [[models.turns]]
    text = "It is sunny in Paris."

Which turn plays is chosen by how many rounds of tool results the conversation holds since its
last user message: none, the first turn; after the results of the first turn's calls, the second;
and so on. Past the last turn, the last one plays again. A turn with calls ends ``tool_calls``;
each call streams as a first piece with its ``id`` (``id = "..."``, or a new one) and ``name``,
then its arguments in pieces (``arguments``: a table, or a string sent as it is, valid JSON or not).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any

from tokenwire.config import replay_turn
from tokenwire.events import Delta, Done, Reasoning, ToolCall, new_tool_call_id
from tokenwire.providers.base import ChatMessage, GenerationParams, ProviderPayload

# Pieces about the size of a model's tokens: a run of spaces with up to four following characters.
_PIECE = re.compile(r"\s*\S{1,4}|\s+")
# With no rate limit, still let the event loop run now and then so readers keep up.
_YIELD_EVERY = 32


def split_tokens(text: str) -> list[str]:
    return _PIECE.findall(text)


def turn_index(messages: Sequence[ChatMessage]) -> int:
    """How many rounds of tool results follow the last user message: the turn to play."""
    rounds = 0
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "user":
            rounds = 0
        elif role == "tool" and i > 0 and messages[i - 1].get("role") != "tool":
            rounds += 1
    return rounds


class ReplayProvider:
    def __init__(
        self,
        *,
        id: str,
        text: str | None = None,
        text_file: str | Path | None = None,
        turns: Sequence[dict[str, Any]] = (),
        tokens_per_second: float = 0.0,
    ) -> None:
        if (text is not None) + (text_file is not None) + bool(turns) != 1:
            raise ValueError("give exactly one of text, text_file and turns")
        self.id = id
        if text_file is not None:
            text = Path(text_file).read_text(encoding="utf-8")
        self.turns = [replay_turn(turn, f"turns[{i}]") for i, turn in enumerate(turns)]
        self.turns = self.turns or [{"text": text or ""}]
        self.tokens = split_tokens(self.turns[0].get("text", ""))
        self.tokens_per_second = tokens_per_second

    async def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[ProviderPayload, None]:
        turn = self.turns[min(turn_index(messages), len(self.turns) - 1)]
        tokens = split_tokens(turn.get("text", ""))
        limit = params.max_tokens if params.max_tokens is not None else len(tokens)
        interval = 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        pieces: list[ProviderPayload] = [
            Reasoning(t) for t in split_tokens(turn.get("reasoning", ""))
        ]
        pieces += [Delta(token) for token in tokens[:limit]]
        calls = turn.get("tool_calls") or []
        if limit >= len(tokens):
            for index, call in enumerate(calls):
                call_id = call.get("id") or new_tool_call_id()
                pieces.append(ToolCall(index, call_id, call["name"]))
                pieces += [ToolCall(index, arguments=p) for p in split_tokens(call["arguments"])]
        for i, piece in enumerate(pieces):
            if interval:
                # Keep to a schedule rather than sleep a fixed interval, so delays don't add up.
                await asyncio.sleep(max(0.0, started + i * interval - loop.time()))
            elif i % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            yield piece
        if limit < len(tokens):
            yield Done("length")
        else:
            yield Done("tool_calls" if calls else "stop")

    async def aclose(self) -> None:
        return None
