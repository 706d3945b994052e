"""Fitting the terminal report to the width it is given, down to 80 columns and below.

Rich wraps text at spaces and, when a table is too wide, narrows its columns without regard to
what they hold, folding a GFP mask or a task name across lines mid-word. Here text breaks at
spaces, and a word wider than the line only where a reader expects it to (the separators the
caller names, such as ``|`` in ``GFP_NOFS|__GFP_COMP`` or ``/`` in a path); a table too wide
for the line loses whole columns, least useful first, and says which, before any cell would
have to be cut.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Sequence

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text

# Runs of spaces and runs of anything else: the words of a line and the spaces between them
# (``\s`` is exactly str.isspace's set).
_RUNS = re.compile(r"\s+|\S+")


class Wrapped:
    """Text that wraps at spaces. A word wider than the whole line (a GFP mask, a long path) is
    broken after a character of ``after`` or before one of ``before``, as late as fits, and
    folded anywhere only when even those pieces are too wide; a word that fits is kept whole.

    ``after`` may be a sequence of strings, from the best places to break to the last resort:
    ``("|", "/", "-_")`` breaks a GFP mask between flags, a path after a ``/``, and only a word
    that neither makes narrow enough (a long file name) after ``-`` or ``_`` as well.
    """

    def __init__(self, text: Text | str, after: str | Sequence[str] = "", before: str = "") -> None:
        self.text = text.copy() if isinstance(text, Text) else Text(text)
        self.text.expand_tabs()
        levels = [after] if isinstance(after, str) else list(after)
        # Each level may break where the levels before it may, and more.
        self.levels = ["".join(levels[: i + 1]) for i in range(len(levels))] or [""]
        self.before = before

    def parts(self, word: str, width: int = 0) -> list[tuple[int, int]]:
        """Where ``word`` is cut, as (start, end) offsets: at the first level of breaks that
        makes every piece fit ``width`` (at every place it may break when none does, or with no
        width)."""
        for after in self.levels:
            cuts = [i for i in range(1, len(word)) if word[i - 1] in after or word[i] in self.before]
            pieces = list(zip([0, *cuts], [*cuts, len(word)], strict=True))
            if width and max(cell_len(word[s:e]) for s, e in pieces) <= width:
                break
        return pieces

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        lines = self.text.plain.split("\n")
        widest = max((cell_len(line) for line in lines), default=0)
        part = max((cell_len(word[s:e]) for line in lines for word in line.split() for s, e in self.parts(word)),
                   default=0)
        return Measurement(min(part, widest), widest).with_maximum(options.max_width)

    def lines(self, width: int) -> list[Text]:
        out: list[Text] = []
        for line in self.text.split("\n"):
            out.extend(self._wrap(line, max(1, width)))
        return out

    def _wrap(self, line: Text, width: int) -> list[Text]:
        plain = line.plain
        if cell_len(plain) <= width:
            # The whole line fits (most lines of a report do).
            kept = line.copy()
            kept.rstrip()
            return [kept]
        # Each line out is a run of ``plain`` (a space where a line ends is dropped): found on the
        # string, then the styled text cut once at their ends. Cutting it into styled words and
        # joining them again took a third of the report of a capture of many boots.
        ranges: list[tuple[int, int]] = []
        start = -1  # where the line being filled starts; -1: nothing on it yet
        end = used = 0

        def put(first: int, last: int, size: int) -> None:
            nonlocal start, end, used
            start = first if start < 0 else start
            end = last
            used += size

        def flush() -> None:
            nonlocal start, used
            ranges.append((start, end) if start >= 0 else (end, end))
            start, used = -1, 0

        for run in _RUNS.finditer(plain):
            first, last = run.span()
            word = run.group()
            size = cell_len(word)
            if word.isspace():
                if used + size <= width and (start >= 0 or not ranges):
                    put(first, last, size)  # a space between words, or the line's own indent
                elif start >= 0:
                    flush()  # the line ends here; the space is not carried to the next one
                continue
            if size <= width:
                if start >= 0 and used + size > width:
                    flush()
                put(first, last, size)
                continue
            # Too wide for any line: its pieces fill this one and the next.
            for piece_start, piece_end in self.parts(word, width):
                at, stop = first + piece_start, first + piece_end
                size = cell_len(plain[at:stop])
                if start >= 0 and used + size > width:
                    flush()
                while size > width:  # the only place a piece is cut anywhere
                    cut = _cell_cut(plain, at, stop, width - used)
                    put(at, cut, 0)
                    flush()
                    at = cut
                    size = cell_len(plain[at:stop])
                put(at, stop, size)
        if start >= 0 or not ranges:
            flush()
        pieces = line.divide([offset for span in ranges for offset in span])
        out = [pieces[2 * i + 1] for i in range(len(ranges))]
        for piece in out:
            piece.rstrip()
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        result = Text("\n").join(self.lines(options.max_width))
        result.no_wrap = True  # every line fits already; rich must not wrap it again
        result.overflow = "fold"
        yield result


def _cell_cut(plain: str, start: int, stop: int, cells: int) -> int:
    """Where ``plain[start:stop]`` is cut after ``cells`` terminal cells (at least one character)."""
    used = 0
    for at in range(start, stop):
        used += cell_len(plain[at])
        if used > cells:
            return max(start + 1, at)
    return stop


class Fitted:
    """A table that keeps within the line: when its narrowest layout (every column as narrow as
    its longest unbreakable piece, or as ``comfortable`` says for a column of running text) is
    too wide, the columns named in ``drop`` are left out, in that order, until it fits; the
    caption names them. Then the columns are narrowed, widest first, never below their narrowest
    layout."""

    def __init__(self, table: Table, drop: Sequence[str], comfortable: dict[str, int] | None = None) -> None:
        self.table = table
        self.drop = list(drop)
        self.comfortable = comfortable or {}

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterable[RenderableType]:
        yield self.fit(console, options)

    def fit(self, console: Console, options: ConsoleOptions) -> Table:
        width = options.max_width
        table = copy.copy(self.table)
        columns = [copy.copy(c) for c in self.table.columns]
        ranges = {id(c): _column_range(console, options, table, c) for c in columns}
        # Running text squeezed to a few words a line is hard to read: worth a column less.
        wanted = {id(c): min(max(low, self.comfortable.get(str(c.header), 0)), high)
                  for c in columns for low, high in [ranges[id(c)]]}
        dropped: list[str] = []

        def extra(kept: list[Column]) -> int:
            borders = (len(kept) - 1 + (2 if table.show_edge else 0)) if table.box else 0
            return borders + _padding(table, len(kept))

        def narrowest(kept: list[Column]) -> int:
            return sum(ranges[id(c)][0] for c in kept) + extra(kept)

        for name in self.drop:
            if sum(wanted[id(c)] for c in columns) + extra(columns) <= width:
                break
            gone = [c for c in columns if str(c.header) == name]
            if gone and len(columns) > 1:
                columns.remove(gone[0])
                dropped.append(name)
        table.columns = columns
        if dropped:
            note = f"Not shown at this width: {', '.join(dropped)} (see --width)."
            table.caption = f"{table.caption}\n{note}" if table.caption else note
            table.caption_justify = "left"
        widest = sum(ranges[id(c)][1] for c in columns) + extra(columns)
        if widest > width and narrowest(columns) <= width:
            _narrow(columns, [ranges[id(c)] for c in columns], width - extra(columns))
        return table


def _padding(table: Table, count: int) -> int:
    """The blank cells the table puts around its ``count`` columns' content (as rich counts them
    when it sizes columns: both sides of every column)."""
    _, right, _, left = table.padding
    return (left + right) * count


def _column_range(console: Console, options: ConsoleOptions, table: Table, column: Column) -> tuple[int, int]:
    """The narrowest and widest the column's content can be (without padding)."""
    low = high = 0
    for cell in [column.header, *column.cells]:
        if cell == "" or cell is None:
            continue
        measured = Measurement.get(console, options, cell)
        low, high = max(low, measured.minimum), max(high, measured.maximum)
    if column.no_wrap:
        low = high
    return low, high


def _narrow(columns: list[Column], ranges: list[tuple[int, int]], room: int) -> None:
    """Give each column its narrowest width, then share what is left, one cell at a time, to the
    column furthest from its widest."""
    widths = [low for low, _ in ranges]
    spare = room - sum(widths)
    while spare > 0:
        short = [(high - w, -i) for i, (w, (_, high)) in enumerate(zip(widths, ranges, strict=True)) if w < high]
        if not short:
            break
        _, at = max(short)
        widths[-at] += 1
        spare -= 1
    for column, width in zip(columns, widths, strict=True):
        column.width = max(1, width)
