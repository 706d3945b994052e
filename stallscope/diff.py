"""Did the fix help? Two captures of the same workload, BEFORE and AFTER a change, side by side.

For the whole of each side and for each machine, :func:`compare` sets the facts of the two
captures next to each other (watchdog reports and stall episodes, the most tasks stalling at
once, the longest allocation delay, OOM invocations and kills, hung tasks), matches findings,
stack signatures and wait sites between the sides (new, gone, or in both, with task counts),
and says in one sentence whether AFTER is better, worse or the same, and on what evidence.

A finding is matched by a stable key, its rule and the place it is about: the stack signature
of the first call trace its evidence cites (a victim blocked in ``down_read``, a reclaimer
throttled in ``shrink_node``), or the trace of the first report it cites whose trace is where
the task waits (a hung task, an allocation failure or stall, a lockup). Findings about the
machine as a whole (the OOM killer's kills, a frozen oom_count, a request that makes no
progress) are matched by their rule. Never by their titles, which carry counts.

Machines are paired by host name, then by the file name below what was given (``var/log/messages``
of two sosreports), and a single remaining machine on each side with each other.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stallscope.capture.events import alloc_reports, hung_tasks, oom_invocations, oom_kills
from stallscope.capture.hz import delay_seconds, hz_by_host
from stallscope.capture.machines import source_families
from stallscope.capture.model import Capture
from stallscope.capture.signatures import own_trace_positions, signatures
from stallscope.capture.understood import understood_records
from stallscope.fleet import STALL_EVENTS
from stallscope.parallel import split_machines
from stallscope.rules.base import Finding, Severity

BETTER, WORSE, SAME, CANNOT_TELL = "better", "worse", "same", "cannot tell"
NEW, GONE, BOTH = "new", "gone", "both"
# Stall lines further apart than this (kernel time) are two episodes.
EPISODE_GAP_SECONDS = 300.0
# Reports whose own call trace is where the reported task waits: their trace names the place.
SITE_EVENTS = frozenset({"hung_task", "warn_alloc_failure", "warn_alloc_stall", "soft_lockup", "hard_lockup",
                         "rcu_stall"})
_NO_TRACE = "(no trace)"
_RANK_NAMES = {0: "none", 1: Severity.INFO.value, 2: Severity.WARNING.value, 3: Severity.CRITICAL.value}


# -- one side's facts ---------------------------------------------------------------------------
@dataclass(slots=True)
class Facts:
    """What one capture (or one machine of it) shows; None where the capture cannot say."""

    inputs: list[str]
    records: int  # kernel records read
    understood: int  # records the grammars understood, plus records in a known capture format
    reports: int  # watchdog reports (a pair of MemAlloc-Info lines is one)
    stalled_reports: int  # reports with tasks stalling
    episodes: int  # runs of stall lines (see stall_episodes)
    max_stalling: int | None
    max_delay_jiffies: int | None
    max_delay_seconds: float | None  # None when HZ is unknown
    hz: float | None
    longest_alloc_stall_seconds: float | None  # warn_alloc "page allocation stalls for Nms"
    oom_invocations: int
    oom_count_growth: int | None  # the watchdog's oom_count, last minus first
    oom_kills: int
    hung_task_reports: int
    hung_tasks: int  # distinct tasks reported hung
    findings: dict[str, int]  # severity -> count
    worst: int  # severity rank of the worst finding, 0 for none

    def as_dict(self) -> dict[str, object]:
        return {
            "inputs": self.inputs,
            "records": self.records,
            "understood": self.understood,
            "watchdog_reports": self.reports,
            "stalled_reports": self.stalled_reports,
            "stall_episodes": self.episodes,
            "max_stalling": self.max_stalling,
            "max_delay_jiffies": self.max_delay_jiffies,
            "max_delay_seconds": self.max_delay_seconds,
            "hz": self.hz,
            "longest_alloc_stall_seconds": self.longest_alloc_stall_seconds,
            "oom_invocations": self.oom_invocations,
            "oom_count_growth": self.oom_count_growth,
            "oom_kills": self.oom_kills,
            "hung_task_reports": self.hung_task_reports,
            "hung_tasks": self.hung_tasks,
            "findings": self.findings,
            "worst_severity": _RANK_NAMES[self.worst],
        }


def _int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)  # type: ignore[call-overload]


def facts(capture: Capture, findings: list[Finding], hz: float | None = None) -> Facts:
    """The facts of one capture (a whole side, or one machine of it)."""
    snaps, events = capture.snapshots, capture.events
    stalling = snaps["stalling"] if len(snaps) else pd.Series(dtype="Int64")
    reports = int(snaps["report"].nunique()) if len(snaps) else 0
    stalled = int(snaps.loc[stalling.fillna(0) > 0, "report"].nunique()) if len(snaps) else 0
    delays = capture.tasks["delay"] if len(capture.tasks) else pd.Series(dtype="Int64")
    seconds = delay_seconds(capture, hz) if len(capture.tasks) else pd.Series(dtype=float)
    known_hz = [e.hz for e in hz_by_host(capture, hz).values() if e.known]
    stalls = alloc_reports(events) if len(events) else pd.DataFrame(columns=["stall_ms"])
    stall_ms = pd.to_numeric(stalls["stall_ms"], errors="coerce").dropna()
    hung = hung_tasks(events) if len(events) else pd.DataFrame(columns=["comm", "pid"])
    counts = snaps["oom_count"].dropna() if len(snaps) else pd.Series(dtype="Int64")
    kills = len(oom_kills(events)) if len(events) else 0
    if not kills and len(events):  # kernels before 4.x print only "Kill process N (comm) score S"
        kills = int((events["kind"].astype(str) == "oom_kill_process").sum())
    by_severity = Counter(f.severity.value for f in findings)
    return Facts(
        inputs=[i.path for i in capture.inputs],
        records=capture.lines,
        understood=understood_records(capture),
        reports=reports,
        stalled_reports=stalled,
        episodes=stall_episodes(capture),
        max_stalling=_int(stalling.max()) if stalling.notna().any() else None,
        max_delay_jiffies=_int(delays.max()) if delays.notna().any() else None,
        max_delay_seconds=float(np.nanmax(seconds)) if len(seconds) and seconds.notna().any() else None,
        hz=known_hz[0] if len(set(known_hz)) == 1 else None,
        longest_alloc_stall_seconds=float(stall_ms.max()) / 1000 if len(stall_ms) else None,
        oom_invocations=len(oom_invocations(events)) if len(events) else 0,
        oom_count_growth=int(counts.iloc[-1] - counts.iloc[0]) if len(counts) else None,
        oom_kills=kills,
        hung_task_reports=len(hung),
        hung_tasks=len({(c, p) for c, p in zip(hung["comm"], hung["pid"], strict=True)}),
        findings={s.value: by_severity[s.value] for s in Severity if by_severity[s.value]},
        worst=max((f.severity.rank for f in findings), default=0),
    )


def stall_episodes(capture: Capture, gap: float = EPISODE_GAP_SECONDS) -> int:
    """Runs of stall lines: watchdog reports with tasks stalling, task lines and the kernel's stall
    reports (OOM kills, hung tasks, allocation stalls and failures, lockups), machine by machine
    (a host, or the generations of one log without host names), in reading order.

    A run ends at a watchdog report with no task stalling, at a gap of more than ``gap`` seconds
    of kernel time, and where the kernel time goes back (a reboot).
    """
    paths = [i.path for i in capture.inputs]
    order = {path: i for i, path in enumerate(paths)}
    families = source_families(capture)
    rows: list[tuple[str, int, int, float, bool]] = []  # (machine, input, line, ts, stalled)
    snaps = capture.snapshots
    if len(snaps):
        rows += _rows(snaps, order, families, snaps["stalling"].fillna(0).to_numpy(dtype="int64") > 0)
    if len(capture.tasks):
        rows += _rows(capture.tasks, order, families, np.ones(len(capture.tasks), dtype=bool))
    events = capture.events
    if len(events):
        picked = events["kind"].astype(str).isin(STALL_EVENTS).to_numpy()
        rows += _rows(events[picked], order, families, np.ones(int(picked.sum()), dtype=bool))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    episodes = 0
    inside = False
    last_ts = math.nan
    machine: str | None = None
    for owner, _, _, ts, stalled in rows:
        if owner != machine:
            machine, inside, last_ts = owner, False, math.nan
        if not stalled:
            inside = False
            continue
        known = not math.isnan(ts) and not math.isnan(last_ts)
        # Printk's clock is one per machine: back by more than CPUs disagree is a new boot.
        if not inside or (known and (ts - last_ts > gap or ts < last_ts - _CLOCK_SLACK)):
            episodes += 1
        inside = True
        last_ts = ts if not math.isnan(ts) else last_ts
    return episodes


_CLOCK_SLACK = 0.1  # seconds


def _rows(frame: pd.DataFrame, order: dict[str, int], families: dict[str, tuple[str, ...]],
          stalled: np.ndarray) -> list[tuple[str, int, int, float, bool]]:
    sources = frame["source"].astype(object).tolist()
    hosts = frame["host"].astype(object).tolist()
    owners = [f"host {h}" if isinstance(h, str) else "files " + "\n".join(families.get(str(s), (str(s),)))
              for h, s in zip(hosts, sources, strict=True)]
    lines = frame["line"].to_numpy(dtype="int64", na_value=0).tolist()
    ts = frame["ts"].to_numpy(dtype=float, na_value=math.nan).tolist()
    inputs = [order.get(str(s), len(order)) for s in sources]
    return list(zip(owners, inputs, lines, ts, stalled.tolist(), strict=True))


# -- keys ---------------------------------------------------------------------------------------
def _line_signatures(capture: Capture) -> dict[tuple[str, int], str]:
    """The stack signature cited by a line: a call trace's first line, or a report (of
    :data:`SITE_EVENTS`) whose trace is where its task waits."""
    if not len(capture.traces):
        return {}
    table = signatures(capture)
    out: dict[tuple[str, int], str] = {}
    for source, line, signature in zip(table["source"].astype(str), table["line"], table["signature"], strict=True):
        if signature != _NO_TRACE:
            out.setdefault((source, int(line)), str(signature))
    if "frame_line" in capture.traces.columns and len(capture.frames):
        # Findings quote the frame lines of a trace (where a task waits): each cites the trace.
        depths = capture.frames.groupby("stack", observed=True)["depth"].max()
        firsts = capture.traces["frame_line"]
        for source, trace, stack, signature in zip(table["source"].astype(str), table["trace"], table["stack"],
                                                   table["signature"], strict=True):
            first = firsts.at[trace]
            if signature == _NO_TRACE or pd.isna(first) or pd.isna(stack) or stack not in depths.index:
                continue
            for line in range(int(first), int(first) + int(depths.at[stack]) + 1):
                out.setdefault((source, line), str(signature))
    events = capture.events
    if len(events):
        owned = table[table["event"].notna()]
        kinds = events["kind"].astype(str)
        for event, signature in zip(owned["event"].astype("int64"), owned["signature"], strict=True):
            if event in events.index and kinds.at[event] in SITE_EVENTS and signature != _NO_TRACE:
                out.setdefault((str(events.at[event, "source"]), int(events.at[event, "line"])), str(signature))
    return out


@dataclass(frozen=True, slots=True)
class FindingKey:
    rule: str
    site: str | None  # the stack signature it is about, or None for a finding about the machine

    def label(self) -> str:
        return self.rule if self.site is None else f"{self.rule} @ {self.site}"


def finding_keys(capture: Capture, findings: list[Finding]) -> list[FindingKey]:
    """The stable key of each finding (see the module docstring)."""
    cited = _line_signatures(capture)
    keys = []
    for finding in findings:
        site = next((cited[(e.source, e.line)] for e in finding.evidence if (e.source, e.line) in cited), None)
        keys.append(FindingKey(finding.rule, site))
    return keys


# -- matched rows -------------------------------------------------------------------------------
@dataclass(slots=True)
class FindingRow:
    key: FindingKey
    status: str  # new, gone or both
    before: int  # findings with this key
    after: int
    before_severity: str | None  # the worst of them
    after_severity: str | None
    title: str  # the title of one of them (AFTER's when it has one)

    def as_dict(self) -> dict[str, object]:
        return {"rule": self.key.rule, "site": self.key.site, "status": self.status, "before": self.before,
                "after": self.after, "before_severity": self.before_severity,
                "after_severity": self.after_severity, "title": self.title}


@dataclass(slots=True)
class PlaceRow:
    """A stack signature or a wait site, with the tasks whose traces show it on each side."""

    name: str
    status: str
    before_tasks: int
    after_tasks: int
    before_traces: int
    after_traces: int

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "status": self.status, "before_tasks": self.before_tasks,
                "after_tasks": self.after_tasks, "before_traces": self.before_traces,
                "after_traces": self.after_traces}


def _status(before: int, after: int) -> str:
    return BOTH if before and after else (NEW if after else GONE)


def _worst(severities: Iterable[Severity]) -> str | None:
    ranked = sorted(severities, key=lambda s: -s.rank)
    return ranked[0].value if ranked else None


def match_findings(before: list[tuple[FindingKey, Finding]],
                   after: list[tuple[FindingKey, Finding]]) -> list[FindingRow]:
    """Findings of the two sides matched by key: most severe first, then gone, new, both."""
    keys = list(dict.fromkeys([k for k, _ in before] + [k for k, _ in after]))
    rows = []
    for key in keys:
        mine = [f for k, f in before if k == key]
        theirs = [f for k, f in after if k == key]
        rows.append(FindingRow(key, _status(len(mine), len(theirs)), len(mine), len(theirs),
                               _worst(f.severity for f in mine), _worst(f.severity for f in theirs),
                               (theirs or mine)[0].title))
    rank = {s.value: s.rank for s in Severity}
    rows.sort(key=lambda r: (-max(rank.get(r.before_severity or "", 0), rank.get(r.after_severity or "", 0)),
                             (GONE, NEW, BOTH).index(r.status), r.key.label()))
    return rows


@dataclass(slots=True)
class Places:
    """Per stack signature and per wait site: the tasks (comm, pid) and traces that show it."""

    signature_tasks: dict[str, set[tuple[str, int | None]]] = field(default_factory=dict)
    signature_traces: Counter[str] = field(default_factory=Counter)
    wait_tasks: dict[str, set[tuple[str, int | None]]] = field(default_factory=dict)
    wait_traces: Counter[str] = field(default_factory=Counter)


def places(capture: Capture) -> Places:
    """Every printed call trace counted under its signature and its wait site.

    A task counts under the place of each of its traces; a watchdog task line without a trace of
    its own claims the trace that follows it (as the report's stalled-task table does)."""
    out = Places()
    if not len(capture.traces):
        return out
    table = signatures(capture)
    if len(capture.tasks):
        # Traces the builder could not tie to their task line: the task that claims each.
        own = own_trace_positions(capture)
        claimed = {int(t): i for i, t in enumerate(own.tolist()) if t >= 0}
        comm, pid = table["comm"].astype(object).tolist(), table["pid"].astype(object).tolist()
        for trace, task in claimed.items():
            if trace < len(table) and comm[trace] is None:
                comm[trace] = str(capture.tasks["comm"].iat[task])
                pid[trace] = capture.tasks["pid"].iat[task]
        table = table.assign(comm=comm, pid=pid)
    for signature, wait, comm, pid in zip(table["signature"], table["wait"], table["comm"], table["pid"], strict=True):
        if signature == _NO_TRACE:
            continue
        # A report's trace may name its task by comm only (no pid printed): that comm is one task.
        who = None if comm is None or pd.isna(comm) else (str(comm), None if pd.isna(pid) else int(pid))
        out.signature_traces[str(signature)] += 1
        out.wait_traces[str(wait)] += 1
        tasks = out.signature_tasks.setdefault(str(signature), set())
        waits = out.wait_tasks.setdefault(str(wait), set())
        if who is not None:
            tasks.add(who)
            waits.add(who)
    return out


def match_places(before: dict[str, set[tuple[str, int | None]]], after: dict[str, set[tuple[str, int | None]]],
                 before_traces: Counter[str], after_traces: Counter[str]) -> list[PlaceRow]:
    """Places of the two sides matched by name, the most tasks (on either side) first."""
    names = list(dict.fromkeys([*before, *after]))
    rows = [PlaceRow(n, _status(before_traces[n], after_traces[n]), len(before.get(n, ())), len(after.get(n, ())),
                     before_traces[n], after_traces[n]) for n in names]
    rows.sort(key=lambda r: (-max(r.before_tasks, r.after_tasks), -max(r.before_traces, r.after_traces), r.name))
    return rows


# -- the verdict ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Signal:
    """One measure where less is better, with how to say it."""

    label: str
    get: Callable[[Facts], float | None]
    show: Callable[[float], str] = lambda v: f"{v:g}"


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 600 else f"{value / 60:.1f} min"


# Checked in this order: the first that differs decides, the others are the supporting (or the
# opposing) evidence. Findings first: they are what the rules concluded from everything else.
SIGNALS: tuple[Signal, ...] = (
    Signal("the worst finding", lambda f: f.worst, lambda v: _RANK_NAMES[int(v)]),
    Signal("critical findings", lambda f: f.findings.get(Severity.CRITICAL.value, 0)),
    Signal("warning findings", lambda f: f.findings.get(Severity.WARNING.value, 0)),
    Signal("stall episodes", lambda f: f.episodes),
    Signal("the longest allocation delay", lambda f: f.max_delay_seconds, _seconds),
    Signal("the most tasks stalling at once", lambda f: f.max_stalling),
    Signal("the longest allocation stall reported by warn_alloc", lambda f: f.longest_alloc_stall_seconds, _seconds),
    Signal("hung tasks", lambda f: f.hung_tasks),
    Signal("OOM kills", lambda f: f.oom_kills),
    Signal("OOM killer invocations", lambda f: f.oom_invocations),
    Signal("watchdog reports with tasks stalling", lambda f: f.stalled_reports),
)
_DELAY = SIGNALS[4]
_JIFFIES = Signal("the longest allocation delay (jiffies, HZ unknown)", lambda f: f.max_delay_jiffies)
_FINDING_SIGNALS = frozenset(s.label for s in SIGNALS[:3])


@dataclass(frozen=True, slots=True)
class Change:
    signal: str
    before: float | None
    after: float | None
    said: str  # "fell from 3 to 1"

    @property
    def direction(self) -> str:
        return BETTER if (self.after or 0) < (self.before or 0) else WORSE


def changes(before: Facts, after: Facts) -> list[Change]:
    """Every signal that differs between the sides, in :data:`SIGNALS` order."""
    out = []
    for signal in SIGNALS:
        if signal is _DELAY and (before.max_delay_seconds is None or after.max_delay_seconds is None):
            if before.max_delay_seconds is None and after.max_delay_seconds is None:
                signal = _JIFFIES  # neither side knows HZ: jiffies, as if both kernels counted alike
            elif (before.max_delay_jiffies if before.max_delay_seconds is None else after.max_delay_jiffies) \
                    is not None:
                continue  # seconds on one side, jiffies of an unknown HZ on the other: not comparable
        if signal in (_DELAY, _JIFFIES) and any(side.max_delay_jiffies is None and side.stalled_reports
                                                for side in (before, after)):
            continue  # the watchdog reported stalls without task lines (an early format): no delay printed
        a, b = signal.get(before), signal.get(after)
        if a == b:
            continue
        shown_a = "none" if a is None else signal.show(a)
        shown_b = "none" if b is None else signal.show(b)
        verb = "fell" if (b or 0) < (a or 0) else "rose"
        out.append(Change(signal.label, a, b, f"{signal.label} {verb} from {shown_a} to {shown_b}"))
    return out


def verdict(before: Facts, after: Facts, rows: list[FindingRow], names: tuple[str, str]) -> tuple[str, str]:
    """("better" | "worse" | "same" | "cannot tell", the sentence saying so and why)."""
    first, second = names
    for side, name in ((before, first), (after, second)):
        if not side.understood:
            return CANNOT_TELL, (f"Cannot tell: {name} holds no kernel line stallscope understood "
                                 f"({side.records} line(s) read).")
    found = changes(before, after)
    gone = [r.key.label() for r in rows if r.status == GONE and r.before_severity != Severity.INFO.value]
    new = [r.key.label() for r in rows if r.status == NEW and r.after_severity != Severity.INFO.value]
    if not found:
        moved = ""
        if gone or new:
            moved = "; the findings moved: " + "; ".join(
                part for part in (f"gone: {', '.join(gone)}" if gone else "",
                                  f"new: {', '.join(new)}" if new else "") if part)
        return SAME, (f"{second} is the same as {first}: no measure moved (findings by severity, stall "
                      f"episodes, delays, stalled tasks, hung tasks, OOM kills){moved}.")
    decisive = found[0].direction
    agreeing = [c for c in found if c.direction == decisive]
    opposing = [c for c in found if c.direction != decisive]
    reasons = [c.said for c in agreeing[:3]]
    named = gone if decisive == BETTER else new
    if named:
        # Which findings went (or came), after the first change of findings (or first of all).
        note = f"{'gone' if decisive == BETTER else 'new'}: {', '.join(named[:4])}" + \
            (f" and {len(named) - 4} more" if len(named) > 4 else "")
        at = next((i for i, c in enumerate(agreeing[:3]) if c.signal in _FINDING_SIGNALS), None)
        if at is None:
            reasons.append(note)
        else:
            reasons[at] += f" ({note})"
    sentence = f"{second} is {decisive} than {first}: " + "; ".join(reasons)
    if opposing:
        sentence += "; but " + "; ".join(c.said for c in opposing[:2])
    kept = [f"{r.key.label()} ({r.after_severity})" for r in rows
            if r.status == BOTH and r.after_severity in (Severity.CRITICAL.value, Severity.WARNING.value)]
    if decisive == BETTER and kept:
        # Better is not fixed: say what the change left in place.
        sentence += "; still found in both: " + ", ".join(kept[:4]) + (f" and {len(kept) - 4} more"
                                                                      if len(kept) > 4 else "")
    return decisive, sentence + "."


# -- the comparison ---------------------------------------------------------------------------------
@dataclass(slots=True)
class Side:
    """One machine (or the whole) on one side."""

    name: str
    capture: Capture
    findings: list[Finding]
    keys: list[FindingKey]


@dataclass(slots=True)
class Pair:
    """A machine as it is in BEFORE and in AFTER (one of them missing when it is on one side only)."""

    name: str
    before: Facts | None
    after: Facts | None
    verdict: str
    sentence: str
    findings: list[FindingRow]
    signatures: list[PlaceRow]
    waits: list[PlaceRow]

    def as_dict(self) -> dict[str, object]:
        return {
            "machine": self.name,
            "verdict": self.verdict,
            "sentence": self.sentence,
            "before": None if self.before is None else self.before.as_dict(),
            "after": None if self.after is None else self.after.as_dict(),
            "findings": [r.as_dict() for r in self.findings],
            "signatures": [r.as_dict() for r in self.signatures],
            "wait_sites": [r.as_dict() for r in self.waits],
        }


@dataclass(slots=True)
class Comparison:
    names: tuple[str, str]  # what BEFORE and AFTER were (the paths given)
    overall: Pair
    machines: list[Pair]

    @property
    def verdict(self) -> str:
        return self.overall.verdict

    @property
    def sentence(self) -> str:
        return self.overall.sentence

    def as_dict(self) -> dict[str, object]:
        return {
            "before": self.names[0],
            "after": self.names[1],
            "verdict": self.verdict,
            "sentence": self.sentence,
            "overall": self.overall.as_dict(),
            "machines": [m.as_dict() for m in self.machines],
        }


def _pair(name: str, before: Side | None, after: Side | None, hz: float | None,
          names: tuple[str, str]) -> Pair:
    facts_before = None if before is None else facts(before.capture, before.findings, hz)
    facts_after = None if after is None else facts(after.capture, after.findings, hz)
    rows = match_findings(
        [] if before is None else list(zip(before.keys, before.findings, strict=True)),
        [] if after is None else list(zip(after.keys, after.findings, strict=True)),
    )
    mine = places(before.capture) if before is not None else Places()
    theirs = places(after.capture) if after is not None else Places()
    signature_rows = match_places(mine.signature_tasks, theirs.signature_tasks, mine.signature_traces,
                                  theirs.signature_traces)
    wait_rows = match_places(mine.wait_tasks, theirs.wait_tasks, mine.wait_traces, theirs.wait_traces)
    if facts_before is None or facts_after is None:
        where = names[1] if facts_before is None else names[0]
        said = f"Only in {where}: nothing to compare it with."
        return Pair(name, facts_before, facts_after, CANNOT_TELL, said, rows, signature_rows, wait_rows)
    decided, sentence = verdict(facts_before, facts_after, rows, names)
    return Pair(name, facts_before, facts_after, decided, sentence, rows, signature_rows, wait_rows)


def _machines(capture: Capture, findings: list[Finding], keys: list[FindingKey]) -> list[Side]:
    """One side per machine of the capture, each with its findings."""
    parts = split_machines(capture)
    if len(parts) == 1:
        return [Side(_host(parts[0]) or "", parts[0], findings, keys)]
    out = []
    for part in parts:
        host = _host(part)
        sources = {i.path for i in part.inputs}
        mine = [(k, f) for k, f in zip(keys, findings, strict=True)
                if (f.host == host if host is not None else
                    f.host is None and bool(f.evidence) and f.evidence[0].source in sources)]
        out.append(Side(host or "", part, [f for _, f in mine], [k for k, _ in mine]))
    return out


def _host(capture: Capture) -> str | None:
    for frame in (capture.snapshots, capture.tasks, capture.events):
        if len(frame) and frame["host"].notna().any():
            return str(frame["host"].dropna().iloc[0])
    return None


def _below(path: str, root: str) -> str:
    """``path`` relative to what was given for its side (a file, a directory, an archive)."""
    rest = path[len(root):] if root and path.startswith(root) else path
    return rest.lstrip("/:" + os.sep)


def _root(capture: Capture) -> str:
    paths = [i.path for i in capture.inputs]
    if len(paths) == 1:
        return paths[0]
    try:
        return os.path.commonpath(paths)
    except ValueError:  # absolute and relative names mixed, or standard input
        return ""


def pair_machines(before: list[Side], after: list[Side],
                  roots: tuple[str, str]) -> list[tuple[Side | None, Side | None]]:
    """Machines matched by host name, then by their files below what was given, then a single
    remaining one on each side with the other; the rest are on one side only."""
    pairs: list[tuple[Side | None, Side | None]] = []
    left, right = list(before), list(after)
    for side in list(left):
        if side.name:
            match = next((o for o in right if o.name == side.name), None)
            if match is not None:
                pairs.append((side, match))
                left.remove(side)
                right.remove(match)

    def files(side: Side, root: str) -> tuple[str, ...]:
        return tuple(sorted(_below(i.path, root) for i in side.capture.inputs))

    for side in list(left):
        match = next((o for o in right if files(o, roots[1]) == files(side, roots[0])), None)
        if match is not None:
            pairs.append((side, match))
            left.remove(side)
            right.remove(match)
    if len(left) == 1 and len(right) == 1:
        pairs.append((left.pop(), right.pop()))
    pairs += [(side, None) for side in left] + [(None, side) for side in right]
    return pairs


def _machine_name(before: Side | None, after: Side | None, roots: tuple[str, str]) -> str:
    for side in (before, after):
        if side is not None and side.name:
            return side.name
    for side, root in ((before, roots[0]), (after, roots[1])):
        if side is not None and side.capture.inputs:
            return " + ".join(_below(i.path, root) or os.path.basename(i.path) for i in side.capture.inputs)
    return "(no input)"


def compare(before: Capture, before_findings: list[Finding], after: Capture, after_findings: list[Finding],
            hz: float | None = None, names: tuple[str, str] = ("BEFORE", "AFTER")) -> Comparison:
    """BEFORE and AFTER side by side, overall and per machine, with the verdict (see the module docstring).

    ``hz``: CONFIG_HZ of both kernels, to show delays in seconds when the logs do not tell.
    ``names``: what to call the two sides in the sentences (the paths given, say).
    """
    keys_before = finding_keys(before, before_findings)
    keys_after = finding_keys(after, after_findings)
    overall = _pair("overall", Side("overall", before, before_findings, keys_before),
                    Side("overall", after, after_findings, keys_after), hz, names)
    roots = (_root(before), _root(after))
    machines = []
    sides = pair_machines(_machines(before, before_findings, keys_before),
                          _machines(after, after_findings, keys_after), roots)
    if len(sides) > 1:
        for mine, theirs in sides:
            machines.append(_pair(_machine_name(mine, theirs, roots), mine, theirs, hz, names))
    return Comparison(names, overall, machines)
