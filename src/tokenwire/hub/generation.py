"""One generation: a task that runs a provider, numbers what it yields and appends it to the log.

It is tied to no connection. It ends with exactly one terminal event (``done`` or ``error``) and
stores the answer with the matching status, the partial text included; while it streams, the text
is stored every ``persist_interval`` seconds so a crash loses at most that much.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tokenwire.events import Answer, Delta, Done, Error, Event, Payload, Reasoning, Start
from tokenwire.hub.attempts import DEFAULT_POLICY, Candidate, RetryPolicy, stream_with_retries
from tokenwire.hub.log import LogUnavailable, StreamEnded, StreamLog
from tokenwire.metrics import Metrics
from tokenwire.providers.base import (
    ChatMessage,
    GenerationParams,
    Provider,
    ProviderError,
    ProviderPayload,
)
from tokenwire.store.conversations import ConversationStore, MessageStatus

logger = logging.getLogger("tokenwire.hub")

StopReason = Literal["cancelled", "shutdown"]


@dataclass(frozen=True, slots=True)
class StreamHandle:
    """What a caller needs to read a stream it started."""

    stream_id: str
    conversation_id: str
    message_id: str
    model: str


class Generation:
    def __init__(
        self,
        handle: StreamHandle,
        provider: Provider,
        messages: list[ChatMessage],
        params: GenerationParams,
        *,
        log: StreamLog,
        store: ConversationStore | None,
        max_events: int,
        persist_interval: float = 1.0,
        policy: RetryPolicy = DEFAULT_POLICY,
        fallbacks: Sequence[Candidate] = (),
        metrics: Metrics | None = None,
    ) -> None:
        self.handle = handle
        self.messages = messages
        self.params = params
        self.log = log
        self.store = store
        self.max_events = max_events
        self.persist_interval = persist_interval
        self.candidates = [Candidate(provider, policy), *fallbacks]
        self.metrics = metrics or Metrics()
        self.began = time.monotonic()
        self.first_token: float | None = None
        self.seq = 0
        self.answer = Answer()
        self.stop_reason: StopReason | None = None
        self.task: asyncio.Task[None] | None = None
        self._started = False  # _run has begun: a stop may cancel the task
        self._finishing = False  # the terminal event is being written: too late to stop

    async def begin(self) -> None:
        """Append the ``start`` event, then run the rest as a task of its own."""
        h = self.handle
        self.began = time.monotonic()
        await self._append(Start(h.stream_id, h.conversation_id, h.message_id, h.model))
        self.metrics.streams_started.inc(model=h.model)
        logger.info("stream %s started: model %s", h.stream_id, h.model,
                    extra={"stream_id": h.stream_id})  # fmt: skip
        self.task = asyncio.create_task(self._run(), name=f"generation {h.stream_id}")

    def stop(self, reason: StopReason) -> None:
        """Stop once: a second stop, or one while the end is being written, changes nothing."""
        if self.stop_reason is not None or self._finishing:
            return
        if self.task is None or self.task.done():
            return
        self.stop_reason = reason
        if self._started:
            self.task.cancel()
        # Not started yet: cancelling now would skip _run entirely; it checks stop_reason first.

    async def wait(self, timeout: float) -> bool:
        """Wait for the generation to end; True when it has. Never raises the task's outcome."""
        if self.task is None:
            return True
        done, _ = await asyncio.wait((self.task,), timeout=timeout)
        return bool(done)

    async def _run(self) -> None:
        self._started = True
        if self.stop_reason is not None:  # stopped before it began
            self._finishing = True
            await self._finish(self._stopped_final())
            return
        final: Done | Error = Done("stop")
        next_persist = time.monotonic() + self.persist_interval
        try:
            # What the provider received together is appended together: one log write and one
            # wake-up of each reader per batch (order kept, nothing dropped or doubled).
            stream = stream_with_retries(
                self.candidates, self.messages, self.params,
                on_retry=self._retried, on_fallback=self._fell_back,
            )  # fmt: skip
            async with contextlib.aclosing(stream):
                async for batch in stream:
                    if self.first_token is None:
                        self._note_first_token(batch)
                    ended = await self._append_batch(batch)
                    if ended is not None:
                        final = ended
                        break
                    if self.store is not None and time.monotonic() >= next_persist:
                        next_persist = time.monotonic() + self.persist_interval
                        await self._persist("streaming")
                    if self._stop_was_lost():
                        final = self._stopped_final()
                        break
        except asyncio.CancelledError:
            # Our own stop: finish the stream properly instead of propagating the cancellation.
            if self.stop_reason is None:
                raise
            asyncio.current_task().uncancel()
            final = self._stopped_final()
        except ProviderError as exc:
            final = Error(exc.code, exc.message, exc.retryable)
        except StreamEnded:
            # Another process ended the stream (and stored the answer) while this one could not
            # renew its lease: stop the model, and leave the end as they wrote it.
            logger.warning(
                "generation %s stopped: its stream was ended elsewhere", self.handle.stream_id
            )
            return
        except LogUnavailable:  # Redis is down: nobody can read the rest; stop the model
            logger.error(
                "generation %s stopped: the stream log is unreachable", self.handle.stream_id
            )
            final = Error("unavailable", "the stream log became unreachable", retryable=True)
        except Exception:
            logger.exception("generation %s failed", self.handle.stream_id)
            final = Error("internal_error", "the model failed unexpectedly", retryable=True)
        self._finishing = True
        await self._finish(final)

    def _stop_was_lost(self) -> bool:
        """True when a stop was asked for but its cancellation never reached this task.

        A library may swallow a cancellation: on Python 3.11, ``asyncio.wait_for`` (which redis-py
        wraps around every command it sends) returns the result of what it awaited instead of
        raising, when the cancel lands just as that finished. The stop is then carried out here,
        at the end of the step, and the cancellation nobody will receive is taken back.
        """
        if self.stop_reason is None:
            return False
        task = asyncio.current_task()
        while task is not None and task.cancelling():
            task.uncancel()
        return True

    def _note_first_token(self, batch: list[ProviderPayload]) -> None:
        if any(isinstance(p, Delta | Reasoning) for p in batch):
            self.first_token = time.monotonic()
            self.metrics.time_to_first_token.observe(
                self.first_token - self.began, model=self.handle.model
            )

    def _retried(self, provider: Provider, error: ProviderError) -> None:
        self.metrics.upstream_retries.inc(model=provider.id, code=error.code)

    def _fell_back(self, failed: Provider, fallback: Provider) -> None:
        self.metrics.fallbacks.inc(model=failed.id, fallback=fallback.id)
        logger.warning("stream %s: model %s failed before its first token; trying %s",
                       self.handle.stream_id, failed.id, fallback.id,
                       extra={"stream_id": self.handle.stream_id})  # fmt: skip

    def _stopped_final(self) -> Done | Error:
        if self.stop_reason == "cancelled":
            return Done("cancelled")
        return Error("interrupted", "the server shut down during the answer", retryable=True)

    async def _append_batch(self, batch: list[ProviderPayload]) -> Done | None:
        """Number and append a batch up to its ``Done``; the final event if the stream ends."""
        events: list[Event] = []
        final: Done | None = None
        add = self.answer.add
        for payload in batch:
            if isinstance(payload, Done):
                final = payload
                break
            add(payload)
            self.seq += 1
            events.append(Event.make(self.seq, payload))
            if self.seq >= self.max_events - 1:  # leave room for the terminal event
                final = Done("length")
                break
        if events:
            await self.log.append(self.handle.stream_id, events)
        return final

    async def _append(self, payload: Payload) -> None:
        self.seq += 1
        await self.log.append(self.handle.stream_id, (Event.make(self.seq, payload),))

    async def _finish(self, final: Done | Error) -> None:
        # Stored first: a client that sees the terminal event may continue the conversation at
        # once, and must not find this answer still "streaming".
        if isinstance(final, Error):
            status: MessageStatus = "interrupted" if final.code == "interrupted" else "error"
            await self._persist(status, error=(final.code, final.message))
        else:
            status = "cancelled" if final.finish_reason == "cancelled" else "complete"
            await self._persist(status, finish_reason=final.finish_reason)
        try:
            await self._append(final)
        except Exception:
            logger.exception("cannot end stream %s", self.handle.stream_id)
        self._record_end(final, status)

    def _record_end(self, final: Done | Error, status: str) -> None:
        h = self.handle
        self.metrics.stream_duration.observe(time.monotonic() - self.began, model=h.model)
        self.metrics.streams_ended.inc(model=h.model, outcome=status)
        if isinstance(final, Error):
            self.metrics.errors.inc(code=final.code)
            logger.warning("stream %s ended: %s: %s", h.stream_id, final.code, final.message,
                           extra={"stream_id": h.stream_id})  # fmt: skip
        else:
            logger.info("stream %s ended: %s after %d events", h.stream_id, status, self.seq,
                        extra={"stream_id": h.stream_id})  # fmt: skip

    async def _persist(
        self,
        status: MessageStatus,
        *,
        finish_reason: str | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        if self.store is None:
            return
        try:
            await self.store.update_answer(
                self.handle.message_id,
                content=self.answer.text,
                reasoning=self.answer.reasoning,
                status=status,
                finish_reason=finish_reason,
                error=error,
                usage=self.answer.usage_counts,
            )
        except Exception:
            logger.exception("cannot store the answer of stream %s", self.handle.stream_id)
