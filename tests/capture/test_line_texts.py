"""A text of its own per row (the `text` of snapshots and tasks) is held in compressed blocks.

The builder packs the older rows' strings as it reads (`columns.TextColumn`,
`capture/packed_text.py`); a selection of rows shares the blocks, and pieces joined hold each
block once (bench/README.md, twenty-sixth round).
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import stallscope
from conftest import DATA, read_in_quarters
from stallscope.capture import packed_text
from stallscope.capture.columns import TextColumn
from stallscope.capture.packed_text import PackedTextArray, PackedTextDtype

# Real logs: the most task lines of tests/data, a SysRq-t dump's, and a log that prints a
# task-state line before its MemAlloc line, whose row the MemAlloc line takes over (its text
# written again).
LOGS = [
    "lkml/2016-02-09_too-many-isolated-no-oom-livelock.log",
    "qemu/sysrq-t.log",
    "wild/2017-09-01_sysrq-t-memalloc-line-gfp-nofs-write-stuck-shrink-inactive-list.log",
]


def _texts(relative: str) -> list[str]:
    """The message of each task line of a real log, as a single reader holds them."""
    return stallscope.load(str(DATA / relative)).tasks["text"].tolist()


def test_rows_written_again_before_and_after_they_were_packed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TextColumn, "FLUSH_ROWS", 2)
    column = TextColumn()
    for text in "abcdefg":
        column.append(text)
    assert column.flushed == 4 and len(column) == 7  # two blocks packed, three strings left
    column.set(5, "F")  # still a string
    column.set(1, "B")  # in a packed block
    series = column.series(consume=True)
    assert series.tolist() == list("aBcdeFg")
    assert isinstance(series.dtype, PackedTextDtype)
    assert len(column) == 0 and column.series().tolist() == []


@pytest.mark.parametrize("relative", LOGS)
def test_texts_packed_while_reading_give_the_same_capture(relative: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(DATA / relative)
    whole = stallscope.load(path)
    monkeypatch.setattr(TextColumn, "FLUSH_ROWS", 1)
    monkeypatch.setattr(packed_text, "BLOCK_ROWS", 1)
    packed = stallscope.load(path)
    assert len(packed.tasks) >= 2 and len(packed.tasks["text"].array.blocks) == len(packed.tasks)
    for name in ("snapshots", "tasks"):
        pd.testing.assert_frame_equal(getattr(packed, name), getattr(whole, name))


def test_a_real_logs_texts_are_packed_smaller_than_they_are_printed() -> None:
    texts = _texts(LOGS[0])
    column = PackedTextArray(packed_text.pack(texts))
    printed = sum(len(text.encode()) for text in texts)
    assert len(texts) > 200 and column.nbytes * 4 < printed  # the lines differ in a few digits
    assert column.tolist() == texts and list(column) == texts


def test_selections_take_rows_and_share_the_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packed_text, "BLOCK_ROWS", 16)  # rows from several blocks
    texts = _texts(LOGS[0])
    column = PackedTextArray(packed_text.pack(texts))
    series = pd.Series(column, copy=False)
    picked = [200, 3, 17, 3, len(texts) - 1]
    assert series.iloc[picked].tolist() == [texts[at] for at in picked]
    assert series.iloc[picked].array.blocks is column.blocks
    mask = np.array(["seq=1" in text for text in texts])
    assert series[mask].tolist() == [text for text in texts if "seq=1" in text]
    assert series.iloc[5] == texts[5] and series.array[-1] == texts[-1]
    filled = column.take([0, -1, 2], allow_fill=True)
    assert filled.isna().tolist() == [False, True, False]
    assert filled[0] == texts[0] and pd.isna(filled[1]) and filled[2] == texts[2]
    with pytest.raises(ValueError):
        column.take([0, -1], allow_fill=True, fill_value="x")


def test_selections_joined_hold_each_block_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packed_text, "BLOCK_ROWS", 16)
    texts = _texts(LOGS[0])
    column = PackedTextArray(packed_text.pack(texts))
    odd, even = column[1::2], column[0::2]
    joined = PackedTextArray._concat_same_type([odd, even, column.take([0, -1], allow_fill=True)])
    assert len(joined.blocks) == len(column.blocks)
    assert joined.tolist()[:-1] == texts[1::2] + texts[0::2] + [texts[0]] and pd.isna(joined[-1])
    again = PackedTextArray._concat_same_type([column, PackedTextArray(packed_text.pack(texts[:3]))])
    assert again.rows is None and again.tolist() == texts + texts[:3]  # row i is text i still


def test_columns_of_their_own_blocks_joined_number_their_rows_in_32_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces' columns (each its own blocks, whole or a selection, with missing rows) joined: each
    row's text and missing value where it was, numbered in 32 bits, renumbered a few rows at a
    time (the join of a 1 GB capture's 8.4 M task texts held four numbers of 64 bits a row)."""
    monkeypatch.setattr(packed_text, "BLOCK_ROWS", 16)
    monkeypatch.setattr(packed_text, "_JOINED_AT_ONCE", 5)
    texts = _texts(LOGS[0])
    other = _texts(LOGS[1])
    first, second = PackedTextArray(packed_text.pack(texts)), PackedTextArray(packed_text.pack(other))
    selected = second.take([3, -1, 0, 40, 2], allow_fill=True)
    joined = PackedTextArray._concat_same_type([first, selected, second[::7], first[5:9]])
    expected = [*texts, other[3], None, other[0], other[40], other[2], *other[::7], *texts[5:9]]
    assert joined.rows is not None and joined.rows.dtype == np.int32
    assert len(joined.blocks) == len(first.blocks) + len(second.blocks)
    assert [None if pd.isna(text) else text for text in joined.tolist()] == expected


def test_a_packed_column_survives_pickling_and_export_as_text() -> None:
    capture = stallscope.load(str(DATA / LOGS[0]))
    tasks = pickle.loads(pickle.dumps(capture.tasks.iloc[::3]))
    assert isinstance(tasks["text"].dtype, PackedTextDtype)
    assert tasks["text"].tolist() == capture.tasks["text"].tolist()[::3]
    assert tasks["text"].array.__arrow_array__().to_pylist() == tasks["text"].tolist()
    assert tasks["text"].astype(object).tolist() == tasks["text"].tolist()
    as_str = tasks["text"].array.astype("str")  # pandas' string dtype, as Series.astype("str") gives
    assert isinstance(as_str.dtype, pd.StringDtype) and as_str.tolist() == tasks["text"].tolist()


def test_pieces_joined_give_the_single_readers_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    path = DATA / LOGS[0]
    capture = read_in_quarters(path, monkeypatch)
    single = stallscope.load(str(path))
    for name in ("snapshots", "tasks"):
        assert getattr(capture, name)["text"].tolist() == getattr(single, name)["text"].tolist()


def test_a_grouped_column_gives_each_row_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TextColumn, "FLUSH_ROWS", 2)
    monkeypatch.setattr(packed_text, "BLOCK_ROWS", 2)
    column = TextColumn(grouped=True)
    rows = [(f"{group}:{at}", group) for at, group in enumerate([3, 0, 3, 3, 7, 0, 3, 3, 3, 0, 7])]
    for text, group in rows:
        column.append(text, group)
    series = column.series(consume=True)
    assert series.tolist() == [text for text, _ in rows]
    array = series.array
    for block in array.blocks:
        texts = block.unpack().to_pylist()
        assert len({text.split(":")[0] for text in texts}) == 1, texts  # one group per block
    assert len(column) == 0


def test_an_event_kinds_texts_are_packed_together(monkeypatch: pytest.MonkeyPatch) -> None:
    # A real OOM storm: Mem-Info, task tables and kill lines interleaved line by line.
    path = str(DATA / "memalloc-qemu/oomwrite-1cpu-128M-w3.log")
    whole = stallscope.load(path)
    monkeypatch.setattr(TextColumn, "FLUSH_ROWS", 8)
    monkeypatch.setattr(packed_text, "BLOCK_ROWS", 8)
    events = stallscope.load(path).events
    pd.testing.assert_frame_equal(events, whole.events)
    array = events["text"].array
    block_of = np.searchsorted(array.starts, array.rows, side="right") - 1
    kinds = events["kind"].astype(str).to_numpy()
    assert len(set(kinds)) >= 10
    for block in np.unique(block_of):
        assert len(set(kinds[block_of == block])) == 1  # reading one kind's texts unpacks its blocks only
