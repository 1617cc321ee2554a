"""The one private import of a dependency: terminal/tail.py uses ``rich._wrap.divide_line``.

tail.py cuts a long paragraph where rich's own wrap starts a line, so it asks rich's wrap itself,
which rich does not export. These tests pin the rich version it was written against and the
breaks it relies on, so that a rich upgrade fails here, by name, before it shifts the live tail.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest
from rich._wrap import divide_line


def test_rich_is_the_version_whose_private_wrap_tail_py_was_written_against() -> None:
    # On a new rich: check divide_line still exists with this signature and breaks as below,
    # run tests/terminal/test_render.py, then move this pin.
    assert version("rich") == "15.0.0"


@pytest.mark.parametrize(
    ("text", "width", "breaks"),
    [
        ("hello world this is a test of the wrapping engine", 10, [6, 17, 27, 34, 43]),
        ("中文字符测试一下换行是否正确 and some english words", 12, [6, 12, 19, 32]),
        ("averyveryverylongwordthatmustfold and more", 8, [8, 16, 24, 32, 38]),
        ("a  b   c    d", 3, [3, 7, 12]),
    ],
)
def test_divide_line_breaks_after_a_words_trailing_spaces_and_folds_long_words(
    text: str, width: int, breaks: list[int]
) -> None:
    assert divide_line(text, width) == breaks
