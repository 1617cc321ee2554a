"""Model functions for the tests: real generators, with probes that say what happened to them.

The server runs on a loop in another thread, so the probes are thread-safe (``threading.Event``).
Module-level functions are also reachable as entries, e.g. ``tests.support.model_functions:echo``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenwire import Done, Error, GenerationParams, Reasoning, Usage

SECRET = "sk-model-function-secret-0123456789"
WAIT = 30.0  # generous: the machine is shared


@dataclass
class Probe:
    """What one model function saw and how it ended."""

    started: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)  # its finally ran
    release: threading.Event = field(default_factory=threading.Event)  # lets a blocked one go on
    calls: list[tuple[list[dict[str, str]], GenerationParams]] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)
    yielded: int = 0

    def record(self, messages: list[dict[str, str]], params: GenerationParams) -> None:
        self.calls.append((messages, params))
        self.threads.append(threading.current_thread().name)
        self.started.set()


async def echo(messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]:
    """Async: the last user message back, word by word."""
    for word in messages[-1]["content"].split(" "):
        await asyncio.sleep(0)
        yield word + " "


def sync_echo(messages: list[dict[str, str]], params: GenerationParams) -> Iterator[str]:
    """Sync: the last user message back, word by word."""
    for word in messages[-1]["content"].split(" "):
        yield word + " "


def sync_slow_echo(messages: list[dict[str, str]], params: GenerationParams) -> Iterator[str]:
    """Sync and slow: the last user message back, a word every 20 ms."""
    for word in messages[-1]["content"].split(" "):
        time.sleep(0.02)
        yield word + " "


def held(messages: list[dict[str, str]], params: GenerationParams) -> Iterator[str]:
    """An answer that cannot end before the test lets it: ``tick`` every 50 ms until the file
    that the last user message names exists, then ``the end.``"""
    gate = Path(messages[-1]["content"])
    while not gate.exists():
        yield "tick "
        time.sleep(0.05)
    yield "the end."


async def whole(messages: list[dict[str, str]], params: GenerationParams) -> str:
    """Not a generator at all: the whole answer at once."""
    return "all at once"


class NotAFunction:
    pass


def wrong_signature(messages: list[dict[str, str]]) -> Iterator[str]:
    yield "never"


def rich(probe: Probe) -> Any:
    async def model(
        messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncIterator[object]:
        probe.record(messages, params)
        yield Reasoning("Thinking it over.")
        yield "Hello"
        yield ""  # nothing to send: skipped
        yield ", world."
        yield Usage(prompt_tokens=7, completion_tokens=3)

    return model


def endless_async(probe: Probe) -> Any:
    async def model(messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]:
        probe.record(messages, params)
        try:
            while True:
                probe.yielded += 1
                yield "tick "
                await asyncio.sleep(0.02)
        finally:
            probe.closed.set()

    return model


def endless_sync(probe: Probe) -> Any:
    def model(messages: list[dict[str, str]], params: GenerationParams) -> Iterator[str]:
        probe.record(messages, params)
        try:
            while True:
                probe.yielded += 1
                yield "tick "
                time.sleep(0.02)
        finally:
            probe.closed.set()

    return model


def blocked_sync(probe: Probe) -> Any:
    """Yields once, then blocks (as a slow network call would) until ``probe.release``."""

    def model(messages: list[dict[str, str]], params: GenerationParams) -> Iterator[str]:
        probe.record(messages, params)
        try:
            yield "first "
            probe.release.wait(WAIT)
            while True:  # would go on for ever if it were not closed at this yield
                probe.yielded += 1
                yield "after release "
        finally:
            probe.closed.set()

    return model


def failing(probe: Probe, *, sync: bool) -> Any:
    def fail() -> None:
        raise ValueError(f"cannot reach the model with key {SECRET}")

    def sync_model(messages: list[dict[str, str]], params: GenerationParams) -> Iterator[str]:
        probe.record(messages, params)
        yield "partial "
        yield "answer"
        fail()

    async def async_model(
        messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncIterator[str]:
        probe.record(messages, params)
        yield "partial "
        yield "answer"
        fail()

    return sync_model if sync else async_model


async def yields_error(
    messages: list[dict[str, str]], params: GenerationParams
) -> AsyncIterator[object]:
    yield "so far "
    yield Error("quota_exceeded", "the monthly quota is used up", retryable=False)
    yield "never sent"


def yields_garbage(messages: list[dict[str, str]], params: GenerationParams) -> Iterator[object]:
    yield "fine "
    yield 42


def stops_early(messages: list[dict[str, str]], params: GenerationParams) -> Iterator[object]:
    yield "cut "
    yield Done("length")
    yield "never sent"
