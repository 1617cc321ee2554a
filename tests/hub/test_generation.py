"""A generation's end under every kind of stop: one terminal event, the status stored, always."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from tokenwire.events import Delta, Event
from tokenwire.hub.hub import Hub
from tokenwire.hub.log import StreamNotFound
from tokenwire.hub.memory import MemoryStreamLog
from tokenwire.providers.base import GenerationParams, ProviderPayload
from tokenwire.providers.replay import ReplayProvider
from tokenwire.store.connect import database_from_url
from tokenwire.store.conversations import ConversationStore
from tokenwire.store.database import Database


class SlowStore(ConversationStore):
    """Stores the final status slowly, to hold a generation inside its ending; ``ending`` is set
    once a final status is being stored."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.ending = asyncio.Event()

    async def update_answer(self, message_id: str, **fields: object) -> None:
        if fields.get("status") != "streaming":
            self.ending.set()
            await asyncio.sleep(0.2)
        await super().update_answer(message_id, **fields)  # type: ignore[arg-type]


class Endless:
    id = "endless"

    async def stream(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncGenerator[ProviderPayload, None]:
        while True:
            await asyncio.sleep(0.005)
            yield Delta("x")

    async def aclose(self) -> None:
        return None


class SwallowingLog(MemoryStreamLog):
    """Loses the cancellation of a stop asked for while it appends the third event, as redis-py
    does on Python 3.11 when a cancel lands just as it sends a command (its ``asyncio.wait_for``
    returns instead of raising)."""

    def __init__(self) -> None:
        super().__init__()
        self.on_third: Callable[[], None] | None = None

    async def append(self, stream_id: str, events: Sequence[Event]) -> None:
        await super().append(stream_id, events)
        if self.on_third is not None and events[0].seq == 3:
            self.on_third()
            with contextlib.suppress(asyncio.CancelledError):  # lost...
                await asyncio.sleep(0)  # ...where it arrives


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    store = SlowStore(database_from_url(str(tmp_path / "db.sqlite")))
    await store.open()
    providers = {
        "endless": Endless(),
        "quick": ReplayProvider(id="quick", text="a b c"),
        "long": ReplayProvider(id="long", text="word " * 2000),
    }
    running = Hub(SwallowingLog(), store, providers)  # type: ignore[arg-type]
    yield running
    await running.close()
    await store.close()


async def ending(hub: Hub, stream_id: str) -> tuple[list[str], str]:
    seen = []
    while True:
        batch = await hub.read(stream_id, len(seen), timeout=5)
        seen.extend(batch.events)
        if batch.ended:
            break
    terminal = [e.type for e in seen if e.is_terminal]
    meta = await hub.log.meta(stream_id)
    conversation = await hub.store.get("", meta.conversation_id)
    assert conversation is not None
    return terminal, conversation.messages[1].status


async def start(hub: Hub, model: str) -> str:
    handle = await hub.start_chat(
        owner="", message="hi", conversation_id=None, model=model, params=GenerationParams()
    )
    return handle.stream_id


async def test_stop_before_the_task_began(hub: Hub) -> None:
    stream_id = await start(hub, "endless")
    hub.stop_nowait(stream_id)  # the task has not run a single step yet
    assert await ending(hub, stream_id) == (["done"], "cancelled")


async def test_two_cancels_in_a_row(hub: Hub) -> None:
    stream_id = await start(hub, "endless")
    await asyncio.sleep(0.02)
    first, second = await asyncio.gather(hub.cancel(stream_id, ""), hub.cancel(stream_id, ""))
    assert (first, second) == ("cancelled", "cancelled")  # both asked; it is cancelled, once
    assert await ending(hub, stream_id) == (["done"], "cancelled")


async def test_cancel_while_the_end_is_being_stored(hub: Hub) -> None:
    stream_id = await start(hub, "quick")
    assert isinstance(hub.store, SlowStore)
    await hub.store.ending.wait()  # the answer is over; its final status is being written slowly
    assert await hub.cancel(stream_id, "") == "finished"
    assert await ending(hub, stream_id) == (["done"], "complete")


async def test_a_stop_whose_cancellation_a_library_swallowed_still_stops(hub: Hub) -> None:
    stream_id = await start(hub, "long")
    assert isinstance(hub.log, SwallowingLog)
    hub.log.on_third = lambda: hub.stop_nowait(stream_id)
    assert await ending(hub, stream_id) == (["done"], "cancelled")


async def test_concurrent_turns_in_one_conversation(hub: Hub) -> None:
    first = await hub.start_chat(
        owner="", message="a", conversation_id=None, model="quick", params=GenerationParams()
    )
    await ending(hub, first.stream_id)

    def turn(text: str) -> Awaitable[object]:
        return hub.start_chat(
            owner="",
            message=text,
            conversation_id=first.conversation_id,
            model="endless",
            params=GenerationParams(),
        )

    results = await asyncio.gather(turn("b"), turn("c"), return_exceptions=True)
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["ConversationBusy", "StreamHandle"]


class ForgetfulLog(MemoryStreamLog):
    """Loses a stream after its third event, as Redis restarted without its data does between
    two appends: the producer's next append finds no stream."""

    async def append(self, stream_id: str, events: Sequence[Event]) -> None:
        if events[0].seq > 3:
            raise StreamNotFound(stream_id)
        await super().append(stream_id, events)


async def test_a_stream_the_log_lost_ends_unavailable_with_its_text_stored(tmp_path: Path) -> None:
    store = ConversationStore(database_from_url(str(tmp_path / "db.sqlite")))
    await store.open()
    hub = Hub(ForgetfulLog(), store, {"long": ReplayProvider(id="long", text="word " * 2000)})
    try:
        handle = await hub.start_chat(
            owner="", message="hi", conversation_id=None, model="long", params=GenerationParams()
        )
        generation = hub._running[handle.stream_id]
        assert await generation.wait(timeout=10)
        conversation = await store.get("", handle.conversation_id)
        assert conversation is not None
        answer = conversation.messages[1]
        # Not "internal_error: the model failed unexpectedly": nothing failed but the log.
        assert (answer.status, answer.error_code) == ("error", "unavailable")
        assert answer.content.startswith("word word")
    finally:
        await hub.close()
        await store.close()
