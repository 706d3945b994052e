"""The parts a report is organised in: one per machine, and per boot inside a machine.

Each part is the capture cut to that machine's boot (its own tables, so a delta or a count never
runs across machines or boots) with the findings about it. A capture of one machine and one boot
is one part: the report is laid out as it always was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stallscope.capture.model import Capture
from stallscope.capture.trajectories import text_codes
from stallscope.diagnose import Positions, followed_tasks, rows_at, view_keys, view_positions
from stallscope.render.sections import Table
from stallscope.rules.base import Finding, Severity, task_position
from stallscope.rules.common.task_facts import BootParts, trajectories_by_boot


@dataclass(slots=True)
class _Shared:
    """What the parts of one report derive from the whole capture once for all of them."""

    # stallscope.rules.common.task_facts.trajectories_by_boot of the whole capture.
    trajectories: tuple[BootParts, np.ndarray] | None = None


@dataclass(slots=True)
class ReportView:
    name: str  # the host name, or the file of a machine without one
    host: str | None
    boot: int | None
    boots: int  # how many boots its machine has
    sources: list[str]
    whole: Capture  # the capture the view is part of
    rows: Positions  # where its snapshots, tasks and events are in the whole capture's tables
    findings: list[Finding] = field(default_factory=list)
    shared: _Shared = field(default_factory=_Shared)

    @property
    def title(self) -> str:
        return self.name + (f" · boot {self.boot} of {self.boots}" if self.boots > 1 else "")

    @property
    def capture(self) -> Capture:
        """The capture cut to this machine's boot, made each time it is asked for (a renderer
        takes it once per part): a capture of thousands of boots keeps only row positions."""
        snapshots, tasks, events = (rows_at(frame, at) for frame, at in
                                    zip((self.whole.snapshots, self.whole.tasks, self.whole.events), self.rows,
                                        strict=True))
        return _cut(self.whole, snapshots, followed_tasks(tasks), events, self.sources)

    def trajectories(self, capture: Capture) -> pd.DataFrame | None:
        """``trajectories_of(capture.tasks)`` of this part's ``capture``, taken from those of every
        boot of the whole capture derived at once (per part it cost milliseconds of pandas'
        fixed costs, seconds for a capture of hundreds of boots); None when it has no tasks."""
        if not len(capture.tasks):
            return None
        if self.shared.trajectories is None:
            self.shared.trajectories = trajectories_by_boot(self.whole)
        parts, part_of_task = self.shared.trajectories
        return parts.get(int(part_of_task[task_position(self.whole, int(capture.tasks.index[0]))]))


def place(finding: Finding, views: int, boots: int) -> str:
    """Where a finding was found, for a report of ``views`` parts: its machine and boot (the
    boot only when its machine has several)."""
    if views < 2:
        return f"on {finding.host}" if finding.host else ""
    name = finding.host or (finding.evidence[0].source if finding.evidence else "")
    boot = f", boot {finding.boot}" if finding.boot is not None and boots > 1 else ""
    return f"on {name}{boot}" if name else boot.removeprefix(", ")


def report_views(capture: Capture, findings: list[Finding]) -> list[ReportView]:
    """The parts of a report of ``capture``, in machine then boot order; ``findings`` (ranked)
    each go to the part they are about, in their order."""
    keys = view_keys(capture)
    boots: dict[object, int] = {}
    for machine, _boot in keys:
        boots[machine] = boots.get(machine, 0) + 1
    views: list[ReportView] = []
    shared = _Shared()
    # Each table's sources as numbers (and which task rows a view holds, see followed_tasks):
    # a view's sources are read from its rows' numbers, without a table per view and table (a
    # capture of hundreds of boots spent most of its JSON report's time on those).
    tables: list[tuple[np.ndarray, list[str], np.ndarray | None] | None] = []
    for frame in (capture.snapshots, capture.tasks, capture.events):
        if not len(frame):
            tables.append(None)
            continue
        codes, names = text_codes(frame["source"])
        held = frame["pid"].notna().to_numpy(dtype=bool, na_value=False) if frame is capture.tasks else None
        tables.append((codes, names, held))
    for _at, machine, boot, rows in view_positions(capture, keys=keys):
        sources: list[str] = list(machine[1] or ())
        for table, at in zip(tables, rows, strict=True):
            if table is None:
                continue
            codes, names, held = table
            # (A run of rows, a range, as a slice: numpy would make it an array of positions.)
            taken = None if at is None else slice(at.start, at.stop) if isinstance(at, range) else at
            mine = codes if taken is None else codes[taken]
            if held is not None:
                mine = mine[held if taken is None else held[taken]]
            for code in pd.unique(mine[mine >= 0]).tolist():
                if names[code] not in sources:
                    sources.append(names[code])
        host = machine[0]
        views.append(ReportView(
            name=host if host is not None else (sources[0] if sources else "(no input)"),
            host=host,
            boot=boot,
            boots=boots[machine],
            sources=sources,
            whole=capture,
            rows=rows,
            shared=shared,
        ))
    places = _Places(views)
    for finding in findings:
        chosen = places.view_of(finding)
        if chosen is not None:
            chosen.findings.append(finding)
    return views


def boots_table(views: list[ReportView]) -> Table | None:
    """A row per part of a report where a machine has several boots, for the top of the report:
    where each boot is in the log, when, and what was found in it, so that a serial capture of
    hundreds of boots is not read part after part to find the boots that matter. None when no
    machine has several boots."""
    if not any(view.boots > 1 for view in views):
        return None
    whole = views[0].whole
    several = len({view.name for view in views}) > 1
    # Each table's line numbers and kernel times as floats (NaN: missing), read once for every part.
    columns = [(_floats(frame, "line"), _floats(frame, "ts")) for frame in (whole.snapshots, whole.tasks, whole.events)]
    rows = []
    for view in views:
        lines = np.concatenate([line if at is None else line[at] for (line, _), at in zip(columns, view.rows,
                                                                                         strict=True)])
        times = np.concatenate([ts if at is None else ts[at] for (_, ts), at in zip(columns, view.rows, strict=True)])
        found = {severity: 0 for severity in Severity}
        for finding in view.findings:
            found[finding.severity] += 1
        first = view.findings[0] if view.findings else None
        rows.append([
            *([view.name] if several else []),
            "" if view.boot is None else str(view.boot),
            # Line numbers are a file's: a boot read from several files has no one range.
            _span(lines, "{:.0f}") if len(view.sources) == 1 else f"{len(view.sources)} files",
            _span(times, "{:.1f}"),
            *(str(found[severity]) for severity in Severity),
            "" if first is None else f"{first.rule}: {first.title}",
        ])
    names = [*(["machine"] if several else []), "boot", "lines", "kernel time (s)",
             *(severity.value for severity in Severity), "first finding"]
    return Table(names, rows, {"boot", "lines", "kernel time (s)", *(severity.value for severity in Severity)})


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    if not len(frame):
        return np.empty(0)
    return frame[column].to_numpy(dtype=float, na_value=np.nan)


def _span(values: np.ndarray, form: str) -> str:
    """"first-last" of the values that are known ("" when none is)."""
    known = values[~np.isnan(values)]
    if not len(known):
        return ""
    low, high = form.format(known.min()), form.format(known.max())
    return low if low == high else f"{low}-{high}"


class _Places:
    """The views of a report by host and boot, to find a finding's view among its host's: a
    search of every view for each finding was quadratic (a serial capture of 8,000 boots and
    56,000 findings, 20 s)."""

    def __init__(self, views: list[ReportView]) -> None:
        self.views = views
        self.by_host: dict[str | None, list[int]] = {}
        self.by_boot: dict[tuple[str | None, int | None], list[int]] = {}
        for at, view in enumerate(views):
            self.by_host.setdefault(view.host, []).append(at)
            self.by_boot.setdefault((view.host, view.boot), []).append(at)

    def view_of(self, finding: Finding) -> ReportView | None:
        """The first view of the finding's host and boot (a view of no boot number takes any)
        that holds the finding's input when it names no host; else the first view."""
        if finding.boot is None:
            candidates = self.by_host.get(finding.host, [])
        else:
            candidates = sorted(self.by_boot.get((finding.host, None), [])
                                + self.by_boot.get((finding.host, finding.boot), []))
        source = finding.evidence[0].source if finding.evidence else None
        for at in candidates:
            view = self.views[at]
            if view.host is None and source is not None and source not in view.sources:
                continue
            return view
        return self.views[0] if self.views else None


def _cut(capture: Capture, snapshots: pd.DataFrame, tasks: pd.DataFrame, events: pd.DataFrame,
         sources: list[str]) -> Capture:
    """``capture`` with only these rows, the traces of its tasks and reports, and its inputs."""
    traces = capture.traces
    if len(traces):
        task = traces["task"].isin(tasks.index)
        event = traces["event"].isin(events.index)
        loose = traces["task"].isna() & traces["event"].isna() & traces["source"].isin(sources)
        traces = traces[(task | event | loose).to_numpy(bool)]
    return Capture(
        snapshots=snapshots,
        tasks=tasks,
        events=events,
        frames=capture.frames,
        traces=traces,
        inputs=[stats for stats in capture.inputs if stats.path in sources],
        unparsed=[],
    )
