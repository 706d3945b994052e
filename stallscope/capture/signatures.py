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
    frames = frames.loc[frames["stack"].notna(), ["stack", "depth", "function", "reliable"]]
    ordered = frames.sort_values(["stack", "depth"], kind="stable")
    # Plain lists cut at each new stack: a long capture has thousands of distinct stacks, and a
    # pandas group per stack costs more than reading its frames.
    stacks = ordered["stack"].to_numpy(dtype="int64")
    functions = ordered["function"].astype(str).tolist()
    reliable = ordered["reliable"].astype(bool).tolist()
    starts = [0, *(np.flatnonzero(np.diff(stacks)) + 1).tolist()]
    ends = [*starts[1:], len(stacks)]
    out: dict[int, list[str]] = {}
    for start, end in zip(starts, ends, strict=True):
        pairs = list(zip(functions[start:end], reliable[start:end], strict=True))
        out[int(stacks[start])] = reliable_functions(pairs)
    return out


def signatures(capture: Capture) -> pd.DataFrame:
    """One row per printed call trace: its wait, the frame calling it, signature, guilty frame."""
    if not len(capture.traces):
        return pd.DataFrame(columns=COLUMNS)
    out = _placed(capture)
    summary = _Summary(stack_table(capture), out["stack"])
    for column, values in summary.columns(out["stack"]).items():
        out[column] = values
    return out[COLUMNS].reset_index(drop=True)


def _placed(capture: Capture) -> pd.DataFrame:
    """Every printed trace with the comm and pid of the task or report it belongs to."""
    out = capture.traces.copy()
    out.insert(0, "trace", out.index)
    tasks = capture.tasks
    owner = out["task"]
    has_task = owner.notna()
    out["comm"] = None
    out["pid"] = pd.arrays.IntegerArray(np.zeros(len(out), dtype="int64"), np.ones(len(out), dtype=bool))
    if has_task.any():
        rows = tasks.loc[owner[has_task].astype(int), ["comm", "pid"]]
        out.loc[has_task, "comm"] = rows["comm"].astype(str).to_numpy()
        out.loc[has_task, "pid"] = rows["pid"].to_numpy()
    events = capture.events
    has_event = out["event"].notna() & ~has_task
    if has_event.any() and len(events):
        rows = events.loc[out.loc[has_event, "event"].astype(int), ["comm", "pid"]]
        out.loc[has_event, "comm"] = rows["comm"].astype(object).to_numpy()
        out.loc[has_event, "pid"] = rows["pid"].to_numpy()
    return out


_SUMMARY_COLUMNS = ("wait", "site", "signature", "guilty")
_NO_TRACE = (None, None, "(no trace)", None)


class _Summary:
    """wait, site, signature and guilty frame of each stack, spread over rows of traces.

    A long capture prints hundreds of thousands of traces of a few thousand stacks: each stack
    is summarized once and its row taken for every trace. A column gets the dtype pandas infers
    for the values of all the capture's traces (``every``), inferred from its distinct values.
    """

    def __init__(self, stacks: dict[int, list[str]], every: pd.Series) -> None:
        self.parts = [_summarize(functions) for functions in stacks.values()] + [_NO_TRACE]
        self.keys = pd.Index(list(stacks), dtype="int64")
        used = np.zeros(len(self.parts), dtype=bool)
        used[self._at(every)] = True
        self.used = used.nonzero()[0]
        self.code = np.cumsum(used) - 1  # part -> its position among the used parts

    def _at(self, stack: pd.Series) -> np.ndarray:
        # A stack without functions (no frames) reads as no trace: the last part.
        at = self.keys.get_indexer(stack.to_numpy(dtype="int64"))
        return np.where(at < 0, len(self.parts) - 1, at)

    def columns(self, stack: pd.Series) -> dict[str, pd.Series]:
        """The summary columns of the traces whose stacks are ``stack`` (indexed like it)."""
        codes = self.code[self._at(stack)]
        out = {}
        for i, column in enumerate(_SUMMARY_COLUMNS):
            distinct = np.empty(len(self.used), dtype=object)
            distinct[:] = [self.parts[j][i] for j in self.used]
            out[column] = pd.Series(pd.Series(distinct).take(codes).array, index=stack.index)
        return out


def _summarize(functions: list[str]) -> tuple[str | None, str | None, str, str | None]:
    wait, site = stuck_in(functions)
    return wait, site, describe(wait, site), guilty_frame(functions)


def task_signatures(capture: Capture) -> pd.DataFrame:
    """The signature of each task row's own trace (rows without a trace are left out).

    A trace the builder could not tie to its task (a task-state line it did not understand sits
    between them) is given to the task line it follows, if no other MemAlloc line intervenes.
    """
    if not len(capture.traces):
        return _own_traces(capture, pd.DataFrame(columns=COLUMNS))
    # The summary columns are added to the rows kept, not carried through the claiming.
    placed = _placed(capture)
    out = _own_traces(capture, placed)
    summary = _Summary(stack_table(capture), placed["stack"])
    for column, values in summary.columns(out["stack"]).items():
        out[column] = values
    return out[[c for c in COLUMNS if c != "task"]]


def first_trace_rows(capture: Capture) -> pd.Series:
    """The position (in ``traces``) of the first call trace the builder tied to each task row.

    Indexed by task row; task rows without a trace are left out.
    """
    owner = capture.traces["task"]
    first = (owner.notna().to_numpy() & ~owner.duplicated().to_numpy()).nonzero()[0]
    return pd.Series(first, index=owner.iloc[first].to_numpy(dtype="int64"), dtype="int64")


def own_trace_rows(capture: Capture) -> pd.Series:
    """The position (in ``traces``) of each task row's own trace, as :func:`task_signatures` picks it.

    The first trace tied to the task row, or else the orphan trace it claims; indexed by task
    row. For readers that only need which trace is a task's: building the table costs more.
    """
    traces = capture.traces
    out = first_trace_rows(capture)
    orphans = (traces["task"].isna().to_numpy() & traces["event"].isna().to_numpy()).nonzero()[0]
    if len(orphans) and len(capture.tasks):
        picked, task_rows = _claims(capture.tasks, traces[["source", "line"]].iloc[orphans], set(out.index))
        out = pd.concat([out, pd.Series(orphans[picked], index=task_rows.to_numpy(), dtype="int64")])
    return out


def _own_traces(capture: Capture, sigs: pd.DataFrame) -> pd.DataFrame:
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
    picked, task_rows = _claims(tasks, orphans, owned)
    if not len(picked):
        return pd.DataFrame()
    claimed = orphans.iloc[picked].copy()
    claimed["task"] = task_rows.to_numpy()
    claimed["comm"] = _as_text(tasks.loc[task_rows, "comm"])
    claimed["pid"] = tasks.loc[task_rows, "pid"].to_numpy()
    return claimed


def _claims(tasks: pd.DataFrame, orphans: pd.DataFrame, owned: set[int]) -> tuple[np.ndarray, pd.Index]:
    """(positions in ``orphans``, task rows claiming them), source by source: see _claim_orphans."""
    picked: list[np.ndarray] = []
    claimers: list[pd.Index] = []
    # Only the source and line columns are searched: filtering every column of a long table
    # is slow.
    where = orphans[["source", "line"]].assign(_at=np.arange(len(orphans)))
    for source, rows in tasks[["source", "line"]].groupby("source", sort=False, observed=True):
        found = where[where["source"] == source]
        # Traces come in log order: sort only when they do not (strictly increasing lines are
        # what any sort would leave as they are).
        if not (found["line"].is_monotonic_increasing and found["line"].is_unique):
            found = found.sort_values("line")
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
        picked.append(found["_at"].to_numpy()[at[valid]])
        claimers.append(rows.index[valid])
    if not picked:
        return np.zeros(0, dtype="int64"), tasks.index[:0]
    return np.concatenate(picked), claimers[0].append(claimers[1:])


def _as_text(comm: pd.Series) -> object:
    """``comm.astype(str).to_numpy()``, to become a column: converted once per distinct comm."""
    if isinstance(comm.dtype, pd.CategoricalDtype) and comm.notna().all():
        names = pd.Series(comm.cat.categories.astype(str))
        return names.array.take(comm.cat.codes.to_numpy())
    return comm.astype(str).to_numpy()
