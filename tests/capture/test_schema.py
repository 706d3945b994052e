"""The one schema of the tables (stallscope/capture/schema.py) is what the pipeline builds, what the
export writes and what the documents describe."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import stallscope
from stallscope.capture.schema import EXPORT_DOC, TABLES, export_doc, held_as

ROOT = Path(__file__).resolve().parents[2]
# Real logs of different shapes: watchdog reports, a SysRq-t dump, an OOM storm with Mem-Info, a
# syzkaller report of another architecture, and a log with none of the tables filled.
LOGS = [
    "tests/data/lkml/2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log",
    "tests/data/memalloc-qemu/oomwrite-1cpu-128M-w3.log",
    "tests/data/wild/2017-10-19_real-desktop-swapper-gfp-nowait-slab-failure-dma-debug.log",
    "tests/data/wild/2026-08-17_syzkaller-riscv-oops-user-memory-access-schedule-tail.log",
]


@pytest.mark.parametrize("log", LOGS, ids=lambda p: Path(p).stem[:40])
def test_load_gives_the_schema(log: str) -> None:
    capture = stallscope.load(str(ROOT / log))
    for name, table in TABLES.items():
        frame: pd.DataFrame = getattr(capture, name)
        assert [str(c) for c in frame.columns] == [c.name for c in table.columns], name
        for column, dtype in zip(table.columns, frame.dtypes, strict=True):
            assert held_as(column, str(dtype)), (name, column.name, dtype)


def test_several_inputs_merged_give_the_schema() -> None:
    capture = stallscope.load(*(str(ROOT / log) for log in LOGS[:2]))
    for name, table in TABLES.items():
        frame = getattr(capture, name)
        assert [str(c) for c in frame.columns] == [c.name for c in table.columns], name
        for column, dtype in zip(table.columns, frame.dtypes, strict=True):
            assert held_as(column, str(dtype)), (name, column.name, dtype)


def test_export_doc_is_written_from_the_schema() -> None:
    doc = (ROOT / EXPORT_DOC).read_text()
    assert doc == export_doc(doc), "run: python -m stallscope.capture.schema"


def test_readme_data_model_names_every_column() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Data model") :]
    section = section[: section.index("\n\n", section.index("| table |"))]
    for name, table in TABLES.items():
        row = next(line for line in section.splitlines() if line.startswith(f"| `{name}` |"))
        columns = row.split("|")[3]
        while re.search(r"\([^()]*\)", columns):  # what a column's parenthesis says is not a column
            columns = re.sub(r"\([^()]*\)", "", columns)
        listed = re.findall(r"`([a-z_]+)`", columns)
        assert listed == [c.name for c in table.columns], name
