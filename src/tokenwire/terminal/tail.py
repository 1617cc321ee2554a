"""The part of the open block that the live region renders: its end, enough to fill the screen.

The live region shows only the screen's last lines, so an open block longer than the screen is
rendered from a point near its end where markdown renders what follows as it does in the whole
block: a code fence as its opening line and its last lines, a list from one of its items
(renumbered), a table as its header and delimiter rows, the rows that set its column widths and
its last rows, and prose from a place where the whole block's rendering starts a line. Each
frame then costs what the screen holds, however long the block. A block these cuts do not cover
(a paragraph that turns into a list, a quote holding code) is rendered whole, as a short one is.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from dataclasses import dataclass, field

# rich exports no wrap that gives break offsets; this private one is pinned by
# tests/terminal/test_rich_wrap_pin.py to the rich version it was written against.
from rich._wrap import divide_line
from rich.cells import cell_len

from tokenwire.terminal.blocks import BlockSplitter
from tokenwire.terminal.outline import (
    ITEM,
    QUOTE,
    Anchor,
    Item,
    Outline,
    line_kind,
    quoted_text,
)

MARGIN = 8  # lines of prose rendered above the screen's top, should its wrap be a guess
LOOKBACK = 16  # lines a code cut may move up to start at a statement, where lexing starts afresh
QUOTE_INDENT = 4  # rich renders a quote's text this much narrower than the screen
# Screens of prose a frame may read to find its place again (after a resize, or frames skipped):
# a long paragraph takes a few frames, shown meanwhile from a guess, not one long frame.
CATCH_UP = 16

# What inline markdown may turn into other text: prose without it renders as its characters.
_MARKUP = re.compile(r"[\\`*_\[\]!<>&~\t\r]")
_HEAD = 16  # characters enough to read a line's marker
_INDENT = 256  # and enough to get past any indent a line of prose has


@dataclass(frozen=True)
class Cut:
    """Markdown to render in place of the open block, and about how many lines it leaves out."""

    markdown: str
    hidden: int


class _Source:
    """The open block's lines, the line being written last, read without joining them."""

    def __init__(self, splitter: BlockSplitter) -> None:
        self._splitter = splitter
        self.complete = splitter.line_count
        self.count = self.complete + (1 if splitter.partial_length else 0)

    def length(self, index: int) -> int:
        if index < self.complete:
            return len(self._splitter.line(index))
        return self._splitter.partial_length

    def text(self, index: int, start: int = 0, stop: int | None = None) -> str:
        if index < self.complete:
            return self._splitter.line(index)[start:stop]
        return self._splitter.partial(start, stop)

    def head(self, index: int) -> str:
        return self.text(index, 0, _HEAD)

    def lines(self, start: int, stop: int) -> list[str]:
        return [self.text(index) for index in range(start, stop)]


class TailCutter:
    """Cuts the open block of a ``BlockSplitter`` to what a screen of a given size shows."""

    def __init__(self) -> None:
        self._outline = Outline(generation=-1)

    def cut(self, splitter: BlockSplitter, width: int, height: int) -> Cut | None:
        """What to render of the open block, or None to render it whole."""
        need = max(2, height - 2) + MARGIN
        if splitter.size <= need * width and splitter.line_count < need:
            return None  # the common case: a short block costs little, and shows exactly
        source = _Source(splitter)
        outline = self._read(splitter, source)
        if splitter.fence_start is not None:
            return _code(source, outline, splitter.fence_start, need, width)
        if outline.mixed or not outline.kind:
            return None
        return _blocks(source, outline, need, width)

    def _read(self, splitter: BlockSplitter, source: _Source) -> Outline:
        if self._outline.generation != splitter.generation:
            self._outline = Outline(generation=splitter.generation)
        outline = self._outline
        # A fence's lines, the opening one too, are the fence's: the fence is cut on its own.
        outline.fence = splitter.fence_start
        stop = source.complete if outline.fence is None else outline.fence
        for index in range(outline.seen, stop):
            outline.read(index, source.text(index))
        outline.seen = max(outline.seen, stop)
        if stop == 0 and source.count:  # the block's first line is still being written
            outline.read(0, source.head(0))
        return outline


def _code(source: _Source, outline: Outline, fence: int, need: int, width: int) -> Cut | None:
    head, item = _fence_head(source, outline, fence)
    last = source.count - 1
    if last > fence and source.length(last) > need * width:
        if len(head) == 1 and not head[0].startswith(" "):  # its lines are the code's lines
            # rich wraps a code line on its own, within the block's padding of a column a side
            target = (last, source.length(last) - need * width)
            anchor = _advance(source, outline, last, target, _step(need, width), width - 2, True)
            if anchor:
                shown = source.text(last, anchor.offset)
                return Cut("\n".join([*head, shown]), hidden=last - 1 + anchor.rows)
        shown, rows = _line_end(source, last, "", 0, need, width)
        return Cut("\n".join([*head, shown]), hidden=last - len(head) + rows)
    start = _walk_back(source, outline, 0, need, width, fence)
    if start < fence:  # the code so far does not fill the screen: what is above shows too
        return None if outline.mixed else _blocks(source, outline, need, width, start)
    if start == fence:
        start += 1  # the fence's opening line is in head
    start = _statement(source, fence, start)
    lines = head + source.lines(start, source.count)
    return Cut("\n".join(_item_lines(lines, item)), hidden=start - len(head))


def _blocks(
    source: _Source, outline: Outline, need: int, width: int, start: int | None = None
) -> Cut | None:
    floor = 2 if outline.kind == "table" else 0  # a table's header and delimiter rows
    if start is None:
        start = _walk_back(source, outline, floor, need, width)
    if start == source.complete and (fresh := _fresh_block(source, outline, start)):
        cut = None if fresh.mixed else _blocks(source, fresh, need, width)
        outline.anchor = fresh.anchor
        return cut
    if outline.kind in ("text", "quote"):
        return _prose(source, outline, start, need, width)
    if source.length(start) > need * width and outline.kind != "table":
        prefix, skip = _prefix(source, outline, start)
        shown, rows = _line_end(source, start, prefix, skip, need, width)
        return Cut("\n".join([shown, *source.lines(start + 1, source.count)]), start + rows)
    start = _snap(source, outline, start)
    if start <= floor:
        return None
    head = _table_head(source, outline, start)
    lines = [*head, *source.lines(start, source.count)]
    if outline.kind != "list":
        return Cut("\n".join(lines), hidden=start - len(head))
    item = outline.item_at(start)
    assert item is not None and item.line == start
    return Cut("\n".join(_item_lines(lines, item)), hidden=start - item.blanks)


def _prose(source: _Source, outline: Outline, start: int, need: int, width: int) -> Cut | None:
    """Prose from where the whole block's rendering starts a line, if plain text shows where.

    A paragraph's lines render joined by spaces and wrapped as one text. Plain text renders as
    its characters, so its wrap is followed with rich's own line breaking, from the paragraph's
    start and a chunk at a time as the paragraph grows: cut at one of those breaks, the rest
    renders line for line as in the whole block. Past markup, the cut is a guess, made seldom.
    """
    offset = max(0, source.length(start) - need * width)  # within a line longer than the screen
    paragraph = outline.paragraph_at(start)
    if start == paragraph and not offset:
        return None if start == 0 else Cut("\n".join(source.lines(start, source.count)), start)
    quote = outline.kind == "quote"
    prefix = "> " if quote else ""
    target = (start, max(offset, _lead(source, outline, start)))
    anchor = _advance(
        source,
        outline,
        paragraph,
        target,
        _step(need, width),
        width - QUOTE_INDENT if quote else width,
    )
    if anchor:
        first, line = prefix + source.text(anchor.line, anchor.offset), anchor.line
        hidden = paragraph + anchor.rows
    elif offset:
        first, rows = _line_end(source, start, prefix, _lead(source, outline, start), need, width)
        line, hidden = start, start + rows
    else:  # moved only every few lines: what shows then reflows seldom
        line = hidden = max(paragraph, start - start % 8)
        first = source.text(line)
        if quote and not QUOTE.match(first):
            first = prefix + first  # a lazy line, kept in the quote
    return Cut("\n".join([first, *source.lines(line + 1, source.count)]), hidden)


def _fresh_block(source: _Source, outline: Outline, index: int) -> Outline | None:
    """The line being written, after a blank line, may begin a block of its own: its outline."""
    head = source.head(index)
    if not (outline.blank and outline.seen == index) or head[:1] in (" ", "\t"):
        return None  # it continues the block
    item = ITEM.match(head)
    if outline.kind == "list" and item and (item.group(2) or item.group(4)) == outline.marker:
        return None  # the list's next item
    fresh = Outline(outline.generation, paragraphs=[index], anchor=outline.anchor)
    fresh.kind = line_kind(head)
    fresh.mixed = fresh.kind == "other"
    if fresh.kind == "list" and item:  # an item still being written, numbered as it is
        fresh.marker, fresh.content = item.group(2) or item.group(4), item.end()
    return fresh


def _advance(
    source: _Source,
    outline: Outline,
    paragraph: int,
    target: tuple[int, int],
    step: int,
    width: int,
    code: bool = False,
) -> Anchor | None:
    """The paragraph's last known line start at or before target, moved on towards it.

    None while that place is unknown, or too far behind target yet. A line of code is a
    paragraph of its own, and its characters are what renders.
    """
    anchor = outline.anchor
    if (
        anchor is None
        or (anchor.paragraph, anchor.width) != (paragraph, width)
        or (anchor.line, anchor.offset) > target
    ):
        lead = 0 if code else _lead(source, outline, paragraph)
        anchor = outline.anchor = Anchor(paragraph, width, paragraph, lead)
        anchor.exact = code or line_kind(source.head(paragraph)) == outline.kind
    distance = _distance(source, (anchor.line, anchor.offset), target)
    work = CATCH_UP * 4 * step
    while anchor.exact and distance > step:
        if work <= 0:
            return None
        stop = min(distance, 4 * step)
        work -= stop
        # Text well past stop, so that every break up to stop is final.
        chunk = _chunk(source, outline, anchor, stop + 2 * width, code)
        if not chunk.plain:
            anchor.exact = False
        if not chunk.plain or not (chunk.ended or len(chunk.text) >= stop + 2 * width):
            break  # not enough text yet to move on: from here, a little more is rendered
        breaks = divide_line(chunk.text, width)
        found = None
        for number, at in enumerate(breaks):
            place = chunk.place(at)
            if at > stop or place > target:
                break
            if not chunk.text[at].isspace():
                found = number, place
        if found is None:
            anchor.exact = False
            break
        distance -= _distance(source, (anchor.line, anchor.offset), found[1])
        anchor.rows += found[0] + 1
        anchor.line, anchor.offset = found[1]
    return anchor if anchor.exact else None


@dataclass
class _Chunk:
    """Part of a paragraph's text as markdown joins its lines, and where each line's part is."""

    text: str = ""
    starts: list[int] = field(default_factory=list)  # where in text each line's part starts
    places: list[tuple[int, int]] = field(default_factory=list)  # and from where in which line
    plain: bool = True  # no markup, no line break of its own
    ended: bool = False  # the paragraph ends within it

    def place(self, at: int) -> tuple[int, int]:
        """The line, and the place in it, that a place in the text comes from."""
        segment = bisect_right(self.starts, at) - 1
        line, offset = self.places[segment]
        return line, offset + at - self.starts[segment]


def _chunk(source: _Source, outline: Outline, anchor: Anchor, size: int, code: bool) -> _Chunk:
    """About size characters of the anchor's paragraph from it on."""
    if code:  # tabs would expand to other widths where the line is cut
        text = source.text(anchor.line, anchor.offset, anchor.offset + size)
        ended = anchor.line < source.complete
        return _Chunk(text, [0], [(anchor.line, anchor.offset)], "\t" not in text, ended)
    chunk, parts = _Chunk(), []
    position, line, offset = 0, anchor.line, anchor.offset
    while position < size and line < source.count:
        if line > anchor.line:
            head = source.text(line, 0, _INDENT)
            if (
                line == outline.fence
                or not head.strip()
                or (outline.kind == "quote" and not quoted_text(head).strip())
            ):
                chunk.ended = True
                break
            offset = _lead(source, outline, line)
            parts.append(" ")  # lines join with a space
            position += 1
        text = source.text(line, offset, offset + size - position + 1)
        if line < source.complete and offset + len(text) >= source.length(line):
            # A line's trailing spaces go, unless there are two: then they break the line.
            chunk.plain = chunk.plain and not text.endswith("  ")
            text = text.rstrip()
        chunk.starts.append(position)
        chunk.places.append((line, offset))
        parts.append(text)
        position += len(text)
        line += 1
    chunk.text = "".join(parts)
    chunk.plain = chunk.plain and not _MARKUP.search(chunk.text)
    return chunk


def _distance(source: _Source, start: tuple[int, int], stop: tuple[int, int]) -> int:
    """How many characters of the source lie between two places in it."""
    between = sum(source.length(index) + 1 for index in range(start[0], stop[0]))
    return between + stop[1] - start[1]


def _step(need: int, width: int) -> int:
    """How far a cut in prose moves at a time."""
    return max(width, need * width // 4)


def _line_end(
    source: _Source, index: int, prefix: str, skip: int, need: int, width: int
) -> tuple[str, int]:
    """A line too long for the screen: its last characters, after what marks its block.

    Returns that markdown, and about how many rendered lines of the line it leaves out. The cut
    is at a space near a point that moves a quarter screen at a time, not at every token: where
    the cut changes how the text wraps, what shows then reflows that seldom.
    """
    step = _step(need, width)
    offset = max(skip, (source.length(index) - need * width) // step * step)
    space = source.text(index, offset, offset + 2 * width).find(" ")
    offset += space + 1 if space >= 0 else 0
    shown = source.text(index, offset)
    cells = cell_len(shown) / max(1, len(shown))
    return prefix + shown, math.ceil(offset * cells / width)


def _walk_back(
    source: _Source, outline: Outline, floor: int, need: int, width: int, fence: int = -1
) -> int:
    """The first line of the shortest end of the block that fills the screen.

    Lines that render as a line at least (code, rows, items) are counted, and the screen's lines
    of them are enough; prose, whose lines may join, is measured in characters (a rendered line
    holds at most the screen's width), with a margin.
    """
    lines, chars, start = 0, 0, source.count
    while start > floor and chars < need * width and lines < need - MARGIN:
        start -= 1
        chars += source.length(start) + 1
        lines += _renders_a_line(source, outline, start, fence)
    return start


def _renders_a_line(source: _Source, outline: Outline, index: int, fence: int) -> bool:
    if 0 <= fence < index:
        return True
    if outline.kind == "list":
        return bool(ITEM.match(source.head(index).lstrip(" ")))
    return outline.kind in ("table", "indented")


def _statement(source: _Source, fence: int, start: int) -> int:
    """Move a code cut up to a line indented no more than the fence, if one is near."""
    fence_line = source.text(fence)
    indent = len(fence_line) - len(fence_line.lstrip(" "))
    for index in range(min(start, source.count - 1), max(fence, start - LOOKBACK), -1):
        line = source.head(index)
        if line.strip() and len(line) - len(line.lstrip(" ")) <= indent:
            return index
    return start


def _fence_head(source: _Source, outline: Outline, fence: int) -> tuple[list[str], Item | None]:
    """What must precede a fence's last lines for them to render as in the whole block.

    Returns those lines, and the list item they begin with, if the fence is in one.
    """
    line = source.text(fence)
    if fence == 0 or not line.startswith(" "):
        return [line], None  # a fence at the margin is a block of its own
    item = outline.item_at(fence) if outline.kind == "list" and not outline.mixed else None
    if item is not None:  # a fence in a list item: that item
        return source.lines(item.line, fence + 1), item
    return source.lines(0, fence + 1), None


def _snap(source: _Source, outline: Outline, start: int) -> int:
    """Move a cut up to a line the block's kind can start at."""
    if outline.kind == "list":
        item = outline.item_at(start)
        return 0 if item is None else item.line
    if outline.kind == "indented":
        while start > 0 and not source.head(start).strip():
            start -= 1  # an indented code block cannot start with a blank line
    return start


def _numbered(line: str, item: Item) -> str:
    """An ordered item's line with the number the whole list shows it with."""
    match = ITEM.match(line)
    if item.number is None or match is None or match.group(3) is None:
        return line
    return f"{match.group(1)}{item.number}{line[match.start(4) :]}"


def _item_lines(lines: list[str], item: Item | None) -> list[str]:
    """Lines from a list item's on, the item renumbered as the whole list shows it.

    A number longer than the item's own moves the item's text right, so its indented lines move
    with it and stay in it; a shorter one is indented to keep the text where it was.
    """
    if item is None or not lines:
        return lines
    first, match = _numbered(lines[0], item), ITEM.match(lines[0])
    grown = len(first) - len(lines[0])
    if grown < 0 and match and len(match.group(1)) - grown <= 3:
        return [" " * -grown + first, *lines[1:]]
    if grown <= 0 or match is None:
        return [first, *lines[1:]]
    column = match.end() - len(match.group(5) or "") + 1  # the item's text, past one space
    shifted = [first]
    for number, line in enumerate(lines[1:], 1):
        indent = len(line) - len(line.lstrip(" "))
        if indent < column and ITEM.match(line):
            return shifted + lines[number:]  # the next item
        shifted.append(" " * grown + line if line.strip() and indent >= column else line)
    return shifted


def _table_head(source: _Source, outline: Outline, start: int) -> list[str]:
    """A table's header and delimiter rows, and the rows above the cut that set its widths."""
    if outline.kind != "table":
        return []
    rows = sorted({row for _, row in outline.widest.values() if row < start})
    return [source.text(0), source.text(1), *(source.text(row) for row in rows)]


def _lead(source: _Source, outline: Outline, index: int) -> int:
    """Where a line's text starts: past its indent, and a quote's marker."""
    head = source.text(index, 0, _INDENT)
    text = quoted_text(head) if outline.kind == "quote" else head
    return len(head) - len(text.lstrip())


def _prefix(source: _Source, outline: Outline, index: int) -> tuple[str, int]:
    """What keeps a line's last characters in its block, and how long the line's own marker is.

    A list item's line keeps its marker; any other line of a list item takes the item's.
    """
    head = source.head(index)
    if outline.kind == "list":
        item = outline.item_at(index)
        match = ITEM.match(head)
        indent = len(head) - len(head.lstrip(" "))
        if match and indent < outline.content and index >= source.complete:
            # the line being written is the list's next item
            last = outline.items[-1].number if outline.items else None
            item = Item(index, None if last is None else last + 1)
        if item is not None and (marker := ITEM.match(source.head(item.line))):
            own = marker.end() if match and item.line == index else indent
            return _numbered(marker.group(0).rstrip() + " ", item), own
    if outline.kind == "indented":
        return "    ", len(head) - len(head.lstrip())
    return "", 0
