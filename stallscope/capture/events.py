"""The ``events`` table: kernel reports around the watchdog, and helpers to read them.

One row per line of a report the grammars understood; ``kind`` is the grammar start symbol,
``fields`` the raw text of each field (a repeated field is its values joined by a blank),
``pid``/``comm`` are filled from the fields of those names, ``stack`` links the call trace that
followed the report (kinds marked *trace*). Kinds are grouped by prefix:

OOM killer (grammars/oom.lark)
    ``oom_invoke`` *trace*: comm, gfp_mask, gfp_names, nodemask, order, oom_score_adj | oom_adj
    ``oom_tasks_header``: the "Tasks state" line and the column header of the task table
    ``oom_task_row``: pid, uid, tgid, total_vm, rss (pages), column (the remaining columns in
    order, the last being oom_score_adj), comm
    ``oom_kill_process`` (<= 4.x, the chosen victim): scope, pid, comm, score
    ``oom_killed_process``: scope (4.19+), pid, comm, total_vm_kb, anon_rss_kb, file_rss_kb,
    shmem_rss_kb, uid, pgtables_kb, oom_score_adj
    ``oom_kill_summary`` (4.19+): constraint, nodemask, cpuset, mems_allowed, global_oom |
    oom_memcg, task_memcg, comm, pid, uid
    ``oom_reaper_reaped``: pid, comm, anon_rss_kb, file_rss_kb, shmem_rss_kb
    ``oom_reaper_unable``: pid, comm
    ``oom_memcg_usage``: counter (memory, swap, ...), usage_kb, limit_kb, failcnt
    ``oom_memcg_stats`` / ``oom_memcg_stat``: memcg_path / stat_name, stat_value
    ``oom_memcg_task`` (<= 4.x): task_memcg, oom_memcg
    ``oom_no_killable``: "Out of memory and no killable processes..." (a panic usually follows)
warn_alloc (grammars/warn_alloc.lark)
    ``warn_alloc_stall`` *trace*: comm, stall_ms, order, mode, gfp_names, nodemask
    ``warn_alloc_failure`` *trace*: comm, order, mode, gfp_names, nodemask, cpuset, mems_allowed
    ``vmalloc_failure`` *trace* (4.9+): comm, size_bytes, mode, gfp_names, nodemask, cpuset,
    mems_allowed (<= 4.8: size_bytes alone, before the page allocation failure line)
    ``cma_alloc_failure``: pages, ret, cma_area (5.13+); ``xfs_alloc_retry`` (XFS's "possible
    memory allocation deadlock" every 100 failed tries): comm, pid, size_bytes, function, mode
    ``ratelimit_suppressed``: function, suppressed (reports printk dropped)
SLUB (grammars/slab.lark)
    ``slub_alloc_failure``: node, gfp, gfp_names; then ``slub_cache``: cache, object_size,
    buffer_size, default_order, min_order; ``slub_debug_order``: cache; ``slub_node``: node,
    slabs, objs, free
Hung tasks (grammars/hung_task.lark)
    ``hung_task`` *trace*: comm, pid, seconds, how ("blocked for more than", 6.17+ "blocked in I/O
    wait for more than", "can't die for more than")
    ``hung_task_blocker`` *trace of the owner*: comm, pid, role, lock_type, owner_comm,
    owner_pid, owner_role
    ``hung_task_hint``: the "echo 0 > ..." line, and "Future hung task reports are suppressed"
Workqueues (grammars/workqueue.lark)
    ``wq_lockup``: cpus, node, flags, nice, stuck (seconds)
    ``wq_show_busy``, ``wq_show_backtraces``: dump headers
    ``wq_workqueue``: workqueue, flags
    ``wq_pwq``: pwq, cpus, node, flags, nice, active, max_active, refcnt, mayday
    ``wq_in_flight``: worker (pids), rescuer (pids), work (functions)
    ``wq_pending``: pending_label, work, barrier
    ``wq_pool``: pool, cpus, node, flags, nice, hung (seconds; absent before 4.5), workers,
    manager, idle
    (``wq_in_flight`` and ``wq_pending`` of a 2016 debug build also have delay: the jiffies each
    work waited)
Mem-Info (grammars/meminfo.lark)
    ``meminfo_header``; ``meminfo_counters``: name, value, free (pages);
    ``meminfo_node``: node, name, value, all_unreclaimable;
    ``meminfo_zone``: node, zone, free_kb, min_kb, low_kb, high_kb, name, value, all_unreclaimable;
    ``meminfo_lowmem_reserve``: reserve; ``meminfo_buddy``: node, zone, count, size_kb, total_kb;
    ``meminfo_hugepages``, ``meminfo_pagecache``, ``meminfo_pages`` (pages, what),
    ``meminfo_swap_cache``, ``meminfo_swap`` (free_swap_kb | total_swap_kb);
    <= 3.x per-CPU lists: ``meminfo_pcp_zone`` (node, zone), ``meminfo_pcp`` (cpu, pcp_high,
    pcp_batch, pcp_used); 4.15+ OOM reports: ``meminfo_slab_header``, ``meminfo_slab``
    (slab_cache, used_kb, total_kb)
Lockdep (grammars/lockdep.lark)
    ``lockdep_all_header``; ``lockdep_held_header``: locks, comm, pid; ``lockdep_held``: index,
    lock_address, lock, lock_usage, function, offset, size, module, srcline; ``lockdep_end``;
    ``lockdep_report`` *trace* (a locking bug: "WARNING: possible circular locking dependency
    detected", "[ INFO: inconsistent lock state ]", ...); ``lockdep_lock`` (a lock that report
    names, without the "#N:" of a held-lock dump): the fields of ``lockdep_held`` but index
CPU watchdogs (grammars/lockup.lark)
    ``soft_lockup`` *trace*: cpu, seconds, comm, pid; ``hard_lockup`` *trace*: cpu;
    ``rcu_stall`` *trace*: flavor, stall_kind; ``rcu_stall_cpu``: stall_cpu, ticks | behind
    (grace periods behind); ``rcu_stall_gp``: jiffies, detected_by; ``rcu_kthread_starved``:
    flavor, jiffies; ``rcu_stall_note``: rcu_note (OOM expected, all QSes seen, blocked tasks);
    ``rcu_stall_dump`` *trace*: rcu_dump | cpu (the grace-period kthread's or a CPU's stack);
    ``nmi_backtrace`` *trace*: cpu, idle_function (skipped idle CPU); ``nmi_request``: cpu,
    cpu_list; ``nmi_handler_slow``; ``spinlock_lockup`` *trace* (<= 4.x): cpu, comm, pid
Kernel crash reports (grammars/oops.lark, grammars/page.lark)
    ``oops`` *trace*: what (Oops, general protection fault, kernel BUG at, unable to handle ...),
    detail, and from the register line that names where the CPU was ("RIP: 0010:f+..", "PC is at
    f+..", "NIP [...] f+..", "pc : f+..", see capture.builder.fault_function): fault_function,
    fault_line, fault_text (also on an ``atomic_bug`` or ``bad_page`` row that has one);
    ``kernel_warning`` *trace*: cpu, pid, srcline, function; ``kernel_panic`` *trace*: reason
    (e.g. "System is deadlocked on memory", "hung_task: blocked tasks"); ``atomic_bug``
    *trace*: what, detail; ``bad_page`` *trace*: what (state | map), comm, pfn | pte;
    ``sanitizer_report`` *trace*: what ("BUG: KASAN:", "BUG: KMSAN:", "BUG: KCSAN:", "BUG: KFENCE:",
    "UBSAN:"), bug (use-after-free, uninit-value, data-race, ...), detail (where)
Device failures (grammars/device.lark): lines that report one (a failure word, or an error level)
    ``device_error`` (dev_printk): driver, device, netdev, message; ``ata_error``: ata, message;
    ``block_error``: block_function, block_error, disk, rest; ``fs_error`` *trace*: fs_name,
    fs_level, disk, rest | message; ``netdev_watchdog``: netdev, driver, message;
    ``machine_check``: rest; ``drm_error``: function, module, rest; ``nfs_error``: server, message
SysRq (grammars/sysrq.lark)
    ``sysrq``: action
Fault injection (grammars/fault_inject.lark)
    ``fault_injection`` ("FAULT_INJECTION: forcing a failure."); ``fault_injection_name`` *trace*:
    name (failslab, fail_page_alloc, ...: the fault forced; the stack of the failed call follows)
dump_stack header (grammars/dump_header.lark)
    ``dump_cpu``: cpu, uid, pid, comm, tainted, release, build, version; ``dump_pid`` (<= 3.x
    "Pid: N, comm: ..."): pid, comm, tainted, release, build, version; ``dump_taint``: tainted,
    release, build, version, cpu; ``dump_taint_legend`` (6.x): taint_legend;
    ``dump_hardware``: hardware; ``dump_cpuset``: comm, cpuset, mems_allowed; ``dump_modules``:
    modules

Not rows of this table, but recognised (counted as parsed in the input statistics): the trace
lines of every architecture (``frame``, ``frame_address``, ``trace_marker``: frames become rows of
the frames table; ``same_stack``, "<Same stack as pid N>": the trace of that task, printed
before), register, stack and code dumps (``registers``, ``rip``, ``code_bytes``,
``arch_registers``, ``ppc_registers``, ``fault_location``, ``memory_dump``, ``instruction_dump``:
part of the trace they are printed in), the scaffolding of crash reports (``oops_cut``,
``oops_end``, ``oops_epilogue``: they end what is open; ``oops_fault``, ``oops_task``,
``oops_context``, and ``check_message``, the message of a self-check's WARNING or BUG), page
dumps (``page_dump``), and the accounts after a checker's or lockdep's header
(``sanitizer_detail``, ``lockdep_detail``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from stallscope.capture.fields import is_fields, values_of
from stallscope.capture.model import Capture, column_values, labels_at, timestamp
from stallscope.parse.kinds import EVENT_KINDS_WITH_TRACE

# A row of an events table: a Series from iterrows, or a dict from records().
Row = pd.Series | dict[str, object]
# How far (in log lines) the dump_cpu line of a report may follow its header.
_HEADER_REACH = 6


class EventRows:
    """The rows of one events table, found by kind.

    The rules ask each boot's small table for a kind about thirty times: pandas' isin and
    boolean indexing cost tens of microseconds whatever the table's size, and taking rows costs
    a microsecond or more per column, most of it for nothing when no row is of the kind (two
    thirds of the asks, bench/README.md). Here each kind's row positions are found once, a kind
    the table does not hold gives one shared empty table, and :meth:`records` reads the rows'
    cells from columns converted once, without taking rows at all. The table must not change
    while this reads it (a view's tables do not; callers must not modify what is returned).
    """

    __slots__ = ("_arrays", "_codes", "_columns", "_empty", "_hits", "_places", "frame")

    def __init__(self, events: pd.DataFrame) -> None:
        self.frame = events
        kind = events["kind"] if len(events) else None
        self._codes: np.ndarray | None = None
        self._places: dict[object, int] = {}
        if kind is not None and isinstance(kind.dtype, pd.CategoricalDtype):
            self._codes = kind.array.codes
            self._places = _category_places(tuple(kind.dtype.categories))
        self._hits: dict[str, np.ndarray] = {}
        self._empty: pd.DataFrame | None = None
        self._columns: tuple[list[object], list[str], list[list[object]]] | None = None
        # Each column's values (pandas' extension array, or numpy's), as first asked for by
        # ``column_at``.
        self._arrays: dict[str, object] = {}

    def positions(self, *kinds: str) -> np.ndarray:
        """Where the rows of these kinds are in the table, in table order."""
        if not len(self.frame):
            return np.empty(0, dtype=np.intp)
        found = [self._of(kind) for kind in dict.fromkeys(kinds)]
        found = [hits for hits in found if len(hits)]
        if not found:
            return np.empty(0, dtype=np.intp)
        return found[0] if len(found) == 1 else np.sort(np.concatenate(found))

    def _of(self, kind: str) -> np.ndarray:
        hits = self._hits.get(kind)
        if hits is None:
            if self._codes is not None:
                code = self._places.get(kind)
                hits = np.flatnonzero(self._codes == code) if code is not None else np.empty(0, dtype=np.intp)
            else:
                hits = np.flatnonzero(self.frame["kind"].eq(kind).to_numpy(dtype=bool, na_value=False))
            self._hits[kind] = hits
        return hits

    def count(self, *kinds: str) -> int:
        return len(self.positions(*kinds))

    def column(self, name: str, *kinds: str) -> pd.Series:
        """``self.of_kind(*kinds)[name]``, without taking the other columns' rows."""
        hits = self.positions(*kinds)
        values = self.frame[name].iloc[hits]
        return values if values.index.is_monotonic_increasing else values.sort_index(kind="stable")

    def of_kind(self, *kinds: str) -> pd.DataFrame:
        """The rows of these kinds, in log order (the table's index order)."""
        hits = self.positions(*kinds)
        if not len(hits):
            if self._empty is None:
                self._empty = self.frame.iloc[:0]
            return self._empty
        rows = self.frame.iloc[hits]
        # The table's row order is the reading order (files in rotation order, then lines).
        return rows if rows.index.is_monotonic_increasing else rows.sort_index(kind="stable")

    def records(self, *kinds: str) -> list[tuple[object, dict[str, object]]]:
        """``list(records(self.of_kind(*kinds)))``, read from columns converted once; where these
        rows are a small share of a long table (a view of every boot of a machine), from their
        own rows only: the whole columns of millions of event rows as Python objects took gigabytes."""
        hits = self.positions(*kinds)
        if not len(hits):
            return []
        if self._columns is None and len(hits) * _WHOLE_COLUMNS < len(self.frame):
            found = as_records(*self.rows_at(hits), range(len(hits)))
        else:
            if self._columns is None:
                names = list(self.frame.columns)
                self._columns = (self.frame.index.tolist(), names, [self.frame[name].tolist() for name in names])
            found = as_records(*self._columns, hits.tolist())
        if any(found[at][0] < found[at - 1][0] for at in range(1, len(found))):  # type: ignore[operator]
            found.sort(key=lambda row: row[0])  # type: ignore[arg-type, return-value]
        return found


    def rows_at(self, positions: np.ndarray) -> tuple[list[object], list[str], list[list[object]]]:
        """The labels, column names and columns (as lists of the objects ``records`` gives) of the
        rows at ``positions``."""
        names = list(self.frame.columns)
        return self.labels_at(positions), names, [self.column_at(positions, name) for name in names]

    def labels_at(self, positions: np.ndarray) -> list[object]:
        return self.labels_array_at(positions).tolist()  # type: ignore[no-any-return]

    def labels_array_at(self, positions: np.ndarray) -> np.ndarray:
        """The row labels at ``positions``, as an array."""
        return labels_at(self.frame.index, positions)

    def column_at(self, positions: np.ndarray, name: str) -> list[object]:
        """One column of the rows at ``positions``, as ``rows_at`` gives it: ``Series.take(...)
        .tolist()``, taken from the column's values (a Series per call cost 8 times as much, and
        the rules ask for a few rows of a column hundreds of times a window of boots)."""
        return self.values_at(positions, name).tolist()  # type: ignore[attr-defined, no-any-return]

    def values_at(self, positions: np.ndarray, name: str) -> Any:
        """One column of the rows at ``positions`` as the table holds it (pandas' extension
        array, or numpy's): ``column_at`` before its values are made Python objects."""
        values = self._arrays.get(name)
        if values is None:
            values = self._arrays[name] = column_values(self.frame[name])
        return values.take(positions)  # type: ignore[attr-defined]


def as_records(labels: list[object], names: list[str], columns: list[list[object]],
               positions: Iterable[int]) -> list[tuple[object, dict[str, object]]]:
    """(label, row as a dict) of the rows at ``positions`` of columns converted to lists, as
    :func:`records` gives them."""
    return [(labels[at], {name: column[at] for name, column in zip(names, columns, strict=True)})
            for at in positions]


# Rows of a kind in this many of a table's rows or more: its whole columns are converted once (a
# boot's view, asked for a dozen kinds); fewer: only theirs.
_WHOLE_COLUMNS = 16

# An events table, or its rows found by kind (what a view keeps: see ``HostView.rows``).
Events = pd.DataFrame | EventRows


def event_rows(events: Events) -> EventRows:
    return events if isinstance(events, EventRows) else EventRows(events)


def of_kind(events: Events, *kinds: str) -> pd.DataFrame:
    """The rows of the given kinds, in log order."""
    return event_rows(events).of_kind(*kinds)


def kind_records(events: Events, *kinds: str) -> list[tuple[object, dict[str, object]]]:
    """(index, row) of the rows of the given kinds as :func:`records` gives them, in log order."""
    return event_rows(events).records(*kinds)


@lru_cache(maxsize=64)
def _category_places(categories: tuple[object, ...]) -> dict[object, int]:
    return {category: code for code, category in enumerate(categories)}


def records(frame: pd.DataFrame) -> Iterator[tuple[object, dict[str, object]]]:
    """(index, row) of every row, as ``DataFrame.iterrows`` gives them (each cell as a Python
    object, missing values as pandas has them) but with each row a dict: building a Series per
    row costs tens of microseconds, and an OOM or stall storm has tens of thousands of reports."""
    if not len(frame):
        return
    names = list(frame.columns)
    # Series.tolist gives each cell as the Python object astype(object) would (ints, pd.NA,
    # category values, NaN) without building an object column first: on the small frames of one
    # boot's view that conversion was most of the rules' time.
    columns = [frame[name].tolist() for name in names]
    for index, values in zip(frame.index.tolist(), zip(*columns, strict=True), strict=True):
        yield index, dict(zip(names, values, strict=True))


def tuples(frame: pd.DataFrame, index: bool = True) -> list[tuple[object, ...]]:
    """``list(frame.itertuples(index))``: the same named tuples of the same values, without
    pandas building the tuple class anew (a tenth of a millisecond) and selecting each column by
    position on every call; the rules call it on hundreds of small tables per capture."""
    names = list(frame.columns)
    if frame.columns.is_unique:
        columns = [frame[name] for name in names]
    else:
        columns = [frame.iloc[:, at] for at in range(len(names))]
    fields = ("Index", *names) if index else tuple(names)
    kind = _tuple_class(tuple(str(name) for name in fields))
    # A column iterates as itertuples gives it: numpy columns as Python scalars (tolist gives
    # the same), extension columns (Int64, categories, strings) as their own scalars.
    values = [column.to_numpy().tolist() if _plain(column.dtype) else list(column) for column in columns]
    return [kind._make(row) for row in zip(*([frame.index] if index else []), *values, strict=True)]


def _plain(dtype: object) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind in "biufcO"


@lru_cache(maxsize=256)
def _tuple_class(fields: tuple[str, ...]) -> type:
    # As DataFrame.itertuples names it: fields that are not identifiers become _1, _2, ...
    return namedtuple("Pandas", fields, rename=True)  # type: ignore[misc]


def field(row: Row, name: str) -> str | None:
    return field_of(row["fields"], name)


def field_of(fields: object, name: str) -> str | None:
    """Field ``name`` of a line's fields (a row's ``fields`` cell; None where it has no dict)."""
    return fields.get(name) if is_fields(fields) else None


# The range of the tables' integer columns: a number beyond it (a garbled or inflated field) is
# unknown, as the capture's own columns keep it (missing, the line counted as corrupted).
_INT64 = 1 << 63


def int_field(row: Row, name: str) -> int | None:
    return number_of(field(row, name))


def number_of(text: str | None) -> int | None:
    """A field's text as a number of the tables' range, None when absent or not one."""
    try:
        value = None if text is None else int(text)
    except ValueError:
        return None
    return value if value is None or -_INT64 <= value < _INT64 else None


def ints(row: Row, name: str) -> list[int]:
    """A repeated numeric field as its list of values."""
    return numbers_of(field(row, name))


def numbers_of(text: str | None) -> list[int]:
    """A repeated numeric field's text as its list of values."""
    return [int(part) for part in text.split()] if text else []


def counters(row: Row) -> dict[str, int]:
    """The generic ``name:value`` counters of a Mem-Info line."""
    names = (field(row, "name") or "").split()
    values = ints(row, "value")
    return dict(zip(names, values, strict=False))


def stack_frames(capture: Capture, stack: object) -> list[tuple[str, bool]]:
    """(function, reliable) of one stack, innermost first; [] when no trace was linked."""
    if stack is None or pd.isna(stack):  # type: ignore[arg-type]
        return []
    frames = capture.frames
    return frames_by_stack(frames[frames["stack"] == int(stack)]).get(int(stack), [])  # type: ignore[call-overload]


def frames_by_stack(frames: pd.DataFrame) -> dict[int, list[tuple[str, bool]]]:
    """:func:`stack_frames` of every stack of these frame rows at once: for a reader of many
    stacks (a table selected per stack costs pandas' fixed costs, near a millisecond, each)."""
    found: dict[int, list[tuple[str, bool]]] = {}
    if not len(frames):
        return found
    order = np.lexsort((frames["depth"].to_numpy(dtype="int64", na_value=-1),
                        frames["stack"].to_numpy(dtype="int64", na_value=-1)))
    for stack, function, reliable in zip(frames["stack"].take(order).tolist(), frames["function"].take(order).tolist(),
                                         frames["reliable"].take(order).tolist(), strict=True):
        if stack is not pd.NA:
            found.setdefault(int(stack), []).append((str(function), bool(reliable)))
    return found


# How far (in log lines) a report's call trace may begin after its header when the builder did
# not tie them: the taint line, the hung-task hint, the task line, the stack words of 4.x kernels
# and a "Workqueue:" line come between.
_TRACE_REACH = 10
# Per source: (lines, stacks, owning task's pid or -1 for none) of the traces no report owns, as
# int64 arrays: a capture of a million task traces held them as Python lists, 71 MB for the whole
# run of the rules where the arrays take 24 MB (bench/README.md).
FreeTraces = dict[object, tuple[np.ndarray, np.ndarray, np.ndarray]]
_NO_OWNER = -1


def report_stacks(capture: Capture, reports: pd.DataFrame | Sequence[Mapping[str, object]],
                  free: FreeTraces | None = None, headers: dict[object, list[int]] | None = None) -> list[int | None]:
    """The stack of each report (rows with the event, source, line, stack and pid columns, as
    :func:`hung_tasks` gives, or such rows as dicts), in their order; None for a report without a trace.

    The trace the builder tied to the report, or else the first trace that begins within
    ``_TRACE_REACH`` lines after its header, before the next report of its source that takes a
    trace, and that no other report owns, nor a task row of another pid: a task line the grammar
    does not read (a 4.15 line with its extra field) ends the report's block before its trace.

    ``free`` and ``headers`` are :func:`free_traces` and :func:`trace_headers` of the capture when
    the caller keeps them: they are of the whole capture, and a capture of many boots asks for
    the stacks of each boot's reports.
    """
    rows = [row for _, row in records(reports)] if isinstance(reports, pd.DataFrame) else reports
    tied = [row.get("stack") for row in rows]
    out: list[int | None] = [None if stack is None or pd.isna(stack) else int(stack) for stack in tied]  # type: ignore[call-overload]
    missing = [at for at, stack in enumerate(out) if stack is None]
    traces = capture.traces
    if not missing or not len(traces):
        return out
    free = free_traces(capture) if free is None else free
    headers = trace_headers(capture.events) if headers is None else headers
    for at in missing:
        report = rows[at]
        source, line = report["source"], int(report["line"])  # type: ignore[call-overload]
        candidates = free.get(source)
        if candidates is None:
            continue
        lines, stacks, pids = candidates
        first = int(lines.searchsorted(line, side="right"))  # bisect_right
        if first == len(lines) or lines[first] > line + _TRACE_REACH:
            continue
        others = headers.get(source, [])
        following = bisect_right(others, line)
        if following < len(others) and others[following] < lines[first]:
            continue  # another report began before it: the trace is that report's
        pid = report.get("pid")
        owner = int(pids[first])
        if owner != _NO_OWNER and (pid is None or pd.isna(pid) or int(pid) != owner):  # type: ignore[arg-type, call-overload]
            continue
        out[at] = int(stacks[first])
    return out


def free_traces(capture: Capture) -> FreeTraces:
    """Per source: (lines, stacks, owning task's pid or -1) of the traces no report owns, in line order."""
    traces = capture.traces
    # The four columns read, not the table: of a long capture's traces the rest is tens of MB.
    unowned = traces.loc[traces["event"].isna().to_numpy(dtype=bool) & traces["stack"].notna().to_numpy(dtype=bool),
                         ["source", "line", "stack", "task"]]
    tasks = capture.tasks
    out: FreeTraces = {}
    pids = tasks["pid"].array
    for source, rows in unowned.sort_values("line", kind="stable").groupby("source", sort=False, observed=True):
        # The owning task's pid, looked up for all traces at once (-1: no task, or a row not
        # in the table): a storm of traces made the row-by-row lookup most of the rules' time.
        at = tasks.index.get_indexer(rows["task"].fillna(-1).to_numpy(dtype="int64")) if len(tasks) else (
            np.full(len(rows), -1))
        owners = pids.take(at, allow_fill=True).to_numpy(dtype="int64", na_value=_NO_OWNER)
        out[source] = (rows["line"].to_numpy(dtype="int64"), rows["stack"].to_numpy(dtype="int64"), owners)
    return out


def trace_headers(events: pd.DataFrame) -> dict[object, list[int]]:
    """Per source, the lines of the report headers that take a trace, in order."""
    rows = events[events["kind"].isin(EVENT_KINDS_WITH_TRACE).to_numpy(dtype=bool)] if len(events) else events
    return {source: sorted(part["line"].astype("int64").tolist())
            for source, part in rows.groupby("source", sort=False, observed=True)} if len(rows) else {}


class Reporters:
    """The dump_cpu lines of an events table, to name the task a report header names only by comm.

    Looked up by (source, line) with a bisection: scanning the table for every header made a
    storm of reports quadratic.
    """

    def __init__(self, events: Events) -> None:
        # (source, boot) -> (lines, row positions, comms, pids), ordered by line: keyed by boot too,
        # so that a view of every boot of a machine names each report's task from its own boot.
        self._by_source: dict[tuple[object, int], tuple[list[int], list[int], list[object], list[object]]] = {}
        table = event_rows(events)
        positions = table.positions("dump_cpu").tolist()
        if not positions:
            return
        rows = table.frame.iloc[positions]
        boots = (rows["boot"].to_numpy(dtype=np.int64, na_value=0).tolist() if "boot" in rows.columns
                 else [0] * len(positions))
        places: dict[tuple[object, int], list[tuple[int, int, object, object]]] = {}
        for source, boot, line, position, comm, pid in zip(
                rows["source"].astype(object).tolist(), boots, rows["line"].astype(object).tolist(), positions,
                rows["comm"].astype(object).tolist(), rows["pid"].astype(object).tolist(), strict=True):
            places.setdefault((source, boot), []).append((int(line), position, comm, pid))
        for key, found in places.items():
            found.sort(key=lambda place: place[0])  # stable: rows of one line keep their order
            lines, where, comms, pids = (list(column) for column in zip(*found, strict=True))
            self._by_source[key] = (lines, where, comms, pids)  # type: ignore[assignment]

    def pid(self, row: Row) -> int | None:
        """The pid on the first dump_cpu line (in table order) within _HEADER_REACH lines after
        ``row``, of the comm ``row`` names when it names one."""
        boot = row.get("boot")
        found = self._by_source.get((row["source"], 0 if boot is None or pd.isna(boot) else int(boot)))  # type: ignore[arg-type, call-overload]
        if found is None:
            return None
        lines, where, comms, pids = found
        line = int(row["line"])  # type: ignore[call-overload]
        comm = row["comm"]
        anyone = comm is None or pd.isna(comm)  # type: ignore[arg-type]
        first = None
        for at in range(bisect_right(lines, line), bisect_right(lines, line + _HEADER_REACH)):
            if (anyone or comms[at] == comm) and (first is None or where[at] < where[first]):
                first = at
        if first is None:
            return None
        pid = pids[first]
        return None if pd.isna(pid) else int(pid)  # type: ignore[arg-type, call-overload]


def _table(rows: list[dict[str, object]], columns: list[str]) -> pd.DataFrame:
    if not rows:
        # Most of a boot's tables are empty, and building a DataFrame costs a tenth of a
        # millisecond whatever its size: a shallow copy of one made once (a caller that adds a
        # column adds it to its copy).
        return _empty_table(tuple(columns)).copy(deep=False)
    return pd.DataFrame(rows, columns=columns)


@lru_cache(maxsize=64)
def _empty_table(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame([], columns=list(columns))


_PLACE = ["event", "source", "line", "ts"]


def _place(index: object, row: Row) -> dict[str, object]:
    return {"event": index, "source": row["source"], "line": int(row["line"]), "ts": row["ts"]}


# --- OOM killer --------------------------------------------------------------------------------
def oom_kills(events: Events) -> pd.DataFrame:
    """One row per "Killed process" line: the victim, its size, and whether a memcg limit hit."""
    return kills_of(kind_records(events, "oom_killed_process"))


def kills_of(records: list[tuple[object, dict[str, object]]]) -> pd.DataFrame:
    """:func:`oom_kills` of these "oom_killed_process" records (of one boot, say)."""
    return _table(kill_rows_of(records), KILL_COLUMNS)


KILL_COLUMNS = [*_PLACE, "pid", "comm", "anon_rss_kb", "total_vm_kb", "oom_score_adj", "memcg"]
# The columns of a record kill_rows_of reads.
KILL_READS = ("source", "line", "ts", "fields")


def kill_rows_of(records: Iterable[tuple[object, dict[str, object]]]) -> list[dict[str, object]]:
    """The rows of :func:`kills_of` (as dicts, None where a line did not say) of these records
    (with the columns KILL_READS at least)."""
    rows = []
    for index, row in records:
        scope, pid, comm, anon_rss_kb, total_vm_kb, oom_score_adj = _values(row, _KILL_FIELDS)
        rows.append(
            {
                **_place(index, row),
                "pid": number_of(pid),
                "comm": comm,
                "anon_rss_kb": number_of(anon_rss_kb),
                "total_vm_kb": number_of(total_vm_kb),
                "oom_score_adj": number_of(oom_score_adj),
                "memcg": (scope or "").startswith("Memory cgroup"),
            }
        )
    return rows


_KILL_FIELDS = ("scope", "pid", "comm", "anon_rss_kb", "total_vm_kb", "oom_score_adj")


def _values(row: Row, names: tuple[str, ...]) -> tuple[str | None, ...]:
    """The fields ``names`` of a row's line (None for each it lacks), in one call."""
    fields = row["fields"]
    return values_of(fields, names) if is_fields(fields) else (None,) * len(names)  # type: ignore[arg-type]


def oom_invocations(events: Events, reporters: Reporters | None = None) -> pd.DataFrame:
    """One row per "invoked oom-killer" line: the allocating task and its request (its pid from
    the dump_cpu line after it: ``reporters`` of ``events``, when the caller keeps one)."""
    return _table(invocation_rows_of(kind_records(events, "oom_invoke"), reporters or Reporters(events)),
                  INVOCATION_COLUMNS)


INVOCATION_COLUMNS = [*_PLACE, "comm", "pid", "gfp_mask", "gfp_names", "order", "stack"]


def invocation_rows_of(records: Iterable[tuple[object, dict[str, object]]],
                       reporters: Reporters) -> list[dict[str, object]]:
    """The rows of :func:`oom_invocations` (as dicts) of these "oom_invoke" records (of one boot,
    say; with the columns INVOCATION_READS at least)."""
    rows = []
    for index, row in records:
        comm, gfp_mask, gfp_names, order = _values(row, _INVOCATION_FIELDS)
        rows.append({
            **_place(index, row),
            "comm": comm,
            "pid": reporters.pid(row),
            "gfp_mask": gfp_mask,
            "gfp_names": (gfp_names or "").strip("()") or None,
            "order": number_of(order),
            "stack": row["stack"],
        })
    return rows


_INVOCATION_FIELDS = ("comm", "gfp_mask", "gfp_names", "order")
# The columns of a record invocation_rows_of reads (with Reporters.pid's).
INVOCATION_READS = ("source", "line", "ts", "fields", "stack", "comm", "boot")


# --- warn_alloc --------------------------------------------------------------------------------
def alloc_reports(events: Events, kind: str = "warn_alloc_stall",
                  reporters: Reporters | None = None) -> pd.DataFrame:
    """warn_alloc stall (or failure) reports with the reporting task's pid from dump_cpu
    (``reporters`` of ``events``, when the caller keeps one)."""
    return _table(alloc_reports_of(kind_records(events, kind), reporters or Reporters(events)), ALLOC_REPORT_COLUMNS)


ALLOC_REPORT_COLUMNS = [*_PLACE, "comm", "pid", "stall_ms", "order", "mode", "gfp_names", "stack", "text"]


def alloc_reports_of(records: list[tuple[object, dict[str, object]]], reporters: Reporters) -> list[dict[str, object]]:
    """The rows of :func:`alloc_reports` (as dicts) of these warn_alloc records (of one boot, say)."""
    return [
        {
            **_place(index, row),
            "comm": field(row, "comm"),
            "pid": reporters.pid(row),
            "stall_ms": int_field(row, "stall_ms"),
            "order": int_field(row, "order"),
            "mode": field(row, "mode"),
            "gfp_names": (field(row, "gfp_names") or "").strip("()") or None,
            "stack": row["stack"],
            "text": row["text"],
        }
        for index, row in records
    ]


def suppressed_callbacks(events: Events, prefix: str = "warn_alloc") -> pd.DataFrame:
    """printk ratelimit notices of functions starting with ``prefix``."""
    return _table(suppressed_of(kind_records(events, "ratelimit_suppressed"), prefix),
                  [*_PLACE, "function", "suppressed"])


def suppressed_of(records: list[tuple[object, dict[str, object]]],
                  prefix: str = "warn_alloc") -> list[dict[str, object]]:
    """The rows of :func:`suppressed_callbacks` (as dicts) of these "ratelimit_suppressed" records."""
    rows = []
    for index, row in records:
        function = field(row, "function") or ""
        if function.startswith(prefix):
            rows.append({**_place(index, row), "function": function, "suppressed": int_field(row, "suppressed")})
    return rows


# --- hung tasks and lock owners ----------------------------------------------------------------
def hung_tasks(events: Events) -> pd.DataFrame:
    """One row per "INFO: task comm:pid blocked for more than N seconds." report."""
    return hung_of(kind_records(events, "hung_task"))


def hung_of(records: list[tuple[object, dict[str, object]]]) -> pd.DataFrame:
    """:func:`hung_tasks` of these "hung_task" records (of one boot, say)."""
    return _table(hung_rows_of(records), [*_PLACE, "comm", "pid", "seconds", "stack", "text"])


def hung_rows_of(records: list[tuple[object, dict[str, object]]]) -> list[dict[str, object]]:
    """The rows of :func:`hung_of` (as dicts, None where a line did not say) of these records."""
    return [
        {
            **_place(index, row),
            "comm": field(row, "comm"),
            "pid": int_field(row, "pid"),
            "seconds": int_field(row, "seconds"),
            "stack": row["stack"],
            "text": row["text"],
        }
        for index, row in records
    ]


def lock_blockers(events: Events) -> pd.DataFrame:
    """hung_task's "blocked on a <lock> likely owned by task" lines (6.14+): waiter -> owner."""
    return blockers_of(kind_records(events, "hung_task_blocker"))


def blockers_of(records: list[tuple[object, dict[str, object]]]) -> pd.DataFrame:
    """:func:`lock_blockers` of these "hung_task_blocker" records (of one boot, say)."""
    return _table(blocker_rows_of(records), [*_PLACE, "comm", "pid", "lock_type", "owner_comm", "owner_pid", "text"])


def blocker_rows_of(records: list[tuple[object, dict[str, object]]]) -> list[dict[str, object]]:
    """The rows of :func:`blockers_of` (as dicts, None where a line did not say) of these records."""
    return [
        {
            **_place(index, row),
            "comm": field(row, "comm"),
            "pid": int_field(row, "pid"),
            "lock_type": field(row, "lock_type"),
            "owner_comm": field(row, "owner_comm"),
            "owner_pid": int_field(row, "owner_pid"),
            "text": row["text"],
        }
        for index, row in records
    ]


def held_locks(events: Events) -> pd.DataFrame:
    """One row per lockdep ``#N:`` line, with the holder named by the header line above it."""
    return held_of(kind_records(events, *HELD_LOCK_KINDS))


# The kinds of a lockdep "locks held by" dump: its header and its "#N:" lines.
HELD_LOCK_KINDS = ("lockdep_held_header", "lockdep_held")


def held_of(records: list[tuple[object, dict[str, object]]]) -> pd.DataFrame:
    """:func:`held_locks` of these records of ``HELD_LOCK_KINDS`` (of one boot, say), in log order."""
    return _table(held_rows_of(records), [*_PLACE, "holder_comm", "holder_pid", "index", "lock", "function", "text"])


def held_rows_of(records: list[tuple[object, dict[str, object]]]) -> list[dict[str, object]]:
    """The rows of :func:`held_of` (as dicts, None where a line did not say) of these records."""
    rows = []
    holder: tuple[str | None, int | None, str | None] = (None, None, None)
    for index, row in records:
        if row["kind"] == "lockdep_held_header":
            holder = (field(row, "comm"), int_field(row, "pid"), str(row["source"]))
            continue
        if holder[2] != row["source"]:
            holder = (None, None, None)
        rows.append(
            {
                **_place(index, row),
                "holder_comm": holder[0],
                "holder_pid": holder[1],
                "index": int_field(row, "index"),
                "lock": (field(row, "lock") or "").strip("()"),
                "function": field(row, "function"),
                "text": row["text"],
            }
        )
    return rows


# --- workqueues --------------------------------------------------------------------------------
def workqueue_pools(events: Events) -> pd.DataFrame:
    """The "pool N: ... hung=Ns workers=N" lines of workqueue dumps."""
    return pools_of(kind_records(events, "wq_pool"))


def pools_of(records: list[tuple[object, dict[str, object]]]) -> pd.DataFrame:
    """:func:`workqueue_pools` of these "wq_pool" records (of one boot, say), in their order."""
    rows = []
    for index, row in records:
        rows.append(
            {
                **_place(index, row),
                "pool": int_field(row, "pool"),
                "cpus": field(row, "cpus"),
                "hung": int_field(row, "hung"),
                "workers": int_field(row, "workers"),
                "manager": int_field(row, "manager"),
                "idle": ints(row, "idle"),
            }
        )
    return _table(rows, [*_PLACE, "pool", "cpus", "hung", "workers", "manager", "idle"])


@dataclass(slots=True)
class WorkItem:
    """One work item of a workqueue dump: pending, or in flight on a worker."""

    function: str
    event: int  # the event row of its line
    worker: int | None = None  # in flight: the worker's pid
    rescuer: bool = False  # in flight on the workqueue's rescuer
    delay: int | None = None  # jiffies it had waited (a 2016 debug build prints it)
    flushers: list[int] = dataclass_field(default_factory=list)  # pids in BAR(pid): tasks waiting in flush_work


@dataclass(slots=True)
class BusyPwq:
    """One pool_workqueue of a workqueue dump with what runs and waits on it."""

    workqueue: str
    source: str
    line: int
    ts: float | None
    text: str
    cpus: str | None
    active: int | None
    max_active: int | None
    mayday: bool
    workers: list[int]
    rescuers: list[int]
    in_flight: list[str]
    pending: int
    nice: str | None = None
    dump: int = 0  # which dump of the events table (from 0, in log order)
    flags: str | None = None  # the workqueue's flags (0x8: WQ_MEM_RECLAIM)
    running: list[WorkItem] = dataclass_field(default_factory=list)  # in-flight items with their workers
    waiting: list[WorkItem] = dataclass_field(default_factory=list)  # pending items


_BARRIER_PID = re.compile(r"BAR\((\d+)\)")


# The lines of a workqueue dump (show_workqueue_state) that busy_workqueues reads.
WORKQUEUE_DUMP_KINDS = ("wq_show_busy", "wq_workqueue", "wq_pwq", "wq_in_flight", "wq_pending", "wq_pool")


def busy_workqueues(events: Events) -> list[BusyPwq]:
    """The pwq lines of workqueue dumps, each with its in-flight and pending lines."""
    return busy_of([(index, *(row[name] for name in BUSY_COLUMNS))
                    for index, row in kind_records(events, *WORKQUEUE_DUMP_KINDS)])


# The columns busy_of reads of a line, in the order of its tuples (after the row label).
BUSY_COLUMNS = ("kind", "fields", "source", "line", "ts", "text")


def busy_of(lines: Iterable[tuple[object, ...]], first_dump: int = 0) -> list[BusyPwq]:
    """:func:`busy_workqueues` of these lines of WORKQUEUE_DUMP_KINDS (of one boot, say), in log
    order, each a tuple (row label, *BUSY_COLUMNS): tuples of the columns, not a dict per line,
    because a long capture's dumps hold 200,000 lines a GB (bench/README.md). ``first_dump``: the
    number of the lines' first dump (:class:`WorkqueueDumps` reads one dump at a time)."""
    found: list[BusyPwq] = []
    name: str | None = None
    flags: str | None = None
    current: BusyPwq | None = None
    dump = first_dump - 1
    for index, kind, fields, source, line, ts, text in lines:
        if not is_fields(fields):
            fields = {}
        if kind == "wq_in_flight":
            if current is not None:
                current.workers += numbers_of(fields.get("worker"))
                current.rescuers += numbers_of(fields.get("rescuer"))
                current.in_flight += (fields.get("work") or "").split()
                current.running += _in_flight_items(int(index), str(text))  # type: ignore[call-overload]
        elif kind == "wq_pending":
            if current is not None:
                works = (fields.get("work") or "").split()
                current.pending += len(works)
                current.waiting += _items(int(index), works, fields, str(text))  # type: ignore[call-overload]
        elif kind == "wq_pwq":
            if name is not None:
                current = BusyPwq(
                    name, str(source), int(line), timestamp(ts), str(text),  # type: ignore[call-overload]
                    fields.get("cpus"), number_of(fields.get("active")), number_of(fields.get("max_active")),
                    fields.get("mayday") is not None, [], [], [], 0, fields.get("nice"), dump, flags,
                )
                found.append(current)
        elif kind == "wq_workqueue":
            name, flags, current = fields.get("workqueue"), fields.get("flags"), None
            dump = max(dump, 0)  # a dump whose header line was not captured
        else:  # a dump's first line (wq_show_busy) or a pool line ends the pool_workqueue before
            if kind == "wq_show_busy":
                dump += 1
            name, current = None, None
    return found


# How many lines of unread dumps WorkqueueDumps.each reads in one go.
_LINES_AT_ONCE = 4096


class WorkqueueDumps:
    """The workqueue dumps of one boot, each read (:func:`busy_of`) when first asked for: a long
    capture holds hundreds of dumps, and a rule that reads the latest one and looks back only
    while an item stays pending (mm-work-pending) then reads a few of them, not all (bench/README.md).

    ``kinds``: the kind of each of the boot's lines of WORKQUEUE_DUMP_KINDS, in log order;
    ``lines``: the tuples busy_of reads of a slice of those lines. A dump starts at its header
    line (wq_show_busy); lines naming a workqueue before the first header are a dump whose header
    was not captured, dump 0, as busy_of numbers it.
    """

    def __init__(self, kinds: Sequence[object], lines: Callable[[slice], list[tuple[object, ...]]]) -> None:
        starts = [at for at, kind in enumerate(kinds) if kind == "wq_show_busy"]
        head = starts[0] if starts else len(kinds)
        if any(kind == "wq_workqueue" for kind in kinds[:head]):
            starts.insert(0, 0)
        # (No header and no workqueue line, a pwq line alone: no dump.)
        self._parts = [slice(start, stop) for start, stop in pairwise([*starts, len(kinds)])]
        self._lines = lines
        self._read: dict[int, list[BusyPwq]] = {}

    def __len__(self) -> int:
        return len(self._parts)

    def dump(self, number: int) -> list[BusyPwq]:
        """The pool_workqueues of dump ``number`` (from 0, in log order); callers must not modify them."""
        found = self._read.get(number)
        if found is None:
            found = self._read[number] = busy_of(self._lines(self._parts[number]), first_dump=number)
        return found

    def each(self, only: Iterable[int] | None = None) -> Iterator[BusyPwq]:
        """The pool_workqueues of every dump in log order (``only``: of these dumps), as
        :func:`busy_of` reads the boot's lines at once. The dumps not read yet are read some at a
        time (one read of the columns for up to _LINES_AT_ONCE lines of consecutive dumps, not one
        per dump) and not kept: the one rule that reads every dump keeps only the few
        pool_workqueues it cites. Read at once and held, a boot of 11 million lines took 70 MB,
        and 150 MB more while being read (bench/README.md)."""
        numbers = range(len(self)) if only is None else sorted(set(only))
        at = 0
        while at < len(numbers):
            number = numbers[at]
            read = self._read.get(number)
            if read is not None:
                yield from read
                at += 1
                continue
            stop = at + 1
            start = self._parts[number].start
            while (stop < len(numbers) and numbers[stop] == numbers[stop - 1] + 1 and numbers[stop] not in self._read
                   and self._parts[numbers[stop]].stop - start <= _LINES_AT_ONCE):
                stop += 1
            yield from busy_of(self._lines(slice(start, self._parts[numbers[stop - 1]].stop)), first_dump=number)
            at = stop

    def containing(self, positions: Iterable[int]) -> list[int]:
        """The dumps (their numbers, in order) that hold the boot's lines at these ``positions``
        (among its lines of WORKQUEUE_DUMP_KINDS); a line before every dump is in none."""
        starts = [part.start for part in self._parts]
        found = set()
        for position in positions:
            number = bisect_right(starts, position) - 1
            if number >= 0 and position < self._parts[number].stop:
                found.add(number)
        return sorted(found)

    def latest(self) -> list[BusyPwq]:
        """The pool_workqueues of the latest dump that lists any ([] when none does)."""
        for number in range(len(self) - 1, -1, -1):
            found = self.dump(number)
            if found:
                return found
        return []


_DELAY = re.compile(r"\(delay=(\d+)\)")
_IN_FLIGHT = re.compile(r"\s*(\d+)(\(RESCUER\))?:(\S+)")


def _items(index: int, works: list[str], fields: dict[str, str], text: str) -> list[WorkItem]:
    # The delays and barriers are fields of the whole line: they belong to single items only
    # when every item has one (a debug build's delays) or the line has one item.
    delays = numbers_of(fields.get("delay"))
    barrier = fields.get("barrier")
    barriers = [int(p) for p in _BARRIER_PID.findall(barrier)] if barrier else []
    items = [WorkItem(work, index) for work in works]
    if len(delays) == len(items):
        for item, delay in zip(items, delays, strict=True):
            item.delay = delay
    if barriers and len(items) == 1:
        items[0].flushers = barriers
    elif barriers:
        # "pending: drain_local_pages_wq BAR(9595), e1000_watchdog": the text places them.
        for item in items:
            after = text.split(item.function, 1)[-1].split(",", 1)[0]
            item.flushers = [int(p) for p in _BARRIER_PID.findall(after)]
    return items


def _in_flight_items(index: int, text: str) -> list[WorkItem]:
    """In-flight items paired with their workers: "in-flight: 86:disk_events_workfn(delay=11024)"."""
    items: list[WorkItem] = []
    for part in text.split("in-flight:", 1)[-1].split(","):
        found = _IN_FLIGHT.match(part)
        if found is None:
            continue
        delay = _DELAY.search(part) if "delay=" in part else None
        items.append(WorkItem(found.group(3).split("(")[0], index, int(found.group(1)), found.group(2) is not None,
                              int(delay.group(1)) if delay else None,
                              [int(p) for p in _BARRIER_PID.findall(part)] if "BAR(" in part else []))
    return items


# --- Mem-Info ----------------------------------------------------------------------------------
def zone_watermarks(events: Events) -> pd.DataFrame:
    """Per-zone free memory against its watermarks, one row per zone line of each Mem-Info."""
    rows = []
    for index, row in kind_records(events, "meminfo_zone"):
        free, low, high = int_field(row, "free_kb"), int_field(row, "low_kb"), int_field(row, "high_kb")
        minimum = int_field(row, "min_kb")
        rows.append(
            {
                **_place(index, row),
                "node": int_field(row, "node"),
                "zone": field(row, "zone"),
                "free_kb": free,
                "min_kb": minimum,
                "low_kb": low,
                "high_kb": high,
                "below_min": free is not None and minimum is not None and free < minimum,
            }
        )
    return _table(rows, [*_PLACE, "node", "zone", "free_kb", "min_kb", "low_kb", "high_kb", "below_min"])


# --- kernel identity ---------------------------------------------------------------------------
def kernel_release(events: Events) -> str | None:
    """The kernel release named by the first dump_stack header or hung-task taint line."""
    for _, row in kind_records(events, "dump_cpu", "dump_pid", "dump_taint"):
        release = field(row, "release")
        # A syzkaller build's hung-task line names no version ("Tainted: G L syzkaller #0").
        if release and release[0].isdigit():
            return release
    return None


# Kernel reports a reader looks for on the timeline and the fleet table, with the label each is
# shown under; the rest (Mem-Info, task lists of the OOM report, dump headers) are counted but not
# listed one by one.
NOTABLE_EVENTS: dict[str, str] = {
    "oom_killed_process": "OOM kill",
    "oom_kill_process": "OOM kill",
    "oom_reaper_reaped": "OOM reaper",
    "oom_reaper_unable": "OOM reaper",
    "hung_task": "hung task",
    "hung_task_blocker": "hung task",
    "warn_alloc_stall": "allocation stall",
    "warn_alloc_failure": "allocation failure",
    "soft_lockup": "lockup",
    "hard_lockup": "lockup",
    "rcu_stall": "lockup",
    "wq_lockup": "lockup",
    "sysrq": "SysRq",
}
