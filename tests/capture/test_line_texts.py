"""A text of its own per row (the `text` of snapshots and tasks) is held in one Arrow buffer.

The builder moves the older rows' strings into Arrow chunks as it reads
(`columns.TextColumn`), and a capture's column is one chunk whether it was read by one reader or
joined from pieces: Arrow takes rows from a column of several chunks by first copying them all
into one, so a rule's selection of a few rows would copy the whole column (bench/README.md,
twenty-fifth round).
"""

from __future__ import annotations

import pandas as pd
import pytest

import stallscope
from conftest import DATA
from stallscope import parallel
from stallscope.capture.columns import LINE_TEXT_DTYPE, TextColumn

# Real logs: the most task lines of tests/data, a SysRq-t dump's, and a log that prints a
# task-state line before its MemAlloc line, whose row the MemAlloc line takes over (its text
# written again).
LOGS = [
    "lkml/2016-02-09_too-many-isolated-no-oom-livelock.log",
    "qemu/sysrq-t.log",
    "wild/2017-09-01_sysrq-t-memalloc-line-gfp-nofs-write-stuck-shrink-inactive-list.log",
]


def _chunks(series: pd.Series) -> int:
    return series.array.__arrow_array__().num_chunks


def test_rows_written_again_before_and_after_they_moved_into_a_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TextColumn, "FLUSH_ROWS", 2)
    column = TextColumn()
    for text in "abcdefg":
        column.append(text)
    assert column.flushed == 4 and len(column) == 7  # two chunks moved, three strings left
    column.set(5, "F")  # still a string
    column.set(1, "B")  # in a chunk
    series = column.series(consume=True)
    assert series.tolist() == list("aBcdeFg")
    assert series.dtype == LINE_TEXT_DTYPE and _chunks(series) == 1
    assert len(column) == 0 and column.series().tolist() == []


@pytest.mark.parametrize("relative", LOGS)
def test_texts_moved_into_chunks_while_reading_give_the_same_capture(relative: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(DATA / relative)
    whole = stallscope.load(path)
    monkeypatch.setattr(TextColumn, "FLUSH_ROWS", 1)
    chunked = stallscope.load(path)
    assert len(whole.tasks) >= 2  # a chunk made on the way
    for name in ("snapshots", "tasks"):
        pd.testing.assert_frame_equal(getattr(chunked, name), getattr(whole, name))
        assert _chunks(getattr(chunked, name)["text"]) == 1


def test_pieces_joined_give_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    path = DATA / LOGS[0]
    monkeypatch.setattr(parallel, "MIN_PIECE_BYTES", 4096)
    monkeypatch.setattr(parallel, "PIECE_BYTES", path.stat().st_size // 4)
    # Cut near the nominal offsets, not at the next watchdog report: each piece has task lines.
    monkeypatch.setattr(parallel, "REPORT_SEARCH_BYTES", 4096)
    assert len(parallel.plan((str(path),), 2)) >= 3
    capture = parallel.load_parallel(str(path), engine=parallel.LocalEngine(2))
    single = stallscope.load(str(path))
    for name in ("snapshots", "tasks"):
        assert getattr(capture, name)["text"].tolist() == getattr(single, name)["text"].tolist()
        assert _chunks(getattr(capture, name)["text"]) == 1
