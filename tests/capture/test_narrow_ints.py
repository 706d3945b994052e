"""An INT column (schema.INT) is held as Int32 when every number of it fits, and as Int64 when one
does not: the numbers are the same either way, in one piece, across pieces and in an export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stallscope
from stallscope import export, parallel
from stallscope.capture.merge import _join_integers

DATA = Path(__file__).resolve().parents[1] / "data"
REAL = DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"
# switches= is printed with %lu: a task of a machine up for months can have switched more than
# 2**31 times. kswapd0's is made so in the real log.
LINE = "MemAlloc: kswapd0(67) flags=0xa60840 switches=51139 uninterruptible"
WIDE = 2**32 + 51139


def _wide_log(tmp_path: Path) -> Path:
    text = REAL.read_text()
    assert LINE in text
    log = tmp_path / REAL.name
    log.write_text(text.replace(LINE, LINE.replace("switches=51139", f"switches={WIDE}"), 1))
    return log


def test_real_numbers_are_held_in_32_bits() -> None:
    tasks = stallscope.load(str(REAL)).tasks
    for column in ("line", "flags", "switches", "seq", "gfp", "delay"):
        assert str(tasks[column].dtype) == "Int32", column
    kswapd = tasks[tasks["text"].astype(str).str.contains(LINE, regex=False)]
    assert kswapd["switches"].tolist()[0] == 51139 and kswapd["flags"].tolist()[0] == 0xA60840


def test_one_number_beyond_32_bits_keeps_its_column_64(tmp_path: Path) -> None:
    right, wide = stallscope.load(str(REAL)), stallscope.load(str(_wide_log(tmp_path)))
    assert str(wide.tasks["switches"].dtype) == "Int64"
    assert wide.inputs[0].corrupted == right.inputs[0].corrupted  # a kernel's number, not a garbled one
    changed = (wide.tasks["switches"].astype("Int64") != right.tasks["switches"].astype("Int64")).fillna(False)
    assert changed.sum() == 1 and wide.tasks.loc[changed.to_numpy(), "switches"].tolist() == [WIDE]
    for column in ("line", "flags", "seq", "gfp", "delay"):
        assert str(wide.tasks[column].dtype) == "Int32", column
        assert wide.tasks[column].tolist() == right.tasks[column].tolist(), column


def test_pieces_of_both_widths_join_as_the_wider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _wide_log(tmp_path)
    whole = stallscope.load(str(log))
    # Two pieces: kswapd0's line (the log's fifth) in the first, every number of the second in 32 bits.
    monkeypatch.setattr(parallel, "MIN_PIECE_BYTES", 1024)
    monkeypatch.setattr(parallel, "PIECE_BYTES", log.stat().st_size // 2)
    assert len(parallel.plan((str(log),), 2)) == 2
    pieces = parallel.load_parallel(str(log), jobs=2)
    assert str(pieces.tasks["switches"].dtype) == "Int64"
    for column in ("line", "switches", "seq", "delay", "state_line"):
        assert pieces.tasks[column].tolist() == whole.tasks[column].tolist(), column


def test_lines_shifted_beyond_32_bits_join_as_64() -> None:
    """The second piece of a file of more than 2**31 lines: each piece's own line numbers fit in
    32 bits, its place in the file does not (no such file fits in a test)."""
    first = pd.array([1, 2, None], dtype="Int32")
    second = pd.array([1, 5], dtype="Int32")
    joined = _join_integers([first, second], [0, 2**31])
    assert joined.dtype == pd.Int64Dtype()
    assert joined.tolist() == [1, 2, pd.NA, 2**31 + 1, 2**31 + 5]
    assert _join_integers([first, second], [0, 10]).dtype == pd.Int32Dtype()


def test_export_writes_the_schema_dtype(tmp_path: Path) -> None:
    capture = stallscope.load(str(REAL))
    export.write(capture, tmp_path, "csv")
    tasks = export.read(tmp_path, ["tasks"])["tasks"]
    for column in ("line", "flags", "switches", "seq", "gfp", "delay"):
        assert str(tasks[column].dtype) == "Int64", column
        assert tasks[column].tolist() == capture.tasks[column].tolist(), column
    assert np.array_equal(tasks["task"].to_numpy(), capture.tasks.index.to_numpy())
