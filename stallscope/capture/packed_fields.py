"""The events table's ``fields`` column packed: each distinct line's fields once, as numbers.

A real capture prints each Mem-Info dump and OOM task table with other numbers, so nearly every
such line has fields of its own: the 1 GB serial family has a million distinct ones among 5.3 M
event rows. As a :class:`~stallscope.capture.fields.Fields` per distinct line and a pointer per
row they took 167 MB (an object and a tuple, 132 bytes a line, and 8 bytes a row), held by the
main process and by each process that runs the rules. Here a distinct line's fields are its set
of names (one of a few hundred) and its values' numbers among the column's distinct strings
(tens of thousands), 4 bytes a value; a row is the number of its line's fields, 4 bytes
(bench/README.md, thirty-fourth round). A cell read is made a ``Fields`` again; the values are
the same string objects whichever rows are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray, ExtensionDtype, register_extension_dtype, take

from stallscope.capture.fields import Fields, NameIndex, is_fields

T = TypeVar("T")
# Rows made Fields at a time when a column is iterated.
_ITER_ROWS = 65536


class FieldsTable:
    """The distinct fields of a column: entry ``e`` has the names of ``layouts[layout_of[e]]``
    and the values ``strings[values[starts[e]:starts[e + 1]]]`` in the names' order."""

    __slots__ = ("layout_of", "layouts", "starts", "strings", "values")

    def __init__(self, layouts: Sequence[NameIndex], strings: np.ndarray, layout_of: np.ndarray,
                 starts: np.ndarray, values: np.ndarray) -> None:
        self.layouts = tuple(layouts)
        self.strings = strings  # an object array: a row's values are taken from it at once
        self.layout_of = layout_of
        self.starts = starts
        self.values = values

    @property
    def entries(self) -> int:
        return len(self.layout_of)

    @property
    def nbytes(self) -> int:
        return self.layout_of.nbytes + self.starts.nbytes + self.values.nbytes + self.strings.nbytes

    def __reduce__(self) -> tuple[Any, ...]:
        return FieldsTable, (self.layouts, self.strings, self.layout_of, self.starts, self.values)

    def one(self, entry: int, na_value: Any = np.nan) -> Any:
        """The Fields of one entry (-1: ``na_value``): a cell read, without the sorting that
        :meth:`fields` does for many (23 us a cell, where a rule reads hundreds)."""
        if entry < 0:
            return na_value
        start, end = int(self.starts[entry]), int(self.starts[entry + 1])
        return Fields(self.layouts[int(self.layout_of[entry])], tuple(self.strings[self.values[start:end]].tolist()))

    def fields(self, entries: np.ndarray, na_value: Any = np.nan) -> list[Any]:
        """The Fields of ``entries`` (-1: ``na_value``), each distinct entry made once."""
        if not len(entries):
            return []
        present = entries >= 0
        wanted, inverse = np.unique(entries[present], return_inverse=True)
        starts = self.starts[wanted]
        counts = self.starts[wanted + 1] - starts
        # The positions of every wanted entry's values, one run per entry, in one array.
        runs = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
        texts = self.strings[self.values[runs]].tolist()
        layouts = self.layouts
        made: list[Fields] = []
        at = 0
        for layout, count in zip(self.layout_of[wanted].tolist(), counts.tolist(), strict=True):
            made.append(Fields(layouts[layout], tuple(texts[at : at + count])))
            at += count
        if present.all():
            return [made[at] for at in inverse.tolist()]
        out: list[Any] = [na_value] * len(entries)
        for row, at in zip(np.flatnonzero(present).tolist(), inverse.tolist(), strict=True):
            out[row] = made[at]
        return out


class _Unhashable:
    """A value that cannot be a dict key (a test's list), numbered as itself: kept once per object."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


def _hashable_key(key: object) -> object:
    try:
        hash(key)
    except TypeError:
        return _Unhashable(key[1])  # type: ignore[index]
    return key


def _key_value(key: object) -> object:
    if key.__class__ is str:
        return key
    return key.value if key.__class__ is _Unhashable else key[1]  # type: ignore[attr-defined, index]


def pack_fields(cells: Sequence[object]) -> FieldsArray:
    """The cells (each a line's fields, or a missing value) as a FieldsArray. A cell that is the
    same object as an earlier one (the builder's rows of one text share their fields) is that
    entry again.

    Done in passes over all the cells rather than a step per cell (the 1 GB serial family has
    5.3 M rows, a million distinct): the distinct cells found by their ids, their values numbered
    in one dict, each row's entry looked up by a ``map`` (bench/README.md, thirty-seventh round)."""
    # The cells are kept alive by ``cells`` while this runs: an id names one object throughout.
    # (The ids are not kept in a list: a number object each, 40 bytes a row.)
    distinct = dict(zip(map(id, cells), cells, strict=True))  # in order of first appearance
    layouts: list[NameIndex] = []
    layout_numbers: dict[tuple[str, ...], int] = {}
    layout_of_index: dict[int, int] = {}  # a Fields' own index (shared by many) -> its layout
    entry_of: dict[int, int] = {}
    layout_of: list[int] = []
    counts: list[int] = []
    each_values: list[Sequence[object]] = []
    for key, cell in distinct.items():
        if cell.__class__ is Fields:
            index = cell._index  # type: ignore[attr-defined]
            layout = layout_of_index.get(id(index))
            if layout is None:
                layout = layout_of_index[id(index)] = _layout(tuple(index), layouts, layout_numbers)
            values: Sequence[object] = cell._values  # type: ignore[attr-defined]
        elif isinstance(cell, Mapping):
            layout = _layout(tuple(cell), layouts, layout_numbers)
            values = tuple(cell.values())
        elif cell is None or cell is pd.NA or (isinstance(cell, float) and cell != cell):
            entry_of[key] = -1
            continue
        else:
            raise TypeError(f"a fields cell is a mapping of names to texts, not {type(cell).__name__}")
        entry_of[key] = len(layout_of)
        layout_of.append(layout)
        counts.append(len(values))
        each_values.append(values)
    # A value not a string (a test's table) is kept as it is, told apart by its type too:
    # 1, 1.0 and True are one key of a dict.
    keys = [value if value.__class__ is str else (value.__class__, value)
            for value in chain.from_iterable(each_values)]
    try:
        numbers: dict[object, int] = dict.fromkeys(keys)  # type: ignore[arg-type]
    except TypeError:
        keys = list(map(_hashable_key, keys))
        numbers = dict.fromkeys(keys)  # type: ignore[arg-type]
    for number, key in enumerate(numbers):
        numbers[key] = number
    strings = np.empty(len(numbers), dtype=object)
    for number, key in enumerate(numbers):
        strings[number] = _key_value(key)
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    table = FieldsTable(layouts, strings, np.array(layout_of, dtype=np.int32), starts,
                        np.fromiter(map(numbers.__getitem__, keys), dtype=np.int32, count=len(keys)))
    return FieldsArray(table, np.fromiter(map(entry_of.__getitem__, map(id, cells)), dtype=np.int32,
                                          count=len(cells)))


def _layout(names: tuple[str, ...], layouts: list[NameIndex], numbers: dict[tuple[str, ...], int]) -> int:
    """The number of a set of names among ``layouts`` (added if new)."""
    number = numbers.get(names)
    if number is None:
        number = numbers[names] = len(layouts)
        layouts.append({name: at for at, name in enumerate(names)})
    return number


@register_extension_dtype
class FieldsDtype(ExtensionDtype):
    """A line's fields per row, packed (stallscope.capture.packed_fields)."""

    name = "packed_fields"
    type = Fields
    kind = "O"
    na_value = np.nan

    @classmethod
    def construct_array_type(cls) -> type[FieldsArray]:
        return FieldsArray


class FieldsArray(ExtensionArray):
    """Row ``i`` is entry ``entries[i]`` of ``table`` (-1: missing). Selections share the table."""

    _dtype = FieldsDtype()

    def __init__(self, table: FieldsTable, entries: np.ndarray) -> None:
        self.table = table
        self.entries = entries

    # -- what pandas asks of an extension array --------------------------------------------

    @property
    def dtype(self) -> FieldsDtype:
        return self._dtype

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def nbytes(self) -> int:
        return self.entries.nbytes + self.table.nbytes

    @classmethod
    def _from_sequence(cls, scalars: Any, *, dtype: Any = None, copy: bool = False) -> FieldsArray:
        return pack_fields(list(scalars))

    @classmethod
    def _from_factorized(cls, values: np.ndarray, original: FieldsArray) -> FieldsArray:
        return cls(original.table, np.asarray(values, dtype=np.int32))

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, (int, np.integer)):
            return self.table.one(int(self.entries[item]))
        if isinstance(item, slice):
            return FieldsArray(self.table, self.entries[item])
        item = pd.api.indexers.check_array_indexer(self, item)
        return FieldsArray(self.table, np.asarray(self.entries[item]))

    def take(self, indices: Any, *, allow_fill: bool = False, fill_value: Any = None) -> FieldsArray:
        if allow_fill and fill_value is not None and not pd.isna(fill_value):
            raise ValueError("a fields column is filled with missing values only")
        entries = take(self.entries, np.asarray(indices, dtype=np.intp), allow_fill=allow_fill, fill_value=-1)
        return FieldsArray(self.table, np.asarray(entries, dtype=np.int32))

    def copy(self) -> FieldsArray:
        return FieldsArray(self.table, self.entries.copy())

    def isna(self) -> np.ndarray:
        return self.entries < 0

    @classmethod
    def _concat_same_type(cls, to_concat: Sequence[FieldsArray]) -> FieldsArray:
        first = to_concat[0]
        if all(part.table is first.table for part in to_concat[1:]):  # selections of one column
            return FieldsArray(first.table, np.concatenate([part.entries for part in to_concat]))
        tables: list[FieldsTable] = []
        place: dict[int, int] = {}
        for part in to_concat:
            if id(part.table) not in place:
                place[id(part.table)] = len(tables)
                tables.append(part.table)
        table, offsets = _joined(tables)
        entries = np.concatenate([np.where(part.entries < 0, -1, part.entries + offsets[place[id(part.table)]])
                                  for part in to_concat]).astype(np.int32)
        return FieldsArray(table, entries)

    def _values_for_factorize(self) -> tuple[np.ndarray, Any]:
        # A line's fields are told apart by their entry (the builder's rows of one text share one).
        return self.entries.astype(np.int64), -1

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self.to_numpy(dtype=object)
        return values if dtype is None or np.dtype(dtype) == object else values.astype(dtype)

    def to_numpy(self, dtype: Any = None, copy: bool = False, na_value: Any = np.nan) -> np.ndarray:
        values = np.empty(len(self), dtype=object)
        values[:] = self.table.fields(self.entries, na_value)
        return values if dtype is None or np.dtype(dtype) == object else values.astype(dtype)

    def tolist(self) -> list[Any]:
        return self.table.fields(self.entries)

    def __iter__(self) -> Iterator[Any]:
        for at in range(0, len(self.entries), _ITER_ROWS):
            yield from self.table.fields(self.entries[at : at + _ITER_ROWS])

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        if isinstance(other, (pd.Series, pd.Index, pd.DataFrame)):
            return NotImplemented
        mine = self.to_numpy(dtype=object)
        if isinstance(other, ExtensionArray):
            other = other.to_numpy(dtype=object)
        if isinstance(other, np.ndarray):
            return np.array([a == b for a, b in zip(mine, other, strict=True)], dtype=bool)
        return np.array([a == other for a in mine], dtype=bool)

    def astype(self, dtype: Any, copy: bool = True) -> Any:
        dtype = pd.api.types.pandas_dtype(dtype)
        if isinstance(dtype, FieldsDtype):
            return self.copy() if copy else self
        if isinstance(dtype, ExtensionDtype):
            return dtype.construct_array_type()._from_sequence(self.to_numpy(na_value=None), dtype=dtype)
        return self.to_numpy(dtype=object).astype(dtype, copy=False)

    def __reduce__(self) -> tuple[Any, ...]:
        return FieldsArray, (self.table, self.entries)


def _joined(tables: list[FieldsTable]) -> tuple[FieldsTable, list[int]]:
    """One table of the entries of ``tables`` in order (their strings and layouts each once), and
    where each table's entries start in it: the pieces of a large file read by several workers."""
    layouts: list[NameIndex] = []
    layout_numbers: dict[tuple[str, ...], int] = {}
    strings: list[object] = []
    string_numbers: dict[object, int] = {}
    layout_of: list[np.ndarray] = []
    values: list[np.ndarray] = []
    starts: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
    offsets: list[int] = []
    entries = values_so_far = 0
    for table in tables:
        layout_moves = np.empty(len(table.layouts), dtype=np.int32)
        for at, index in enumerate(table.layouts):
            names = tuple(index)
            number = layout_numbers.get(names)
            if number is None:
                number = layout_numbers[names] = len(layouts)
                layouts.append(index)
            layout_moves[at] = number
        string_moves = np.empty(len(table.strings), dtype=np.int32)
        for at, value in enumerate(table.strings.tolist()):
            key = value if value.__class__ is str else (value.__class__, value)
            try:
                number = string_numbers.get(key)
            except TypeError:
                number = None
                key = None
            if number is None:
                number = len(strings)
                strings.append(value)
                if key is not None:
                    string_numbers[key] = number
            string_moves[at] = number
        offsets.append(entries)
        layout_of.append(layout_moves[table.layout_of])
        values.append(string_moves[table.values])
        starts.append(table.starts[1:] + values_so_far)
        entries += table.entries
        values_so_far += len(table.values)
    strings_array = np.empty(len(strings), dtype=object)
    strings_array[:] = strings
    return FieldsTable(layouts, strings_array, np.concatenate(layout_of), np.concatenate(starts),
                       np.concatenate(values)), offsets


def field_texts(column: Any, names: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Of every cell of a fields column: whether it has fields (not a missing cell), and for
    each of ``names`` where its text stands among the strings returned last (-1: the cell lacks
    it). For a reader of a few fields of hundreds of thousands of lines (every Mem-Info line of a
    long capture), which can then work on each distinct text once: a :class:`FieldsArray`'s are
    read from its table, no Fields made per cell; any other column (a test's dicts) cell by cell."""
    if isinstance(column, FieldsArray):
        table, entries = column.table, column.entries
        present = entries >= 0
        layouts = np.full(len(entries), len(table.layouts), dtype=np.int64)  # the last place: -1 below
        layouts[present] = table.layout_of[entries[present]]
        starts = table.starts[np.where(present, entries, 0)]  # (starts has a 0 even for no entry)
        codes = []
        for name in names:
            places = np.array([layout.get(name, -1) for layout in table.layouts] + [-1], dtype=np.int64)[layouts]
            found = places >= 0
            code = np.full(len(entries), -1, dtype=np.int64)
            code[found] = table.values[starts[found] + places[found]]
            codes.append(code)
        return present, codes, table.strings
    cells = list(column)
    present = np.fromiter(map(is_fields, cells), dtype=bool, count=len(cells))
    numbers: dict[tuple[type, object], int] = {}
    strings: list[object] = []
    codes = []
    for name in names:
        code = np.full(len(cells), -1, dtype=np.int64)
        for at, cell in enumerate(cells):
            if present[at] and name in cell:
                value = cell[name]
                number = numbers.setdefault((value.__class__, value), len(strings))
                if number == len(strings):
                    strings.append(value)
                code[at] = number
        codes.append(code)
    texts = np.empty(len(strings), dtype=object)
    for at, value in enumerate(strings):
        texts[at] = value
    return present, codes, texts


def read_each(codes: np.ndarray, strings: np.ndarray, read: Callable[[Any], T]) -> list[T]:
    """``read`` of each cell's text (of None where it has none: code -1), as :func:`field_texts`
    gives them: each distinct text read once."""
    used, inverse = np.unique(codes, return_inverse=True)
    readings = np.empty(len(used), dtype=object)
    for at, code in enumerate(used.tolist()):
        readings[at] = read(None if code < 0 else strings[code])
    return readings[inverse.reshape(-1)].tolist()  # type: ignore[no-any-return]
