"""Compact column buffers: rows of a large capture are held as typed arrays, not objects.

A capture of hundreds of MB holds millions of task rows; Python ints and strings per cell would
cost tens of bytes each. Integers go into ``array('q')`` with a sentinel for "not printed",
repeated strings into a dictionary of codes, a text of its own per row into compressed blocks, and all
become pandas columns at the end.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
import pandas as pd

from stallscope.capture.packed_text import BLOCK_ROWS, PackedTextArray, TextBlock, pack, text_number_dtype

MISSING = -(2**63)

def code_dtype(count: int) -> type[np.signedinteger]:
    """The narrowest signed integer type that numbers ``count`` things (and -1 for none)."""
    for dtype in (np.int8, np.int16, np.int32):
        if count < np.iinfo(dtype).max:
            return dtype
    return np.int64


def count_dtype(count: int) -> type[np.signedinteger]:
    """32 bits for numbers below ``count`` (positions, row or boot numbers) where they fit, else
    64: half the memory of a number per row, never narrower than 32 bits, so that sums and
    running counts of them stay in range (see code_dtype for codes)."""
    return np.int32 if count < 1 << 31 else np.int64


# A nullable integer dtype of the schema -> its buffer's typecode and numpy type.
_WIDTHS: dict[str, tuple[str, type[np.signedinteger]]] = {
    "Int64": ("q", np.int64), "Int32": ("i", np.int32), "Int16": ("h", np.int16), "Int8": ("b", np.int8),
}


def nullable_integers(values: np.ndarray, missing: np.ndarray) -> pd.arrays.IntegerArray:
    """A nullable integer array of ``values`` (kept, not copied) whose mask is ``missing``, or,
    where no row is missing or every row is, one flag read as the whole mask: a read-only view of
    no memory of its own; so are the numbers where every row is missing (one 0) or has the same
    number (one boot).

    pandas keeps a byte of mask per row, and most integer columns of a capture are printed on
    every line (line numbers, pids, row ids, boots) or on none (the stacks and state lines of
    watchdog reports without traces): 52 of the 105 MB of masks of the 1 GB excerpts capture, and
    the numbers of its two columns of none and of its one boot, 100 MB (bench/README.md). pandas
    reads such an array as any other and makes arrays of its own for every array it derives;
    writing into it raises (see ``own_mask``), and nothing writes into the columns of a capture
    once read."""
    if len(missing):
        if not missing.any():
            missing = np.broadcast_to(np.False_, len(missing))
            if values.min() == values.max():
                values = np.broadcast_to(values[:1].copy(), len(values))  # (a view of one would keep them all)
        elif missing.all():
            missing = np.broadcast_to(np.True_, len(missing))
            values = np.broadcast_to(values.dtype.type(0), len(values))
    return pd.arrays.IntegerArray(values, missing)


def own_mask(column: pd.Series) -> pd.Series:
    """A nullable integer column (on its index) with a flag and a number of its own per row, to
    write cells of: a shared flag (``nullable_integers``) is read-only. ``shared_mask`` shares it
    again once they are written."""
    values = column.to_numpy(column.dtype.numpy_dtype, na_value=0)  # (the column's own where none is missing)
    if not values.flags.writeable:
        values = values.copy()
    return pd.Series(pd.arrays.IntegerArray(values, column.array.isna()), index=column.index, copy=False)


def shared_mask(column: pd.Series) -> pd.Series:
    """A nullable integer column (on its index) whose mask and numbers are shared where they can
    be (``nullable_integers``)."""
    return pd.Series(nullable_integers(column.to_numpy(column.dtype.numpy_dtype, na_value=0), column.array.isna()),
                     index=column.index, copy=False)


class IntColumn:
    """Numbers of one nullable integer dtype (schema.INT, ID, PID, ORDER): the buffer is as wide
    as the dtype, its lowest value (``missing``) stands for "not printed", and a number beyond
    ``range`` does not fit (the buffer's append raises OverflowError; see row_writer)."""

    def __init__(self, dtype: str = "Int64") -> None:
        self.typecode, self.numpy = _WIDTHS[dtype]
        limits = np.iinfo(self.numpy)
        self.missing = int(limits.min)
        self.range = range(self.missing + 1, int(limits.max) + 1)
        self.values = array(self.typecode)

    def append(self, value: int | None) -> None:
        self.values.append(self.missing if value is None else value)

    def set_last(self, value: int | None) -> None:
        self.values[-1] = self.missing if value is None else value

    def set(self, row: int, value: int | None) -> None:
        self.values[row] = self.missing if value is None else value

    def series(self, consume: bool = False) -> pd.Series:
        data = np.frombuffer(self.values, dtype=self.numpy) if self.values else np.empty(0, self.numpy)
        missing = data == self.missing
        if self.numpy is np.int64 and _fits_int32(data, missing):
            # Held as Int32 (see schema.INT): half the memory of the column, the same numbers.
            narrow = data.astype(np.int32)
            if consume:
                self.values = array(self.typecode)
            return pd.Series(nullable_integers(narrow, missing), copy=False)
        if consume:
            self.values = array(self.typecode)  # the series keeps the old buffer: no copy of it
        else:
            data = data.copy()
        return pd.Series(nullable_integers(data, missing), copy=False)


_INT32 = np.iinfo(np.int32)


def _fits_int32(data: np.ndarray, missing: np.ndarray) -> bool:
    """Whether every number printed (not ``missing``) is within int32: the printed ones' least
    and greatest, with 0 (within it) for none, found without a copy of them."""
    present = ~missing
    low, high = np.min(data, where=present, initial=0), np.max(data, where=present, initial=0)
    return int(low) >= _INT32.min and int(high) <= _INT32.max


class _TextGroup:
    """The texts of one group of a TextColumn: packed blocks, then the newest as strings."""

    __slots__ = ("blocks", "flushed", "late", "recent")

    def __init__(self) -> None:
        self.blocks: list[TextBlock] = []
        self.recent: list[str] = []
        self.flushed = 0  # texts packed
        self.late: dict[int, str] = {}  # packed texts written again

    def packed(self) -> PackedTextArray:
        return PackedTextArray([*self.blocks, *pack(self.recent)]).with_texts(self.late)


class TextColumn:
    """A text of its own per row (schema.LINE_TEXT), packed as it is read
    (:mod:`stallscope.capture.packed_text`). Only the last rows are held as Python strings: every
    ``FLUSH_ROWS`` rows the older ones are packed, so a reader of a 256 MB piece does not hold a
    string object per line until the end. Rows still held as strings can be written again (a
    task-state line's row taken over by the MemAlloc line after it); an older row so written is
    rare and is set when the column is built.

    ``grouped``: each row's text is packed with the texts of its group (an event line's kind), so
    that reading the texts of one kind (every OOM header of a capture) unpacks the blocks of that
    kind, not nearly every block of a capture that is mostly Mem-Info lines. The newest texts wait
    in row order and are handed to their groups ``FLUSH_ROWS`` at a time, sorted by group in
    numpy, not with a dict lookup and three appends per row (loads took 0.97-1.01x the time:
    bench/README.md); the column keeps each row's group (2 bytes a row, where it kept 10), and the
    rows' numbers among the texts are worked out when the column is built."""

    FLUSH_ROWS = 64 * BLOCK_ROWS  # whole blocks

    def __init__(self, grouped: bool = False) -> None:
        self.groups: dict[int, _TextGroup] = {0: _TextGroup()}
        self.group_of: array | None = array("h") if grouped else None  # per row, when grouped
        self.waiting: list[str] = []  # grouped: the newest rows' texts, in row order

    def __len__(self) -> int:
        if self.group_of is not None:
            return len(self.group_of)
        only = self.groups[0]
        return only.flushed + len(only.recent)

    @property
    def flushed(self) -> int:
        return sum(group.flushed for group in self.groups.values())

    def append(self, text: str, group: int = 0) -> None:
        if self.group_of is not None:
            self.group_of.append(group)
            self.waiting.append(text)
            if len(self.waiting) >= self.FLUSH_ROWS:
                self._hand_out()
            return
        texts = self.groups[0]
        texts.recent.append(text)
        if len(texts.recent) >= 2 * self.FLUSH_ROWS:
            self._flush(texts)

    def _hand_out(self) -> None:
        """The waiting texts to their groups (each group's in row order), packed where a group
        has enough."""
        waiting = self.waiting
        if not waiting:
            return
        self.waiting = []
        assert self.group_of is not None
        groups = np.frombuffer(self.group_of[len(self.group_of) - len(waiting):], dtype=np.int16)
        order = np.argsort(groups, kind="stable")
        ordered = [waiting[at] for at in order.tolist()]
        sorted_groups = groups[order]
        cuts = [0, *(np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1).tolist(), len(ordered)]
        for start, end in pairwise(cuts):
            group = int(sorted_groups[start])
            texts = self.groups.get(group)
            if texts is None:
                texts = self.groups[group] = _TextGroup()
            texts.recent += ordered[start:end]
            while len(texts.recent) >= 2 * self.FLUSH_ROWS:
                self._flush(texts)

    def _flush(self, texts: _TextGroup) -> None:
        # The newest FLUSH_ROWS stay strings: a row taken over is one just written.
        recent = texts.recent
        texts.blocks += pack(recent[: self.FLUSH_ROWS])
        del recent[: self.FLUSH_ROWS]
        texts.flushed += self.FLUSH_ROWS

    def set(self, row: int, text: str) -> None:
        """Write row ``row`` again (a column without groups)."""
        only = self.groups[0]
        if row >= only.flushed:
            only.recent[row - only.flushed] = text
        else:
            only.late[row] = text

    def series(self, consume: bool = False) -> pd.Series:
        if self.group_of is None:
            texts = self.groups[0].packed()
        else:
            self._hand_out()
            parts = [self.groups[group].packed() for group in sorted(self.groups)]
            # The texts stand group after group, each group's in row order: a row's number is its
            # place in the rows sorted (stably) by group.
            count = len(self.group_of)
            order = np.argsort(np.frombuffer(self.group_of, dtype=np.int16), kind="stable")
            rows = np.empty(count, dtype=text_number_dtype(count))
            rows[order] = np.arange(count, dtype=rows.dtype)
            del order
            texts = PackedTextArray([block for part in parts for block in part.blocks], rows)
        if consume:
            self.groups = {0: _TextGroup()}
            if self.group_of is not None:
                self.group_of = array("h")
        return pd.Series(texts, copy=False)


class FloatColumn:
    def __init__(self) -> None:
        self.values = array("d")

    def append(self, value: float | None) -> None:
        self.values.append(float("nan") if value is None else value)

    def set(self, row: int, value: float | None) -> None:
        self.values[row] = float("nan") if value is None else value

    def series(self, consume: bool = False) -> pd.Series:
        data = np.frombuffer(self.values, dtype=np.float64) if self.values else np.empty(0)
        if consume:
            self.values = array("d")
            return pd.Series(data, copy=False)
        return pd.Series(data.copy(), copy=False)


class BoolColumn:
    def __init__(self) -> None:
        # A bytearray, not an array of signed bytes: its append converts the number directly, an
        # array's parses it as a call's argument (PyArg_Parse): 23 against 43 ns an append here,
        # and a task row has a flag for each of its state words.
        self.values = bytearray()

    def append(self, value: bool) -> None:
        self.values.append(1 if value else 0)

    def set(self, row: int, value: bool) -> None:
        self.values[row] = 1 if value else 0

    def series(self, consume: bool = False) -> pd.Series:
        data = np.frombuffer(self.values, dtype=np.int8) if self.values else np.empty(0, np.int8)
        series = pd.Series(data.astype(bool), copy=False)
        if consume:
            self.values = bytearray()
        return series


# The code of a missing string in a CategoryColumn's unsigned 32-bit codes: -1 read as signed.
NO_CATEGORY = 2**32 - 1


class CategoryColumn:
    """Strings that repeat (comm names, hosts, functions) stored once, referenced by code."""

    def __init__(self) -> None:
        # 32-bit codes (more strings than that could not be held): "l" is 64 bits on Linux, and a
        # reader of 256 MB of excerpts appends two million rows to eight category columns.
        # Unsigned: an array of signed numbers parses each number appended as a call's argument
        # (PyArg_Parse), one of unsigned numbers converts it directly: 16 against 40 ns an
        # append here, ten million appends a worker on the 1 GB synthetic file.
        self.codes = array("I")
        # None maps to the missing code here too, so a row writer's one dict lookup covers it.
        self._index: dict[str | None, int] = {None: NO_CATEGORY}
        self._categories: list[str] = []

    def code(self, value: str | None) -> int:
        if value is None:
            return NO_CATEGORY
        found = self._index.get(value)
        if found is None:
            found = self._index[value] = len(self._categories)
            self._categories.append(value)
        return found

    def append(self, value: str | None) -> None:
        self.codes.append(self.code(value))

    def set_last(self, value: str | None) -> None:
        self.codes[-1] = self.code(value)

    def set(self, row: int, value: str | None) -> None:
        self.codes[row] = self.code(value)

    def series(self, consume: bool = False) -> pd.Series:
        codes = np.frombuffer(self.codes, dtype=np.int32)  # NO_CATEGORY read as -1, pandas' missing code
        categories = pd.Index(self._categories, dtype=object)
        series = pd.Series(pd.Categorical.from_codes(codes, categories=categories), copy=False)
        if consume:
            self.codes = array("I")
        return series


Column = IntColumn | FloatColumn | BoolColumn | CategoryColumn


def share_one_value(frame: pd.DataFrame) -> None:
    """Each flag and category column of ``frame`` that holds one value on every row, held as that
    value read as the column: a read-only view of no memory of its own, as ``nullable_integers``
    holds the integers. A capture of one machine's watchdog reports has one source, no host, no
    workqueue and no corrupted line on millions of rows: the 1 GB excerpts capture, a byte a row
    each (bench/README.md)."""
    if not len(frame):
        return
    for name in frame.columns:
        column = frame[name]
        if column.dtype == bool:
            flags = column.to_numpy()
            if flags.strides != (0,) and (flags.all() or not flags.any()):
                frame[name] = pd.Series(np.broadcast_to(flags[:1].copy(), len(flags)), index=frame.index, copy=False)
        elif isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.array.codes
            if codes.strides != (0,) and codes.min() == codes.max():
                one = pd.Categorical.from_codes(np.broadcast_to(codes[:1].copy(), len(codes)), dtype=column.dtype)
                frame[name] = pd.Series(one, index=frame.index, copy=False)


def integer_column(values: np.ndarray, missing: np.ndarray, like: pd.Series) -> pd.Series:
    """Numbers worked out on int64 (row ids renumbered, references resolved) as a nullable
    integer column to replace ``like``: its schema width and its index kept (a Series set as a
    column keeps its mask; an array set as one is copied, and a shared mask made whole)."""
    masked = isinstance(like.dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(like.dtype)
    dtype = like.dtype.numpy_dtype if masked else np.int64
    return pd.Series(nullable_integers(np.where(missing, 0, values).astype(dtype, copy=False), missing),
                     index=like.index, copy=False)


def frame_of(columns: dict[str, Column], consume: bool = False) -> pd.DataFrame:
    """The columns as a DataFrame; with ``consume`` each buffer is handed over (not copied) and
    the column starts empty, so a large capture is not held twice while it is built. (pandas 3
    copies an array given to a Series and a dict of columns given to a DataFrame unless told
    not to: a 256 MB piece of excerpts held 390 MB more while its capture was built.)"""
    return pd.DataFrame({name: column.series(consume) for name, column in columns.items()}, copy=False)


RowWriter = Callable[[Sequence[object]], bool]
# What an int64 column holds; MISSING, the lowest value, stands for "not printed".
INT_RANGE = range(MISSING + 1, 2**63)


def row_writer(columns: dict[str, Column]) -> RowWriter:
    """A function appending one row (values in the order of ``columns``) to every column.

    Compiled once per table: a row is a handful of C-level appends instead of one Python method
    call per cell, which matters for the hundreds of thousands of rows of a large capture.

    A number too large for its integer column (a garbled or inflated counter, a pid beyond a C
    int) does not stop the row: the columns already appended are cut back and the row is written again with every such
    number missing. The writer returns True when it had to, so the caller can flag the row.

    The writer does not name itself (it writes the row again in a second set of appends, not by
    calling itself): its globals hold the columns' arrays, and a function in its own globals is a
    reference cycle, which kept every array a builder ever filled alive until the cyclic
    collector ran. A reader of a 256 MB piece of the excerpts family held 240 MB of them (its
    columns before the lines around the piece were trimmed) while it pickled the piece
    (bench/README.md, thirty-second round).
    """
    scope: dict[str, object] = {"NAN": float("nan")}
    names = ", ".join(f"v{i}" for i in range(len(columns)))
    appends: list[str] = []
    undo: list[str] = []
    kept: list[str] = []
    for i, column in enumerate(columns.values()):
        buffer = column.codes if isinstance(column, CategoryColumn) else column.values
        scope[f"a{i}"] = buffer.append
        scope[f"b{i}"] = buffer
        undo.append(f"        del b{i}[n:]")
        kept.append(f"v{i}")
        if isinstance(column, IntColumn):
            scope[f"m{i}"], scope[f"r{i}"] = column.missing, column.range
            appends.append(f"        a{i}(m{i} if v{i} is None else v{i})")
            kept[-1] = f"(v{i} if v{i} is None or v{i} in r{i} else None)"
        elif isinstance(column, FloatColumn):
            appends.append(f"        a{i}(NAN if v{i} is None else v{i})")
        elif isinstance(column, BoolColumn):
            appends.append(f"        a{i}(1 if v{i} else 0)")
        else:
            scope[f"g{i}"] = column._index.get
            scope[f"c{i}"] = column.code
            appends.append(f"        k = g{i}(v{i})")
            appends.append(f"        a{i}(c{i}(v{i}) if k is None else k)")
    source = [
        "def write(row):",
        f"    ({names},) = row",
        "    try:",
        *appends,
        "    except OverflowError:",
        # Every column held n rows before this one: the first one's length says how many.
        f"        n = len(b0) - 1 if len(b0) > len(b{len(columns) - 1}) else len(b0)",
        *undo,
        f"        ({names},) = ({', '.join(kept)},)",
        *appends,
        "        return True",
        "    return False",
    ]
    exec("\n".join(source), scope)
    return scope.pop("write")  # type: ignore[return-value]
