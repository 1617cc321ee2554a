"""The hub: starts generations, finds their streams for readers, and stops them.

Everything that reads a stream, whichever transport, goes through ``read``; everything that starts
one goes through ``start_chat`` (stored conversations), ``continue_chat`` (a stored turn that ended
with ``tool_calls``, continued with the caller's tool results) or ``start_completion`` (the
stateless OpenAI-compatible endpoint, whose caller keeps its own history). The server's own tools
run inside a generation (``generation.py``, docs/tools.md).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

from tokenwire.errors import TokenwireError
from tokenwire.events import ToolResult
from tokenwire.hub.attempts import Candidate, RetryPolicy
from tokenwire.hub.generation import (
    DEFAULT_MAX_TOOL_STEPS,
    Generation,
    StopReason,
    StreamHandle,
    after_first_step,
)
from tokenwire.hub.log import (
    Batch,
    LogFull,
    LogUnavailable,
    StreamExpired,
    StreamLog,
    StreamMeta,
    StreamNotFound,
)
from tokenwire.hub.remote import RemoteCancel, cancel_remote
from tokenwire.hub.tools import ServerTool
from tokenwire.hub.upstreams import UpstreamStates
from tokenwire.metrics import Metrics
from tokenwire.providers.base import ChatMessage, GenerationParams, Provider, supports_tools
from tokenwire.store.conversations import ConversationStore, TurnState, new_id
from tokenwire.store.database import Conflict

logger = logging.getLogger("tokenwire.hub")


class ModelNotFound(TokenwireError, LookupError):
    pass


class ConversationNotFound(TokenwireError, LookupError):
    pass


class ConversationBusy(TokenwireError, RuntimeError):
    """An answer is still streaming in this conversation."""


class TooManyStreams(TokenwireError, RuntimeError):
    """A concurrency limit is reached; ``per_user`` says which one."""

    def __init__(self, per_user: bool) -> None:
        super().__init__("per user" if per_user else "in total")
        self.per_user = per_user


class ShuttingDown(TokenwireError, RuntimeError):
    """The server is draining: it finishes what runs and starts nothing new."""


class ToolsUnsupported(TokenwireError, ValueError):
    """The model cannot be offered tools (a local model whose chat template has none)."""


class ToolRequestError(TokenwireError, ValueError):
    """A request's tools, ``tool_choice`` or tool results do not fit the model or the
    conversation; the message names the field."""


class InvalidTools(ToolRequestError):
    """``tools`` or ``tool_choice`` clash with the model's own tools, or name none of them."""


class UnknownToolCall(ToolRequestError):
    """A tool result names a call that is not waiting for one."""


class NoPendingToolCalls(ToolRequestError):
    """Tool results for a conversation whose last answer called no tool still unanswered."""


class MissingToolResults(ToolRequestError):
    """A continuation leaves a waiting call without its result."""


def _size(message: ChatMessage) -> int:
    content = message.get("content")
    size = len(content) if isinstance(content, str) else 0
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        size += len(function.get("name") or "") + len(function.get("arguments") or "")
    return size


def fit_history(history: list[ChatMessage], budget: int) -> list[ChatMessage]:
    """The most recent turns whose text fits ``budget`` characters, starting with a user turn.

    A long conversation keeps going with its oldest turns left out, as chat products do, instead of
    failing once it outgrows what is sent upstream. An assistant's tool calls and the tool
    messages answering them are kept or left out together: a call is never sent without its
    results, nor a result without its call.
    """
    units: list[list[ChatMessage]] = []  # a message, or an assistant's calls with their results
    for message in history:
        if message.get("role") == "tool" and units and _calls_tools(units[-1][0]):
            units[-1].append(message)
        else:
            units.append([message])
    kept: list[list[ChatMessage]] = []
    for unit in reversed(units):
        budget -= sum(_size(message) for message in unit)
        if budget < 0:
            break
        kept.append(unit)
    kept.reverse()
    while kept and kept[0][0]["role"] != "user":
        kept.pop(0)
    return [message for unit in kept for message in unit]


def _calls_tools(message: ChatMessage) -> bool:
    return message.get("role") == "assistant" and bool(message.get("tool_calls"))


def fit_turn(messages: list[ChatMessage], budget: int) -> list[ChatMessage]:
    """The current turn (from the last user message) whole, after the earlier turns that fit
    what is left of ``budget``."""
    start = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=0)
    current = messages[start:]
    return [*fit_history(messages[:start], budget - sum(map(_size, current))), *current]


def _tool_name(tool: dict[str, Any]) -> str:
    return str(tool["function"]["name"])


class Hub:
    def __init__(
        self,
        log: StreamLog,
        store: ConversationStore,
        providers: Mapping[str, Provider],
        *,
        max_events: int = 100_000,
        persist_interval: float = 1.0,
        policies: Mapping[str, RetryPolicy] | None = None,
        fallbacks: Mapping[str, tuple[str, ...]] | None = None,
        max_concurrent: int = 0,
        max_per_user: int = 0,
        max_context_chars: int = 0,
        metrics: Metrics | None = None,
        remote: RemoteCancel | None = None,
        tools: Mapping[str, Mapping[str, ServerTool]] | None = None,
        max_tool_steps: Mapping[str, int] | None = None,
        log_outage_seconds: float = 30.0,
        store_outage_seconds: float = 30.0,
        max_answer_chars: int = 0,
    ) -> None:
        if not providers:
            raise ValueError("at least one model is needed")
        self.log = log
        self.store = store
        self.providers = dict(providers)
        self.max_events = max_events
        self.max_answer_chars = max_answer_chars  # 0: no limit
        self.persist_interval = persist_interval
        self.policies = dict(policies or {})
        self.fallbacks = dict(fallbacks or {})
        self.max_concurrent = max_concurrent  # 0: no limit
        self.max_per_user = max_per_user
        self.max_context_chars = max_context_chars
        self.metrics = metrics or Metrics()
        self.draining = False
        self.remote = remote  # reaches generations in other processes (the Redis log)
        self.upstreams = UpstreamStates(self.providers)  # for /readyz
        self.log_outage_seconds = log_outage_seconds  # how long readers wait out a Redis outage
        self.store_outage_seconds = store_outage_seconds  # and generations a database outage
        # The server's own tools that each model may call (docs/tools.md), and its loop's limit.
        self.tools = {model: dict(named) for model, named in (tools or {}).items()}
        self.max_tool_steps = dict(max_tool_steps or {})
        self._running: dict[str, Generation] = {}
        self._per_owner: collections.Counter[str] = collections.Counter()
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
        """Start a turn: the user's message, answered by the model.

        ``params.tools`` and ``params.tool_choice`` are what the caller offers (its own tools);
        the model's server tools are offered besides them. What the caller offered is stored
        with the turn, for its continuation (``continue_chat``).
        """
        provider = self.provider(model)
        await self._check_tools(provider, params)
        self._admit(owner)
        history: list[ChatMessage] = []
        stream_id = new_id("str")
        offered = (
            {"tools": list(params.tools), "tool_choice": params.tool_choice}
            if params.tools or params.tool_choice is not None
            else None
        )
        async with self._turns:
            if conversation_id is not None:
                if await self.store.get_meta(owner, conversation_id) is None:
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
                    offered_tools=offered,
                )
            except Conflict:  # another process added a turn at the same position first
                raise ConversationBusy(conversation_id) from None
        handle = StreamHandle(
            stream_id, exchange.conversation_id, exchange.assistant_message_id, provider.id
        )
        if self.max_context_chars:
            history = fit_history(history, self.max_context_chars - len(message))
        messages = [*history, {"role": "user", "content": message}]
        await self._launch_stored(handle, provider, messages, params, owner)
        return handle

    async def continue_chat(
        self,
        *,
        owner: str,
        conversation_id: str,
        results: Sequence[ToolResult],
        model: str | None,
        params: GenerationParams,
    ) -> StreamHandle:
        """Continue a turn that ended with ``tool_calls`` with the results of the caller's tools:
        stored as ``tool`` messages, then the model's next answer streams, offered the turn's
        tools again. Every call still waiting needs its result, and only those calls."""
        self._admit(owner)
        stream_id = new_id("str")
        async with self._turns:
            turn = await self.store.turn_state(owner, conversation_id)
            if turn is None:
                raise ConversationNotFound(conversation_id)
            if await self.store.is_streaming(conversation_id):
                raise ConversationBusy(conversation_id)
            _check_results(turn, results)
            provider = self.provider(
                model or (turn.model if turn.model in self.providers else None)
            )
            offered = turn.offered or {}
            params = after_first_step(
                replace(
                    params,
                    tools=tuple(offered.get("tools") or ()),
                    tool_choice=offered.get("tool_choice"),
                )
            )
            await self._check_tools(provider, params)
            try:
                exchange = await self.store.continue_exchange(
                    conversation_id=conversation_id,
                    results=results,
                    model=provider.id,
                    stream_id=stream_id,
                )
            except Conflict:
                raise ConversationBusy(conversation_id) from None
            history = await self.store.history(owner, conversation_id)
        handle = StreamHandle(
            stream_id, conversation_id, exchange.assistant_message_id, provider.id
        )
        if self.max_context_chars:
            history = fit_turn(history, self.max_context_chars)
        await self._launch_stored(handle, provider, history, params, owner)
        return handle

    async def _launch_stored(
        self,
        handle: StreamHandle,
        provider: Provider,
        messages: list[ChatMessage],
        params: GenerationParams,
        owner: str,
    ) -> None:
        try:
            await self._launch(handle, provider, messages, params, owner, self.store)
        except (LogFull, LogUnavailable) as exc:
            code = "overloaded" if isinstance(exc, LogFull) else "unavailable"
            await self.store.update_answer(
                handle.message_id,
                content="",
                reasoning="",
                status="error",
                error=(code, "too many streams are live" if code == "overloaded" else str(exc)),
            )
            raise

    async def _check_tools(self, provider: Provider, params: GenerationParams) -> None:
        """The caller's tools and tool_choice, against the model: it must take tools at all, its
        own tools keep their names, and a named tool_choice names one on offer."""
        server = self.tools.get(provider.id, {})
        if (params.tools or server) and not await supports_tools(provider):
            raise ToolsUnsupported(provider.id)
        for i, tool in enumerate(params.tools):
            if _tool_name(tool) in server:
                raise InvalidTools(
                    f"`tools[{i}].function.name`: {_tool_name(tool)!r} is a tool the server runs"
                    f" for model {provider.id!r}; give yours another name"
                )
        choice = params.tool_choice
        if choice is not None and choice != "none" and not (params.tools or server):
            raise InvalidTools("`tool_choice` needs tools: offer some in `tools`")
        if isinstance(choice, dict):
            name = choice["function"]["name"]
            if name not in server and name not in {_tool_name(t) for t in params.tools}:
                raise InvalidTools(f"`tool_choice.function.name`: no tool {name!r} is offered")

    def offered_params(self, model: str, params: GenerationParams) -> GenerationParams:
        """The parameters a model is asked with: the caller's tools, then the server's own."""
        server = self.tools.get(model, {})
        if not server:
            return params
        return replace(params, tools=(*params.tools, *(t.spec for t in server.values())))

    async def tool_capabilities(self, model: str) -> tuple[bool, list[str]]:
        """What a model can do with tools: take the caller's, and the names of its own."""
        provider = self.provider(model)
        return await supports_tools(provider), list(self.tools.get(provider.id, {}))

    async def start_completion(
        self,
        *,
        owner: str,
        model: str | None,
        messages: list[ChatMessage],
        params: GenerationParams,
    ) -> StreamHandle:
        provider = self.provider(model)
        if params.tools and not await supports_tools(provider):
            raise ToolsUnsupported(provider.id)
        self._admit(owner)
        handle = StreamHandle(new_id("str"), "", "", provider.id)
        await self._launch(handle, provider, messages, params, owner, None)
        return handle

    async def _launch(
        self,
        handle: StreamHandle,
        provider: Provider,
        messages: list[ChatMessage],
        params: GenerationParams,
        owner: str,
        store: ConversationStore | None,
    ) -> None:
        meta = StreamMeta(
            handle.stream_id, handle.conversation_id, handle.message_id, handle.model, owner
        )
        await self.log.create(meta)
        # The server runs tools only for stored conversations: the OpenAI-compatible endpoint's
        # caller keeps the history, and runs every tool itself.
        tools = self.tools.get(provider.id, {}) if store is not None else {}
        if tools:
            params = self.offered_params(provider.id, params)
        generation = Generation(
            handle,
            provider,
            messages,
            params,
            log=self.log,
            store=store,
            max_events=self.max_events,
            persist_interval=self.persist_interval,
            policy=self.policies.get(provider.id, RetryPolicy()),
            fallbacks=[
                Candidate(self.providers[f], self.policies.get(f, RetryPolicy()))
                for f in self.fallbacks.get(provider.id, ())
            ],
            metrics=self.metrics,
            tools=tools,
            max_tool_steps=self.max_tool_steps.get(provider.id, DEFAULT_MAX_TOOL_STEPS),
            upstreams=self.upstreams,
            store_outage_seconds=self.store_outage_seconds,
            max_answer_chars=self.max_answer_chars,
        )
        await generation.begin()
        self._running[handle.stream_id] = generation
        self._per_owner[owner] += 1

        def ended(_: object) -> None:
            self._running.pop(handle.stream_id, None)
            self._per_owner[owner] -= 1
            if self._per_owner[owner] <= 0:
                del self._per_owner[owner]

        assert generation.task is not None
        generation.task.add_done_callback(ended)

    def _admit(self, owner: str) -> None:
        """Refuse a new generation while draining or past a concurrency limit."""
        if self.draining:
            raise ShuttingDown()
        if self.max_concurrent and len(self._running) >= self.max_concurrent:
            raise TooManyStreams(per_user=False)
        if owner and self.max_per_user and self._per_owner[owner] >= self.max_per_user:
            raise TooManyStreams(per_user=True)

    async def meta(self, stream_id: str, owner: str) -> StreamMeta:
        """The stream's metadata; ``StreamNotFound`` also for another owner's stream, and
        ``StreamExpired`` for one of the owner's that the log has forgotten."""
        try:
            meta = await self.log.meta(stream_id)
        except StreamNotFound:
            conversation_id = await self.store.conversation_of_stream(owner, stream_id)
            if conversation_id is None:
                raise
            raise StreamExpired(stream_id, conversation_id) from None
        if meta.owner != owner:
            raise StreamNotFound(stream_id)
        return meta

    async def resume_point_known(self, stream_id: str, after: int) -> bool:
        """False when ``after`` is past every event written so far: no reader can have seen it.

        (Past the terminal event is fine: that reader has everything, and gets told so.)
        """
        if after == 0:
            return True
        batch = await self.log.read(stream_id, after - 1, 0)
        return bool(batch.events) or batch.ended

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

    async def drain(self, grace: float) -> None:
        """Start nothing new; give running generations ``grace`` seconds, then stop the rest.

        Those stopped end with a retryable ``interrupted`` error and their partial text stored.
        """
        self.draining = True
        generations = list(self._running.values())
        if not generations:
            return
        logger.info("draining: %d answer(s) streaming, %g s to finish", len(generations), grace)
        deadline = time.monotonic() + grace
        await asyncio.gather(*(g.wait(max(0.0, deadline - time.monotonic())) for g in generations))
        late = [g for g in generations if g.task is not None and not g.task.done()]
        for generation in late:
            generation.stop("shutdown")
        await asyncio.gather(*(g.wait(10.0) for g in late))
        if late:
            logger.warning("draining: %d answer(s) interrupted after the grace period", len(late))

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


def _check_results(turn: TurnState, results: Sequence[ToolResult]) -> None:
    """The results must answer exactly the calls waiting for them, each once."""
    if not turn.pending:
        raise NoPendingToolCalls(
            "`tool_results`: no tool call is waiting for a result in this conversation (its last"
            " answer did not end with `tool_calls`, or every call has its result)"
        )
    waiting = {call["id"]: call for call in turn.pending}
    for i, result in enumerate(results):
        if result.tool_call_id not in waiting:
            raise UnknownToolCall(
                f"`tool_results[{i}].tool_call_id`: {result.tool_call_id!r} is not a call waiting"
                f" for a result; waiting: {', '.join(waiting)}"
            )
    answered = {result.tool_call_id for result in results}
    missing = [f"{c['id']} ({c['name']})" for c in turn.pending if c["id"] not in answered]
    if missing:
        raise MissingToolResults(
            f"`tool_results`: no result for the call(s) {', '.join(missing)}; every call of the"
            " turn needs one"
        )
