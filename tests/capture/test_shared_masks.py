"""A nullable integer column that is printed on every row, or on none, keeps one flag as its mask
(a read-only view of no memory of its own: ``columns.nullable_integers``); any other keeps a flag
per row. The numbers and the missing cells are the same as with a mask of a flag per row, read in
one piece or in several, and whatever pandas derives from such a column can be written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stallscope
from stallscope import parallel
from stallscope.capture.columns import nullable_integers
from stallscope.capture.model import Capture

DATA = Path(__file__).resolve().parents[1] / "data"
# Watchdog reports as a mailing-list post quotes them: 260 MemAlloc lines, no trace printed.
REPORTS = DATA / "lkml" / "2016-02-09_too-many-isolated-no-oom-livelock.log"
# A SysRq-t dump on a serial console: a stack printed for most of its 54 tasks, not for two.
TRACES = DATA / "qemu" / "sysrq-t.log"
TABLES = ("snapshots", "tasks", "events", "frames", "traces")


def _integer_columns(capture: Capture) -> dict[tuple[str, str], pd.arrays.IntegerArray]:
    return {(name, column): getattr(capture, name)[column].array
            for name in TABLES for column in getattr(capture, name).columns
            if isinstance(getattr(capture, name)[column].array, pd.arrays.IntegerArray)}


def _shared(values: pd.arrays.IntegerArray) -> bool:
    return values._mask.strides == (0,)  # (what the test is about: how pandas holds the mask)


def _cells(values: pd.arrays.IntegerArray) -> list[object]:
    return [None if cell is pd.NA else int(cell) for cell in values]


@pytest.mark.parametrize("log", [REPORTS, TRACES], ids=lambda path: path.name)
def test_a_column_printed_on_every_row_or_none_shares_one_flag(log: Path) -> None:
    columns = _integer_columns(stallscope.load(str(log)))
    for (table, column), values in columns.items():
        if not len(values):
            continue
        missing = np.asarray(values.isna())
        uniform = bool(missing.all() or not missing.any())
        assert _shared(values) == uniform, (table, column)
    shared = {key for key, values in columns.items() if len(values) and _shared(values)}
    assert ("tasks", "line") in shared and ("tasks", "boot") in shared
    if log == REPORTS:
        assert ("tasks", "stack") in shared and columns["tasks", "stack"].isna().all()  # no trace in the post
    else:
        stacks = columns["tasks", "stack"]
        assert stacks.isna().any() and not stacks.isna().all() and ("tasks", "stack") not in shared


@pytest.mark.parametrize("log", [REPORTS, TRACES], ids=lambda path: path.name)
def test_pieces_give_the_numbers_one_piece_gives(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _integer_columns(stallscope.load(str(log)))
    monkeypatch.setattr(parallel, "MIN_PIECE_BYTES", 1024)
    monkeypatch.setattr(parallel, "PIECE_BYTES", log.stat().st_size // 4)
    assert len(parallel.plan((str(log),), 2)) >= 2
    pieces = _integer_columns(parallel.load_parallel(str(log), jobs=2))
    assert pieces.keys() == whole.keys()
    for key, values in whole.items():
        assert _cells(pieces[key]) == _cells(values), key
        assert _shared(pieces[key]) == _shared(values) or not len(values), key


def test_a_shared_flag_reads_and_derives_as_a_whole_mask() -> None:
    numbers = np.array([5, 1, 4, 1], np.int32)
    present = nullable_integers(numbers.copy(), np.zeros(4, bool))
    absent = nullable_integers(numbers.copy(), np.ones(4, bool))
    some = nullable_integers(numbers.copy(), np.array([False, True, False, False]))
    assert _shared(present) and _shared(absent) and not _shared(some)
    assert present.tolist() == [5, 1, 4, 1] and absent.isna().all() and some.isna().tolist() == [False, True, False, False]
    series = pd.Series(present)
    assert series.max() == 5 and series.groupby([0, 1, 0, 1]).sum().tolist() == [9, 2]
    assert pd.Series(absent).fillna(0).tolist() == [0, 0, 0, 0]
    derived = series.copy()
    derived.iloc[1] = pd.NA  # a copy has a mask of its own
    assert derived.isna().tolist() == [False, True, False, False] and not series.isna().any()
    with pytest.raises(ValueError, match="read-only"):
        present[1] = pd.NA  # the capture's own column is never written: were it, this says so
