"""The hub: starts generations, finds their streams for readers, and stops them.

Everything that reads a stream, whichever transport, goes through ``read``; everything that starts
one goes through ``start_chat`` (stored conversations) or ``start_completion`` (the stateless
OpenAI-compatible endpoint, whose caller keeps its own history).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Literal

from tokenwire.hub.generation import Generation, StopReason, StreamHandle
from tokenwire.hub.log import (
    Batch,
    LogFull,
    LogUnavailable,
    StreamLog,
    StreamMeta,
    StreamNotFound,
)
from tokenwire.hub.remote import RemoteCancel, cancel_remote
from tokenwire.providers.base import GenerationParams, Provider
from tokenwire.store.conversations import ConversationStore, new_id
from tokenwire.store.database import Conflict

logger = logging.getLogger("tokenwire.hub")


class ModelNotFound(LookupError):
    pass


class ConversationNotFound(LookupError):
    pass


class ConversationBusy(RuntimeError):
    """An answer is still streaming in this conversation."""


class Hub:
    def __init__(
        self,
        log: StreamLog,
        store: ConversationStore,
        providers: Mapping[str, Provider],
        *,
        max_events: int = 100_000,
        persist_interval: float = 1.0,
        remote: RemoteCancel | None = None,
    ) -> None:
        if not providers:
            raise ValueError("at least one model is needed")
        self.log = log
        self.store = store
        self.providers = dict(providers)
        self.max_events = max_events
        self.persist_interval = persist_interval
        self.remote = remote  # reaches generations in other processes (the Redis log)
        self._running: dict[str, Generation] = {}
        # Checking that a conversation is free and adding a turn to it must be one step.
        self._turns = asyncio.Lock()

    @property
    def default_model(self) -> str:
        return next(iter(self.providers))

    def provider(self, model: str | None) -> Provider:
        try:
            return self.providers[model or self.default_model]
        except KeyError:
            raise ModelNotFound(model) from None

    async def start_chat(
        self,
        *,
        owner: str,
        message: str,
        conversation_id: str | None,
        model: str | None,
        params: GenerationParams,
    ) -> StreamHandle:
        provider = self.provider(model)
        history: list[dict[str, str]] = []
        stream_id = new_id("str")
        async with self._turns:
            if conversation_id is not None:
                if await self.store.get(owner, conversation_id) is None:
                    raise ConversationNotFound(conversation_id)
                if await self.store.is_streaming(conversation_id):
                    raise ConversationBusy(conversation_id)
                history = await self.store.history(owner, conversation_id)
            try:
                exchange = await self.store.start_exchange(
                    owner=owner,
                    conversation_id=conversation_id,
                    user_text=message,
                    model=provider.id,
                    stream_id=stream_id,
                )
            except Conflict:  # another process added a turn at the same position first
                raise ConversationBusy(conversation_id) from None
        handle = StreamHandle(
            stream_id, exchange.conversation_id, exchange.assistant_message_id, provider.id
        )
        messages = [*history, {"role": "user", "content": message}]
        try:
            await self._launch(handle, provider, messages, params, owner, self.store)
        except (LogFull, LogUnavailable) as exc:
            code = "overloaded" if isinstance(exc, LogFull) else "unavailable"
            await self.store.update_answer(
                handle.message_id, content="", reasoning="", status="error",
                error=(code, "too many streams are live" if code == "overloaded" else str(exc)),
            )  # fmt: skip
            raise
        return handle

    async def start_completion(
        self, *, owner: str, model: str | None, messages: list[dict[str, str]],
        params: GenerationParams,
    ) -> StreamHandle:  # fmt: skip
        provider = self.provider(model)
        handle = StreamHandle(new_id("str"), "", "", provider.id)
        await self._launch(handle, provider, messages, params, owner, None)
        return handle

    async def _launch(
        self,
        handle: StreamHandle,
        provider: Provider,
        messages: list[dict[str, str]],
        params: GenerationParams,
        owner: str,
        store: ConversationStore | None,
    ) -> None:
        meta = StreamMeta(
            handle.stream_id, handle.conversation_id, handle.message_id, handle.model, owner
        )
        await self.log.create(meta)
        generation = Generation(
            handle, provider, messages, params, log=self.log, store=store,
            max_events=self.max_events, persist_interval=self.persist_interval,
        )  # fmt: skip
        await generation.begin()
        self._running[handle.stream_id] = generation
        assert generation.task is not None
        generation.task.add_done_callback(lambda _: self._running.pop(handle.stream_id, None))

    async def meta(self, stream_id: str, owner: str) -> StreamMeta:
        """The stream's metadata; ``StreamNotFound`` also for another owner's stream."""
        meta = await self.log.meta(stream_id)
        if meta.owner != owner:
            raise StreamNotFound(stream_id)
        return meta

    async def read(self, stream_id: str, after: int, timeout: float) -> Batch:
        return await self.log.read(stream_id, after, timeout)

    async def cancel(
        self, stream_id: str, owner: str, *, reason: StopReason = "cancelled"
    ) -> Literal["cancelled", "finished"]:
        """Stop a generation and wait (briefly) for its terminal event to be written."""
        await self.meta(stream_id, owner)
        generation = self._running.get(stream_id)
        if generation is None:
            if self.remote is None or reason != "cancelled":
                return "finished"
            return await cancel_remote(self.remote, self.log, stream_id, timeout=5.0)
        generation.stop(reason)
        await generation.wait(timeout=5.0)
        return "cancelled" if generation.stop_reason == reason else "finished"

    def stop_nowait(self, stream_id: str, reason: StopReason = "cancelled") -> None:
        """Ask a generation running here to stop, without waiting for it."""
        generation = self._running.get(stream_id)
        if generation is not None:
            generation.stop(reason)

    async def cancel_conversation(self, conversation_id: str) -> None:
        for generation in list(self._running.values()):
            if generation.handle.conversation_id == conversation_id:
                generation.stop("cancelled")
                await generation.wait(timeout=5.0)
        if self.remote is not None:  # answers streaming from other processes
            for stream_id in await self.store.streaming_streams(conversation_id):
                if stream_id not in self._running:
                    with contextlib.suppress(StreamNotFound):
                        await cancel_remote(self.remote, self.log, stream_id, timeout=5.0)

    @property
    def running(self) -> int:
        return len(self._running)

    async def close(self, timeout: float = 10.0) -> None:
        """Stop every generation as interrupted, store what each produced, close the providers."""
        generations = list(self._running.values())
        for generation in generations:
            generation.stop("shutdown")
        if generations:
            await asyncio.gather(*(g.wait(timeout) for g in generations))
        for provider in self.providers.values():
            try:
                await provider.aclose()
            except Exception:
                logger.exception("closing model %s failed", provider.id)
