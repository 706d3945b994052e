"""The events table's readers walk rows as dicts and find report owners by bisection; both must
give what the row-by-row pandas reading gave (kept here as the reference)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import stallscope
from conftest import DATA
from stallscope.capture import events as ev

LOGS = sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*.log"))


def _same(a: object, b: object) -> bool:
    missing_a = a is None or (not isinstance(a, (dict, list, str)) and pd.isna(a))  # type: ignore[arg-type]
    missing_b = b is None or (not isinstance(b, (dict, list, str)) and pd.isna(b))  # type: ignore[arg-type]
    if missing_a or missing_b:
        return a is b or (missing_a and missing_b and type(a) is type(b))
    return a == b and type(a) is type(b)


def _reference_pid(events: pd.DataFrame, row: pd.Series) -> int | None:
    """The reporter lookup as it was: every dump_cpu row of the table, scanned for each header."""
    after = events[
        (events["source"] == row["source"])
        & (events["line"] > row["line"])
        & (events["line"] <= row["line"] + 6)
        & (events["kind"] == "dump_cpu")
    ]
    for _, cpu in after.iterrows():
        if row["comm"] is None or pd.isna(row["comm"]) or cpu["comm"] == row["comm"]:
            return int(cpu["pid"]) if not pd.isna(cpu["pid"]) else None
    return None


@pytest.mark.parametrize("name", LOGS)
def test_records_are_the_rows_iterrows_gives(name: str) -> None:
    events = stallscope.load(str(DATA / name)).events
    if events.empty:
        return
    ours = list(ev.records(events))
    theirs = list(events.iterrows())
    assert len(ours) == len(theirs)
    for (index, row), (their_index, their_row) in zip(ours, theirs, strict=True):
        assert index == their_index
        assert list(row) == list(their_row.index)
        assert all(_same(row[column], their_row[column]) for column in row), (name, index)


@pytest.mark.parametrize("name", LOGS)
def test_reporters_found_by_bisection_are_the_scanned_ones(name: str) -> None:
    events = stallscope.load(str(DATA / name)).events
    reports = ev.of_kind(events, "oom_invoke", "warn_alloc_stall", "warn_alloc_failure")
    reporters = ev.Reporters(events)
    for _, row in reports.iterrows():
        assert reporters.pid(row) == _reference_pid(events, row)


def test_reporter_is_the_first_in_table_order_of_that_comm(tmp_path: Path) -> None:
    # The same file read twice: one source whose line numbers start again, so that lines are not
    # in table order; and a dump_cpu line of another task in between.
    log = tmp_path / "oom.log"
    log.write_text(
        "[   10.000000] stress invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0,"
        " oom_score_adj=0\n"
        "[   10.000100] CPU: 1 PID: 99 Comm: other Not tainted 6.1.0 #1\n"
        "[   10.000200] CPU: 0 PID: 78 Comm: stress Not tainted 6.1.0 #1\n"
    )
    # (stallscope.load reads a file named twice once: the two reads are joined here instead.)
    from stallscope.api import load_lines
    from stallscope.capture.merge import Part, merge

    lines = log.read_text().splitlines()
    capture = merge([Part(load_lines(str(log), lines)), Part(load_lines(str(log), lines))])
    events = capture.events
    assert (events["kind"] == "dump_cpu").sum() == 4
    reporters = ev.Reporters(events)
    for _, row in ev.of_kind(events, "oom_invoke").iterrows():
        assert reporters.pid(row) == _reference_pid(events, row) == 78
    unnamed = ev.of_kind(events, "oom_invoke").iloc[0].copy()
    unnamed["comm"] = None
    assert reporters.pid(unnamed) == _reference_pid(events, unnamed) == 99
