"""A model that calls tools, put into a real server's hub, for the clients' tool-call tests.

The server's own models cannot call tools yet from a test (the python provider's output adapter
and replay's scripts come with the server's part of issue 15), so ``ToolCallingModel`` is a
provider: the hub, the stream log, the store and every transport around it are the real ones.
To a user's message it answers with a sentence and two parallel calls whose argument pieces
interleave, and ends with ``done`` ``tool_calls``; to the tools' results (the continuation), it
answers with a sentence that quotes them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from tests.support.servers import RunningServer
from tokenwire.events import Delta, Done, ToolCall
from tokenwire.providers.base import ChatMessage, GenerationParams, ProviderPayload

PREAMBLE = "Let me check."
WEATHER_ARGUMENTS = {"city": "Paris", "unit": "celsius"}
TIME_ARGUMENTS = {"tz": "Europe/Paris"}
# What the two calls add up to, in the order they start: (id, name, arguments).
CALLS = [
    ("call_weather", "get_weather", json.dumps(WEATHER_ARGUMENTS)),
    ("call_time", "get_time", json.dumps(TIME_ARGUMENTS)),
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city now.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
        },
    },
]


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class ToolCallingModel:
    """A provider with ``id``; ``piece_size`` cuts the arguments, ``pause`` waits between pieces
    (so that a connection can be cut while a call streams). ``calls`` records what it was given."""

    id: str = "tools"
    piece_size: int = 6
    pause: float = 0.0
    calls: list[tuple[list[ChatMessage], GenerationParams]] = field(default_factory=list)

    async def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[ProviderPayload, None]:
        self.calls.append((messages, params))
        if messages[-1].get("role") == "tool":
            results = [m["content"] for m in messages if m.get("role") == "tool"]
            yield Delta("The tools said: " + "; ".join(results) + ".")
            yield Done("stop")
            return
        for payload in self.script():
            if self.pause:
                await asyncio.sleep(self.pause)
            yield payload

    def script(self) -> list[ProviderPayload]:
        """A sentence, then the calls' first pieces (id and name), then their argument pieces,
        taking turns between the two calls."""
        script: list[ProviderPayload] = [Delta(PREAMBLE)]
        script += [ToolCall(i, call_id, name) for i, (call_id, name, _) in enumerate(CALLS)]
        split = [pieces(arguments, self.piece_size) for _, _, arguments in CALLS]
        for turn in range(max(len(p) for p in split)):
            script += [ToolCall(i, arguments=p[turn]) for i, p in enumerate(split) if turn < len(p)]
        script.append(Done("tool_calls"))
        return script

    async def aclose(self) -> None:
        return None


def add_model(server: RunningServer, model: Any) -> Any:
    """Serve ``model`` from the running server, beside its configured ones; returns it."""
    server.hub.providers[model.id] = model
    return model
