"""What each reported task did between reports: the watchdog documentation's own reading.

``seq`` counts allocation requests, ``switches`` counts context switches. Across two reports:
a new ``seq`` means the earlier request finished (slow, but progressing); the same ``seq`` with
``switches`` frozen means the task never ran (blocked); the same ``seq`` with ``switches`` rising
means it ran and retried without success (livelocked). A task marked dying or victim in more
than one report has been killed but is not exiting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stallscope.capture.model import Capture

CLASSES = ("progressing", "livelocked", "blocked", "victim-not-exiting", "single-observation")

COLUMNS = [
    "host", "pid", "comm", "observations", "first_task", "last_task", "first_line", "last_line",
    "first_ts", "last_ts", "seq_first", "seq_last", "seq_changes", "switches_first",
    "switches_last", "switches_delta", "delay_first", "delay_last", "delay_growth",
    "allocating", "dying", "victim", "exiting", "uninterruptible", "kind", "reason",
]


def trajectories(capture: Capture) -> pd.DataFrame:
    """One row per task (host, pid, comm) across every report that lists it, classified."""
    return trajectories_of(capture.tasks)


# The task columns a trajectory reads: copying the others (text) of a long capture is slow.
_READ = ["host", "pid", "comm", "line", "ts", "seq", "switches", "delay", "dying", "victim", "exiting",
         "uninterruptible"]


def comm_text(tasks: pd.DataFrame) -> pd.Series:
    """``tasks["comm"].astype(str)``, converted once per distinct comm, not once per row."""
    comm = tasks["comm"]
    if not isinstance(comm.dtype, pd.CategoricalDtype):
        return comm.astype(str)
    names = pd.Series(comm.cat.categories.astype(str)).array
    return pd.Series(names.take(comm.cat.codes.to_numpy(), allow_fill=True), index=comm.index, name=comm.name)


def trajectories_of(tasks: pd.DataFrame) -> pd.DataFrame:
    if not len(tasks):
        return pd.DataFrame(columns=COLUMNS)
    rows = tasks[_READ].copy()
    rows["host"] = rows["host"].astype(object).where(rows["host"].notna(), None)
    rows["comm"] = comm_text(rows)
    rows["task"] = rows.index
    # A pid reused by another program is another task: comm is part of the key.
    grouped = rows.groupby(["host", "pid", "comm"], sort=False, dropna=False, observed=True)
    out = grouped.agg(
        observations=("task", "size"),
        first_task=("task", "first"),
        last_task=("task", "last"),
        first_line=("line", "first"),
        last_line=("line", "last"),
        first_ts=("ts", "first"),
        last_ts=("ts", "last"),
        seq_first=("seq", "first"),
        seq_last=("seq", "last"),
        switches_first=("switches", "first"),
        switches_last=("switches", "last"),
        delay_first=("delay", "first"),
        delay_last=("delay", "last"),
        dying=("dying", "any"),
        victim=("victim", "any"),
        exiting=("exiting", "any"),
        uninterruptible=("uninterruptible", "any"),
    ).reset_index()
    # Group numbers in the order of the aggregation (first appearance): what a Python function
    # per group would compute, computed for all groups at once.
    group = grouped.ngroup().to_numpy(dtype="int64")
    out["seq_changes"] = _typed_like(_changes(group, rows["seq"], len(out)), rows["seq"])
    present = np.bincount(group[rows["delay"].notna().to_numpy()], minlength=len(out)) > 0
    out["allocating"] = _typed_like(present, rows["delay"])
    out["switches_delta"] = out["switches_last"] - out["switches_first"]
    out["delay_growth"] = out["delay_last"] - out["delay_first"]
    kinds = [_classify(row) for row in out.itertuples(index=False)]
    out["kind"] = [k for k, _ in kinds]
    out["reason"] = [r for _, r in kinds]
    return out[COLUMNS].sort_values("first_task", kind="stable").reset_index(drop=True)


def _changes(group: np.ndarray, seq: pd.Series, groups: int) -> np.ndarray:
    """Per group: how often a printed seq differs from the group's previous printed seq."""
    present = seq.notna().to_numpy()
    order = np.argsort(group[present], kind="stable")  # each group's rows, in log order
    owner = group[present][order]
    values = seq[present].to_numpy(dtype="int64")[order]
    changed = (owner[1:] == owner[:-1]) & (values[1:] != values[:-1])
    return np.bincount(owner[1:][changed], minlength=groups)


def _typed_like(values: np.ndarray, column: pd.Series) -> object:
    """Per-group ``values`` as pandas types a Python function's results on ``column``.

    Those come back nullable (Int64 for integers, boolean) when the column is (the builder's
    Int64 columns are); the table's dtypes stay what a per-group function gave them.
    """
    if not isinstance(column.array, pd.arrays.IntegerArray | pd.arrays.FloatingArray | pd.arrays.BooleanArray):
        return values
    if values.dtype == bool:
        return pd.array(values, dtype="boolean")
    return pd.array(values, dtype=column.dtype if column.dtype.kind in "iu" else "Int64")


def _known(value: object) -> bool:
    return value is not None and not pd.isna(value)  # type: ignore[arg-type]


def _classify(t: object) -> tuple[str, str]:
    n = t.observations  # type: ignore[attr-defined]
    if n < 2:
        return "single-observation", "listed in one report only"
    killed = t.dying or t.victim  # type: ignore[attr-defined]
    delta = t.switches_delta  # type: ignore[attr-defined]
    frozen = _known(delta) and delta == 0
    if killed:
        ran = "never scheduled" if frozen else "still listed"
        return "victim-not-exiting", f"killed (dying/victim) and {ran} across {n} reports"
    if t.seq_changes > 0:  # type: ignore[attr-defined]
        return "progressing", f"seq {t.seq_first} -> {t.seq_last}: earlier requests completed"  # type: ignore[attr-defined]
    if _known(t.seq_last):  # type: ignore[attr-defined]
        same = f"seq={t.seq_last}"  # type: ignore[attr-defined]
    else:
        same = "the same request" if t.allocating else "no allocation in progress"  # type: ignore[attr-defined]
    if frozen:
        return "blocked", f"{same} and switches frozen at {t.switches_last}: never scheduled"  # type: ignore[attr-defined]
    if _known(delta):
        if not t.allocating:  # type: ignore[attr-defined]
            # kswapd (listed unconditionally) runs without an allocation of its own.
            return "progressing", f"switches +{delta}: running, no allocation of its own"
        return "livelocked", f"{same} kept while switches rose by {delta}: retrying, no progress"
    grew = t.delay_growth  # type: ignore[attr-defined]
    if _known(grew) and grew > 0:
        return "livelocked", f"{same} kept and delay grew by {grew} jiffies (switches not printed)"
    return "single-observation", "listed more than once but nothing comparable was printed"
