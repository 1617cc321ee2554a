"""Batching on the hot path never reorders, drops or doubles: provider batches, the log, readers."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenwire.events import Delta, Done, Event, Reasoning, Usage
from tokenwire.hub.hub import Hub
from tokenwire.hub.log import StreamMeta
from tokenwire.hub.memory import MemoryStreamLog
from tokenwire.providers.base import GenerationParams, ProviderPayload
from tokenwire.providers.batches import payload_batches
from tokenwire.store.connect import database_from_url
from tokenwire.store.conversations import ConversationStore


class Batched:
    """A provider that hands over its payloads in the batches it was given."""

    id = "batched"

    def __init__(self, batches: list[list[ProviderPayload]]) -> None:
        self.batches = batches

    async def stream(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncGenerator[ProviderPayload, None]:
        for batch in self.batches:
            for payload in batch:
                yield payload

    async def stream_batches(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncGenerator[list[ProviderPayload], None]:
        for batch in self.batches:
            await asyncio.sleep(0)  # a read from the network
            yield list(batch)

    async def aclose(self) -> None:
        return None


async def run_batches(
    tmp_path: Path, batches: list[list[ProviderPayload]], max_events: int = 100_000
) -> list[Event]:
    store = ConversationStore(database_from_url(str(tmp_path / "db.sqlite")))
    await store.open()
    hub = Hub(MemoryStreamLog(), store, {"batched": Batched(batches)}, max_events=max_events)  # type: ignore[dict-item]
    try:
        handle = await hub.start_chat(
            owner="", message="hi", conversation_id=None, model="batched", params=GenerationParams()
        )
        seen: list[Event] = []
        while True:
            batch = await hub.read(handle.stream_id, len(seen), timeout=5)
            seen.extend(batch.events)
            if batch.ended:
                return seen
    finally:
        await hub.close()
        await store.close()


async def test_batches_are_numbered_in_order_and_end_once(tmp_path: Path) -> None:
    batches: list[list[ProviderPayload]] = [
        [Delta("a")],
        [Delta("b"), Reasoning("r"), Delta("c")],
        [Delta("d"), Usage(1, 4)],
        [Done()],
    ]
    events = await run_batches(tmp_path, batches)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events] == [
        "start",
        "delta",
        "delta",
        "reasoning",
        "delta",
        "delta",
        "usage",
        "done",
    ]
    assert "".join(e.payload.text for e in events if isinstance(e.payload, Delta)) == "abcd"


async def test_a_done_inside_a_batch_ends_the_stream_there(tmp_path: Path) -> None:
    events = await run_batches(tmp_path, [[Delta("a"), Done("length")]])
    assert [e.type for e in events] == ["start", "delta", "done"]
    assert events[-1].payload == Done("length")


async def test_the_event_limit_cuts_inside_a_batch(tmp_path: Path) -> None:
    events = await run_batches(tmp_path, [[Delta(str(i)) for i in range(10)]], max_events=5)
    assert [e.type for e in events] == ["start", "delta", "delta", "delta", "done"]
    assert [e.payload.text for e in events[1:4]] == ["0", "1", "2"]  # type: ignore[union-attr]
    assert events[-1].payload == Done("length")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=6), max_size=8))
def test_any_partition_into_batches_gives_the_same_events(partition: list[list[str]]) -> None:
    batches: list[list[ProviderPayload]] = [[Delta(t) for t in group] for group in partition]
    with tempfile.TemporaryDirectory() as tmp:
        events = asyncio.run(run_batches(Path(tmp), batches))
    texts = [e.payload.text for e in events if isinstance(e.payload, Delta)]
    assert texts == [t for group in partition for t in group]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events].count("done") == 1 and events[-1].type == "done"


async def test_a_provider_without_batches_is_read_one_payload_at_a_time() -> None:
    class Plain:
        id = "plain"

        async def stream(
            self, messages: list[dict[str, str]], params: GenerationParams
        ) -> AsyncGenerator[ProviderPayload, None]:
            yield Delta("a")
            yield Delta("b")

        async def aclose(self) -> None:
            return None

    got = [b async for b in payload_batches(Plain(), [], GenerationParams())]
    assert got == [[Delta("a")], [Delta("b")]]


async def test_waiting_readers_all_wake_even_when_one_of_them_is_cancelled() -> None:
    log = MemoryStreamLog()
    await log.create(StreamMeta("s", "c", "m", "model"))
    readers = [asyncio.create_task(log.read("s", 0, timeout=5)) for _ in range(3)]
    await asyncio.sleep(0.01)
    readers[1].cancel()
    await asyncio.sleep(0)
    await log.append("s", (Event.make(1, Delta("x")),))
    assert [e.seq for e in (await readers[0]).events] == [1]
    assert [e.seq for e in (await readers[2]).events] == [1]
    assert readers[1].cancelled()


async def test_a_timed_out_reader_leaves_no_waiter_behind() -> None:
    log = MemoryStreamLog()
    await log.create(StreamMeta("s", "c", "m", "model"))
    for _ in range(5):
        batch = await log.read("s", 0, timeout=0.01)
        assert batch.events == () and not batch.ended
    assert log._streams["s"].waiters == []


@given(st.text(), st.integers(min_value=1, max_value=2**40))
def test_text_events_encode_exactly_as_the_generic_path(text: str, seq: int) -> None:
    for payload in (Delta(text), Reasoning(text)):
        expected = orjson.dumps({"type": payload.type, "seq": seq, "text": text})
        assert Event.make(seq, payload).json == expected


@given(st.text(), st.text(min_size=1, max_size=20), st.booleans())
def test_openai_text_chunks_encode_exactly_as_the_generic_path(
    text: str, model: str, usage: bool
) -> None:
    from tokenwire.wire.openai import ChunkEncoder

    fast = ChunkEncoder("chatcmpl-%s", model, 1, usage)
    fast.encode(Event.make(1, Delta("first")))  # the role has gone out: the fast path applies
    generic = ChunkEncoder("chatcmpl-%s", model, 1, usage)
    generic._role_sent = True
    assert fast.encode(Event.make(2, Delta(text))) == generic._chunk({"content": text})
