"""Many machines at once: which stalled, the worst finding of each, and stacks they share.

A machine is what the rules judge on its own (:func:`stallscope.diagnose.host_views`): a host
named by the capture prefix (a receiver log holds many), or else one input file. A stack
signature (:mod:`stallscope.capture.signatures`: where a trace waits, and who called it) seen on
several machines is likely one bug hitting all of them, so those come first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stallscope.capture.events import NOTABLE_EVENTS
from stallscope.capture.model import Capture
from stallscope.capture.signatures import TraceCodes, guilty_modes, trace_codes
from stallscope.capture.stalled import stalled_rows
from stallscope.capture.trajectories import combine, group_numbers, text_codes
from stallscope.diagnose import BY_FILE, Machine, machine_keys, machine_reason, source_families, view_keys
from stallscope.rules.base import Finding, Severity

# Kernel reports that mean something stalled (the rest, such as a Mem-Info dump, only add context).
STALL_EVENTS = frozenset(NOTABLE_EVENTS) - {"sysrq"}
_NO_TRACE = "(no trace)"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One log line: where a machine's stalls start or end."""

    source: str
    line: int
    ts: float | None

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "line": self.line, "ts": self.ts}


@dataclass(slots=True)
class MachineSummary:
    name: str  # the host name, or the file for a machine without one
    host: str | None
    sources: list[str]
    stalled: bool
    findings: dict[str, int]  # severity -> count
    worst: Finding | None
    max_stalling: int | None
    tasks: int  # distinct tasks the watchdog reported
    first: Occurrence | None
    last: Occurrence | None
    # How these rows were found to be one machine's (see stallscope.diagnose.machine_reason).
    decided_by: str = BY_FILE
    boots: int = 1  # boots of the machine in the capture (see stallscope.capture.boots)

    def as_dict(self) -> dict[str, object]:
        worst = self.worst
        return {
            "machine": self.name,
            "host": self.host,
            "sources": self.sources,
            "stalled": self.stalled,
            "findings": self.findings,
            "worst": None if worst is None else {
                "rule": worst.rule, "severity": worst.severity.value, "title": worst.title,
                "evidence": worst.evidence[0].as_dict() if worst.evidence else None,
            },
            "max_stalling": self.max_stalling,
            "tasks": self.tasks,
            "first": None if self.first is None else self.first.as_dict(),
            "last": None if self.last is None else self.last.as_dict(),
            "decided_by": self.decided_by,
            "boots": self.boots,
        }


@dataclass(slots=True)
class SharedSignature:
    signature: str
    guilty: str | None
    machines: list[str]
    traces: int
    tasks: list[str] = field(default_factory=list)  # comm(pid)@machine, a few

    def as_dict(self) -> dict[str, object]:
        return {"signature": self.signature, "guilty": self.guilty, "machines": self.machines,
                "traces": self.traces, "tasks": self.tasks}


@dataclass(slots=True)
class Fleet:
    machines: list[MachineSummary]
    shared: list[SharedSignature]

    @property
    def stalled(self) -> list[MachineSummary]:
        return [m for m in self.machines if m.stalled]

    def as_dict(self) -> dict[str, object]:
        return {
            "machines": len(self.machines),
            "stalled": [m.name for m in self.stalled],
            "per_machine": [m.as_dict() for m in self.machines],
            "shared_signatures": [s.as_dict() for s in self.shared],
        }


def _name(host: str | None, sources: list[str]) -> str:
    if host is not None:
        return host
    return sources[0] if sources else "(no input)"


class _Rows:
    """Which machine each row of a table belongs to, as a number into the machine list.

    What :func:`stallscope.diagnose.host_views` selects for each machine, computed for all of
    them at once: a host's rows, or a file's rows that name no host.
    """

    def __init__(self, frame: pd.DataFrame, index: dict[Machine, int], families: dict[str, tuple[str, ...]]) -> None:
        self.frame = frame
        if not len(frame):
            self.sources, self.source_names, self.machine = np.zeros(0, dtype=np.int32), [], np.zeros(0, dtype=np.int32)
            return
        self.sources, self.source_names = text_codes(frame["source"])
        hosts, host_names = text_codes(frame["host"])
        by_host = np.array([index.get((h, None), -1) for h in host_names] + [-1], dtype=np.int32)
        by_source = np.array([index.get((None, families.get(s, (s,))), -1) for s in self.source_names] + [-1],
                             dtype=np.int32)
        self.machine = by_host[hosts]
        unnamed = hosts < 0
        if unnamed.any():
            self.machine[unnamed] = by_source[self.sources[unnamed]]

    def pairs(self) -> np.ndarray:
        """Per row, its (machine, source) as one number: ``machine * width + source + 1``."""
        return combine(self.machine, self.sources + 1, self.width)

    @property
    def width(self) -> int:
        return len(self.source_names) + 1


def _sources(tables: list[_Rows], machines: int) -> list[list[str]]:
    """Per machine: the inputs its rows come from, in order of appearance (snapshots, tasks, events)."""
    found: list[dict[str, None]] = [{} for _ in range(machines)]
    for rows in tables:
        if not len(rows.machine):
            continue
        for pair in pd.unique(rows.pairs()).tolist():
            machine, source = divmod(pair, rows.width)
            if machine >= 0 and source > 0:  # a row of no machine, or without a source
                found[machine][rows.source_names[source - 1]] = None
    return [list(f) for f in found]


def _stall_ends(snapshots: _Rows, tasks: _Rows, events: _Rows, inputs: list[str],
                machines: int) -> list[tuple[Occurrence | None, Occurrence | None]]:
    """Per machine, its first and last stall line in reading order (inputs in order, then line).

    Stall lines: watchdog reports with tasks stalling, task lines, and the kernel's stall
    reports. Ties go to the earlier table (snapshots, tasks, events) and row, as a stable sort
    of those rows, concatenated, would leave them.
    """
    order = {path: i for i, path in enumerate(inputs)}
    # Per machine, the candidates: (input, line, table, row) of each (table, input)'s first
    # and last line; the ends are the least and the greatest of them.
    lows: dict[int, tuple[int, float, int, int]] = {}
    highs: dict[int, tuple[int, float, int, int]] = {}
    picks = (
        (snapshots, (snapshots.frame["stalling"].fillna(0) > 0).to_numpy(dtype=bool) if len(snapshots.frame)
         else None),
        # Tasks listed by a SysRq-t dump mostly sleep: only watchdog lines and blocked (D) tasks.
        (tasks, stalled_rows(tasks.frame) if len(tasks.frame) else None),
        (events, _is_in(events.frame["kind"], STALL_EVENTS) if len(events.frame) else None),
    )
    for number, (rows, picked) in enumerate(picks):
        for machine, source, low, high in _line_ends(rows, picked):
            place = order.get(rows.source_names[source - 1], len(order)) if source else len(order)
            low_key, high_key = (place, low[0], number, low[1]), (place, high[0], number, high[1])
            if machine not in lows or low_key < lows[machine]:
                lows[machine] = low_key
            if machine not in highs or high_key > highs[machine]:
                highs[machine] = high_key
    frames = [p[0].frame for p in picks]
    ends: list[tuple[Occurrence | None, Occurrence | None]] = [(None, None)] * machines
    for machine, low_key in lows.items():
        high_key = highs[machine]
        ends[machine] = (_occurrence(frames[low_key[2]], low_key[3]), _occurrence(frames[high_key[2]], high_key[3]))
    return ends


def _line_ends(rows: _Rows, picked: np.ndarray | None) -> list[tuple[int, int, tuple[float, int], tuple[float, int]]]:
    """Per (machine, source) of the picked rows (None: all): (line, row) of the first row with
    the lowest line and of the last row with the highest. Missing lines count as highest."""
    if not len(rows.machine):
        return []
    at = np.flatnonzero(picked) if picked is not None else None
    if at is not None and not len(at):
        return []
    pairs = rows.pairs() if at is None else rows.pairs()[at]
    group, values = pd.factorize(pairs)
    frame_line = rows.frame["line"]
    lines = frame_line.to_numpy(dtype="float64", na_value=np.nan)
    if at is not None:
        lines = lines[at]
    # Per group, the least and the greatest line known (a group of missing lines only: inf),
    # with numpy: two pandas groupbys over every row were +30 MB at the end of a 1 GB run.
    low = np.full(len(values), np.inf)
    np.fmin.at(low, group, lines)
    high = np.full(len(values), -np.inf)
    np.fmax.at(high, group, lines)
    high[high == -np.inf] = np.inf
    # Per group, its first and last row, on the rows' own positions.
    positions = np.arange(len(group)) if at is None else at
    first = positions[np.unique(group, return_index=True)[1]]
    last = positions[len(group) - 1 - np.unique(group[::-1], return_index=True)[1]]
    out = []
    for g, pair in enumerate(values.tolist()):
        machine, source = divmod(pair, rows.width)
        if machine < 0:
            continue
        lowest, highest = float(low[g]), float(high[g])
        start, stop = int(first[g]), int(last[g])
        # In log order the first row has the lowest line and the last the highest: then they
        # are the rows sought; otherwise search the group's rows.
        if _line_at(frame_line, start) != lowest or _line_at(frame_line, stop) != highest:
            mine = positions[group == g]
            values_of = np.array([_line_at(frame_line, int(i)) for i in mine])
            start = int(mine[np.flatnonzero(values_of == lowest)[0]])
            stop = int(mine[np.flatnonzero(values_of == highest)[-1]])
        out.append((machine, source, (lowest, start), (highest, stop)))
    return out


def _line_at(line: pd.Series, position: int) -> float:
    value = line.iat[position]
    return np.inf if pd.isna(value) else float(value)


def _occurrence(frame: pd.DataFrame, position: int) -> Occurrence:
    source, line, ts = (frame.iat[position, frame.columns.get_loc(c)] for c in ("source", "line", "ts"))
    return Occurrence(str(source), int(line), None if pd.isna(ts) else float(ts))


def _max_stalling(snapshots: _Rows, machines: int) -> list[int | None]:
    out: list[int | None] = [None] * machines
    if not len(snapshots.frame):
        return out
    stalling = snapshots.frame["stalling"]
    has = stalling.notna().to_numpy(dtype=bool) & (snapshots.machine >= 0)
    found = pd.Series(stalling.to_numpy(dtype="int64", na_value=0)[has]).groupby(snapshots.machine[has]).max()
    for machine, value in found.items():
        out[int(machine)] = int(value)
    return out


def _task_counts(tasks: _Rows, machines: int) -> list[int]:
    """Per machine, its distinct (comm, pid) pairs of stalled task rows (see
    :func:`stalled_rows`): the tasks the watchdog reported, and blocked tasks of a dump."""
    if not len(tasks.frame):
        return [0] * machines
    picked = stalled_rows(tasks.frame)
    if not picked.any():
        return [0] * machines
    # The two columns' picked rows, not the table's: a copy of every column (the lines' text
    # too) was +60 MB at the end of a 1 GB log's run.
    comm, comm_names = text_codes(tasks.frame["comm"][picked])
    pid = pd.factorize(tasks.frame["pid"][picked], use_na_sentinel=False)[0]
    pids = int(pid.max()) + 1
    # A missing comm or pid is a value of its own, as drop_duplicates has it.
    width = (len(comm_names) + 1) * pids
    distinct = pd.unique(combine(tasks.machine[picked], combine(comm + 1, pid, pids), width))
    owners = distinct // width  # -1: rows of no machine
    return np.bincount(owners[owners >= 0], minlength=machines).tolist()  # type: ignore[no-any-return]


def _machine_of(finding: Finding, families: dict[str, tuple[str, ...]]) -> Machine:
    if finding.host is not None:
        return finding.host, None
    if not finding.evidence:
        return None, None
    source = finding.evidence[0].source
    return None, families.get(source, (source,))


def machines(capture: Capture, findings: list[Finding]) -> list[MachineSummary]:
    """One summary per machine: stalled ones first, worst severity first, then by name."""
    by_machine: dict[Machine, list[Finding]] = {}
    families = source_families(capture)
    for finding in findings:  # already most severe first
        by_machine.setdefault(_machine_of(finding, families), []).append(finding)
    inputs = [i.path for i in capture.inputs]
    # (None, None) stands for "no machine at all" (a capture without rows): the inputs below
    # then each count as one quiet machine, so one piped log is not shown as a fleet of two.
    keys = [key for key in machine_keys(capture) if key != (None, None)]
    boots: dict[Machine, int] = {}
    for machine, _boot in view_keys(capture):
        boots[machine] = boots.get(machine, 0) + 1
    index = {key: i for i, key in enumerate(keys)}
    # Whole columns, each read once: a machine's own copy of a long table costs more than this.
    snapshots, tasks, events = (_Rows(frame, index, families)
                                for frame in (capture.snapshots, capture.tasks, capture.events))
    sources = _sources([snapshots, tasks, events], len(keys))
    ends = _stall_ends(snapshots, tasks, events, inputs, len(keys))
    max_stalling = _max_stalling(snapshots, len(keys))
    task_counts = _task_counts(tasks, len(keys))
    out: list[MachineSummary] = []
    for i, key in enumerate(keys):
        host = key[0]
        mine = sources[i]
        found = list(by_machine.get(key, []))
        found.sort(key=lambda f: -f.severity.rank)
        counts = {s.value: sum(f.severity is s for f in found) for s in Severity}
        first, last = ends[i]
        stalled = first is not None or any(f.severity.rank >= Severity.WARNING.rank for f in found)
        out.append(MachineSummary(
            name=_name(host, mine),
            host=host,
            sources=mine,
            stalled=stalled,
            findings={k: v for k, v in counts.items() if v},
            worst=found[0] if found else None,
            max_stalling=max_stalling[i],
            tasks=task_counts[i],
            first=first,
            last=last,
            decided_by=machine_reason(key),
            boots=boots.get(key, 1),
        ))
    covered = {s for m in out for s in m.sources}
    for path in inputs:
        if path not in covered:
            # An input with nothing the rules read (no watchdog line, no kernel report) is a quiet
            # machine; listing it says it was looked at.
            out.append(MachineSummary(path, None, [path], False, {}, None, None, 0, None, None))
    out.sort(key=lambda m: (not m.stalled, -(m.worst.severity.rank if m.worst else 0), m.name))
    return out


def shared_signatures(capture: Capture, minimum: int = 2) -> list[SharedSignature]:
    """Stack signatures printed on at least ``minimum`` machines, the most widespread first."""
    if not len(capture.traces):
        return []
    codes = trace_codes(capture)
    machine, machine_names = _trace_machines(capture.traces)
    # Per signature: traces and machines, counted per part (a distinct stack's summary) and
    # then summed: a long capture prints few stacks many times.
    per_part = np.bincount(codes.part, minlength=len(codes.signature))
    traces: dict[int, int] = {}
    for part in np.flatnonzero(per_part).tolist():
        signature = int(codes.signature[part])
        if codes.signatures[signature] != _NO_TRACE:
            traces[signature] = traces.get(signature, 0) + int(per_part[part])
    names: dict[int, dict[str, None]] = {}
    width = len(machine_names) + 1
    for pair in pd.unique(combine(codes.part, machine + 1, width)).tolist():
        part, where = divmod(pair, width)
        signature = int(codes.signature[part])
        if signature in traces:
            names.setdefault(signature, {})[machine_names[where - 1] if where else "nan"] = None
    widespread = [signature for signature, on in names.items() if len(on) >= minimum]
    if not widespread:
        return []
    tasks = _task_names(codes, machine, machine_names, widespread)
    guilty = guilty_modes(codes)
    out = [
        SharedSignature(codes.signatures[signature], guilty.get(signature), sorted(names[signature]),
                        traces[signature], tasks.get(signature, [])[:8])
        for signature in widespread
    ]
    out.sort(key=lambda s: (-len(s.machines), -s.traces, s.signature))
    return out


def _trace_machines(traces: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Per trace, its machine (the host, or the file for a trace that names none) and the names."""
    hosts, host_names = text_codes(traces["host"])
    sources, source_names = text_codes(traces["source"])
    # One number per name: a host and a file could read alike.
    number: dict[str, int] = {}
    by_host = np.array([number.setdefault(n, len(number)) for n in host_names] + [-1], dtype=np.int32)
    by_source = np.array([number.setdefault(n, len(number)) for n in source_names] + [-1], dtype=np.int32)
    machine = by_host[hosts]
    unnamed = hosts < 0
    if unnamed.any():
        machine[unnamed] = by_source[sources[unnamed]]
    return machine, list(number)


def _task_names(codes: TraceCodes, machine: np.ndarray, machine_names: list[str],
                signatures: list[int]) -> dict[int, list[str]]:
    """Per signature, ``comm(pid)@machine`` of its traces that name both, distinct, in log order."""
    chosen = np.zeros(len(codes.signatures), dtype=bool)
    chosen[signatures] = True
    signature = codes.signature[codes.part]
    at = np.flatnonzero(chosen[signature] & (codes.comm >= 0) & codes.has_pid)
    if not len(at):
        return {}
    pid = pd.factorize(codes.pid[at])[0]
    # Distinct (signature, comm, pid, machine) in order of first appearance.
    key = group_numbers(signature[at], codes.comm[at], pid, machine[at])
    first = at[np.flatnonzero(np.r_[True, key[1:] > np.maximum.accumulate(key)[:-1]])]
    out: dict[int, dict[str, None]] = {}
    for code, who, number, where in zip(signature[first].tolist(), codes.comm[first].tolist(),
                                        codes.pid[first].tolist(), machine[first].tolist(), strict=True):
        label = f"{codes.comms[who]}({number})@{machine_names[where] if where >= 0 else 'nan'}"
        out.setdefault(code, {})[label] = None
    return {code: list(labels) for code, labels in out.items()}


def _is_in(column: pd.Series, names: frozenset[str]) -> np.ndarray:
    """``column.astype(str).isin(names)``, testing each category once when the column has them."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        hit = np.array([str(c) in names for c in column.cat.categories] + [False], dtype=bool)
        return hit[column.cat.codes.to_numpy()]  # type: ignore[no-any-return]
    return column.astype(str).isin(names).to_numpy(dtype=bool)


def fleet(capture: Capture, findings: list[Finding]) -> Fleet | None:
    """The fleet summary, or None for a capture of one machine (nothing to compare)."""
    if len(capture.inputs) < 2 and sum(key != (None, None) for key in machine_keys(capture)) < 2:
        # One input holding one machine at most: known without the summaries, which read every
        # row of the capture once more (+11 MB at the end of the 100 MB serial family's run).
        return None
    summaries = machines(capture, findings)
    if len(summaries) < 2:
        return None
    return Fleet(summaries, shared_signatures(capture))
