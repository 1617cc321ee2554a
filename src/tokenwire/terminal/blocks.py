"""Cut streamed markdown into blocks that are finished: no later text can change how they render.

A block ends where a line that cannot continue it starts after a blank line, where a fenced code
block closes, or at an ATX heading. When in doubt a block is kept open: splitting too late only
costs redraws of the tail, splitting too early would render differently from the whole answer.
"""

from __future__ import annotations

import re
from bisect import bisect_right

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^#{1,6}(?:[ \t]|$)")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)")


class BlockSplitter:
    """``feed(text)`` returns the blocks that text finished; ``tail`` is the unfinished rest.

    The blocks, joined with ``"\\n\\n"``, render as the whole text does; ``flush()`` ends the text.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []  # complete lines of the open block
        self._partial = _Line()  # the line being written
        self._fence: str | None = None  # the marker of the open code fence
        self._fence_start: int | None = None  # where in _lines the open fence's opening line is
        self._blank = False  # a blank line followed the block's last text
        self._has_item = False  # a line of the open block starts a list item
        self._size = 0  # characters in _lines, a newline each
        self._generation = 0

    @property
    def tail(self) -> str:
        """The open block as it stands, with the line being written."""
        lines = self._lines[: self._content_end()]
        if self._partial:
            lines = [*self._lines, self._partial.text()]
        return "\n".join(lines)

    # The open block piece by piece, for a reader that must not join it all at every frame.

    @property
    def generation(self) -> int:
        """Changes whenever a new open block begins."""
        return self._generation

    @property
    def size(self) -> int:
        """Characters in the open block, the line being written included."""
        return self._size + len(self._partial)

    @property
    def line_count(self) -> int:
        """Complete lines in the open block (the line being written is not one)."""
        return len(self._lines)

    def line(self, index: int) -> str:
        return self._lines[index]

    @property
    def fence_start(self) -> int | None:
        """The index of the open code fence's opening line, if a fence is open."""
        return self._fence_start

    @property
    def partial_length(self) -> int:
        return len(self._partial)

    def partial(self, start: int = 0, stop: int | None = None) -> str:
        """Part of the line being written, in the time that part takes to copy."""
        return self._partial.slice(start, len(self._partial) if stop is None else stop)

    def feed(self, text: str) -> list[str]:
        if "\n" not in text:  # the common case: a token inside a line
            self._partial.append(text)
            return []
        finished: list[str] = []
        *complete, rest = (self._partial.text() + text).split("\n")
        self._partial.clear()
        self._partial.append(rest)
        for line in complete:
            self._line(line.removesuffix("\r"), finished)
        return finished

    def flush(self) -> list[str]:
        """The text has ended: the open block is finished too."""
        finished: list[str] = []
        if self._partial:
            self._line(self._partial.text(), finished)
            self._partial.clear()
        self._emit(finished)
        self._fence = self._fence_start = None
        return finished

    def _line(self, line: str, finished: list[str]) -> None:
        if self._fence is not None:
            self._append(line)
            if _closes(line, self._fence):
                self._fence = self._fence_start = None
                self._emit(finished)
            return
        if not line.strip():
            if self._lines:
                self._append(line)
                self._blank = True
            return
        if _HEADING.match(line):
            self._emit(finished)
            self._append(line)
            self._emit(finished)
            return
        if self._blank and not self._continues(line):
            self._emit(finished)
        self._append(line)
        self._blank = False
        self._has_item = self._has_item or bool(_LIST_ITEM.match(line))
        if match := _FENCE.match(line):
            marker = match.group(1)
            # A backtick fence's info string may not hold a backtick; then it is inline code.
            if not (marker[0] == "`" and "`" in line[match.end() :]):
                self._fence = marker
                self._fence_start = len(self._lines) - 1

    def _append(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line) + 1

    def _continues(self, line: str) -> bool:
        """After a blank line: may this line still belong to the open block?"""
        if line[0] in " \t":  # a list item's next paragraph, or indented code
            return True
        # The next item of a loose list; a list's items must render as one list.
        return self._has_item and bool(_LIST_ITEM.match(line))

    def _emit(self, finished: list[str]) -> None:
        end = self._content_end()
        if end:
            finished.append("\n".join(self._lines[:end]))
        self._lines = []
        self._blank = self._has_item = False
        self._size = 0
        self._generation += 1

    def _content_end(self) -> int:
        end = len(self._lines)
        while end and not self._lines[end - 1].strip():
            end -= 1
        return end


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3
        and stripped.startswith(fence[0] * len(fence))
        and not stripped.strip(fence[0])
    )


class _Line:
    """A line kept as the pieces it arrived in: adding a piece costs the piece, not the line."""

    def __init__(self) -> None:
        self._pieces: list[str] = []
        self._ends: list[int] = []  # where each piece ends in the line

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def append(self, text: str) -> None:
        if text:
            self._pieces.append(text)
            self._ends.append(len(self) + len(text))

    def clear(self) -> None:
        self._pieces.clear()
        self._ends.clear()

    def text(self) -> str:
        if len(self._pieces) > 1:  # joined once: the next join, or slice, is a copy at most
            self._pieces[:] = ["".join(self._pieces)]
            self._ends[:] = [len(self._pieces[0])]
        return self._pieces[0] if self._pieces else ""

    def slice(self, start: int, stop: int) -> str:
        start, stop = max(0, start), min(stop, len(self))
        if start >= stop:
            return ""
        first = bisect_right(self._ends, start)
        last = bisect_right(self._ends, stop - 1)
        offset = self._ends[first - 1] if first else 0
        return "".join(self._pieces[first : last + 1])[start - offset : stop - offset]
