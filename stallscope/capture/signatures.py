"""Stack signatures of every printed trace, and tasks grouped by them.

A signature is where a trace is stuck (``shrink_inactive_list <- congestion_wait``); the guilty
frame is who is to blame (the caller that allocates, or the lock waited for). Frames the
unwinder marked ``?`` are left out unless a trace has nothing else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stallscope.capture.model import Capture
from stallscope.capture.stacks import describe, guilty_frame, reliable_functions, stuck_in

COLUMNS = ["trace", "host", "source", "line", "ts", "task", "event", "stack", "comm", "pid",
           "wait", "site", "signature", "guilty"]


def stack_table(capture: Capture) -> dict[int, list[str]]:
    """Normalized, trusted function names of every distinct stack, innermost first."""
    frames = capture.frames
    if not len(frames):
        return {}
    ordered = frames.sort_values(["stack", "depth"], kind="stable")
    out: dict[int, list[str]] = {}
    for stack, rows in ordered.groupby("stack", sort=False):
        pairs = list(zip(rows["function"].astype(str), rows["reliable"].astype(bool), strict=True))
        out[int(stack)] = reliable_functions(pairs)
    return out


def signatures(capture: Capture) -> pd.DataFrame:
    """One row per printed call trace: its wait, the frame calling it, signature, guilty frame."""
    traces = capture.traces
    if not len(traces):
        return pd.DataFrame(columns=COLUMNS)
    stacks = stack_table(capture)
    summary: dict[int, tuple[str | None, str | None, str, str | None]] = {}
    for stack, functions in stacks.items():
        wait, site = stuck_in(functions)
        summary[stack] = (wait, site, describe(wait, site), guilty_frame(functions))
    out = traces.copy()
    out.insert(0, "trace", out.index)
    tasks = capture.tasks
    owner = out["task"]
    has_task = owner.notna()
    out["comm"] = None
    out["pid"] = pd.array([pd.NA] * len(out), dtype="Int64")
    if has_task.any():
        rows = tasks.loc[owner[has_task].astype(int)]
        out.loc[has_task, "comm"] = rows["comm"].astype(str).to_numpy()
        out.loc[has_task, "pid"] = rows["pid"].to_numpy()
    events = capture.events
    has_event = out["event"].notna() & ~has_task
    if has_event.any() and len(events):
        rows = events.loc[out.loc[has_event, "event"].astype(int)]
        out.loc[has_event, "comm"] = rows["comm"].astype(object).to_numpy()
        out.loc[has_event, "pid"] = rows["pid"].to_numpy()
    empty = (None, None, "(no trace)", None)
    parts = [summary.get(int(s), empty) for s in out["stack"]]
    out["wait"] = [p[0] for p in parts]
    out["site"] = [p[1] for p in parts]
    out["signature"] = [p[2] for p in parts]
    out["guilty"] = [p[3] for p in parts]
    return out[COLUMNS].reset_index(drop=True)


def task_signatures(capture: Capture) -> pd.DataFrame:
    """The signature of each task row's own trace (rows without a trace are left out).

    A trace the builder could not tie to its task (a task-state line it did not understand sits
    between them) is given to the task line it follows, if no other MemAlloc line intervenes.
    """
    sigs = signatures(capture)
    owned = sigs[sigs["task"].notna()].copy()
    owned["task"] = owned["task"].astype(int)
    orphans = sigs[sigs["task"].isna() & sigs["event"].isna()]
    tasks = capture.tasks
    if len(orphans) and len(tasks):
        claimed = _claim_orphans(tasks, orphans, set(owned["task"]))
        if len(claimed):
            owned = pd.concat([owned, claimed], ignore_index=True)
            owned["task"] = owned["task"].astype(int)
    return owned.drop_duplicates("task").set_index("task")


def signature_groups(sigs: pd.DataFrame) -> pd.DataFrame:
    """Tasks grouped by signature, largest group first, with a one-line summary each."""
    rows = sigs[sigs["task"].notna()] if "task" in sigs.columns else sigs
    if not len(rows):
        return pd.DataFrame(columns=["signature", "tasks", "pids", "comms", "guilty", "first_line",
                                     "summary"])
    grouped = rows.groupby("signature", sort=False)
    out = grouped.agg(
        tasks=("pid", lambda p: p.dropna().nunique()),
        pids=("pid", lambda p: sorted({int(x) for x in p.dropna()})),
        comms=("comm", lambda c: sorted({str(x) for x in c.dropna()})),
        guilty=("guilty", lambda g: g.dropna().value_counts().to_dict()),
        first_line=("line", "min"),
    ).reset_index()
    out["summary"] = [
        f"{n} task{'s' if n != 1 else ''} stuck in {sig}" for n, sig in zip(out["tasks"], out["signature"], strict=True)
    ]
    return out.sort_values(["tasks", "first_line"], ascending=[False, True]).reset_index(drop=True)


def _claim_orphans(tasks: pd.DataFrame, orphans: pd.DataFrame, owned: set[int]) -> pd.DataFrame:
    """The first orphan trace after each trace-less task line, before the source's next task line."""
    claimed: list[pd.DataFrame] = []
    for source, rows in tasks.groupby("source", sort=False, observed=True):
        found = orphans[orphans["source"] == source].sort_values("line")
        if not len(found):
            continue
        lines = rows["line"].to_numpy(dtype="int64")
        following = np.append(lines[1:], np.iinfo("int64").max)
        found_lines = found["line"].to_numpy(dtype="int64")
        at = np.searchsorted(found_lines, lines, side="right")
        # Whole-column selection: a long capture has hundreds of thousands of task lines.
        valid = (at < len(found)) & ~rows.index.isin(list(owned))
        valid[valid] = found_lines[at[valid]] < following[valid]
        if not valid.any():
            continue
        picked = found.iloc[at[valid]].copy()
        task_rows = rows.index[valid]
        picked["task"] = task_rows.to_numpy()
        picked["comm"] = tasks.loc[task_rows, "comm"].astype(str).to_numpy()
        picked["pid"] = tasks.loc[task_rows, "pid"].to_numpy()
        claimed.append(picked)
    return pd.concat(claimed) if claimed else pd.DataFrame()
