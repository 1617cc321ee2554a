"""The block splitter and the live renderer: however an answer is cut into pieces, it shows the
same, and the same as rich renders the whole text at once."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.markdown import Markdown

from tokenwire.terminal.blocks import BlockSplitter
from tokenwire.terminal.render import CODE_THEME, MarkdownStream

DOCS = [
    """# Streams in Python

Here is **bold** and *italic* text with `inline code`, long enough to wrap across the width of
the terminal at sixty columns for sure.

- one
- two
  continued

- three, in a loose list

1. first
2. second

```python
def hello(name: str) -> str:
    \"\"\"Say hello.\"\"\"

    return f"hello {name}"
```
After the code, a paragraph.

> A quote
> on two lines

---
## Second heading
Text right after the heading.

| a | b |
|---|---|
| 1 | 2 |

    indented code

Final paragraph.""",
    "One paragraph only, no newline at the end",
    "~~~\nfence with tildes\n\n```\nstill inside\n~~~\n\nafter",
    "1. item\n\n   more of item one\n\n2. item two\n\nPlain text.\n\n* star\n\n+ plus",
    "Title\n=====\n\nSetext heading above.\n\n***\n\nAfter a break.\n\n```\nnever closed\n\n",
    "Windows\r\nline\r\nends\r\n\r\nsecond paragraph\r\n",
    "你好，世界！Emoji 🌍👩‍💻 in **bold**.\n\n# 标题\n\n- 列表",
]


def split_at(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


def blocks_of(pieces: list[str]) -> list[str]:
    splitter = BlockSplitter()
    blocks = [block for piece in pieces for block in splitter.feed(piece)]
    return blocks + splitter.flush()


def streamed(pieces: list[str], width: int = 60) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)
    view = MarkdownStream(console)
    for piece in pieces:
        view.delta(piece)
    view.finish()
    return console.file.getvalue()  # type: ignore[attr-defined]


def rich_whole(text: str, width: int = 60) -> str:
    """How rich renders the whole text, less the blank lines it puts before a leading list."""
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)
    console.print(Markdown(text, code_theme=CODE_THEME))
    rendered: str = console.file.getvalue()  # type: ignore[attr-defined]
    return rendered.lstrip("\n")


@settings(max_examples=60, deadline=None)
@given(doc=st.sampled_from(DOCS), cuts=st.lists(st.integers(0, 800), max_size=40))
def test_every_chunking_gives_the_same_blocks(doc: str, cuts: list[int]) -> None:
    assert blocks_of(split_at(doc, cuts)) == blocks_of([doc])


@settings(max_examples=30, deadline=None)
@given(doc=st.sampled_from(DOCS), cuts=st.lists(st.integers(0, 800), max_size=40))
def test_every_chunking_renders_as_rich_renders_the_whole_text(doc: str, cuts: list[int]) -> None:
    assert streamed(split_at(doc, cuts)) == rich_whole(doc)


def test_one_character_at_a_time_renders_as_the_whole_text() -> None:
    doc = DOCS[0]
    assert streamed(list(doc)) == rich_whole(doc)


def test_a_code_fence_with_blank_lines_is_one_block_finished_when_it_closes() -> None:
    splitter = BlockSplitter()
    assert splitter.feed("```py\nx = 1\n\n\ny = 2\n") == []
    assert splitter.tail == "```py\nx = 1\n\n\ny = 2"
    assert splitter.feed("```\n") == ["```py\nx = 1\n\n\ny = 2\n```"]
    assert splitter.tail == ""


def test_a_heading_is_finished_as_soon_as_its_line_is() -> None:
    splitter = BlockSplitter()
    assert splitter.feed("intro\n# Title") == []
    assert splitter.feed("\nbody") == ["intro", "# Title"]
    assert splitter.tail == "body"


def test_a_loose_list_stays_one_block() -> None:
    splitter = BlockSplitter()
    assert splitter.feed("- a\n\n- b\n\n  more b\n\n") == []
    assert splitter.feed("after\n") == ["- a\n\n- b\n\n  more b"]


def test_a_paragraph_is_finished_by_the_next_line_that_cannot_continue_it() -> None:
    splitter = BlockSplitter()
    assert splitter.feed("first\n\n") == []  # an indented line could still continue it
    assert splitter.feed("s") == []
    assert splitter.tail == "first\n\ns"
    assert splitter.feed("econd\n") == ["first"]
    assert splitter.tail == "second"


def test_a_tail_taller_than_the_screen_shows_its_last_lines() -> None:
    console = Console(file=io.StringIO(), width=40, height=12, force_terminal=False)
    view = MarkdownStream(console)
    view.delta("```\n" + "".join(f"line {i}\n" for i in range(100)))
    live = console.render_lines(view._live.renderable, pad=False)  # what the live region shows
    text = ["".join(segment.text for segment in line).strip() for line in live]
    assert len(text) <= 12
    assert text[0].startswith("⋮") and "more lines above" in text[0]
    assert text[-2] == "line 99"  # the block's bottom padding line follows
    view.finish()
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert [f"line {i}" for i in range(100)] == [
        line.strip() for line in printed.splitlines() if line.strip().startswith("line")
    ]


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(st.text(alphabet="ab 你", max_size=6), max_size=30),
    start=st.integers(-3, 120),
    stop=st.integers(-3, 120),
)
def test_the_line_being_written_is_read_in_parts_as_it_is_whole(
    pieces: list[str], start: int, stop: int
) -> None:
    splitter = BlockSplitter()
    for piece in pieces:
        splitter.feed(piece)
    line = "".join(pieces)
    assert splitter.partial_length == len(line) == splitter.size
    assert splitter.partial() == line
    assert splitter.partial(max(0, start), max(0, stop)) == line[max(0, start) : max(0, stop)]


def test_the_open_block_is_handed_out_line_by_line() -> None:
    splitter = BlockSplitter()
    splitter.feed("intro\n```python\nx = 1\ny")
    generation = splitter.generation
    assert splitter.line_count == 3
    assert [splitter.line(i) for i in range(3)] == ["intro", "```python", "x = 1"]
    assert splitter.fence_start == 1
    assert splitter.partial() == "y" and splitter.size == len(splitter.tail)
    assert splitter.feed(" = 2\n```\n") == ["intro\n```python\nx = 1\ny = 2\n```"]
    assert splitter.generation != generation
    assert (splitter.line_count, splitter.fence_start, splitter.size) == (0, None, 0)
