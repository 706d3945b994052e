"""Per-task allocation history shared by seq-livelock and slow-progress (a helper, not a rule).

Each MemAlloc line with ``seq=`` names one allocation request of one task. The same pid seen
again with the same seq and a larger delay is the same request, still not satisfied; a larger
seq means the earlier request completed and a new one is stalling.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

import pandas as pd

from stallscope.rules.base import HostView


@dataclass(frozen=True, slots=True)
class TaskHistory:
    comm: str
    pid: int
    rows: pd.DataFrame  # this task's MemAlloc rows with a seq, in log order


def histories(view: HostView) -> Iterator[TaskHistory]:
    tasks = view.tasks
    if tasks.empty:
        return
    tasks = tasks[tasks["seq"].notna()]
    for (comm, pid), rows in tasks.groupby(["comm", "pid"], observed=True, sort=False):
        if len(rows) >= 2:
            yield TaskHistory(str(comm), int(pid), rows.sort_values(["source", "line"], kind="stable"))


def same_request_runs(history: TaskHistory) -> list[pd.DataFrame]:
    """Runs of consecutive observations with one seq whose delay kept growing."""
    runs: list[pd.DataFrame] = []
    rows = history.rows
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows["seq"].iloc[i] != rows["seq"].iloc[start]:
            run = rows.iloc[start:i]
            if len(run) >= 2 and int(run["delay"].iloc[-1]) > int(run["delay"].iloc[0]):
                runs.append(run)
            start = i
    return runs


def advancing_pairs(history: TaskHistory) -> int:
    """How many times this task's seq moved forward between observations."""
    seqs = history.rows["seq"].astype("int64").tolist()
    return sum(1 for a, b in pairwise(seqs) if b > a)
