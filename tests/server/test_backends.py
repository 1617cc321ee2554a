"""Choosing and opening the stream log and the store, and recovering what a dead process left."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenwire.config import ConfigError, Settings, load_settings
from tokenwire.hub.log import StreamMeta
from tokenwire.hub.memory import MemoryStreamLog
from tokenwire.hub.redis_log import RedisStreamLog
from tokenwire.server.backends import open_log, open_store


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
