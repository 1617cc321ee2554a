"""The stream log and the store a server process uses: embedded (memory log, SQLite) by default,
shared (Redis, PostgreSQL) when configured, so that many processes serve as one."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from tokenwire.config import Settings
from tokenwire.events import Event
from tokenwire.hub.generation import last_step
from tokenwire.hub.hub import Hub
from tokenwire.hub.log import LogUnavailable, StreamLog, StreamMeta
from tokenwire.hub.memory import MemoryStreamLog
from tokenwire.hub.redis_log import InterruptedHandler, RedisStreamLog
from tokenwire.store.connect import database_from_url
from tokenwire.store.conversations import ConversationStore

logger = logging.getLogger("tokenwire.server")

# An answer row younger than this may belong to a stream another process is still creating.
ORPHAN_AGE = 60.0


async def open_store(settings: Settings) -> ConversationStore:
    """Open the store and apply migrations. Without Redis, the answers still ``streaming``
    whose process died become ``interrupted`` (the store's producer locks tell which); with
    Redis, the stream log's producer leases decide."""
    store = ConversationStore(database_from_url(settings.database_url))
    interrupted = await store.open(recover=not settings.redis_url)
    if interrupted:
        logger.warning(
            "%d answer(s) left streaming by a process that died marked interrupted", interrupted
        )
    return store


async def open_log(settings: Settings, store: ConversationStore) -> StreamLog:
    if not settings.redis_url:
        return MemoryStreamLog(
            max_streams=settings.max_streams,
            max_events=settings.max_events_per_stream,
            retention=settings.stream_retention_seconds,
            max_bytes=settings.max_log_bytes,
        )
    log = RedisStreamLog(
        settings.redis_url,
        max_streams=settings.max_streams,
        max_events=settings.max_events_per_stream,
        retention=settings.stream_retention_seconds,
        lease=settings.producer_lease_seconds,
        outage_seconds=settings.log_outage_seconds,
        outage_max_events=settings.log_outage_max_events,
    )

    log.on_interrupted = interrupted_answers(store)
    await log.start()
    try:
        await _recover_orphans(store, log)
    except LogUnavailable:
        logger.error("redis is unreachable at start-up; requests that need it get 503 until it is")
    return log


def interrupted_answers(store: ConversationStore) -> InterruptedHandler:
    """What stores a stream whose process died, from its events (the reaper's handler)."""

    async def store_interrupted(meta: StreamMeta, events: Sequence[Event]) -> None:
        if not meta.message_id:
            return  # an OpenAI-compatible stream: nothing stored
        # The message still streaming is the last step's (the server may have run tools before;
        # their steps are stored already).
        answer, results = last_step(event.payload for event in events)
        await store.interrupt_stream(
            meta.stream_id,
            content=answer.text,
            reasoning=answer.reasoning,
            tool_calls=[call.to_json() for call in answer.tool_calls],
            results=results,
            usage=answer.usage_counts,
        )

    return store_interrupted


def wire_cancels(log: StreamLog, hub: Hub) -> None:
    """Let cancels sent to any process reach the generations running in this one."""
    if isinstance(log, RedisStreamLog):
        log.on_cancel = hub.stop_nowait
        hub.remote = log


async def _recover_orphans(store: ConversationStore, log: RedisStreamLog) -> None:
    """Answers still ``streaming`` whose stream Redis no longer knows as live (expired, or lost
    with Redis's data): no lease will ever end them, so end them here."""
    orphans = [
        stream_id
        for _, stream_id in await store.streaming_since(time.time() - ORPHAN_AGE)
        if not await log.is_live(stream_id)
    ]
    if count := await store.mark_interrupted(orphans):
        logger.warning("%d answer(s) whose stream is gone marked interrupted", count)
