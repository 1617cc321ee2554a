"""The replay model: a given text, streamed in token-sized pieces."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenwire.events import Delta, Done
from tokenwire.providers.base import GenerationParams
from tokenwire.providers.replay import ReplayProvider, split_tokens

TEXT = "Hello, 世界! A longer word: extraordinary.\n\n```py\nx = 1\n```"


def test_pieces_join_back_to_the_text() -> None:
    pieces = split_tokens(TEXT)
    assert "".join(pieces) == TEXT
    assert len(pieces) > 10 and all(pieces)


async def test_text_file_and_max_tokens(tmp_path: Path) -> None:
    path = tmp_path / "answer.md"
    path.write_text(TEXT, encoding="utf-8")
    model = ReplayProvider(id="r", text_file=path)
    whole = [p async for p in model.stream([], GenerationParams())]
    assert "".join(p.text for p in whole if isinstance(p, Delta)) == TEXT
    assert whole[-1] == Done("stop")
    cut = [p async for p in model.stream([], GenerationParams(max_tokens=3))]
    assert len(cut) == 4 and cut[-1] == Done("length")


def test_exactly_one_source_of_text() -> None:
    with pytest.raises(ValueError):
        ReplayProvider(id="r")
    with pytest.raises(ValueError):
        ReplayProvider(id="r", text="a", text_file="b")
