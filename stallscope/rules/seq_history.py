"""Per-task allocation history shared by seq-livelock and slow-progress (a helper, not a rule).

Each MemAlloc line with ``seq=`` names one allocation request of one task. The same pid seen
again with the same seq and a larger delay is the same request, still not satisfied; a larger
seq means the earlier request completed and a new one is stalling. Computed with whole-column
operations: a long capture holds hundreds of thousands of task lines.
"""

from __future__ import annotations

import pandas as pd

from stallscope.capture.trajectories import comm_text
from stallscope.rules.base import HostView

_RUN_COLUMNS = ("comm", "pid", "seq", "observations", "first", "last", "delay_first", "delay_last")


def _ordered(view: HostView) -> pd.DataFrame:
    """The view's task rows with a request, by task then log order (once per view)."""
    return view.of_view("seq_history", _order)


def _order(view: HostView) -> pd.DataFrame:
    tasks = view.tasks
    if tasks.empty:
        return tasks
    # Only the columns read here: the others (text) of a long capture are slow to copy.
    tasks = tasks[["comm", "pid", "source", "line", "seq", "delay"]]
    tasks = tasks[tasks["seq"].notna() | tasks["delay"].notna()]
    # Task identity is (comm, pid): a reused pid with another name is another task.
    tasks = tasks.assign(_comm=comm_text(tasks)).sort_values(["_comm", "pid", "source", "line"], kind="stable")
    # The first watchdog version printed no seq: there, a request lasts while its delay keeps
    # growing, and a smaller delay means a new request began. Such requests get negative ids.
    same_task = (tasks["_comm"] == tasks["_comm"].shift()) & (tasks["pid"] == tasks["pid"].shift())
    restarted = ~same_task | (tasks["delay"] < tasks["delay"].shift()).fillna(False)
    synthetic = -restarted.astype("int64").cumsum()
    request = tasks["seq"].astype("Float64").fillna(synthetic.astype("Float64"))
    return tasks.assign(_req=request)


def request_runs(view: HostView) -> pd.DataFrame:
    """One row per run of consecutive observations of one task with one seq.

    Columns: comm, pid, seq, observations, first (task row), last (task row), delay_first,
    delay_last.
    """
    tasks = _ordered(view)
    if tasks.empty:
        return pd.DataFrame(columns=list(_RUN_COLUMNS))
    same_task = (tasks["_comm"] == tasks["_comm"].shift()) & (tasks["pid"] == tasks["pid"].shift())
    new_run = ~(same_task & (tasks["_req"] == tasks["_req"].shift()).fillna(False))
    run = new_run.cumsum()
    frame = tasks.assign(_row=tasks.index, _run=run.to_numpy())
    grouped = frame.groupby("_run", sort=False)
    return pd.DataFrame(
        {
            "comm": grouped["_comm"].first(),
            "pid": grouped["pid"].first().astype("int64"),
            "seq": grouped["seq"].first(),
            "observations": grouped.size(),
            "first": grouped["_row"].first(),
            "last": grouped["_row"].last(),
            "delay_first": grouped["delay"].first(),
            "delay_last": grouped["delay"].last(),
        }
    ).reset_index(drop=True)


def stuck_requests(view: HostView) -> pd.DataFrame:
    """Runs seen at least twice whose delay kept growing: requests that made no progress."""
    runs = request_runs(view)
    if runs.empty:
        return runs
    grew = runs["delay_last"].fillna(0).astype("int64") > runs["delay_first"].fillna(0).astype("int64")
    return runs[(runs["observations"] >= 2) & grew]


def advancing_tasks(view: HostView) -> pd.DataFrame:
    """Tasks whose seq moved forward between observations: comm, pid, seq_first, seq_last, first, last."""
    tasks = _ordered(view)
    if not tasks.empty:
        tasks = tasks[tasks["seq"].notna()]
    if tasks.empty:
        return pd.DataFrame(columns=["comm", "pid", "seq_first", "seq_last", "first", "last"])
    frame = tasks.assign(_row=tasks.index)
    grouped = frame.groupby(["_comm", "pid"], sort=False, observed=True)
    steps = grouped["seq"].diff() > 0
    moved = frame[steps.fillna(False)].groupby(["_comm", "pid"], sort=False, observed=True).size()
    summary = grouped.agg(seq_first=("seq", "first"), seq_last=("seq", "last"), first=("_row", "first"),
                          last=("_row", "last"))
    summary = summary[summary.index.isin(moved.index)].reset_index()
    return summary.rename(columns={"_comm": "comm"}).sort_values("first", kind="stable").reset_index(drop=True)
