"""The live region of a long open block: what it shows is what rendering the whole block and
keeping the screen's last lines shows, while what it hands to rich stays as big as the screen."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rich.console import Console
from rich.markdown import Markdown
from rich.segment import Segment

from tokenwire.providers.replay import split_tokens
from tokenwire.terminal import render
from tokenwire.terminal.render import CODE_THEME, MarkdownStream, block_lines

WIDTH, HEIGHT = 100, 40

CODE = "```python\n" + "".join(f"def f{i}(x):\n    return x * {i}  # {i}\n" for i in range(400))
BULLETS = "".join(f"- item {i} with {'some ' * (i % 9)}words\n" for i in range(400))
ORDERED = "".join(f"1. step {i} {'and more ' * (i % 12)}\n" for i in range(400))  # numbered lazily
LOOSE = "".join(f"{i + 1}. item {i}\n\n   more of item {i}\n\n" for i in range(200))
TABLE = "| name | value |\n|---|--:|\n| a cell far wider than any below | 1 |\n" + "".join(
    f"| row {i} | {i * i} |\n" for i in range(400)
)
QUOTE = "".join(f"> line {i} of a quote, {'wrapping ' * (i % 15)}\n" for i in range(300))
HARD_WRAPPED = "".join(f"line {i} of a paragraph {'that goes on ' * (i % 9)}\n" for i in range(400))
CHINESE = "你好，世界！这是一段很长的中文文本。" * 1500  # one line, no spaces, no newline
ENGLISH = " ".join(f"word{i % 97}" for i in range(12000))  # one line
LONG_CODE_LINE = "```\n" + "-".join(f"x{i}" for i in range(8000))
FENCE_IN_ITEM = "1. Write it:\n\n   ```sh\n" + "".join(f"   echo {i}\n" for i in range(300))
# "1." after item 39 is item 40: its text moves right, and its fence with it
RENUMBERED_ITEM = "".join(f"{i}. item {i}\n" for i in range(1, 40)) + "1. Then:\n\n   ```sh\n"
RENUMBERED_ITEM += "".join(f"   echo {i}\n" for i in range(200))
AFTER_A_LIST = "- a\n- b\n\n" + "A paragraph after the list, " * 600

OPEN_BLOCKS = {
    "code fence": CODE,
    "bullet list": BULLETS,
    "ordered list": ORDERED,
    "loose list": LOOSE,
    "table": TABLE,
    "quote": QUOTE,
    "hard-wrapped paragraph": HARD_WRAPPED,
    "Chinese line": CHINESE,
    "English line": ENGLISH,
    "long code line": LONG_CODE_LINE,
    "fence in a list item": FENCE_IN_ITEM,
    "fence in a renumbered item": RENUMBERED_ITEM,
    "paragraph after a list": AFTER_A_LIST,
}


def terminal(width: int = WIDTH, height: int = HEIGHT) -> Console:
    return Console(
        file=io.StringIO(),
        width=width,
        height=height,
        force_terminal=True,
        color_system="truecolor",
    )


def shown(console: Console, view: MarkdownStream) -> list[list[Segment]]:
    """What the live region shows now."""
    return console.render_lines(view._live.renderable, pad=False)


def whole_cropped(console: Console, view: MarkdownStream) -> list[list[Segment]]:
    """What it would show if it rendered the whole open block and kept the screen's last lines."""
    lines = block_lines(console, Markdown(view._splitter.tail, code_theme=CODE_THEME))
    if view.separator():
        lines.insert(0, [])
    room = console.height - 2
    if len(lines) <= room:
        return lines
    marker = [Segment(f"⋮ {len(lines) - room + 1} more lines above", console.get_style("dim"))]
    return [marker, *lines[-(room - 1) :]]


def plain(lines: list[list[Segment]]) -> list[str]:
    return ["".join(segment.text for segment in line) for line in lines]


def styled(lines: list[list[Segment]]) -> list[list[tuple[str, object]]]:
    return [[(segment.text, segment.style) for segment in line] for line in lines]


def streamed(text: str, console: Console, every: int = 150) -> Iterator[MarkdownStream]:
    """The view after every so many of the text's tokens, and after the last."""
    view = MarkdownStream(console, frames_per_second=1e-9)  # drawn only when the test asks
    view.delta("# A heading\n\n")  # a block above, as in a real answer
    tokens = split_tokens(text)
    for number, token in enumerate(tokens, 1):
        view.delta(token)
        if number % every == 0 or number == len(tokens):
            yield view
    view.finish()


@pytest.mark.parametrize("text", OPEN_BLOCKS.values(), ids=OPEN_BLOCKS.keys())
def test_a_long_open_block_shows_what_rendering_it_whole_shows(text: str) -> None:
    console = terminal()
    for view in streamed(text, console):
        got, want = shown(console, view), whole_cropped(console, view)
        # Styles too: code keeps its highlighting, a table its widths, a list its numbers.
        assert styled(got[1:]) == styled(want[1:]), "\n".join(plain(got))
        assert len(got) == len(want)
        if want[0] and plain(want[:1])[0].startswith("⋮"):
            count = int(plain(got[:1])[0].split()[1])
            expected = int(plain(want[:1])[0].split()[1])
            # Honest: it counts the lines left out, if not always the lines they wrap into.
            assert expected // 2 <= count <= expected + 2


@pytest.mark.parametrize("size", [(30, 8), (41, 12), (25, 6)])
@pytest.mark.parametrize("text", [CODE, ORDERED, TABLE, QUOTE, CHINESE, ENGLISH, FENCE_IN_ITEM])
def test_small_screens_too(text: str, size: tuple[int, int]) -> None:
    console = terminal(*size)
    for view in streamed(text[:4000], console, every=37):
        assert styled(shown(console, view)[1:]) == styled(whole_cropped(console, view)[1:])


def test_a_resized_screen_shows_what_rendering_it_whole_shows_within_a_few_frames() -> None:
    console = terminal(60, 20)
    for number, view in enumerate(streamed(ENGLISH[:30000] + " " + CHINESE, console, every=97)):
        if number % 5 == 4:
            console.size = (console.width + 7, console.height) if number % 2 else (47, 14)
            for _ in range(3):  # a long paragraph's wrap is followed again a few screens a frame
                shown(console, view)
        assert styled(shown(console, view)[1:]) == styled(whole_cropped(console, view)[1:])


def test_code_keeps_its_language_and_highlighting() -> None:
    console = terminal()
    view = next(v for n, v in enumerate(streamed(CODE, console)) if n == 10)
    cut = view.tail(WIDTH, HEIGHT)
    assert cut.markdown.startswith("```python\n") and cut.hidden > 0
    keywords = [
        segment
        for line in shown(console, view)
        for segment in line
        if segment.text.strip() == "def"
    ]
    assert keywords and all(segment.style and segment.style.color for segment in keywords)


@pytest.mark.parametrize(
    "text",
    [
        "```python\n" + "".join(f"def f{i}(x):\n    return x * {i}\n" for i in range(4000)),
        "".join(f"{i + 1}. item {i}\n" for i in range(8000)),
        "| a | b |\n|---|---|\n" + "".join(f"| {i} | {i * i} |\n" for i in range(8000)),
        "你好，世界！" * 20000,
        " ".join(f"word{i}" for i in range(20000)),
        "".join(f"> quoted {i}\n" for i in range(8000)),
    ],
    ids=["code fence", "list", "table", "Chinese line", "English line", "quote"],
)
def test_what_is_handed_to_rich_is_as_big_as_the_screen(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[str] = []

    def recording(markup: str, **options: str) -> Markdown:
        handed.append(markup)
        return Markdown(markup, **options)

    monkeypatch.setattr(render, "Markdown", recording)
    console = terminal()
    view = MarkdownStream(console, frames_per_second=1e-9)
    for token in split_tokens(text):
        view.delta(token)
    for token in ["x", " y", "z"]:
        view.delta(token)
        view.refresh()
    assert len(view._splitter.tail) > 50_000
    assert len(handed) == 3
    for markup in handed:
        # a screenful of characters, a margin, and what moves the cut seldom: a rendered line
        # holds at most the screen's width
        assert len(markup) <= 2 * WIDTH * HEIGHT
    view._live.stop()  # not finish(): printing the whole block is not what is measured


def test_a_block_the_cuts_do_not_cover_is_rendered_whole() -> None:
    console = terminal(40, 10)
    text = "A paragraph line\n" * 30 + "".join(f"- then a list {i}\n" for i in range(30))
    for view in streamed(text, console, every=23):
        assert styled(shown(console, view)) == styled(whole_cropped(console, view))
    assert view._cutter.cut(view._splitter, 40, 10) is None


def test_the_finished_block_goes_to_the_scrollback_whole() -> None:
    console = Console(file=io.StringIO(), width=60, height=12, color_system=None)
    view = MarkdownStream(console, frames_per_second=1e-9)
    view.delta("# A heading\n\n")
    for token in split_tokens(FENCE_IN_ITEM + "   ```\n\nThe end."):
        view.delta(token)
        shown(console, view)  # drawn, cut, into a pipe: only what is printed stays
    view.finish()
    whole = Console(file=io.StringIO(), width=60, color_system=None)
    whole.print(Markdown("# A heading"))
    whole.print(Markdown(FENCE_IN_ITEM + "   ```\n\nThe end.", code_theme=CODE_THEME))
    printed: str = console.file.getvalue()  # type: ignore[attr-defined]
    expected: str = whole.file.getvalue()  # type: ignore[attr-defined]
    assert printed.split("\n")[1:] == expected.split("\n")[1:]
