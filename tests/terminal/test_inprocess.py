"""The in-process mode: the server's own app, spoken to through a transport that streams."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from rich.console import Console

from tests.support.servers import ANSWER, replay
from tokenwire.client import ApiError, AsyncClient
from tokenwire.config import Settings
from tokenwire.server.app import create_app
from tokenwire.terminal.inprocess import StreamingASGITransport, running_app
from tokenwire.terminal.render import MarkdownStream


def settings(tmp_path: Path) -> Settings:
    return Settings(
        models=(replay("replay"), replay("crawl", tokens_per_second=5)),
        database_url=f"sqlite:///{tmp_path / 'tw.db'}",
    )


async def test_events_arrive_while_the_answer_streams_and_cancel_keeps_them(
    tmp_path: Path,
) -> None:
    app = create_app(settings(tmp_path))
    async with (
        running_app(app),
        AsyncClient("http://in-process", transport=StreamingASGITransport(app)) as client,
    ):
        async with client.chat("hi", model="crawl") as stream:
            seen = [await anext(stream), await anext(stream)]  # start, then the first delta
            assert [e.type for e in seen] == ["start", "delta"]
            assert await stream.cancel() == "cancelled"
            rest = [event async for event in stream]
        assert rest[-1].type == "done" and stream.finish_reason == "cancelled"
        assert ANSWER.startswith(stream.text) and len(stream.text) < len(ANSWER)
        conversation = await client.conversation(stream.conversation_id or "")
        assert [(m["status"], m["content"]) for m in conversation["messages"][1:]] == [
            ("cancelled", stream.text)
        ]


async def test_closing_a_response_early_tells_the_app_and_the_answer_goes_on(
    tmp_path: Path,
) -> None:
    app = create_app(settings(tmp_path))
    async with (
        running_app(app),
        AsyncClient("http://in-process", transport=StreamingASGITransport(app)) as client,
    ):
        async with client.chat("hi", model="crawl") as stream:
            await anext(stream)
            stream_id = stream.stream_id
        assert stream_id is not None
        # Disconnect is not stop: the answer can be read again, to its end, from the start.
        async with client.stream(stream_id) as again:
            assert await asyncio.wait_for(again.text_until_done(), 60) == ANSWER


async def test_errors_come_back_as_api_errors(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path))
    async with (
        running_app(app),
        AsyncClient("http://in-process", transport=StreamingASGITransport(app)) as client,
    ):
        with pytest.raises(ApiError) as caught:
            async with client.chat("hi", model="nope"):
                pass
        assert caught.value.status == 404 and caught.value.code == "model_not_found"


def test_reasoning_is_shown_dimmed_before_the_answer() -> None:
    console = Console(file=io.StringIO(), width=60, force_terminal=True, color_system="standard")
    view = MarkdownStream(console)
    view.reasoning("Thinking it")
    view.reasoning(" over.")
    view.delta("The **answer**.")
    view.finish()
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert out.index("Thinking it over.") < out.index("answer")
    assert "\x1b[2;3mThinking it over." in out  # dim italic
