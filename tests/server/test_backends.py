"""Choosing and opening the stream log and the store, and recovering what a dead process left."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tokenwire.config import ConfigError, Settings, load_settings
from tokenwire.events import Delta, Event, Start, ToolCall, ToolResult
from tokenwire.hub.log import StreamMeta
from tokenwire.hub.memory import MemoryStreamLog
from tokenwire.hub.redis_log import RedisStreamLog
from tokenwire.server.backends import interrupted_answers, open_log, open_store


def test_redis_comes_from_the_environment_and_is_checked() -> None:
    assert load_settings(env={}).redis_url == ""
    url = "redis://:secret@cache:6379/1"
    assert load_settings(env={"TOKENWIRE_REDIS_URL": url}).redis_url == url
    with pytest.raises(ConfigError, match="redis_url"):
        load_settings(env={"TOKENWIRE_REDIS_URL": "http://cache"})


async def test_without_redis_the_log_is_in_memory(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/db.sqlite")
    store = await open_store(settings)
    log = await open_log(settings, store)
    assert isinstance(log, MemoryStreamLog)
    await log.close()
    await store.close()


async def test_an_old_answer_whose_stream_redis_no_longer_holds_is_interrupted(
    postgres_url: str, redis_url: str
) -> None:
    settings = Settings(database_url=postgres_url, redis_url=redis_url)
    store = await open_store(settings)
    orphan, live, young = [
        await store.start_exchange(
            owner="", conversation_id=None, user_text="q", model="m", stream_id=stream_id
        )
        for stream_id in ("gone", "live", "young")
    ]
    await store.db.execute(  # a day old: its process died long ago
        "UPDATE messages SET created_at = 0 WHERE stream_id IN ('gone', 'live')"
    )
    producer = RedisStreamLog(redis_url)
    await producer.create(StreamMeta("live", live.conversation_id, "m", "m"))
    log = await open_log(settings, store)
    statuses = {}
    for exchange in (orphan, live, young):
        conversation = await store.get("", exchange.conversation_id)
        assert conversation is not None
        statuses[conversation.messages[1].stream_id] = conversation.messages[1].status
    assert statuses == {"gone": "interrupted", "live": "streaming", "young": "streaming"}
    await producer.close()
    await log.close()
    await store.close()


async def test_a_stream_that_died_in_its_tool_loop_is_stored_up_to_where_it_was(
    tmp_path: Path, redis_url: str
) -> None:
    store = await open_store(Settings(database_url=f"sqlite:///{tmp_path}/db.sqlite"))
    exchange = await store.start_exchange(
        owner="", conversation_id=None, user_text="q", model="m", stream_id="s"
    )
    call_a = {"id": "call_a", "name": "get_weather", "arguments": "{}"}
    # The process that died had stored its first step (a call and its result) as it went.
    streaming = await store.save_step(
        exchange.assistant_message_id,
        conversation_id=exchange.conversation_id,
        stream_id="s",
        content="Checking.",
        reasoning="",
        tool_calls=[call_a],
        results=[ToolResult("call_a", "sunny")],
        status="complete",
        finish_reason="tool_calls",
        next_model="m",
    )
    payloads = [
        Start("s", exchange.conversation_id, exchange.assistant_message_id, "m"),
        Delta("Checking."),
        ToolCall(0, "call_a", "get_weather", "{}"),
        ToolResult("call_a", "sunny"),
        Delta("Now "),  # the second step: streamed, its tool answered, not stored yet
        ToolCall(0, "call_b", "add", '{"a": 1}'),
        ToolResult("call_b", "2"),
    ]
    dead = RedisStreamLog(redis_url, lease=0.3)  # never started: its lease is never renewed
    await dead.create(StreamMeta("s", exchange.conversation_id, exchange.assistant_message_id, "m"))
    await dead.append("s", [Event.make(seq, p) for seq, p in enumerate(payloads, start=1)])
    reaper = RedisStreamLog(redis_url, lease=0.3)
    reaper.on_interrupted = interrupted_answers(store)
    reaped: list[str] = []
    while not reaped:  # until the lease has run out: then the reaper ends it and stores it
        await asyncio.sleep(0.1)
        reaped = await reaper.reap_once()
    found = await store.get("", exchange.conversation_id)
    assert found is not None
    shown = [(m.role, m.content, m.status, m.tool_call_id) for m in found.messages]
    assert shown == [
        ("user", "q", "complete", None),
        ("assistant", "Checking.", "complete", None),
        ("tool", "sunny", "complete", "call_a"),
        ("assistant", "Now ", "interrupted", None),
        ("tool", "2", "complete", "call_b"),
    ]
    assert found.messages[3].id == streaming
    assert found.messages[3].tool_calls == [
        {"id": "call_b", "name": "add", "arguments": '{"a": 1}'}
    ]
    for log in (dead, reaper):
        await log.close()
    await store.close()
