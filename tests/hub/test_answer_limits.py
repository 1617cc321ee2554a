"""``max_answer_chars``: an answer that streams too much text ends with ``length``, cut exactly."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import pytest

from tokenwire.events import Delta, Done, Event, Reasoning
from tokenwire.hub.answer_limit import AnswerLimit
from tokenwire.hub.hub import Hub
from tokenwire.hub.memory import MemoryStreamLog
from tokenwire.providers.base import GenerationParams, ProviderPayload
from tokenwire.store.connect import database_from_url
from tokenwire.store.conversations import ConversationStore


class Endless:
    """Streams text without end: only a limit can finish its answer."""

    id = "endless"

    async def stream(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncGenerator[ProviderPayload, None]:
        yield Reasoning("think")
        while True:
            yield Delta("0123456789")

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    store = ConversationStore(database_from_url(str(tmp_path / "db.sqlite")))
    await store.open()
    running = Hub(MemoryStreamLog(), store, {"endless": Endless()}, max_answer_chars=1_003)  # type: ignore[dict-item]
    yield running
    await running.close()


async def read_all(hub: Hub, stream_id: str) -> list[Event]:
    seen: list[Event] = []
    while not seen or not seen[-1].is_terminal:
        seen.extend((await hub.read(stream_id, len(seen), timeout=5)).events)
    return seen


async def test_an_endless_answer_ends_with_length_at_exactly_the_limit(hub: Hub) -> None:
    handle = await hub.start_chat(
        owner="", message="hi", conversation_id=None, model="endless", params=GenerationParams()
    )
    events = await read_all(hub, handle.stream_id)
    assert events[-1].payload == Done("length")
    assert [e.type for e in events].count("done") == 1
    text = "".join(e.payload.text for e in events if e.type == "delta")  # type: ignore[union-attr]
    assert len("think") + len(text) == 1_003
    assert text.endswith("01234567")  # the crossing piece was cut to fit
    stored = await hub.store.get("", handle.conversation_id)
    assert stored is not None
    answer = stored.messages[-1]
    assert (answer.content, answer.reasoning) == (text, "think")
    assert (answer.status, answer.finish_reason) == ("complete", "length")


def test_a_piece_that_exactly_fills_the_limit_is_kept_whole() -> None:
    limit = AnswerLimit(10)
    assert limit.take(Delta("01234")) == (Delta("01234"), False)
    assert limit.take(Delta("56789")) == (Delta("56789"), True)
    assert limit.take(Delta("more")) == (None, True)
