"""What an open block's lines say about where it may be cut, read a line at a time: its kind (prose,
quote, indented code, list, table), its list items, its table's widest cells, where its paragraphs
start. ``tail.TailCutter`` keeps one ``Outline`` per open block and cuts by it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

from rich.cells import cell_len

ITEM = re.compile(r"( {0,3})(?:([-+*])|(\d{1,9})([.)]))(?:([ \t]+)|$)")
QUOTE = re.compile(r" {0,3}> ?")
DELIMITER = re.compile(r" {0,3}\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*")
RULE = re.compile(r" {0,3}(?:([-*_])(?:[ \t]*\1){2,}|=+|-+)[ \t]*")  # or a setext underline
# Lines that end or change a paragraph: a list item, a quote, a heading, HTML, a fence.
STARTS = re.compile(r" {0,3}(?:[-+*](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$)|[>#<]|```|~~~)")
# Inline markup as it shows, near enough to measure a table's cells: a link by its text, an entity
# or an escape as one character, emphasis and code marks gone.
_SHOWN = [
    (re.compile(r"\]\([^)]*\)"), ""),
    (re.compile(r"&#?\w+;|\\."), "x"),
    (re.compile(r"[*_`~\[]"), ""),
]


@dataclass
class Item:
    line: int
    number: int | None  # what an ordered item shows: its list's start, counted on
    blanks: int = 0  # blank lines above it, which render as nothing


@dataclass
class Anchor:
    """A place in a paragraph where the whole block's rendering starts a line."""

    paragraph: int
    width: int
    line: int
    offset: int
    rows: int = 0  # rendered lines of the paragraph before this place
    exact: bool = True  # false once text that markdown may change comes by


@dataclass
class Outline:
    """What the open block's lines say about where it may be cut, each line read once."""

    generation: int
    kind: str = ""  # text, quote, indented, list or table
    mixed: bool = False  # a structure the cuts do not cover: the block is rendered whole
    seen: int = 0
    fence: int | None = None  # where an open code fence starts, ending what is read
    blank: bool = False  # the last line read was blank
    blanks: int = 0
    header: str = ""
    # a list's top-level items; the marker and content column of the last one
    items: list[Item] = field(default_factory=list)
    marker: str = ""
    content: int = 0
    # a table's columns, and for each the row with its widest cell and with its longest word
    columns: int = 0
    widest: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    # where the paragraphs of prose start, and a place in the last one the cut started at
    paragraphs: list[int] = field(default_factory=lambda: [0])
    anchor: Anchor | None = None

    def read(self, index: int, line: str) -> None:
        if index == 0:  # read again once complete when first read as the line being written
            self.kind, self.header, self.items = line_kind(line), line, []
            self.mixed = self.kind == "other" or not continues_block(self.kind, line)
            if self.kind == "list":
                self._item(0, line)
            return
        if not line.strip():
            self.blank = True
            self.blanks += 1
            self._paragraph_ends(index)
            return
        if index == 1 and self.kind == "text" and is_table(self.header, line):
            self.kind, self.columns = "table", len(table_cells(self.header))
        elif self.kind == "list":
            self._list_line(index, line)
        elif self.blank and self.kind != "indented":
            self.mixed = True  # these end at a blank line: the splitter kept a continuation
        elif not continues_block(self.kind, line):
            self.mixed = True
        elif self.kind == "table":
            self._row(index, line)
        elif self.kind == "quote" and not quoted_text(line).strip():
            self._paragraph_ends(index)
        self.blank = False

    def _paragraph_ends(self, index: int) -> None:
        if self.paragraphs[-1] == index:  # more blank lines
            self.paragraphs[-1] = index + 1
        else:
            self.paragraphs.append(index + 1)

    def _list_line(self, index: int, line: str) -> None:
        indent = len(line) - len(line.lstrip(" "))
        if indent >= self.content:
            return  # inside the last item
        match = ITEM.match(line)
        if match is None or RULE.fullmatch(line):
            # a lazy line of the last item's paragraph; after a blank line, the list has ended
            self.mixed = self.mixed or self.blank or not continues_block("text", line)
        elif (match.group(2) or match.group(4)) != self.marker:
            self.mixed = True  # another list begins
        else:
            self._item(index, line)

    def _item(self, index: int, line: str) -> None:
        match = ITEM.match(line)
        assert match is not None
        self.marker = match.group(2) or match.group(4)
        spaces = len(match.group(5) or "")
        # where the item's text starts: past the marker and its spaces, unless they make code
        self.content = match.end() - spaces + (spaces if 1 <= spaces <= 4 else 1)
        number = None
        if match.group(3) is not None:
            number = int(match.group(3)) if not self.items else (self.items[-1].number or 0) + 1
        self.items.append(Item(index, number, self.blanks))

    def _row(self, index: int, line: str) -> None:
        for column, cell in enumerate(table_cells(line)[: self.columns]):
            text = _shown(cell.strip())
            words = text.split()
            sizes = (cell_len(text), max(map(cell_len, words)) if words else 0)
            for measure, size in enumerate(sizes):
                if size > self.widest.get((column, measure), (-1, 0))[0]:
                    self.widest[column, measure] = (size, index)

    def item_at(self, index: int) -> Item | None:
        """The last item starting at or before a line; cuts are near the end, so is it."""
        for item in reversed(self.items):
            if item.line <= index:
                return item
        return None

    def paragraph_at(self, index: int) -> int:
        return self.paragraphs[bisect_right(self.paragraphs, index) - 1]


def line_kind(line: str) -> str:
    if ITEM.match(line) and not RULE.fullmatch(line):
        return "list"
    if QUOTE.match(line):
        return "quote"
    if line.startswith(("    ", "\t")):
        return "indented"
    if STARTS.match(line) or RULE.fullmatch(line):
        return "other"
    return "text"


def continues_block(kind: str, line: str) -> bool:
    """Does this line leave the structure of a block of this kind as it was?"""
    if kind == "list":
        return True  # read item by item
    if kind == "indented":
        return line.startswith(("    ", "\t"))
    if kind == "table":
        return "|" in line and not STARTS.match(line)
    if kind == "quote" and QUOTE.match(line):
        content = quoted_text(line)
        return not (STARTS.match(content) or RULE.fullmatch(content) or content[:4] == "    ")
    # a paragraph's line, or a lazy one of a quote's paragraph
    return not (STARTS.match(line) or RULE.fullmatch(line) or DELIMITER.fullmatch(line))


def quoted_text(line: str) -> str:
    match = QUOTE.match(line)
    return line[match.end() :] if match else line


def _shown(text: str) -> str:
    for pattern, replacement in _SHOWN:
        text = pattern.sub(replacement, text)
    return text


def is_table(header: str, delimiter: str) -> bool:
    return (
        "|" in header
        and bool(DELIMITER.fullmatch(delimiter))
        and len(table_cells(header)) == len(table_cells(delimiter))
    )


def table_cells(row: str) -> list[str]:
    row = row.strip().removeprefix("|")
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return re.split(r"(?<!\\)\|", row)
