"""bench/bounds.py's "rows made free" leaves the reader's own work and nothing of the builder's rows."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from bench_helpers import bench_module

from stallscope import api

ROOT = Path(__file__).resolve().parents[2]
# A real watchdog capture: MemAlloc reports with traces, OOM reports, Mem-Info dumps, task tables.
LOG = ROOT / "tests" / "data" / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log"


def _bounds() -> ModuleType:
    return bench_module("bounds")


def test_with_the_rows_made_free_no_table_gets_a_row_and_afterwards_every_row_is_back() -> None:
    bounds = _bounds()
    whole = api.load(str(LOG))
    assert len(whole.tasks) and len(whole.events) and len(whole.traces)
    restore = bounds.rows_made_free()
    try:
        bare = api.load(str(LOG))
    finally:
        restore()
    # A row writer added to the builder and not named in ROW_WRITERS would show here: the bound
    # would then count some rows' cost as the reader's own.
    assert {name: len(getattr(bare, name)) for name in bounds.TABLES} == dict.fromkeys(bounds.TABLES, 0)
    assert bare.lines == whole.lines  # the reader still read every line
    again = api.load(str(LOG))
    assert {name: len(getattr(again, name)) for name in bounds.TABLES} == {
        name: len(getattr(whole, name)) for name in bounds.TABLES}


def test_the_floor_reader_takes_one_step_for_each_line() -> None:
    data = LOG.read_bytes()
    assert _bounds().one_step_a_line(data)() == data.count(b"\n") + 1  # the last (empty) piece too
