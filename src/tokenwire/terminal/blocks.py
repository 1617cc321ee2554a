"""Cut streamed markdown into blocks that are finished: no later text can change how they render.

A block ends where a line that cannot continue it starts after a blank line, where a fenced code
block closes, or at an ATX heading. When in doubt a block is kept open: splitting too late only
costs redraws of the tail, splitting too early would render differently from the whole answer.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^#{1,6}(?:[ \t]|$)")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)")


class BlockSplitter:
    """``feed(text)`` returns the blocks that text finished; ``tail`` is the unfinished rest.

    The blocks, joined with ``"\\n\\n"``, render as the whole text does; ``flush()`` ends the text.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []  # complete lines of the open block
        self._partial = ""  # the line being written
        self._fence: str | None = None  # the marker of the open code fence
        self._blank = False  # a blank line followed the block's last text

    @property
    def tail(self) -> str:
        """The open block as it stands, with the line being written."""
        lines = self._lines[: self._content_end()]
        if self._partial:
            lines = [*self._lines, self._partial]
        return "\n".join(lines)

    def feed(self, text: str) -> list[str]:
        if "\n" not in text:  # the common case: a token inside a line
            self._partial += text
            return []
        finished: list[str] = []
        *complete, self._partial = (self._partial + text).split("\n")
        for line in complete:
            self._line(line.removesuffix("\r"), finished)
        return finished

    def flush(self) -> list[str]:
        """The text has ended: the open block is finished too."""
        finished: list[str] = []
        if self._partial:
            self._line(self._partial, finished)
            self._partial = ""
        self._emit(finished)
        self._fence = None
        return finished

    def _line(self, line: str, finished: list[str]) -> None:
        if self._fence is not None:
            self._lines.append(line)
            if _closes(line, self._fence):
                self._fence = None
                self._emit(finished)
            return
        if not line.strip():
            if self._lines:
                self._lines.append(line)
                self._blank = True
            return
        if _HEADING.match(line):
            self._emit(finished)
            self._lines.append(line)
            self._emit(finished)
            return
        if self._blank and not self._continues(line):
            self._emit(finished)
        self._lines.append(line)
        self._blank = False
        if match := _FENCE.match(line):
            marker = match.group(1)
            # A backtick fence's info string may not hold a backtick; then it is inline code.
            if not (marker[0] == "`" and "`" in line[match.end() :]):
                self._fence = marker

    def _continues(self, line: str) -> bool:
        """After a blank line: may this line still belong to the open block?"""
        if line[0] in " \t":  # a list item's next paragraph, or indented code
            return True
        # The next item of a loose list; a list's items must render as one list.
        return bool(_LIST_ITEM.match(line)) and any(_LIST_ITEM.match(x) for x in self._lines)

    def _emit(self, finished: list[str]) -> None:
        end = self._content_end()
        if end:
            finished.append("\n".join(self._lines[:end]))
        self._lines = []
        self._blank = False

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
