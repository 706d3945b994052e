"""The content of a shareable report, as plain strings: what the Markdown and HTML reports show.

Both renderers take the same tables from here so that a ticket gets the same facts whichever
file is attached. Nothing here is escaped: every cell may hold text from the log, and each
renderer escapes for its own format.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd

from stallscope.capture.events import NOTABLE_EVENTS
from stallscope.capture.hz import delay_seconds, pairs_by_host
from stallscope.capture.model import Capture
from stallscope.capture.signatures import trace_codes
from stallscope.capture.stalled import stalled_tasks as stalled_tasks_of
from stallscope.render.summary import summary
from stallscope.rules.base import Finding
from stallscope.verdict import verdict

if TYPE_CHECKING:
    from stallscope.capture.signatures import TraceCodes
    from stallscope.render.views import ReportView

T = TypeVar("T")


@dataclass(slots=True)
class Table:
    columns: list[str]
    rows: list[list[str]]
    numeric: set[str] = field(default_factory=set)  # columns aligned right


@dataclass(slots=True)
class SignatureGroup:
    signature: str
    guilty: str | None
    traces: int
    tasks: list[str]  # "comm(pid)", in order of first appearance
    stacks: list[int]  # distinct stacks, most printed first; the first is the representative


def _missing(value: object) -> bool:
    return value is None or bool(pd.isna(value))  # type: ignore[arg-type]


def num(value: object) -> str:
    return "" if _missing(value) else str(int(value))  # type: ignore[call-overload]


def ts(value: object) -> str:
    return "" if _missing(value) else f"{float(value):.3f}"  # type: ignore[arg-type]


def text_of(value: object) -> str:
    return "" if _missing(value) else str(value)


def verdict_text(capture: Capture, findings: list[Finding], pairs: object = None) -> str:
    """The verdict paragraph.

    ``pairs``: :func:`stallscope.capture.hz.pairs_by_host` of the capture's tasks, if at hand.
    """
    return str(verdict(capture, findings, pairs))  # type: ignore[arg-type]


def _multi(frame: pd.DataFrame, column: str) -> bool:
    return bool(len(frame)) and column in frame.columns and frame[column].astype(object).nunique(dropna=True) > 1


def _with_host(frame: pd.DataFrame) -> bool:
    return bool(len(frame)) and "host" in frame.columns and bool(frame["host"].notna().any())


def _delta(current: object, previous: object) -> str:
    if _missing(current) or _missing(previous):
        return ""
    change = int(current) - int(previous)  # type: ignore[call-overload]
    return f"{change:+d}" if change else "="


def summary_items(capture: Capture) -> list[tuple[str, str]]:
    facts = summary(capture)
    items: list[tuple[str, str]] = []
    hosts = facts.get("hosts") or []
    if hosts:
        items.append(("hosts", ", ".join(str(h) for h in hosts)))  # type: ignore[union-attr]
    if facts["first_ts"] is not None:
        items.append(("kernel time", f"{facts['first_ts']:.3f} s to {facts['last_ts']:.3f} s"))
    items.append(("watchdog reports (MemAlloc-Info lines)", str(facts["snapshots"])))
    items.append(("stalled-task lines (MemAlloc lines)", str(facts["tasks"])))
    if facts["max_stalling"] is not None:
        items.append(("most tasks stalling at once", str(facts["max_stalling"])))
    items.append(("kernel reports around them (events)", str(facts["events"])))
    items.append(("distinct call traces", str(facts["distinct_stacks"])))
    return items


def timeline(capture: Capture) -> Table | None:
    snaps = capture.snapshots
    if snaps.empty:
        return None
    with_host, with_source, with_boot = _with_host(snaps), _multi(snaps, "source"), _multi(snaps, "boot")
    columns = [*(["host"] if with_host else []), *(["input"] if with_source else []), *(["boot"] if with_boot else []),
               "line", "ts", "stalling", "Δ stalling", "dying", "exiting", "victim", "oom_count", "Δ oom"]
    rows: list[list[str]] = []
    previous: dict[object, object] = {}
    for row in snaps.itertuples():
        # A change is one machine's from one report to its next, within one boot: never across.
        key = (row.host if not _missing(row.host) else row.source, getattr(row, "boot", None))
        before = previous.get(key)
        oom = num(row.oom_count) + ("" if _missing(row.oom_count_nofs) else f"/{num(row.oom_count_nofs)}")
        rows.append([
            *([text_of(row.host)] if with_host else []),
            *([text_of(row.source)] if with_source else []),
            *([num(row.boot)] if with_boot else []),
            num(row.line), ts(row.ts), num(row.stalling),
            _delta(row.stalling, getattr(before, "stalling", None)),
            num(row.dying), num(row.exiting), num(row.victim), oom,
            _delta(row.oom_count, getattr(before, "oom_count", None)),
        ])
        previous[key] = row
    numeric = {"boot", "line", "ts", "stalling", "Δ stalling", "dying", "exiting", "victim", "oom_count", "Δ oom"}
    return Table(columns, rows, numeric)


def _delay_seconds(capture: Capture, pairs: object = None) -> pd.Series | None:
    seconds = delay_seconds(capture, pairs=pairs)  # type: ignore[arg-type]
    return seconds if bool(seconds.notna().any()) else None


def _pairs(capture: Capture) -> object:
    """:func:`stallscope.capture.hz.pairs_by_host` of the tasks."""
    return pairs_by_host(capture.tasks)


def stalled_tasks(capture: Capture) -> Table | None:
    """The latest line of every task, worst delay first, with how many reports listed it."""
    return _stalled_tasks(capture, _delay_seconds(capture) if len(capture.tasks) else None)


def _stalled_tasks(capture: Capture, seconds: pd.Series | None) -> Table | None:
    """:func:`stalled_tasks` with the capture's :func:`_delay_seconds` given: the watchdog's task
    lines and blocked (D) tasks of dumps, not every sleeping task a SysRq-t dump lists."""
    tasks = stalled_tasks_of(capture.tasks)
    if tasks.empty:
        return None
    with_boot = _multi(tasks, "boot")
    # A pid of one boot is not the same task as that pid of the next.
    keys = ["host", *(["boot"] if with_boot else []), "comm", "pid"]
    # Found on the columns that order and group the rows, then only the latest rows are taken
    # whole: sorting every column of a long table costs more than the rest of the report.
    ordered = tasks[["source", "line", *keys]].sort_index(kind="stable")  # reading order
    grouped = ordered.groupby(keys, observed=True, dropna=False, sort=False)
    reports = grouped["line"].transform("size")
    last = grouped.tail(1).index
    latest = tasks.loc[last].assign(n_reports=reports.loc[last])
    latest["sort_delay"] = latest["delay"].astype("Float64").fillna(-1.0)
    latest = latest.sort_values(["sort_delay", "line"], ascending=[False, True], kind="stable")
    with_host = _with_host(latest)
    columns = [*(["host"] if with_host else []), *(["boot"] if with_boot else []), "task", "reports", "last line",
               "last ts", "state", "seq", "gfp", "order", "delay", "switches"]
    rows = []
    for row in latest.itertuples():
        words = [w for w in ("uninterruptible", "exiting", "dying", "victim") if bool(getattr(row, w))]
        state = " ".join(filter(None, [text_of(row.state), *words]))
        gfp = "" if _missing(row.gfp) else f"{int(row.gfp):#x}"
        if not _missing(row.gfp_names):
            gfp += f" ({row.gfp_names})"
        delay = num(row.delay)
        if delay and seconds is not None and not _missing(seconds.get(row.Index)):
            delay += f" ({float(seconds[row.Index]):.1f} s)"
        rows.append([
            *([text_of(row.host)] if with_host else []),
            *([num(row.boot)] if with_boot else []),
            f"{row.comm}({num(row.pid)})", str(row.n_reports), num(row.line), ts(row.ts), state,
            num(row.seq), gfp, num(row.order), delay, num(row.switches),
        ])
    return Table(columns, rows, {"boot", "reports", "last line", "last ts", "seq", "order", "delay", "switches"})


def frame_line(function: object, offset: object, size: object, module: object, reliable: bool) -> str:
    """One frame the way the kernel prints it: ``? name+0x1f/0x40 [module]``."""
    text = f"{'' if reliable else '? '}{function}"
    if not _missing(offset):
        text += f"+{int(offset):#x}"  # type: ignore[call-overload]
        if not _missing(size):
            text += f"/{int(size):#x}"  # type: ignore[call-overload]
    if not _missing(module):
        text += f" [{module}]"
    return text


def trace_lines(capture: Capture, stack: int) -> list[str]:
    frames = capture.frames
    rows = frames[frames["stack"] == stack].sort_values("depth", kind="stable")
    return [
        frame_line(r.function, r.offset, r.size, r.module, bool(r.reliable))
        for r in rows.itertuples()
    ]


class _Stacks:
    """:func:`trace_lines` of many stacks: the frames sorted by stack and depth once, each
    stack's rows then a block of them (a scan of every frame per stack is what costs)."""

    def __init__(self, frames: pd.DataFrame) -> None:
        stack = frames["stack"]
        has = np.flatnonzero(stack.notna().to_numpy(dtype=bool))
        # A missing depth sorts last, as sort_values puts it; ties keep the frames' order.
        depths = frames["depth"].to_numpy(dtype="float64", na_value=np.inf)[has]
        stacks = stack.to_numpy(dtype="float64", na_value=np.nan)[has]
        listed = np.lexsort((depths, stacks))
        self.stacks = stacks[listed]
        rows = frames.iloc[has[listed]]
        # The cells as itertuples gives them, read once for every stack.
        self.cells = list(zip(*(rows[c].tolist() for c in ("function", "offset", "size", "module", "reliable")),
                              strict=True))

    def lines(self, stack: int) -> list[str]:
        start = np.searchsorted(self.stacks, stack, side="left")
        stop = np.searchsorted(self.stacks, stack, side="right")
        return [frame_line(f, o, s, m, bool(r)) for f, o, s, m, r in self.cells[start:stop]]


# Coded groups kept beside _groups_of (the signatures table grouped): 4.8-7.9x, 4.6% of analyze
# on the synthetic family (bench/pairs.py, bench/README.md).
def signature_groups(capture: Capture) -> list[SignatureGroup]:
    """Every printed trace grouped by where it is stuck, the most widespread first."""
    if capture.traces.empty:
        return []
    return _coded_groups(capture, trace_codes(capture))


def _groups_of(rows: pd.DataFrame) -> list[SignatureGroup]:
    rows = rows[rows["stack"].notna()]
    groups: list[SignatureGroup] = []
    for signature, part in rows.groupby("signature", sort=False):
        stacks = Counter(int(s) for s in part["stack"])
        tasks = list(dict.fromkeys(
            str(c) + ("" if _missing(p) else f"({num(p)})")
            for c, p in zip(part["comm"], part["pid"], strict=True) if not _missing(c)
        ))
        guilty = part["guilty"].dropna()
        groups.append(SignatureGroup(
            signature=str(signature),
            guilty=str(guilty.mode().iloc[0]) if len(guilty) else None,
            traces=len(part),
            tasks=tasks,
            stacks=[s for s, _ in stacks.most_common()],
        ))
    groups.sort(key=lambda g: (-len(g.tasks), -g.traces, g.signature))
    return groups


def _coded_groups(capture: Capture, codes: TraceCodes) -> list[SignatureGroup]:
    """:func:`_groups_of` the signatures table, from its coded columns: the same groups."""
    from stallscope.capture.signatures import guilty_modes
    from stallscope.capture.trajectories import group_numbers

    stack = capture.traces["stack"]
    at = np.flatnonzero(stack.notna().to_numpy(dtype=bool))
    if not len(at):
        return []
    signature = codes.signature[codes.part[at]]
    traces = np.bincount(signature, minlength=len(codes.signatures))
    # Each signature's distinct stacks with their counts, in order of first appearance: what
    # Counter.most_common ranks (by count, then first appearance).
    stack_codes, stack_values = pd.factorize(stack.array.take(at).to_numpy(dtype="int64"))
    pair = group_numbers(signature, stack_codes)
    counts = np.bincount(pair)
    firsts = _first_rows(pair)
    stacks: dict[int, list[tuple[int, int]]] = {}
    for number, (code, value) in enumerate(zip(signature[firsts].tolist(),
                                               stack_values[stack_codes[firsts]].tolist(), strict=True)):
        stacks.setdefault(code, []).append((int(counts[number]), int(value)))
    # Each signature's task names (comm, and pid when there is one), distinct, in log order.
    named = np.flatnonzero(codes.comm[at] >= 0)
    pid = np.where(codes.has_pid[at[named]], pd.factorize(codes.pid[at[named]])[0], -1)
    tasks: dict[int, dict[str, None]] = {}
    for row in named[_first_rows(group_numbers(signature[named], codes.comm[at[named]], pid))].tolist():
        trace = int(at[row])
        name = codes.comms[codes.comm[trace]] + (f"({codes.pid[trace]})" if codes.has_pid[trace] else "")
        tasks.setdefault(int(signature[row]), {})[name] = None
    guilty = guilty_modes(codes, at)
    groups = [
        SignatureGroup(
            signature=codes.signatures[code],
            guilty=guilty.get(code),
            traces=int(traces[code]),
            tasks=list(tasks.get(code, {})),
            stacks=[value for _, value in sorted(found, key=lambda item: -item[0])],
        )
        for code, found in stacks.items()
    ]
    groups.sort(key=lambda g: (-len(g.tasks), -g.traces, g.signature))
    return groups


def _first_rows(numbers: np.ndarray) -> np.ndarray:
    """Where each number first appears, given numbers in order of first appearance."""
    if not len(numbers):
        return np.zeros(0, dtype="int64")
    return np.flatnonzero(np.r_[True, numbers[1:] > np.maximum.accumulate(numbers)[:-1]])


def event_counts(capture: Capture) -> list[tuple[str, int]]:
    """Lines of each kind of kernel report, most frequent first."""
    frame = capture.events
    if frame.empty:
        return []
    counts = frame["kind"].astype(str).value_counts()
    return [(str(k), int(n)) for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def notable(capture: Capture) -> pd.DataFrame:
    """The events of the kinds in ``NOTABLE_EVENTS``, with their label, in log order."""
    frame = capture.events
    if frame.empty:
        return frame
    rows = frame[frame["kind"].astype(str).isin(NOTABLE_EVENTS)]
    return rows.assign(label=rows["kind"].astype(str).map(NOTABLE_EVENTS))


def notable_events(capture: Capture, rows: pd.DataFrame | None = None) -> Table | None:
    """The notable events as a table; ``rows``: :func:`notable` of the capture, if at hand."""
    rows = notable(capture) if rows is None else rows
    if rows.empty:
        return None
    with_host, with_source, with_boot = _with_host(rows), _multi(rows, "source"), _multi(rows, "boot")
    columns = [*(["host"] if with_host else []), *(["input"] if with_source else []), *(["boot"] if with_boot else []),
               "line", "ts", "event", "kind", "task", "text"]
    out = []
    for row in rows.itertuples():
        task = "" if _missing(row.comm) else text_of(row.comm) + ("" if _missing(row.pid) else f"({num(row.pid)})")
        out.append([*([text_of(row.host)] if with_host else []), *([text_of(row.source)] if with_source else []),
                    *([num(row.boot)] if with_boot else []), num(row.line), ts(row.ts), str(row.label),
                    text_of(row.kind), task, text_of(row.text)])
    return Table(columns, out, {"boot", "line", "ts"})


class Parts:
    """The parts of one report, each derived once and kept for the report's lifetime.

    The Markdown report lays itself out up to six times, shorter each time, until it fits a
    ticket comment, and the HTML report's charts read the same tables as its sections: on a
    long capture, deriving each part again costs more than writing it. Callers must not
    modify what they are given.
    """

    def __init__(self, capture: Capture, findings: list[Finding]) -> None:
        self.capture = capture
        self.findings = findings
        self._memo: dict[str, object] = {}
        self._stacks: _Stacks | None = None
        self._lines: dict[int, list[str]] = {}

    def _once(self, name: str, compute: Callable[[], T]) -> T:
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]  # type: ignore[return-value]

    def views(self) -> list[ReportView]:
        """The report's parts: each machine, and each boot of it (see :mod:`stallscope.render.views`)."""
        from stallscope.render.views import report_views  # views builds on this module's tables

        return self._once("views", lambda: report_views(self.capture, self.findings))

    def finding_groups(self) -> list[tuple[str | None, list[Finding]]]:
        """The findings by machine and boot, each group with its title; one group without a
        title for a capture of one machine and one boot."""
        def compute() -> list[tuple[str | None, list[Finding]]]:
            views = self.views()
            if len(views) < 2:
                return [(None, self.findings)]
            return [(view.title, view.findings) for view in views if view.findings]

        return self._once("finding_groups", compute)

    def boots(self) -> Table | None:
        """A row per boot where a machine has several (see ``views.boots_table``), else None."""
        from stallscope.render.views import boots_table

        return self._once("boots", lambda: boots_table(self.views()))

    def pairs(self) -> object:
        """Delay-growth pairs per host, read once for the verdict and the delays in seconds."""
        return self._once("pairs", lambda: _pairs(self.capture))

    def verdict_text(self) -> str:
        return self._once("verdict", lambda: verdict_text(self.capture, self.findings, self.pairs()))

    def summary_items(self) -> list[tuple[str, str]]:
        return self._once("summary", lambda: summary_items(self.capture))

    def timeline(self) -> Table | None:
        return self._once("timeline", lambda: timeline(self.capture))

    def event_counts(self) -> list[tuple[str, int]]:
        return self._once("event_counts", lambda: event_counts(self.capture))

    def notable(self) -> pd.DataFrame:
        return self._once("notable", lambda: notable(self.capture))

    def notable_events(self) -> Table | None:
        return self._once("notable_events", lambda: notable_events(self.capture, self.notable()))

    def delay_seconds(self) -> pd.Series | None:
        return self._once("seconds", lambda: _delay_seconds(self.capture, self.pairs()))

    def stalled_tasks(self) -> Table | None:
        if self.capture.tasks.empty:
            return None
        return self._once("stalled_tasks", lambda: _stalled_tasks(self.capture, self.delay_seconds()))

    def signature_groups(self) -> list[SignatureGroup]:
        return self._once("signature_groups", lambda: signature_groups(self.capture))

    def trace_lines(self, stack: int) -> list[str]:
        if stack not in self._lines:
            if self._stacks is None:
                self._stacks = _Stacks(self.capture.frames)
            self._lines[stack] = self._stacks.lines(stack)
        return self._lines[stack]
