"""Server-side tools for the tests: real functions, sync and async, with probes that say what
happened to them. The server runs in a thread of this process, so the probes are thread-safe
(``threading.Event``); ``reset()`` gives each test fresh ones.

Reachable as ``[[tools]]`` functions too, e.g. ``tests.support.tool_functions:get_weather``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from tokenwire import GenerationParams, ToolCall

SECRET = "sk-tool-secret-0123456789"
WAIT = 30.0  # generous: the machine is shared


@dataclass
class ToolProbe:
    started: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)  # CancelledError arrived
    finished: threading.Event = field(default_factory=threading.Event)  # its finally ran
    release: threading.Event = field(default_factory=threading.Event)  # lets a blocked one end
    calls: list[dict[str, object]] = field(default_factory=list)


PROBE = ToolProbe()


def reset() -> ToolProbe:
    global PROBE
    PROBE.release.set()  # whatever a previous test left blocked may end
    PROBE = ToolProbe()
    return PROBE


def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, object]:
    """The weather in a city, now."""
    PROBE.calls.append({"tool": "get_weather", "city": city, "unit": unit})
    return {"city": city, "temperature": 21 if unit == "C" else 70, "unit": unit, "sky": "晴"}


async def add(a: int, b: Annotated[int, "the second number"] = 1) -> int:
    """Add two integers."""
    await asyncio.sleep(0)
    return a + b


def explode(reason: str) -> str:
    """A tool that always fails, with a secret in its message."""
    raise RuntimeError(f"cannot reach the service with key {SECRET}: {reason}")


async def slow_async(label: str) -> str:
    """Waits on the event loop for ever, unless cancelled; notes the cancel."""
    PROBE.started.set()
    try:
        await asyncio.Event().wait()
        return f"never {label}"
    except asyncio.CancelledError:
        PROBE.cancelled.set()
        raise
    finally:
        PROBE.finished.set()


def slow_sync(label: str) -> str:
    """Blocks its thread until the test releases it."""
    PROBE.started.set()
    try:
        PROBE.release.wait(WAIT)
        return f"released {label}"
    finally:
        PROBE.finished.set()


# --- model functions that call tools -------------------------------------------------------------


@dataclass
class ModelProbe:
    """What a model function was asked with, each time."""

    seen: list[tuple[list[dict[str, Any]], GenerationParams]] = field(default_factory=list)


def _this_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    start = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=0)
    return messages[start:]


def calling(calls: list[tuple[str, str]], probe: ModelProbe | None = None) -> Any:
    """A model that calls these tools (name, JSON arguments) at once, each call whole and the
    first without an id, then says which results it got back (errors marked)."""

    async def model(
        messages: list[dict[str, Any]], params: GenerationParams
    ) -> AsyncIterator[object]:
        if probe is not None:
            probe.seen.append((messages, params))
        results = [m for m in _this_turn(messages) if m["role"] == "tool"]
        if not results:
            for index, (name, arguments) in enumerate(calls):
                yield ToolCall(index, None if index == 0 else f"call_{index}", name, arguments)
            return
        yield "saw: " + " | ".join(str(m["content"]) for m in results)

    return model
