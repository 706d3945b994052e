"""Which task rows are stalled tasks: a SysRq-t dump lists every task, most of them sleeping (S)
and waiting for nothing wrong; counted as stalled they would make an idle machine look hung."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stallscope.capture.builder import DUMP_MEMALLOC

# The state letter of a task in uninterruptible sleep (blocked on I/O or a lock).
BLOCKED_STATE = "D"


def stalled_rows(tasks: pd.DataFrame) -> np.ndarray:
    """Per row of a tasks table: whether it is the watchdog's MemAlloc line of a task, or a task
    of a dump in uninterruptible sleep (D)."""
    if not len(tasks):
        return np.zeros(0, bool)
    mask = np.ones(len(tasks), bool)
    if "dump" in tasks.columns:
        dump = tasks["dump"]
        mask = (dump.isna() | (dump == DUMP_MEMALLOC)).to_numpy(bool, copy=True)
        if "state" in tasks.columns:
            mask |= (tasks["state"] == BLOCKED_STATE).fillna(False).to_numpy(bool)
        if "uninterruptible" in tasks.columns:
            mask |= tasks["uninterruptible"].fillna(False).to_numpy(bool)
    return mask


def stalled_tasks(tasks: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`stalled_rows` (the table itself when they are all of them)."""
    mask = stalled_rows(tasks)
    return tasks if mask.all() else tasks[mask]
