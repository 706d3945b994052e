"""Many machines at once: which stalled, the worst finding of each, and stacks they share.

A machine is what the rules judge on its own (:func:`stallscope.diagnose.host_views`): a host
named by the capture prefix (a receiver log holds many), or else one input file. A stack
signature (:mod:`stallscope.capture.signatures`: where a trace waits, and who called it) seen on
several machines is likely one bug hitting all of them, so those come first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from stallscope.capture.model import Capture
from stallscope.capture.signatures import signatures
from stallscope.diagnose import host_views
from stallscope.render.sections import NOTABLE_EVENTS
from stallscope.rules.base import Finding, HostView, Severity

# Kernel reports that mean something stalled (the rest, such as a Mem-Info dump, only add context).
_STALL_EVENTS = frozenset(NOTABLE_EVENTS) - {"sysrq"}
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


def _sources(view: HostView) -> list[str]:
    found: dict[str, None] = {}
    for frame in (view.snapshots, view.tasks, view.events):
        if len(frame):
            found.update(dict.fromkeys(str(s) for s in frame["source"].dropna().unique()))
    return list(found)


def _name(host: str | None, sources: list[str]) -> str:
    if host is not None:
        return host
    return sources[0] if sources else "(no input)"


def _stall_rows(view: HostView) -> pd.DataFrame:
    """Lines that show this machine stalling: watchdog lines and the kernel's stall reports."""
    parts = []
    snaps = view.snapshots
    if len(snaps):
        parts.append(snaps[snaps["stalling"].fillna(0) > 0][["source", "line", "ts"]])
    if len(view.tasks):
        parts.append(view.tasks[["source", "line", "ts"]])
    events = view.events
    if len(events):
        parts.append(events[events["kind"].astype(str).isin(_STALL_EVENTS)][["source", "line", "ts"]])
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["source", "line", "ts"])
    rows = pd.concat([p.astype({"source": str}) for p in parts], ignore_index=True)
    return rows


def _occurrence(row: pd.Series) -> Occurrence:
    ts = row["ts"]
    return Occurrence(str(row["source"]), int(row["line"]), None if pd.isna(ts) else float(ts))


def _ends(rows: pd.DataFrame, sources: list[str]) -> tuple[Occurrence | None, Occurrence | None]:
    """The first and last stall line, in reading order (inputs in order, then line number)."""
    if not len(rows):
        return None, None
    order = {s: i for i, s in enumerate(sources)}
    ranked = rows.assign(_input=rows["source"].map(order).fillna(len(order))).sort_values(
        ["_input", "line"], kind="stable")
    return _occurrence(ranked.iloc[0]), _occurrence(ranked.iloc[-1])


def _machine_of(finding: Finding) -> tuple[str | None, str | None]:
    if finding.host is not None:
        return finding.host, None
    return None, finding.evidence[0].source if finding.evidence else None


def machines(capture: Capture, findings: list[Finding]) -> list[MachineSummary]:
    """One summary per machine: stalled ones first, worst severity first, then by name."""
    by_machine: dict[tuple[str | None, str | None], list[Finding]] = {}
    for finding in findings:  # already most severe first
        by_machine.setdefault(_machine_of(finding), []).append(finding)
    inputs = [i.path for i in capture.inputs]
    out: list[MachineSummary] = []
    for view in host_views(capture):
        sources = _sources(view)
        if view.host is not None:
            found = by_machine.get((view.host, None), [])
        else:
            found = [f for s in sources for f in by_machine.get((None, s), [])]
        found.sort(key=lambda f: -f.severity.rank)
        rows = _stall_rows(view)
        counts = {s.value: sum(f.severity is s for f in found) for s in Severity}
        stalled = len(rows) > 0 or any(f.severity.rank >= Severity.WARNING.rank for f in found)
        first, last = _ends(rows, inputs)
        snaps = view.snapshots
        tasks = view.tasks
        out.append(MachineSummary(
            name=_name(view.host, sources),
            host=view.host,
            sources=sources,
            stalled=stalled,
            findings={k: v for k, v in counts.items() if v},
            worst=found[0] if found else None,
            max_stalling=int(snaps["stalling"].max()) if len(snaps) and snaps["stalling"].notna().any() else None,
            tasks=len(tasks[["comm", "pid"]].drop_duplicates()) if len(tasks) else 0,
            first=first,
            last=last,
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
    sigs = signatures(capture)
    if not len(sigs):
        return []
    sigs = sigs[sigs["signature"] != _NO_TRACE]
    host = sigs["host"].astype(object)
    machine = host.where(host.notna(), sigs["source"].astype(object)).astype(str)
    sigs = sigs.assign(machine=machine)
    out: list[SharedSignature] = []
    for signature, rows in sigs.groupby("signature", sort=False):
        names = list(dict.fromkeys(rows["machine"]))
        if len(names) < minimum:
            continue
        guilty = rows["guilty"].dropna()
        tasks = list(dict.fromkeys(
            f"{c}({int(p)})@{m}" for c, p, m in zip(rows["comm"], rows["pid"], rows["machine"], strict=True)
            if c is not None and not pd.isna(c) and not pd.isna(p)
        ))
        out.append(SharedSignature(str(signature), str(guilty.mode().iloc[0]) if len(guilty) else None,
                                   sorted(names), len(rows), tasks[:8]))
    out.sort(key=lambda s: (-len(s.machines), -s.traces, s.signature))
    return out


def fleet(capture: Capture, findings: list[Finding]) -> Fleet | None:
    """The fleet summary, or None for a capture of one machine (nothing to compare)."""
    summaries = machines(capture, findings)
    if len(summaries) < 2:
        return None
    return Fleet(summaries, shared_signatures(capture))
