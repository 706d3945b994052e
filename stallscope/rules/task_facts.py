"""What the task-level rules share: each task's trace signature, trajectory and gfp names.

Computed once per capture (the rules run host by host over the same capture) and cut down to
the host a rule looks at.
"""

from __future__ import annotations

import pandas as pd

from stallscope.capture.decode import task_gfp_names
from stallscope.capture.model import Capture
from stallscope.capture.signatures import stack_table, task_signatures
from stallscope.capture.trajectories import trajectories_of
from stallscope.rules.base import Evidence, HostView, TaskRef

_cache: dict[str, tuple[Capture, object]] = {}


def _once(name: str, capture: Capture, compute):  # type: ignore[no-untyped-def]
    held = _cache.get(name)
    if held is not None and held[0] is capture:
        return held[1]
    value = compute(capture)
    _cache[name] = (capture, value)
    return value


def signatures_of(view: HostView) -> pd.DataFrame:
    """Task signatures (indexed by task row) of this host's tasks."""
    sigs: pd.DataFrame = _once("sigs", view.capture, task_signatures)
    return sigs[sigs.index.isin(view.tasks.index)]


def functions_of(view: HostView, task: int) -> list[str]:
    """Trusted, normalized functions of a task row's trace (claimed orphans included)."""
    # The capture-wide table: cutting it down to the host for every task would be quadratic.
    sigs: pd.DataFrame = _once("sigs", view.capture, task_signatures)
    if task not in sigs.index:
        return []
    stacks: dict[int, list[str]] = _once("stacks", view.capture, stack_table)
    return stacks.get(int(sigs.at[task, "stack"]), [])


def gfp_names_of(view: HostView) -> pd.Series:
    """gfp names per task row, printed or decoded for the log's kernel era ("" when none)."""
    names: pd.DataFrame = _once("gfp", view.capture, task_gfp_names)
    return names["gfp_names"].reindex(view.tasks.index).fillna("").astype(str)


def trajectories_view(view: HostView) -> pd.DataFrame:
    return trajectories_of(view.tasks)


def is_kswapd(comm: object) -> bool:
    return str(comm).startswith("kswapd")


def task_ref(view: HostView, task: int) -> TaskRef:
    row = view.tasks.loc[task]
    return TaskRef(str(row["comm"]), int(row["pid"]))


def label(view: HostView, task: int) -> str:
    row = view.tasks.loc[task]
    return f"{row['comm']}({row['pid']})"


def trace_evidence(view: HostView, task: int, summary: str) -> Evidence | None:
    """The first line of the task's trace, even when the builder did not tie it to the task."""
    found = view.trace_evidence(task, summary)
    if found is not None:
        return found
    sigs = signatures_of(view)
    if task not in sigs.index:
        return None
    row = sigs.loc[task]
    ts = None if pd.isna(row["ts"]) else float(row["ts"])
    return Evidence(str(row["source"]), int(row["line"]), ts, summary)


def task_and_trace(view: HostView, task: int, summary: str) -> list[Evidence]:
    out = [view.task_evidence(task)]
    trace = trace_evidence(view, task, summary)
    if trace is not None:
        out.append(trace)
    return out


def latest_per_task(tasks: pd.DataFrame) -> pd.DataFrame:
    """The last report's row of each (pid, comm): what a task was doing when last seen."""
    if not len(tasks):
        return tasks
    keyed = tasks.assign(_comm=tasks["comm"].astype(str))
    return keyed.drop_duplicates(["pid", "_comm"], keep="last").drop(columns="_comm")
