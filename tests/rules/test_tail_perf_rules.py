"""The rules' lean shortcuts (per-position lookups, codes instead of strings) read what pandas reads.

The plain computations they replaced are kept here as references and compared on the real
logs, on their rows shuffled, and on small tables built to hit the edges (missing values,
chunk boundaries, traces out of line order).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from conftest import corpus_logs, loaded
from stallscope.capture.decode import task_gfp_names, task_gfp_texts
from stallscope.capture.signatures import (
    _all_claims,
    _claims,
    first_trace_positions,
    first_trace_rows,
    own_trace_positions,
    own_trace_rows,
)
from stallscope.capture.trajectories import comm_ranks, comm_starts_with, comm_text, group_numbers
from stallscope.diagnose import host_views
from stallscope.rules.base import HostView
from stallscope.rules.common import seq_history
from stallscope.rules.common.task_facts import latest_per_task, trace_after

LOGS = corpus_logs("lkml") + corpus_logs("memalloc-qemu") + corpus_logs("qemu")


# --- seq history -------------------------------------------------------------------------------
def _reference_order(tasks: pd.DataFrame) -> pd.DataFrame:
    tasks = tasks[["comm", "pid", "source", "line", "seq", "delay"]]
    tasks = tasks[tasks["seq"].notna() | tasks["delay"].notna()]
    # By task, then in reading order (the table's row order).
    tasks = tasks.assign(_comm=comm_text(tasks), _row=np.arange(len(tasks)))
    tasks = tasks.sort_values(["_comm", "pid", "_row"], kind="stable")
    same_task = (tasks["_comm"] == tasks["_comm"].shift()) & (tasks["pid"] == tasks["pid"].shift())
    restarted = ~same_task | (tasks["delay"] < tasks["delay"].shift()).fillna(False)
    synthetic = -restarted.astype("int64").cumsum()
    return tasks.assign(_req=tasks["seq"].astype("Float64").fillna(synthetic.astype("Float64")))


def _reference_runs(tasks: pd.DataFrame) -> pd.DataFrame:
    tasks = _reference_order(tasks)
    same_task = (tasks["_comm"] == tasks["_comm"].shift()) & (tasks["pid"] == tasks["pid"].shift())
    new_run = ~(same_task & (tasks["_req"] == tasks["_req"].shift()).fillna(False))
    frame = tasks.assign(_row=tasks.index, _run=new_run.cumsum().to_numpy())
    grouped = frame.groupby("_run", sort=False)
    return pd.DataFrame({
        "comm": grouped["_comm"].first(),
        "pid": grouped["pid"].first().astype("int64"),
        "seq": grouped["seq"].first(),
        "observations": grouped.size(),
        "first": grouped["_row"].first(),
        "last": grouped["_row"].last(),
        "delay_first": grouped["delay"].first(),
        "delay_last": grouped["delay"].last(),
    }).reset_index(drop=True)


def _reference_stuck(tasks: pd.DataFrame) -> pd.DataFrame:
    runs = _reference_runs(tasks)
    grew = runs["delay_last"].fillna(0).astype("int64") > runs["delay_first"].fillna(0).astype("int64")
    return runs[(runs["observations"] >= 2) & grew]


def _reference_advancing(tasks: pd.DataFrame) -> pd.DataFrame:
    tasks = _reference_order(tasks)
    tasks = tasks[tasks["seq"].notna()]
    frame = tasks.assign(_row=tasks.index)
    grouped = frame.groupby(["_comm", "pid"], sort=False, observed=True)
    steps = grouped["seq"].diff() > 0
    moved = frame[steps.fillna(False)].groupby(["_comm", "pid"], sort=False, observed=True).size()
    summary = grouped.agg(seq_first=("seq", "first"), seq_last=("seq", "last"), first=("_row", "first"),
                          last=("_row", "last"))
    summary = summary[summary.index.isin(moved.index)].reset_index()
    return summary.rename(columns={"_comm": "comm"}).sort_values("first", kind="stable").reset_index(drop=True)


def _views(relative: str) -> list[HostView]:
    out = []
    for view in host_views(loaded(relative)[0]):
        tasks = view.tasks
        for rows in (tasks, tasks.iloc[::-1], tasks.sample(frac=1.0, random_state=3)) if len(tasks) else (tasks,):
            out.append(HostView(view.host, view.capture, view.snapshots, rows, view.events))
    return out


@pytest.mark.parametrize("relative", LOGS)
def test_seq_history_is_the_sorted_shifted_reading(relative: str) -> None:
    for view in _views(relative):
        if view.tasks.empty or not (view.tasks["seq"].notna() | view.tasks["delay"].notna()).any():
            continue
        pd.testing.assert_frame_equal(seq_history.request_runs(view), _reference_runs(view.tasks), check_exact=True)
        stuck, expected = seq_history.stuck_requests(view), _reference_stuck(view.tasks)
        assert len(stuck) == len(expected)
        if len(expected):
            pd.testing.assert_frame_equal(stuck, expected, check_exact=True)
        moving, expected = seq_history.advancing_tasks(view), _reference_advancing(view.tasks)
        assert len(moving) == len(expected)
        if len(expected):
            pd.testing.assert_frame_equal(moving, expected, check_exact=True)


def test_seq_history_of_a_task_without_a_comm() -> None:
    tasks = pd.DataFrame({
        "comm": pd.Categorical(["dd", None, None, "dd", "cp"]),
        "pid": pd.array([7, 7, 7, 7, 9], dtype="Int64"),
        "source": pd.Categorical(["a.log"] * 5),
        "line": pd.array([1, 2, 3, 4, 5], dtype="Int64"),
        "seq": pd.array([3, 3, 3, 4, None], dtype="Int64"),
        "delay": pd.array([100, 200, 300, 50, 70], dtype="Int64"),
    }, index=pd.Index([4, 5, 6, 7, 8], dtype="int64"))
    view = HostView(None, loaded(LOGS[0])[0], pd.DataFrame(), tasks, pd.DataFrame())
    pd.testing.assert_frame_equal(seq_history.request_runs(view), _reference_runs(tasks), check_exact=True)
    pd.testing.assert_frame_equal(seq_history.advancing_tasks(view), _reference_advancing(tasks), check_exact=True)


@pytest.mark.parametrize("relative", LOGS)
def test_latest_per_task_keys_on_the_comm_name(relative: str) -> None:
    for view in _views(relative):
        tasks = view.tasks
        if not len(tasks):
            continue
        keys = pd.DataFrame({"pid": tasks["pid"], "_comm": comm_text(tasks)})
        pd.testing.assert_frame_equal(latest_per_task(tasks), tasks[~keys.duplicated(keep="last").to_numpy()])


@pytest.mark.parametrize("pids", [
    [7, 7, None, None, 9, 7],  # a missing pid is one key of its own, as duplicated() has it
    [7, 7, 1 << 62, 1 << 62, 9, 7],  # a pid of any size (a garbled one) is a key like another
])
def test_latest_per_task_of_missing_and_huge_pids(pids: list[int | None]) -> None:
    tasks = pd.DataFrame({
        "comm": pd.Categorical(["dd", None, "dd", "dd", "cp", None]),
        "pid": pd.array(pids, dtype="Int64"),
        "line": pd.array([1, 2, 3, 4, 5, 6], dtype="Int64"),
    }, index=pd.Index([10, 11, 12, 13, 14, 15], dtype="int64"))
    keys = pd.DataFrame({"pid": tasks["pid"], "_comm": comm_text(tasks)})
    expected = tasks[~keys.duplicated(keep="last").to_numpy()]
    assert expected.index.tolist() == [10, 13, 14, 15]
    pd.testing.assert_frame_equal(latest_per_task(tasks), expected)


def test_latest_per_task_of_tasks_seen_once_is_the_table() -> None:
    tasks = pd.DataFrame({"comm": pd.Categorical(["dd", "dd", "cp"]), "pid": pd.array([1, 2, 1], dtype="Int64")})
    assert latest_per_task(tasks) is tasks


# --- a report's trace, and cells ----------------------------------------------------------------
def _reference_trace_after(traces: pd.DataFrame, source: object, line: int, stack: int) -> int:
    found = ((traces["source"] == source) & (traces["stack"] == stack) & (traces["line"] > line)).to_numpy(
        dtype=bool, na_value=False)
    at = np.flatnonzero(found)
    return int(at[0]) if len(at) else -1


def _trace_queries(capture: object) -> list[tuple[object, int, int]]:
    traces = capture.traces  # type: ignore[attr-defined]
    known = traces[traces["stack"].notna() & traces["line"].notna()]
    stacks = sorted({int(s) for s in known["stack"]})
    asked = [(str(r.source), int(r.line) + step, int(r.stack)) for r in known.itertuples() for step in (-1, 0, 5)]
    # A stack of another source, a line past the end, a stack no trace has.
    asked += [("elsewhere.log", 0, stacks[0])] if stacks else []
    asked += [(str(known["source"].iloc[0]), 10**9, stacks[0]), (str(known["source"].iloc[0]), 0, max(stacks) + 1)] \
        if stacks else []
    return asked


@pytest.mark.parametrize("relative", LOGS[::3])
def test_a_reports_trace_is_the_first_trace_of_its_stack_after_it(relative: str) -> None:
    capture = loaded(relative)[0]
    queries = _trace_queries(capture)
    view = host_views(capture)[0]
    for source, line, stack in queries:
        assert trace_after(view, source, line, stack) == _reference_trace_after(capture.traces, source, line, stack)


def test_a_reports_trace_in_a_table_out_of_line_order() -> None:
    # Rows out of line order and rows missing their stack or line (never a report's trace).
    capture = next(c for c in (loaded(relative)[0] for relative in LOGS) if len(_trace_queries(c)) > 60)
    traces = capture.traces
    shuffled = traces.sample(frac=1.0, random_state=5).reset_index(drop=True)
    shuffled.loc[shuffled.index[::7], "stack"] = pd.NA
    shuffled.loc[shuffled.index[3::11], "line"] = pd.NA
    changed = dataclasses.replace(capture, traces=shuffled)
    view = host_views(changed)[0]
    queries = _trace_queries(capture)
    for source, line, stack in queries:
        assert trace_after(view, source, line, stack) == _reference_trace_after(shuffled, source, line, stack)


@pytest.mark.parametrize("relative", LOGS[1::4])
def test_a_cell_is_what_at_reads(relative: str) -> None:
    for view in host_views(loaded(relative)[0]):
        for table in ("snapshots", "tasks", "events"):
            frame = getattr(view, table)
            for column in frame.columns:
                for index in frame.index[:40]:
                    got, expected = view.cell(table, index, column), frame.at[index, column]
                    assert (pd.isna(got) and pd.isna(expected)) if not isinstance(expected, dict) and pd.isna(
                        expected) else got == expected, (table, column, index)


# --- traces of task rows -----------------------------------------------------------------------
@pytest.mark.parametrize("relative", LOGS)
def test_trace_positions_are_the_trace_rows_by_position(relative: str) -> None:
    capture = loaded(relative)[0]
    index = capture.tasks.index
    expected = own_trace_rows(capture).reindex(index, fill_value=-1).to_numpy()
    assert own_trace_positions(capture).tolist() == expected.tolist()
    expected = first_trace_rows(capture).reindex(index, fill_value=-1).to_numpy()
    assert first_trace_positions(capture).tolist() == expected.tolist()


def _reference_claims(tasks: pd.DataFrame, orphans: pd.DataFrame, owned: set[int]) -> tuple[list[int], list[int]]:
    picked: list[int] = []
    claimers: list[int] = []
    where = orphans[["source", "line"]].assign(_at=np.arange(len(orphans)))
    for source, rows in tasks[["source", "line"]].groupby("source", sort=False, observed=True):
        found = where[where["source"] == source]
        if not (found["line"].is_monotonic_increasing and found["line"].is_unique):
            found = found.sort_values("line")
        if not len(found):
            continue
        lines = rows["line"].to_numpy(dtype="int64")
        following = np.append(lines[1:], np.iinfo("int64").max)
        found_lines = found["line"].to_numpy(dtype="int64")
        at = np.searchsorted(found_lines, lines, side="right")
        valid = (at < len(found)) & ~rows.index.isin(list(owned))
        valid[valid] = found_lines[at[valid]] < following[valid]
        picked += found["_at"].to_numpy()[at[valid]].tolist()
        claimers += rows.index[valid].tolist()
    return picked, claimers


@pytest.mark.parametrize("rows", [1, 5, (1 << 16) - 1, 1 << 16, (1 << 16) + 1, (1 << 17) + 3])
@pytest.mark.parametrize("sources", [1, 3])
@pytest.mark.parametrize("in_order", [True, False])
def test_claims_in_parts_are_the_claims(rows: int, sources: int, in_order: bool) -> None:
    rng = np.random.default_rng(rows + sources)
    names = [f"in{i}.log" for i in range(sources)]
    task_lines = np.sort(rng.choice(np.arange(6 * rows + 6), size=rows, replace=False))
    tasks = pd.DataFrame({"source": pd.Categorical(rng.choice(names, size=rows), categories=names[::-1]),
                          "line": pd.array(task_lines, dtype="Int64")})
    traced = rng.integers(0, 6 * rows + 6, size=2 * rows)
    traced = np.sort(traced) if in_order else traced  # out of order: with repeated lines too
    traces = pd.DataFrame({"source": pd.Categorical(rng.choice(names, size=2 * rows)),
                           "line": pd.array(traced, dtype="Int64")})
    owned = set(rng.choice(rows, size=rows // 4, replace=False).tolist())
    picked, claimers = _all_claims(_claims(tasks, traces["source"], traces["line"], None,
                                           tasks.index.isin(list(owned))))
    assert (picked.tolist(), tasks.index[claimers].tolist()) == _reference_claims(tasks, traces, owned)


# --- codes for names ---------------------------------------------------------------------------
def _comm_tables() -> list[pd.DataFrame]:
    names = ["kswapd0", "dd", None, "kworker/u8:3", "dd", "kswapd1", None, "a.out"]
    categorical = pd.Categorical(names, categories=["kswapd1", "zz-unused", "dd", "kworker/u8:3", "a.out", "kswapd0"])
    return [pd.DataFrame({"comm": categorical}), pd.DataFrame({"comm": pd.Series(names, dtype=object)}),
            pd.DataFrame({"comm": pd.Series(names, dtype="str")})]


@pytest.mark.parametrize("table", range(3))
def test_comm_ranks_order_and_compare_as_the_names(table: int) -> None:
    tasks = _comm_tables()[table]
    ranks, names = comm_ranks(tasks)
    text = comm_text(tasks)
    assert names == sorted({str(c) for c in text.dropna()} | ({"zz-unused"} if table == 0 else set()))
    for rank, value in zip(ranks.tolist(), text.tolist(), strict=True):
        assert rank == len(names) if pd.isna(value) else names[rank] == value
    assert comm_starts_with(tasks, "kswapd").tolist() == text.str.startswith("kswapd", na=False).tolist()


def test_group_numbers_are_the_groupby_groups() -> None:
    rng = np.random.default_rng(5)
    for size in (0, 1, 1000):
        columns = [rng.integers(-1, 4, size), rng.integers(-1, 50, size), rng.integers(0, 3, size)]
        frame = pd.DataFrame({f"c{i}": pd.array(np.where(c < 0, None, c), dtype="Int64")
                              for i, c in enumerate(columns)})
        expected = frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()
        assert group_numbers(*columns).tolist() == expected.tolist()


@pytest.mark.parametrize("relative", LOGS)
def test_gfp_texts_are_the_gfp_names(relative: str) -> None:
    capture = loaded(relative)[0]
    expected = task_gfp_names(capture)["gfp_names"].reindex(capture.tasks.index).fillna("")
    assert task_gfp_texts(capture).tolist() == expected.tolist()
