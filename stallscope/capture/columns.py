"""Compact column buffers: rows of a large capture are held as typed arrays, not objects.

A capture of hundreds of MB holds millions of task rows; Python ints and strings per cell would
cost tens of bytes each. Integers go into ``array('q')`` with a sentinel for "not printed",
repeated strings into a dictionary of codes, and both become pandas columns at the end.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

MISSING = -(2**63)


class IntColumn:
    def __init__(self) -> None:
        self.values = array("q")

    def append(self, value: int | None) -> None:
        self.values.append(MISSING if value is None else value)

    def set_last(self, value: int | None) -> None:
        self.values[-1] = MISSING if value is None else value

    def set(self, row: int, value: int | None) -> None:
        self.values[row] = MISSING if value is None else value

    def series(self, consume: bool = False) -> pd.Series:
        data = np.frombuffer(self.values, dtype=np.int64) if self.values else np.empty(0, np.int64)
        if consume:
            self.values = array("q")  # the series keeps the old buffer: no copy of it
        else:
            data = data.copy()
        return pd.Series(pd.arrays.IntegerArray(data, data == MISSING))


class FloatColumn:
    def __init__(self) -> None:
        self.values = array("d")

    def append(self, value: float | None) -> None:
        self.values.append(float("nan") if value is None else value)

    def series(self, consume: bool = False) -> pd.Series:
        data = np.frombuffer(self.values, dtype=np.float64) if self.values else np.empty(0)
        if consume:
            self.values = array("d")
            return pd.Series(data)
        return pd.Series(data.copy())


class BoolColumn:
    def __init__(self) -> None:
        self.values = array("b")

    def append(self, value: bool) -> None:
        self.values.append(1 if value else 0)

    def series(self, consume: bool = False) -> pd.Series:
        data = np.frombuffer(self.values, dtype=np.int8) if self.values else np.empty(0, np.int8)
        series = pd.Series(data.astype(bool))
        if consume:
            self.values = array("b")
        return series


class CategoryColumn:
    """Strings that repeat (comm names, hosts, functions) stored once, referenced by code."""

    def __init__(self) -> None:
        self.codes = array("l")
        # None maps to the missing code here too, so a row writer's one dict lookup covers it.
        self._index: dict[str | None, int] = {None: -1}
        self._categories: list[str] = []

    def code(self, value: str | None) -> int:
        if value is None:
            return -1
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
        codes = np.frombuffer(self.codes, dtype=np.int64 if self.codes.itemsize == 8 else np.int32)
        categories = pd.Index(self._categories, dtype=object)
        series = pd.Series(pd.Categorical.from_codes(codes.astype(np.int64), categories=categories))
        if consume:
            self.codes = array("l")
        return series


Column = IntColumn | FloatColumn | BoolColumn | CategoryColumn


def frame_of(columns: dict[str, Column], consume: bool = False) -> pd.DataFrame:
    """The columns as a DataFrame; with ``consume`` each buffer is handed over (not copied) and
    the column starts empty, so a large capture is not held twice while it is built."""
    return pd.DataFrame({name: column.series(consume) for name, column in columns.items()})


RowWriter = Callable[[Sequence[object]], None]


def row_writer(columns: dict[str, Column]) -> RowWriter:
    """A function appending one row (values in the order of ``columns``) to every column.

    Compiled once per table: a row is a handful of C-level appends instead of one Python method
    call per cell, which matters for the hundreds of thousands of rows of a large capture.
    """
    scope: dict[str, object] = {"MISSING": MISSING, "NAN": float("nan")}
    lines = ["def write(row):", f"    ({', '.join(f'v{i}' for i in range(len(columns)))},) = row"]
    for i, column in enumerate(columns.values()):
        if isinstance(column, IntColumn):
            scope[f"a{i}"] = column.values.append
            lines.append(f"    a{i}(MISSING if v{i} is None else v{i})")
        elif isinstance(column, FloatColumn):
            scope[f"a{i}"] = column.values.append
            lines.append(f"    a{i}(NAN if v{i} is None else v{i})")
        elif isinstance(column, BoolColumn):
            scope[f"a{i}"] = column.values.append
            lines.append(f"    a{i}(1 if v{i} else 0)")
        else:
            scope[f"a{i}"] = column.codes.append
            scope[f"g{i}"] = column._index.get
            scope[f"c{i}"] = column.code
            lines.append(f"    k = g{i}(v{i})")
            lines.append(f"    a{i}(c{i}(v{i}) if k is None else k)")
    exec("\n".join(lines), scope)
    return scope["write"]  # type: ignore[return-value]
