"""Show a streaming answer in a terminal: markdown rendered live, or plain text when not a terminal.

``MarkdownStream`` prints every finished block once, into the scrollback, and redraws only the
unfinished tail in a ``rich.live.Live`` region. A tail taller than the screen shows its last
lines, and only as much of its end as fills the screen is rendered (``tail.TailCutter``): each
redraw costs what the screen holds, not what the answer or its open block holds, so the
ten-thousandth token costs what the tenth did. The whole block goes to the scrollback once it is
finished, so nothing is cut and nothing is printed twice.

A tool call is shown as one line once it is complete, and a tool's result as one line after it
(see ``tools``): the text before them is finished then, so it goes to the scrollback first.
"""

from __future__ import annotations

import asyncio
import time
from typing import IO, Literal, Protocol

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.segment import Segment
from rich.text import Text

from tokenwire.events import ToolResult, WholeToolCall
from tokenwire.terminal.blocks import BlockSplitter
from tokenwire.terminal.tail import Cut, TailCutter
from tokenwire.terminal.tools import call_line, result_line

CODE_THEME = "monokai"
PLAIN_WIDTH = 200  # what a tool's line is cut to where there is no screen to fit


class AnswerView(Protocol):
    """Where an answer is shown as it arrives."""

    def reasoning(self, text: str) -> None: ...

    def delta(self, text: str) -> None: ...

    def tool_call(self, call: WholeToolCall) -> None:
        """A tool call, once all of it has arrived."""

    def tool_result(self, result: ToolResult) -> None:
        """What a tool the server ran answered."""

    def finish(self) -> None: ...


class PlainStream:
    """The answer's text as it arrives, unbuffered: for pipes, files and dumb terminals.

    Tool calls and results are lines on ``notes`` (stderr, beside the other notices), so that
    ``out`` gets the answer alone; cut to ``width``, or to ``PLAIN_WIDTH`` when it is None. Text
    that follows them (the model's next turn, after tools the server ran) starts a paragraph.
    """

    def __init__(
        self, out: IO[str], notes: IO[str] | None = None, *, width: int | None = None
    ) -> None:
        self._out = out
        self._notes = notes if notes is not None else out
        self._width = width or PLAIN_WIDTH
        self._line_open = False  # text was written to out since its last newline
        self._text = False  # some text was written to out
        self._tools = False  # a tool's line came since the last text

    def reasoning(self, text: str) -> None:
        return None  # a pipe gets the answer alone

    def delta(self, text: str) -> None:
        if self._tools and self._text:
            self._out.write("\n\n" if self._line_open else "\n")
        self._tools = False
        self._text = True
        self._out.write(text)
        self._out.flush()
        self._line_open = not text.endswith("\n")

    def tool_call(self, call: WholeToolCall) -> None:
        self._note(call_line(call, self._width))

    def tool_result(self, result: ToolResult) -> None:
        self._note(result_line(result, self._width))

    def finish(self) -> None:
        self._out.write("\n")
        self._out.flush()

    def _note(self, line: str) -> None:
        if self._line_open and (self._notes is self._out or _is_terminal(self._out)):
            # Shown on the same screen: the note starts a line of its own. (A pipe's text is
            # left as it is.)
            self._out.write("\n")
            self._out.flush()
            self._line_open = False
        self._notes.write(line + "\n")
        self._notes.flush()
        self._tools = True


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


class MarkdownStream:
    """Live markdown: finished blocks printed once, the unfinished tail redrawn."""

    def __init__(
        self,
        console: Console,
        *,
        code_theme: str = CODE_THEME,
        frames_per_second: float = 20.0,
    ) -> None:
        self.console = console
        self.code_theme = code_theme
        self._splitter = BlockSplitter()
        self._cutter = TailCutter()
        self._reasoning: list[str] = []
        self._reasoning_shown = False
        self._printed = False
        self._last: Literal["text", "tool"] = "text"  # what was printed last
        # Redrawn from this thread, at most once a frame, never by rich's refresh thread: the
        # tail and the blocks printed above it then always agree.
        self._frame = 1.0 / frames_per_second if frames_per_second > 0 else 0.0
        self._last_draw = 0.0
        self._pending: asyncio.TimerHandle | None = None
        self._live = Live(
            _Tail(self),
            console=console,
            auto_refresh=False,
            transient=True,
            vertical_overflow="visible",  # _Tail crops itself to the screen, keeping the bottom
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def reasoning(self, text: str) -> None:
        self._reasoning.append(text)
        self._draw_soon()

    def delta(self, text: str) -> None:
        if self._reasoning and not self._reasoning_shown:
            self._show_reasoning()
        for block in self._splitter.feed(text):
            self._print(block)
        self._draw_soon()

    def tool_call(self, call: WholeToolCall) -> None:
        self._tool_line(Text(call_line(call, self.console.width), style="cyan"))

    def tool_result(self, result: ToolResult) -> None:
        style = "red" if result.is_error else "dim"
        self._tool_line(Text(result_line(result, self.console.width), style=style))

    def refresh(self) -> None:
        """Redraw the tail now."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._last_draw = time.monotonic()
        self._live.refresh()

    def finish(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        if self._reasoning and not self._reasoning_shown:
            self._show_reasoning()
        for block in self._splitter.flush():
            self._print(block)
        self._live.stop()

    def _draw_soon(self) -> None:
        """Redraw now if a frame has passed since the last one, else once the frame is over."""
        wait = self._last_draw + self._frame - time.monotonic()
        if wait <= 0:
            self.refresh()
        elif self._pending is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop to wake us: the next piece of text draws
            self._pending = loop.call_later(wait, self.refresh)

    def _show_reasoning(self) -> None:
        text = "".join(self._reasoning).strip()
        self._reasoning_shown = True
        if text:
            self.console.print(Text(text, style="dim italic"))
            self._printed = True

    def _print(self, block: str) -> None:
        # One print, separator included, so the live region is redrawn once per block.
        lines = block_lines(self.console, Markdown(block, code_theme=self.code_theme))
        if self._printed:
            lines.insert(0, [])
        self.console.print(_Lines(lines))
        self._printed = True
        self._last = "text"

    def _tool_line(self, line: Text) -> None:
        """A line under the text so far, which is finished now: it goes to the scrollback first.
        A tool's lines follow each other; a blank line sets them apart from text."""
        if self._reasoning and not self._reasoning_shown:
            self._show_reasoning()
        for block in self._splitter.flush():
            self._print(block)
        lines = block_lines(self.console, line)
        if self._printed and self._last == "text":
            lines.insert(0, [])
        self.console.print(_Lines(lines))
        self._printed = True
        self._last = "tool"
        self.refresh()

    def separator(self) -> bool:
        return self._printed

    def pending_reasoning(self) -> str:
        """The reasoning still to show, before the answer starts."""
        if self._reasoning_shown or not self._reasoning:
            return ""
        self._reasoning[:] = ["".join(self._reasoning)]  # joined once, not at every frame
        return self._reasoning[0]

    def tail(self, width: int, height: int) -> Cut:
        """The unfinished markdown, or as much of its end as fills a screen of this size."""
        cut = self._cutter.cut(self._splitter, width, height)
        return cut or Cut(self._splitter.tail, hidden=0)


class _Tail:
    """The live region: the unfinished block, cropped to the screen's last lines."""

    def __init__(self, stream: MarkdownStream) -> None:
        self._stream = stream

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        reasoning = self._stream.pending_reasoning()
        if reasoning:
            # Only its end can show: a long reasoning costs no more to draw than a short one.
            shown = reasoning[-console.width * console.height * 2 :]
            lines = block_lines(console, Text(shown.strip(), style="dim italic"), options)
            yield _Lines(_crop(console, lines, hidden=0))
            return
        tail = self._stream.tail(options.max_width, console.height)
        if not tail.markdown:
            if not self._stream.separator():  # nothing has come yet: show that it is coming
                yield Text("…", style="dim")
            return
        markdown = Markdown(tail.markdown, code_theme=self._stream.code_theme)
        lines = block_lines(console, markdown, options)
        if self._stream.separator():
            lines.insert(0, [])
        yield _Lines(_crop(console, lines, tail.hidden))


def _crop(console: Console, lines: list[list[Segment]], hidden: int) -> list[list[Segment]]:
    """The last lines that fit the screen, under a count of those above them."""
    room = max(2, console.height - 2)
    if len(lines) <= room and not hidden:
        return lines
    shown = lines[-(room - 1) :]
    hidden += len(lines) - len(shown)
    return [[Segment(f"⋮ {hidden} more lines above", console.get_style("dim"))], *shown]


class _Lines:
    """Lines already rendered, printed as they are."""

    def __init__(self, lines: list[list[Segment]]) -> None:
        self._lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self._lines:
            yield from line
            yield Segment.line()


def block_lines(
    console: Console, renderable: Markdown | Text, options: ConsoleOptions | None = None
) -> list[list[Segment]]:
    """A block rendered on its own, without the blank lines rich puts around some elements.

    Blocks are then joined with exactly one blank line, whatever element ends one and starts the
    next, so an answer shows the same however it was cut into blocks.
    """
    options = (options or console.options).update(height=None)
    lines = console.render_lines(renderable, options, pad=False)
    start, end = 0, len(lines)
    while start < end and _blank(lines[start]):
        start += 1
    while end > start and _blank(lines[end - 1]):
        end -= 1
    return lines[start:end]


def _blank(line: list[Segment]) -> bool:
    # Only unstyled space: a code block's padding and a table's edge are styled, and kept.
    return all(not segment.text.strip() and not segment.style for segment in line)
