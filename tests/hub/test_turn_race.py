"""Two processes adding a turn to one conversation at once: one gets ``conversation_busy``."""

from __future__ import annotations

import pytest

from tokenwire.hub.hub import ConversationBusy, Hub
from tokenwire.hub.memory import MemoryStreamLog
from tokenwire.providers.base import GenerationParams
from tokenwire.providers.replay import ReplayProvider
from tokenwire.store.connect import database_from_url
from tokenwire.store.conversations import ConversationStore


async def until_ended(hub: Hub, stream_id: str) -> None:
    after = 0
    while True:
        batch = await hub.read(stream_id, after, timeout=10)
        if batch.ended:
            return
        after = batch.events[-1].seq if batch.events else after


async def test_the_process_that_loses_the_race_for_a_position_gets_busy(postgres_url: str) -> None:
    stores = [ConversationStore(database_from_url(postgres_url)) for _ in range(2)]
    for store in stores:
        await store.open(recover=False)
    hubs = [Hub(MemoryStreamLog(), s, {"r": ReplayProvider(id="r", text="ok")}) for s in stores]
    params = GenerationParams()
    first = await hubs[0].start_chat(
        owner="", message="q", conversation_id=None, model=None, params=params
    )
    await until_ended(hubs[0], first.stream_id)

    # Process B saw the conversation free, and its next position, just before A took it.
    async def stale_position(owner: str, conversation_id: str) -> int:
        return 2

    async def stale_streaming(conversation_id: str) -> bool:
        return False

    stores[1]._next_position = stale_position  # type: ignore[method-assign]
    stores[1].is_streaming = stale_streaming  # type: ignore[method-assign]
    second = await hubs[0].start_chat(
        owner="", message="a", conversation_id=first.conversation_id, model=None, params=params
    )
    with pytest.raises(ConversationBusy):
        await hubs[1].start_chat(
            owner="", message="b", conversation_id=first.conversation_id, model=None, params=params
        )
    await until_ended(hubs[0], second.stream_id)
    conversation = await stores[0].get("", first.conversation_id)
    assert conversation is not None
    assert [m.content for m in conversation.messages] == ["q", "ok", "a", "ok"]  # nothing of B's
    for hub in hubs:
        await hub.close()
    for store in stores:
        await store.close()
