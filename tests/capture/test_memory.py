"""Handing freed memory back between the phases of a run, and holding none that is not used."""

from __future__ import annotations

import ctypes.util
import sys
import weakref

import pandas as pd
import pytest

import stallscope
from conftest import DATA
from stallscope import memory
from stallscope.capture import columns


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_free_memory_is_released_on_glibc() -> None:
    expected = "musl" not in (ctypes.util.find_library("c") or "")
    assert memory.release_free_memory() is expected


@pytest.mark.skipif(not sys.platform.startswith("linux") or "musl" in (ctypes.util.find_library("c") or ""),
                    reason="glibc only")
def test_malloc_trim_is_found_without_a_child_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """find_library runs ``ldconfig -p`` in a child process: on glibc the interpreter's own
    symbols hold malloc_trim, and each reading worker would otherwise pay that child."""
    def no_search(name: str) -> str:
        raise AssertionError(f"searched for lib{name}")

    monkeypatch.setattr(ctypes.util, "find_library", no_search)
    memory._trim.cache_clear()
    try:
        assert memory.release_free_memory() is True
    finally:
        memory._trim.cache_clear()


def test_does_nothing_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    memory._trim.cache_clear()
    try:
        assert memory.release_free_memory() is False
    finally:
        memory._trim.cache_clear()


def _task_columns() -> dict[str, object]:
    """Columns of each kind a row writer writes: numbers, times, flags, names."""
    return {"pid": columns.IntColumn("Int32"), "ts": columns.FloatColumn(), "dying": columns.BoolColumn(),
            "comm": columns.CategoryColumn()}


def test_a_row_writer_holds_no_reference_cycle() -> None:
    """Dropping a builder's columns and writer frees their arrays at once, the cyclic collector
    off as it is while a log is read: a writer that named itself was a cycle through its
    globals, and a worker kept every array it had filled (240 MB of a 256 MB piece of the
    excerpts family) until the collector ran. The rows are the watchdog lines of a real log."""
    capture = stallscope.load(str(DATA / "lkml/2016-02-09_too-many-isolated-no-oom-livelock.log"))
    rows = list(zip(capture.tasks["pid"].tolist(), capture.tasks["ts"].tolist(), capture.tasks["dying"].tolist(),
                    capture.tasks["comm"].tolist(), strict=True))
    assert len(rows) > 100
    with memory.no_cycle_collection():
        table = _task_columns()
        write = columns.row_writer(table)  # type: ignore[arg-type]
        for row in rows:
            assert write(row) is False
        numbers = weakref.ref(table["pid"].values)  # type: ignore[attr-defined]
        assert len(numbers()) == len(rows)  # type: ignore[arg-type]
        del table, write
        assert numbers() is None


def test_a_number_beyond_its_column_is_written_missing_and_the_row_kept() -> None:
    """The row with a pid beyond 32 bits (a garbled line) is written again with that number
    missing, every other cell as given, and the writer says so; the rows before and after are
    untouched."""
    table = _task_columns()
    write = columns.row_writer(table)  # type: ignore[arg-type]
    assert write((2221, 170.615421, False, "vmtoolsd")) is False
    assert write((2 ** 40, 263.474967, True, "write")) is True
    assert write((3805, 263.468994, False, "oom-write")) is False
    assert table["pid"].series().tolist() == [2221, pd.NA, 3805]  # type: ignore[attr-defined]
    assert table["ts"].series().tolist() == [170.615421, 263.474967, 263.468994]  # type: ignore[attr-defined]
    assert table["dying"].series().tolist() == [False, True, False]  # type: ignore[attr-defined]
    assert table["comm"].series().tolist() == ["vmtoolsd", "write", "oom-write"]  # type: ignore[attr-defined]


def test_names_and_missing_names_read_back_from_unsigned_codes() -> None:
    """A category column's codes are unsigned (an append converts its number without parsing it
    as an argument), the missing one 2**32-1: pandas reads it as -1, a missing value. The names
    are a real log's task names, every third one missing, written by the row writer, by append
    and set, and read back as written."""
    capture = stallscope.load(str(DATA / "lkml/2016-02-09_too-many-isolated-no-oom-livelock.log"))
    names = [None if at % 3 == 0 else comm for at, comm in enumerate(capture.tasks["comm"].tolist())]
    assert len(names) > 100 and len(set(names)) > 3
    table = _task_columns()
    write = columns.row_writer(table)  # type: ignore[arg-type]
    for name in names:
        assert write((1, 1.0, False, name)) is False
    by_hand = columns.CategoryColumn()
    for name in reversed(names):
        by_hand.append(name)
    for row, name in enumerate(names):
        by_hand.set(row, name)
    by_hand.set_last(names[-1])
    for column in (table["comm"], by_hand):
        assert column.codes.typecode == "I"  # type: ignore[attr-defined]
        read = column.series()  # type: ignore[attr-defined]
        assert read.isna().tolist() == [name is None for name in names]
        assert read.astype(object).where(read.notna(), None).tolist() == names
