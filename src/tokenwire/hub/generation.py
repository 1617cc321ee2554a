"""One generation: a task that runs a provider, numbers what it yields and appends it to the log.

It is tied to no connection. It ends with exactly one terminal event (``done`` or ``error``) and
stores the answer with the matching status, the partial text included; while it streams, the text
is stored every ``persist_interval`` seconds so a crash loses at most that much.

The tool loop (docs/tools.md) runs inside it, as steps of one stream. When a model's answer ends
with calls to tools the server has (``tools``), they run, concurrently; each result is appended as
a ``tool_result`` event, in the order of the calls; the step is stored (the assistant's message
with its calls, a ``tool`` message per result, and a new assistant message for the next step); and
the model is asked again with the results. A call to a tool the server does not have is the
caller's: once the server's own calls of that step have run, the stream ends ``done``
``tool_calls``. After ``max_tool_steps`` rounds of tools, a model that asks for another ends the
stream with the ``error`` ``max_tool_steps`` (its calls stored, unanswered). A cancel stops the
model or the tools running (``ServerTool.run``), and what the stream showed is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

from tokenwire.events import (
    Answer,
    Delta,
    Done,
    Error,
    Event,
    Payload,
    Reasoning,
    Start,
    ToolCall,
    ToolResult,
    WholeToolCall,
    new_tool_call_id,
)
from tokenwire.hub.answer_limit import AnswerLimit
from tokenwire.hub.attempts import DEFAULT_POLICY, Candidate, RetryPolicy, stream_with_retries
from tokenwire.hub.follow import LOG_UNAVAILABLE
from tokenwire.hub.log import LogUnavailable, StreamEnded, StreamLog, StreamNotFound
from tokenwire.hub.store_writes import STORE_UNAVAILABLE, StoreOutageTooLong, StoreWrites
from tokenwire.hub.tools import ServerTool
from tokenwire.hub.upstreams import UpstreamStates
from tokenwire.metrics import Metrics
from tokenwire.providers.base import (
    ChatMessage,
    GenerationParams,
    Provider,
    ProviderError,
    ProviderPayload,
)
from tokenwire.store.conversations import ConversationStore, MessageStatus
from tokenwire.store.database import DatabaseUnavailable

logger = logging.getLogger("tokenwire.hub")

StopReason = Literal["cancelled", "shutdown"]
DEFAULT_MAX_TOOL_STEPS: Final = 8
MAX_TOOL_STEPS: Final = "max_tool_steps"  # the error code of a loop stopped at its limit
# How long a cancelled stream waits for the async tools it cancelled to finish their cleanup.
TOOL_CANCEL_GRACE: Final = 2.0


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
        tools: Mapping[str, ServerTool] | None = None,
        max_tool_steps: int = DEFAULT_MAX_TOOL_STEPS,
        upstreams: UpstreamStates | None = None,
        store_outage_seconds: float = 30.0,
        max_answer_chars: int = 0,
    ) -> None:
        self.handle = handle
        self.upstreams = upstreams or UpstreamStates()  # each model's upstream as last seen
        self.store_writes = StoreWrites(store_outage_seconds)  # saves that ride out the database
        self.limit = AnswerLimit(max_answer_chars) if max_answer_chars else None
        self.messages = messages
        self.params = params
        self.tools = dict(tools or {})  # the server's tools this model may call, by name
        self.max_tool_steps = max_tool_steps
        self.tool_steps = 0  # rounds of tools run so far
        self.message_id = handle.message_id  # the assistant message being written now
        self._open_calls: set[int] = set()  # the indexes of this step's calls
        self._results: list[ToolResult] = []  # results appended and not stored yet
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
        logger.info(
            "stream %s started: model %s", h.stream_id, h.model, extra={"stream_id": h.stream_id}
        )
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
        try:
            final = await self._steps()
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
        except StreamNotFound:
            # The log lost the stream under its producer (Redis restarted without its data
            # between two appends): as unreadable as an unreachable log, and no bug of the model.
            logger.error(
                "generation %s stopped: its stream is gone from the stream log",
                self.handle.stream_id,
            )
            final = Error("unavailable", "the stream log lost this stream", retryable=True)
        except StoreOutageTooLong:
            logger.error(
                "generation %s stopped: the database is unreachable", self.handle.stream_id
            )
            final = STORE_UNAVAILABLE
        except LogUnavailable:  # Redis stayed down past the outage bounds: stop the model
            logger.error(
                "generation %s stopped: the stream log is unreachable", self.handle.stream_id
            )
            final = LOG_UNAVAILABLE
        except Exception:
            logger.exception("generation %s failed", self.handle.stream_id)
            final = Error("internal_error", "the model failed unexpectedly", retryable=True)
        self._finishing = True
        await self._finish(final)

    async def _steps(self) -> Done | Error:
        """The model's answers and the tools they call, until one ends the stream."""
        while True:
            final = await self._model_answer()
            calls = self.answer.tool_calls
            if not calls or not isinstance(final, Done) or final.finish_reason not in _CALLING:
                return final
            ours = [call for call in calls if call.name in self.tools]
            if not ours:
                return Done("tool_calls")  # the caller's tools, all of them
            if self.tool_steps >= self.max_tool_steps:
                return Error(
                    MAX_TOOL_STEPS,
                    f"the model asked for tools more than {self.max_tool_steps} times in one answer"
                    " (max_tool_steps); stopped before running them",
                    retryable=False,
                )
            if self.seq + len(ours) >= self.max_events - 1:  # no room for the results and the end
                return Done("length")
            self.tool_steps += 1
            await self._run_tools(ours)
            if self._stop_was_lost():
                return self._stopped_final()
            if len(ours) < len(calls):
                return Done("tool_calls")  # the server's calls have run; the rest are the caller's
            await self._next_step()

    async def _model_answer(self) -> Done | Error:
        """Stream one answer of the model into the log; how it ended."""
        next_persist = time.monotonic() + self.persist_interval
        # What the provider received together is appended together: one log write and one
        # wake-up of each reader per batch (order kept, nothing dropped or doubled).
        stream = stream_with_retries(
            self.candidates,
            self.messages,
            self.params,
            on_retry=self._retried,
            on_fallback=self._fell_back,
            on_seen=self.upstreams.seen,
        )
        async with contextlib.aclosing(stream):
            async for batch in stream:
                if self.first_token is None:
                    self._note_first_token(batch)
                ended = await self._append_batch(batch)
                if ended is not None:
                    return ended
                if self.store is not None and time.monotonic() >= next_persist:
                    next_persist = time.monotonic() + self.persist_interval
                    self.store_writes.during(lambda: self._persist("streaming"))
                if self._stop_was_lost():
                    return self._stopped_final()
        return Done("stop")

    async def _run_tools(self, calls: list[WholeToolCall]) -> None:
        """Run the server's calls concurrently; append each result in the order of the calls."""
        tasks = [
            asyncio.create_task(self.tools[call.name].run(call.arguments), name=f"tool {call.name}")
            for call in calls
        ]
        try:
            for call, task in zip(calls, tasks, strict=True):
                content, is_error = await task
                result = ToolResult(call.id, content, is_error)
                self.answer.add(result)
                self._results.append(result)
                await self._append(result)
        finally:
            running = [task for task in tasks if not task.done()]
            for task in running:  # a cancel (or a failed append): stop the tools still running
                task.cancel()
            if running:  # let async tools run their cleanup; sync ones are no longer waited for
                await asyncio.wait(running, timeout=TOOL_CANCEL_GRACE)

    async def _next_step(self) -> None:
        """Store the step (its calls, their results, a new message for the next) and go on."""
        calls = self.answer.tool_calls
        said = {
            "role": "assistant",
            "content": self.answer.text or None,
            "tool_calls": [call.to_openai() for call in calls],
        }
        results = [
            {"role": "tool", "tool_call_id": r.tool_call_id, "content": r.content}
            for r in self._results
        ]
        self.messages = [*self.messages, said, *results]
        self.params = after_first_step(self.params)
        if self.store is None:
            self._begin_step(self.message_id)
            return
        save = asyncio.ensure_future(
            self._save_step(
                self.store, "complete", finish_reason="tool_calls", next_model=self.handle.model
            )
        )
        try:
            next_id = await asyncio.shield(save)
        except asyncio.CancelledError:
            # A stop while the step is stored: it is stored all the same, and the stream's end
            # goes to the message after it.
            self._begin_step(await save)
            raise
        self._begin_step(next_id)

    async def _save_step(
        self,
        store: ConversationStore,
        status: MessageStatus,
        *,
        finish_reason: str | None = None,
        error: tuple[str, str] | None = None,
        next_model: str | None = None,
    ) -> str | None:
        """Store this step's answer, its calls and their results in one transaction (and, with
        ``next_model``, a new assistant message for the next step: its id is returned)."""
        return await store.save_step(
            self.message_id,
            conversation_id=self.handle.conversation_id,
            stream_id=self.handle.stream_id,
            content=self.answer.text,
            reasoning=self.answer.reasoning,
            tool_calls=[call.to_json() for call in self.answer.tool_calls],
            results=self._results,
            status=status,
            finish_reason=finish_reason,
            error=error,
            usage=self.answer.usage_counts,
            next_model=next_model,
        )

    def _begin_step(self, message_id: str | None) -> None:
        assert message_id is not None
        self.message_id = message_id
        self.answer = Answer()
        self._open_calls = set()
        self._results = []

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
        logger.warning(
            "stream %s: model %s failed before its first token; trying %s",
            self.handle.stream_id,
            failed.id,
            fallback.id,
            extra={"stream_id": self.handle.stream_id},
        )

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
            if isinstance(payload, ToolCall):
                payload = self._with_id(payload)
            if self.limit is not None:
                kept, full = self.limit.take(payload)
                if full:
                    final = Done("length")
                    if kept is None:
                        break
                    payload = kept
            add(payload)
            self.seq += 1
            events.append(Event.make(self.seq, payload))
            if final is not None or self.seq >= self.max_events - 1:  # room for the terminal
                final = Done("length")
                break
        if events:
            await self.log.append(self.handle.stream_id, events)
        return final

    def _with_id(self, piece: ToolCall) -> ToolCall:
        """A call's first piece with an id: made up when the model gave none, since a result
        must name its call."""
        if piece.id is None and piece.index not in self._open_calls:
            piece = replace(piece, id=new_tool_call_id())
        self._open_calls.add(piece.index)
        return piece

    async def _append(self, payload: Payload) -> None:
        self.seq += 1
        await self.log.append(self.handle.stream_id, (Event.make(self.seq, payload),))

    async def _finish(self, final: Done | Error) -> None:
        # Stored first: a client that sees the terminal event may continue the conversation at
        # once, and must not find this answer still "streaming".
        if not await self.store_writes.final(lambda: self._persist_end(final)):
            final = STORE_UNAVAILABLE
            self.store_writes.later(
                lambda: self._persist_end(STORE_UNAVAILABLE),
                f"the answer of {self.handle.stream_id}",
            )
        status = _status_of(final)
        try:
            await self._append(final)
        except LogUnavailable:  # stored above; the readers end it themselves (hub/follow.py)
            logger.error(
                "cannot end stream %s: the stream log is unreachable", self.handle.stream_id
            )
        except Exception:
            logger.exception("cannot end stream %s", self.handle.stream_id)
        self._record_end(final, status)

    def _record_end(self, final: Done | Error, status: str) -> None:
        h = self.handle
        self.metrics.stream_duration.observe(time.monotonic() - self.began, model=h.model)
        self.metrics.streams_ended.inc(model=h.model, outcome=status)
        if isinstance(final, Error):
            self.metrics.errors.inc(code=final.code)
            logger.warning(
                "stream %s ended: %s: %s",
                h.stream_id,
                final.code,
                final.message,
                extra={"stream_id": h.stream_id},
            )
        else:
            logger.info(
                "stream %s ended: %s after %d events",
                h.stream_id,
                status,
                self.seq,
                extra={"stream_id": h.stream_id},
            )

    async def _persist_end(self, final: Done | Error) -> None:
        if isinstance(final, Error):
            await self._persist(_status_of(final), error=(final.code, final.message))
        else:
            await self._persist(_status_of(final), finish_reason=final.finish_reason)

    async def _persist(
        self,
        status: MessageStatus,
        *,
        finish_reason: str | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        if self.store is None:
            return
        calls = [call.to_json() for call in self.answer.tool_calls]
        try:
            if self._results:  # the results of the server's tools this step ran: stored with it
                await self._save_step(self.store, status, finish_reason=finish_reason, error=error)
                self._results = []
                return
            await self.store.update_answer(
                self.message_id,
                content=self.answer.text,
                reasoning=self.answer.reasoning,
                status=status,
                finish_reason=finish_reason,
                error=error,
                usage=self.answer.usage_counts,
                tool_calls=calls,
            )
        except DatabaseUnavailable:
            raise  # retried by store_writes
        except Exception:
            logger.exception("cannot store the answer of stream %s", self.handle.stream_id)


def _status_of(final: Done | Error) -> MessageStatus:
    if isinstance(final, Error):
        return "interrupted" if final.code == "interrupted" else "error"
    return "cancelled" if final.finish_reason == "cancelled" else "complete"


_CALLING: Final = frozenset({"stop", "tool_calls"})  # endings after which a call is run


def after_first_step(params: GenerationParams) -> GenerationParams:
    """The parameters for the model's next answer within a turn, after tool results: a
    ``tool_choice`` that forced a call (``required``, or a named function) becomes ``auto``, or
    the model would be made to call tools again and again."""
    if params.tool_choice == "required" or isinstance(params.tool_choice, dict):
        return replace(params, tool_choice="auto")
    return params


def last_step(payloads: Iterable[Payload]) -> tuple[Answer, list[ToolResult]]:
    """What the last step of a stream wrote (a step ends where the model speaks again after tool
    results): its answer, and the results of its tools. For storing what a stream whose process
    died was writing, from its events."""
    answer, results = Answer(), []
    after_results = False
    for payload in payloads:
        if isinstance(payload, ToolResult):
            results.append(payload)
            after_results = True
            continue
        if after_results and not isinstance(payload, Done | Error):
            answer, results, after_results = Answer(), [], False
        answer.add(payload)
    return answer, results
