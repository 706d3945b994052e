"""A nullable integer column that is printed on every row, or on none, keeps one flag as its mask
(a read-only view of no memory of its own: ``columns.nullable_integers``); any other keeps a flag
per row. One printed on none, or with one number on every row, keeps one number; a flag or a
category column with one value on every row keeps that value alone (``columns.share_one_value``). The numbers and the missing cells are the same as with a mask of a flag per row, read in
one piece or in several, and whatever pandas derives from such a column can be written."""

from __future__ import annotations

import pickle
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stallscope
from stallscope import parallel  # (registers how the process pool pickles an array)
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


def _one_number(values: pd.arrays.IntegerArray) -> bool:
    return values._data.strides == (0,)  # (and the numbers)


def _held_bytes(values: np.ndarray) -> int:
    """The bytes of the array that ``values`` views at its root (a view of one element of a
    column would keep the whole column)."""
    while isinstance(values.base, np.ndarray):
        values = values.base
    return values.nbytes


def _one_value_columns(capture: Capture) -> dict[tuple[str, str], np.ndarray]:
    """The flags and category codes of every table, by (table, column)."""
    found = {}
    for name in TABLES:
        frame = getattr(capture, name)
        for column in frame.columns:
            if frame[column].dtype == bool:
                found[name, column] = frame[column].to_numpy()
            elif isinstance(frame[column].dtype, pd.CategoricalDtype):
                found[name, column] = frame[column].array.codes
    return found


def _integer_columns_of(frame: pd.DataFrame) -> dict[str, pd.arrays.IntegerArray]:
    return {column: frame[column].array for column in frame.columns
            if isinstance(frame[column].array, pd.arrays.IntegerArray)}


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
        numbers = values.to_numpy(values.dtype.numpy_dtype, na_value=0)
        one = bool(missing.all() or (not missing.any() and (numbers == numbers[0]).all()))
        assert _one_number(values) == one, (table, column)
        if _shared(values):
            assert _held_bytes(values._mask) <= 1, (table, column)
        if _one_number(values):
            assert _held_bytes(values._data) <= values.dtype.itemsize, (table, column)
    shared = {key for key, values in columns.items() if len(values) and _shared(values)}
    assert ("tasks", "line") in shared and ("tasks", "boot") in shared
    assert _one_number(columns["tasks", "boot"]) and set(columns["tasks", "boot"]) == {1}  # one boot
    assert not _one_number(columns["tasks", "line"])
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
        assert _one_number(pieces[key]) == _one_number(values) or not len(values), key


def test_a_shared_flag_reads_and_derives_as_a_whole_mask() -> None:
    numbers = np.array([5, 1, 4, 1], np.int32)
    present = nullable_integers(numbers.copy(), np.zeros(4, bool))
    absent = nullable_integers(numbers.copy(), np.ones(4, bool))
    same = nullable_integers(np.full(4, 7, np.int32), np.zeros(4, bool))
    assert _one_number(absent) and _one_number(same) and not _one_number(present)
    assert same.tolist() == [7, 7, 7, 7] and pd.Series(same).groupby([0, 1, 0, 1]).sum().tolist() == [14, 14]
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


@pytest.mark.parametrize("log", [REPORTS, TRACES], ids=lambda path: path.name)
def test_a_flag_or_category_with_one_value_keeps_that_value_alone(log: Path) -> None:
    capture = stallscope.load(str(log))
    columns = _one_value_columns(capture)
    for (table, column), values in columns.items():
        if not len(values):
            continue
        one = bool((values == values[0]).all())
        assert (values.strides == (0,)) == one, (table, column)
        if one:
            assert _held_bytes(values) <= values.itemsize, (table, column)
    # One input, no host: every row says so.
    assert columns["tasks", "source"].strides == (0,) and columns["tasks", "host"].strides == (0,)
    assert set(capture.tasks["source"].astype(str)) == {str(log)} and capture.tasks["host"].isna().all()
    # 259 of the post's 260 tasks are uninterruptible, not all; the SysRq-t dump's tasks are in
    # three states.
    differing = ("tasks", "uninterruptible") if log == REPORTS else ("tasks", "state")
    assert columns[differing].strides != (0,) and len(set(columns[differing].tolist())) > 1


def test_the_process_pool_sends_a_column_of_one_value_as_that_value() -> None:
    tasks = stallscope.load(str(REPORTS)).tasks
    sent = ForkingPickler.dumps(tasks)  # as a reader's piece goes to the main process (parallel._reduce_array)
    back = pickle.loads(sent)
    pd.testing.assert_frame_equal(back, tasks)
    before, after = _integer_columns_of(tasks), _integer_columns_of(back)
    assert before.keys() == after.keys()
    for key, values in before.items():
        assert _shared(after[key]) == _shared(values) and _one_number(after[key]) == _one_number(values), key
    assert _shared(after["stack"]) and _one_number(after["stack"]) and _shared(after["line"])
    # numpy alone writes each such view out whole.
    assert len(sent) < len(pickle.dumps(tasks))
