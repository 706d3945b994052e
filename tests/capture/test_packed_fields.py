"""The events' ``fields`` column holds each distinct line's fields once, as numbers.

Each row is the number of its line's fields; those are a set of names and the numbers of their
values among the column's distinct strings (`capture/packed_fields.py`, bench/README.md,
thirty-fourth round). A cell read, a selection, a pickle and pieces joined give the fields the
lines printed.
"""

from __future__ import annotations

import math
import pickle
import sys

import numpy as np
import pandas as pd
import pytest

import stallscope
from conftest import DATA, read_in_quarters
from stallscope.capture.fields import Fields, compact
from stallscope.capture.packed_fields import FieldsArray, FieldsDtype, field_texts, pack_fields, read_each

# Two OOM reports with their task tables and Mem-Info dumps (lines that differ in their numbers),
# and a watchdog capture of an OOM storm: 5,821 event lines, 1,911 of them distinct.
LOGS = ["qemu/oom-global.log", "memalloc-qemu/oomwrite-1cpu-128M-w3.log"]


@pytest.mark.parametrize("relative", LOGS)
def test_a_real_logs_fields_are_held_once_per_distinct_line(relative: str) -> None:
    events = stallscope.load(str(DATA / relative)).events
    column = events["fields"]
    assert isinstance(column.dtype, FieldsDtype)
    packed: FieldsArray = column.array  # type: ignore[assignment]
    texts = events["text"].tolist()
    # Rows of one text share an entry (the storm's 5,821 lines print 1,910 texts; one oom-killer
    # line is a second entry: its report's register line added where the CPU was).
    assert packed.table.entries <= len(texts) and (packed.table.entries < len(texts) / 2 or len(texts) < 100)
    # The table's strings are each value once.
    strings = packed.table.strings.tolist()
    assert len(strings) == len(set(strings))
    cells = column.tolist()
    assert all(isinstance(cell, Fields) for cell in cells)
    # Rows of one text have equal fields but for a report's fault site; a cell read alone is the
    # one tolist gives.
    by_text: dict[str, dict[str, str]] = {}
    for at, (text, cell) in enumerate(zip(texts, cells, strict=True)):
        printed = {name: value for name, value in cell.items() if not name.startswith("fault_")}
        assert by_text.setdefault(text, printed) == printed
        if at % 7 == 0:
            assert packed[at] == cell and column.iloc[at] == cell
    assert list(packed) == cells
    # The column packed again from its mappings as plain dicts gives the same fields.
    again = pack_fields([dict(cell) for cell in cells])
    assert again.tolist() == cells and again.table.entries == len(cells)


@pytest.mark.parametrize("relative", LOGS)
def test_a_few_fields_of_every_row_read_from_the_table_are_each_cells_own(relative: str) -> None:
    """field_texts reads some fields of every row from the packed table (no Fields per cell), the
    way the reserves-depleted rule reads a long boot's Mem-Info lines; cell by cell, a column of
    plain dicts gives the same texts. Missing cells and fields a line lacks read as None."""
    events = stallscope.load(str(DATA / relative)).events
    column: FieldsArray = events["fields"].array  # type: ignore[assignment]
    # Every row backwards, and two missing cells: a selection such as a rule reads.
    rows = np.arange(len(column))[::-1]
    picked = column.take(np.concatenate([rows, [-1, -1]]), allow_fill=True)
    names = ("free_kb", "zone", "comm", "count", "no_such_field")
    cells = picked.tolist()
    expected = [[cell.get(name) if isinstance(cell, Fields) else None for cell in cells] for name in names]
    assert all(any(value is not None for value in values) for values in expected[:4])
    plain = [dict(cell) if isinstance(cell, Fields) else None for cell in cells]
    for cells_of_column in (picked, pd.array(plain, dtype=object)):
        present, codes, strings = field_texts(cells_of_column, names)
        assert present.tolist() == [isinstance(cell, Fields) for cell in cells]
        for code, wanted in zip(codes, expected, strict=True):
            assert [None if at < 0 else strings[at] for at in code.tolist()] == wanted
            # Each distinct text read once, every row given its reading.
            seen: list[object] = []
            read = read_each(code, strings, lambda text: seen.append(text) or (text, len(seen)))  # noqa: B023
            assert [text for text, _ in read] == wanted
            assert len(seen) == len(set(wanted))


def test_values_read_from_any_rows_are_the_same_string_objects() -> None:
    events = stallscope.load(str(DATA / LOGS[0])).events
    zones = events.loc[events["kind"] == "meminfo_zone", "fields"]
    first, second = [fields for fields in zones if fields["zone"] == "DMA32"]
    assert first["free_kb"] != second["free_kb"] and first["min_kb"] is second["min_kb"]
    assert first._index is second._index  # one index of names per set of names


def test_selections_share_the_table_and_missing_rows_read_as_missing() -> None:
    column = stallscope.load(str(DATA / LOGS[1])).events["fields"]
    packed: FieldsArray = column.array  # type: ignore[assignment]
    every_third = column.iloc[::3]
    assert every_third.array.table is packed.table  # type: ignore[attr-defined]
    assert every_third.tolist() == column.tolist()[::3]
    mask = np.zeros(len(column), dtype=bool)
    mask[[1, 4]] = True
    assert column[mask].tolist() == [column.iloc[1], column.iloc[4]]
    filled = packed.take([0, -1, 2], allow_fill=True)
    assert filled.isna().tolist() == [False, True, False]
    first, missing, third = filled.tolist()
    assert first == column.iloc[0] and math.isnan(missing) and third == column.iloc[2]
    assert filled[0] == first and math.isnan(filled[1]) and filled[-1] == third  # cells read one by one
    assert filled.to_numpy(na_value=None)[1] is None
    assert pd.Series(filled).astype(object).isna().tolist() == [False, True, False]
    with pytest.raises(ValueError):
        packed.take([0], allow_fill=True, fill_value={"a": "1"})


def test_a_column_is_smaller_than_its_fields_as_objects_and_survives_pickling() -> None:
    """What the main process and each rules process hold: numbers, not an object and a tuple per
    distinct line and a pointer per row."""
    column = stallscope.load(str(DATA / LOGS[1])).events["fields"]
    cells = column.tolist()
    distinct = {id(cell): cell for cell in column.array.table.fields(np.arange(column.array.table.entries))}
    as_objects = 8 * len(cells) + sum(sys.getsizeof(cell) + sys.getsizeof(cell._values) for cell in distinct.values())
    assert column.array.nbytes * 2 < as_objects
    back = pickle.loads(pickle.dumps(column.iloc[1::2]))
    assert isinstance(back.dtype, FieldsDtype) and back.tolist() == cells[1::2]


def test_pieces_joined_give_the_single_readers_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    path = DATA / LOGS[1]
    joined = read_in_quarters(path, monkeypatch).events["fields"]
    single = stallscope.load(str(path)).events["fields"]
    assert joined.tolist() == single.tolist()
    table = joined.array.table  # type: ignore[attr-defined]
    strings = table.strings.tolist()
    assert len(strings) == len(set(strings))  # the pieces' strings joined, each once
    assert len(table.layouts) == len({tuple(layout) for layout in table.layouts})


def test_mappings_of_any_values_and_missing_cells() -> None:
    shared = compact({"zone": "DMA32", "free_kb": "1436"}, {})
    cells = [shared, None, {"count": 1}, {"count": True}, {"count": "1"}, float("nan"), shared, {}]
    packed = pack_fields(cells)
    assert packed.table.entries == 5  # `shared` twice is one entry; None and NaN are none
    assert packed.isna().tolist() == [False, True, False, False, False, True, False, False]
    out = packed.tolist()
    assert out[0] == shared and out[6] == shared and out[7] == {}
    # 1, True and "1" are equal keys of a dict, but not one value of a line.
    assert [type(out[at]["count"]) for at in (2, 3, 4)] == [int, bool, str]
    joined = FieldsArray._concat_same_type([packed, pack_fields([{"count": True}, shared])])
    assert joined.tolist()[8:] == [{"count": True}, shared]
    assert type(joined.tolist()[9]["free_kb"]) is str and type(joined[8]["count"]) is bool
    with pytest.raises(TypeError):
        pack_fields(["not a mapping"])
