"""Stack signatures of every printed trace, and tasks grouped by them.

A signature is where a trace is stuck (``shrink_inactive_list <- congestion_wait``); the guilty
frame is who is to blame (the caller that allocates, or the lock waited for). Frames the
unwinder marked ``?`` are left out unless a trace has nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stallscope.capture.columns import count_dtype
from stallscope.capture.model import Capture
from stallscope.capture.stacks import describe, guilty_frame, normalize_function, stuck_in
from stallscope.capture.trajectories import text_codes

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
    functions = _normalized(ordered["function"])
    reliable = ordered["reliable"].astype(bool).tolist()
    starts = [0, *(np.flatnonzero(np.diff(stacks)) + 1).tolist()]
    ends = [*starts[1:], len(stacks)]
    out: dict[int, list[str]] = {}
    for start, end in zip(starts, ends, strict=True):
        # reliable_functions on names normalized already: each distinct name once, not per frame.
        names = functions[start:end]
        trusted = [name for name, ok in zip(names, reliable[start:end], strict=True) if ok]
        out[int(stacks[start])] = trusted or names
    return out


def _normalized(function: pd.Series) -> list[str]:
    """``normalize_function(str(f))`` of every frame's function, computed once per distinct name."""
    if isinstance(function.dtype, pd.CategoricalDtype):
        names = [normalize_function(str(c)) for c in function.cat.categories] + [normalize_function("nan")]
        return [names[c] for c in function.cat.codes.tolist()]
    cache: dict[str, str] = {}
    return [cache[f] if f in cache else cache.setdefault(f, normalize_function(f))
            for f in function.astype(str).tolist()]


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


@dataclass(frozen=True, slots=True)
class TraceCodes:
    """What :func:`signatures` says of each printed trace, as numbers into short lists.

    For readers that group a long capture's traces (by signature, machine, task): the table
    holds a string per trace and column, and reading those one by one is the slow part. A
    trace's signature and guilty frame depend on its stack only: they are given per part (the
    summary of one distinct stack; the last part is "no trace"), and each trace names its part.
    Per-trace arrays are in the order of ``capture.traces``; -1 means missing.
    """

    part: np.ndarray  # per trace: its part
    signature: np.ndarray  # per part: into ``signatures``
    signatures: list[str]
    guilty: np.ndarray  # per part: into ``guilties``
    guilties: list[str]
    comm: np.ndarray  # per trace: the owner's comm, into ``comms`` (distinct names)
    comms: list[str]
    pid: np.ndarray  # per trace: the owner's pid (meaningless where ``has_pid`` is False)
    has_pid: np.ndarray


def trace_codes(capture: Capture) -> TraceCodes:
    """:func:`signatures`' signature, guilty, comm and pid columns, coded (see TraceCodes)."""
    traces = capture.traces
    stacks = stack_table(capture)
    parts = [_summarize(functions) for functions in stacks.values()] + [_NO_TRACE]
    part = pd.Index(list(stacks), dtype="int64").get_indexer(traces["stack"].to_numpy(dtype="int64", na_value=-1))
    part[part < 0] = len(parts) - 1  # a stack without functions reads as no trace
    signature, signature_names = pd.factorize(pd.Series([p[2] for p in parts], dtype=object))
    guilty, guilty_names = pd.factorize(pd.Series([p[3] for p in parts], dtype=object))
    comm, comms, pid, has_pid = _owners(capture)
    return TraceCodes(part, signature, [str(n) for n in signature_names], guilty, [str(n) for n in guilty_names],
                      comm, comms, pid, has_pid)


def guilty_modes(codes: TraceCodes, at: np.ndarray | None = None) -> dict[int, str]:
    """Per signature, its most frequent guilty frame over the traces ``at`` (None: all).

    The first by name among equally frequent ones, as ``Series.mode().iloc[0]`` picks; a
    signature none of whose traces has a guilty frame is left out.
    """
    parts = np.bincount(codes.part if at is None else codes.part[at], minlength=len(codes.signature))
    counts: dict[int, dict[int, int]] = {}
    for part in np.flatnonzero(parts).tolist():
        frame = int(codes.guilty[part])
        if frame >= 0:
            mine = counts.setdefault(int(codes.signature[part]), {})
            mine[frame] = mine.get(frame, 0) + int(parts[part])
    out = {}
    for signature, frames in counts.items():
        most = max(frames.values())
        out[signature] = min(codes.guilties[f] for f, n in frames.items() if n == most)
    return out


def _owners(capture: Capture) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """The comm and pid :func:`_placed` gives each trace: its task row's, else its report's."""
    traces = capture.traces
    comm = np.full(len(traces), -1, dtype=np.int32)
    pid = np.zeros(len(traces), dtype="int64")
    has_pid = np.zeros(len(traces), dtype=bool)
    names: dict[str, int] = {}
    task = traces["task"]
    has_task = task.notna().to_numpy(dtype=bool)
    has_event = traces["event"].notna().to_numpy(dtype=bool) & ~has_task
    for table, column, owned in ((capture.tasks, task, has_task), (capture.events, traces["event"], has_event)):
        owned = np.flatnonzero(owned)
        if not len(owned) or not len(table):
            continue
        rows = table.index.get_indexer(column.array.take(owned).to_numpy(dtype="int64"))
        if (rows < 0).any():
            raise KeyError("a trace names a row its table does not have")
        codes, labels = text_codes(table["comm"])
        # One number per distinct name: the task and report tables name their comms apart.
        remap = np.array([names.setdefault(label, len(names)) for label in labels] + [-1], dtype=np.int32)
        comm[owned] = remap[codes[rows]]
        pids = table["pid"].array.take(rows)
        pid[owned] = pids.to_numpy(dtype="int64", na_value=0)
        has_pid[owned] = ~pids.isna()
    return comm, list(names), pid, has_pid


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
        owned = capture.tasks.index.isin(out.index)
        picked, task_rows = _all_claims(_claims(capture.tasks, traces["source"], traces["line"], orphans, owned))
        out = pd.concat([out, pd.Series(orphans[picked], index=capture.tasks.index[task_rows].to_numpy(),
                                        dtype="int64")])
    return out


def first_trace_positions(capture: Capture) -> np.ndarray:
    """:func:`first_trace_rows` by position: per task row of ``capture.tasks`` (-1: none).

    A plain array rather than a Series indexed by task row: looking a row up needs no hash
    table over a long capture's rows, and it is a fraction of the size.
    """
    owner = capture.traces["task"]
    # Positions of traces, 32 bits where they fit: one per task row (8.4 million in the 1 GB
    # excerpts family, which prints no trace at all).
    width = count_dtype(len(owner) + 1)
    out = np.full(len(capture.tasks), -1, dtype=width)
    if not len(owner) or not len(out):
        return out
    tied = np.flatnonzero(owner.notna().to_numpy())
    if not len(tied):
        return out
    rows = capture.tasks.index.get_indexer(owner.array.take(tied).to_numpy(dtype="int64"))
    known = rows >= 0
    # The least trace position per task row, without a hash table over the traces.
    first = np.full(len(out), len(owner), dtype=width)
    np.minimum.at(first, rows[known], tied[known])
    has = first < len(owner)
    out[has] = first[has]
    return out


def own_trace_positions(capture: Capture) -> np.ndarray:
    """:func:`own_trace_rows` by position: per task row of ``capture.tasks`` (-1: none)."""
    out = first_trace_positions(capture)
    traces = capture.traces
    if not len(traces) or not len(out):
        return out
    orphan = traces["task"].isna().to_numpy() & traces["event"].isna().to_numpy()
    if orphan.all():
        # No trace has an owner (a builder that ties none): the orphans are every trace, and
        # their positions need no array of their own.
        for picked, task_rows in _claims(capture.tasks, traces["source"], traces["line"], None, out >= 0):
            out[task_rows] = picked
        return out
    orphans = orphan.nonzero()[0]
    if len(orphans):
        for picked, task_rows in _claims(capture.tasks, traces["source"], traces["line"], orphans, out >= 0):
            out[task_rows] = orphans[picked]
    return out


def _own_traces(capture: Capture, sigs: pd.DataFrame) -> pd.DataFrame:
    owned = sigs[sigs["task"].notna()].copy()
    owned["task"] = owned["task"].astype(int)
    orphans = sigs[sigs["task"].isna() & sigs["event"].isna()]
    tasks = capture.tasks
    if len(orphans) and len(tasks):
        claimed = _claim_orphans(tasks, orphans, tasks.index.isin(owned["task"]))
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


def _claim_orphans(tasks: pd.DataFrame, orphans: pd.DataFrame, owned: np.ndarray) -> pd.DataFrame:
    """The first orphan trace after each trace-less task line, before the source's next task line."""
    picked, task_rows = _all_claims(_claims(tasks, orphans["source"], orphans["line"], np.arange(len(orphans)),
                                            owned))
    if not len(picked):
        return pd.DataFrame()
    claimed = orphans.iloc[picked].copy()
    claimed["task"] = tasks.index[task_rows].to_numpy()
    claimed["comm"] = _as_text(tasks["comm"].iloc[task_rows])
    claimed["pid"] = tasks["pid"].iloc[task_rows].to_numpy()
    return claimed


_CHUNK = 1 << 16  # task rows searched at a time: the temporaries stay small


def _claims(tasks: pd.DataFrame, sources: pd.Series, lines: pd.Series, orphans: np.ndarray | None,
            owned: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(positions in ``orphans``, positions of the task rows claiming them), a part at a time.

    ``sources`` and ``lines`` are columns of the traces, ``orphans`` the positions of the
    traces without an owner (None: every trace); ``owned``: per task row (by position),
    whether it has a trace of its own already. Source by source, in order of first
    appearance. See :func:`_claim_orphans`.
    """
    codes, names = _narrow_codes(tasks["source"])
    trace_codes_, trace_names = _narrow_codes(sources)
    # Only the source and line columns are read, and only at the orphans: a long capture has
    # hundreds of thousands of traces (in a capture whose builder tied none, all of them).
    orphan_codes = trace_codes_ if orphans is None else trace_codes_[orphans]
    if trace_names != names:  # the tables number their sources apart: renumber the traces'
        number = {name: i for i, name in enumerate(names)}
        lookup = np.array([number.get(n, -1) for n in trace_names] + [-1], dtype=np.int32)
        orphan_codes = lookup[orphan_codes]
    del trace_codes_
    orphan_lines = (lines if orphans is None else lines.take(orphans)).to_numpy(dtype="int64")
    task_lines = tasks["line"].to_numpy(dtype="int64")
    for code, rows in _blocks(codes, len(names)):
        found = _where(orphan_codes, code)
        if found is not None and not len(found):
            continue
        found_lines = orphan_lines if found is None else orphan_lines[found]
        # Traces come in log order: sort only when they do not (strictly increasing lines are
        # what any sort would leave as they are). The sort is the one sort_values("line") does.
        if not bool(np.all(found_lines[1:] > found_lines[:-1])):
            order = np.argsort(found_lines, kind="quicksort")
            found = order if found is None else found[order]
            found_lines = found_lines[order]
        count = len(task_lines) if rows is None else len(rows)
        for start in range(0, count, _CHUNK):
            stop = min(start + _CHUNK, count)
            # One row more than the part: the line of the source's next task line.
            mine = np.arange(start, min(stop + 1, count)) if rows is None else rows[start:stop + 1]
            task_line = task_lines[mine]
            following = np.append(task_line[1:], np.iinfo("int64").max)
            if stop < count:
                mine, task_line, following = mine[:-1], task_line[:-1], following[:-1]
            at = np.searchsorted(found_lines, task_line, side="right")
            valid = (at < len(found_lines)) & ~owned[mine]
            valid[valid] = found_lines[at[valid]] < following[valid]
            if valid.any():
                at = at[valid]
                yield (at if found is None else found[at]), mine[valid]


def _narrow_codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """:func:`text_codes`, a categorical column's codes as they are (compared, never combined)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), [str(c) for c in column.cat.categories]
    return text_codes(column)


def _all_claims(parts: Iterator[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    found = list(parts)
    if not found:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    return np.concatenate([p for p, _ in found]), np.concatenate([r for _, r in found])


def _blocks(codes: np.ndarray, count: int) -> list[tuple[int, np.ndarray | None]]:
    """Per code present (in order of first appearance, missing ones left out), the positions
    holding it, in order.

    None for "every position": a capture of one input has one source, and its positions
    would be a copy of the whole range.
    """
    if not len(codes):
        return []
    if codes.min() == codes.max():
        return [(int(codes[0]), None)] if codes[0] >= 0 else []
    # One stable sort instead of a scan (or a hash table) per code.
    listed = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[listed], np.arange(-1, count + 1))
    blocks = [(code, listed[bounds[code + 1]:bounds[code + 2]]) for code in range(count)
              if bounds[code + 2] > bounds[code + 1]]
    return sorted(blocks, key=lambda block: int(block[1][0]))  # type: ignore[index]


def _where(codes: np.ndarray, code: int) -> np.ndarray | None:
    """The positions holding ``code``; None when that is every position."""
    hit = codes == code
    return None if hit.all() else np.flatnonzero(hit)


def _as_text(comm: pd.Series) -> object:
    """``comm.astype(str).to_numpy()``, to become a column: converted once per distinct comm."""
    if isinstance(comm.dtype, pd.CategoricalDtype) and comm.notna().all():
        names = pd.Series(comm.cat.categories.astype(str))
        return names.array.take(comm.cat.codes.to_numpy())
    return comm.astype(str).to_numpy()
