"""The terminal report: verdict first, then the timeline, the stalled tasks and the findings.

Every string that comes from the log is wrapped in ``rich.text.Text`` so that a task name
like ``[bold]x`` is shown, never interpreted; control characters (a terminal escape a /dev/kmsg
or rsyslog capture carried escaped) are first made visible as ``\x1b``, since rich passes them
on to the terminal as they are.

The report fits the width it is printed at (see :mod:`stallscope.render.layout`): at 80 columns
tables leave out their least useful columns and say so, finding titles wrap inside the panel,
and a GFP mask, a hex value or a task name is never cut in the middle.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import closing
from functools import partial

import pandas as pd
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stallscope import forked
from stallscope.capture.hz import HostPairs, delay_seconds, pairs_by_host
from stallscope.capture.model import Capture, InputStats
from stallscope.capture.stalled import stalled_tasks as stalled_tasks_of
from stallscope.capture.understood import not_a_kernel_log, not_understood
from stallscope.render import sections
from stallscope.render.layout import Fitted, Wrapped
from stallscope.render.mdtext import clean
from stallscope.render.summary import headline, summary
from stallscope.render.views import ReportView, boots_table, report_views
from stallscope.rules.base import Finding, Severity
from stallscope.sources.bundle import ANOTHER_COPY
from stallscope.verdict import verdict

_SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
TIMELINE_ROWS = 24
TASK_ROWS = 20
_SPARK = "▁▂▃▄▅▆▇█"
SPARK_MIN = 8  # marks a sparkline in a table cell keeps however narrow the table
# Left out first when a table does not fit the line: what the verdict and the findings rely on least.
TIMELINE_DROP = ("dying", "Δ ", "victim", "Δ", "line")
TASK_DROP = ("switches", "seq", "flags", "line", "order")
BOOTS_DROP = ("info", "lines", "warning", "kernel time (s)")
# Panel borders and the spaces around a title take this many columns of the panel's width.
_TITLE_MARGIN = 6


def _ts(value: object) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.3f}"  # type: ignore[arg-type]


def _num(value: object) -> str:
    return "" if value is None or pd.isna(value) else str(int(value))  # type: ignore[arg-type]


def _delta(current: object, previous: object) -> str:
    if previous is None or pd.isna(current) or pd.isna(previous):  # type: ignore[arg-type]
        return ""
    change = int(current) - int(previous)  # type: ignore[arg-type]
    return f"{change:+d}" if change else "="


def downsample(values: list[int], points: int) -> list[int]:
    """The maximum of each of ``points`` equal slices: peaks must survive the squeeze."""
    step = len(values) / points
    return [max(values[int(i * step): max(int((i + 1) * step), int(i * step) + 1)]) for i in range(points)]


def sparkline(values: list[int]) -> str:
    if not values:
        return ""
    high = max(values) or 1
    return "".join(_SPARK[min(len(_SPARK) - 1, math.floor(v / high * (len(_SPARK) - 1)))] for v in values)


class Spark:
    """A sparkline of ``values`` then `` label``, squeezed to the width it is given (each mark
    then the worst of the values it stands for): for table cells, where the width is the
    table's to decide."""

    def __init__(self, values: list[int], label: str = "") -> None:
        self.values = values
        self.label = f" {label}" if label else ""

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = len(self.values) + cell_len(self.label)
        return Measurement(min(len(self.values), SPARK_MIN) + cell_len(self.label), widest).with_maximum(
            options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[RenderableType]:
        room = max(1, options.max_width - cell_len(self.label))
        marks = self.values if len(self.values) <= room else downsample(self.values, room)
        yield Text(sparkline(marks) + self.label, no_wrap=True, overflow="ellipsis")


class StallingLine:
    """``stalling over time: ▁▃▅█  (max 40)``, one mark per report, squeezed to the line's width
    when there are more reports than room (each mark then the worst of the reports it stands for,
    and the suffix says so, as the Markdown report does)."""

    def __init__(self, stalling: list[int]) -> None:
        self.stalling = stalling

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[RenderableType]:
        values, label = self.stalling, "stalling over time: "
        marks, suffix = values, f"  (max {max(values)})"
        if cell_len(label) + len(values) + len(suffix) > options.max_width:
            widest = f"  (max {max(values)}, {len(values)} reports in {len(values)} steps)"
            marks = downsample(values, min(len(values), max(1, options.max_width - cell_len(label) - len(widest))))
            suffix = f"  (max {max(values)}, {len(values)} reports in {len(marks)} steps)"
        yield Wrapped(Text(label + sparkline(marks) + suffix))


def timeline(capture: Capture) -> Fitted | None:
    snaps = capture.snapshots
    if snaps.empty:
        return None
    table = Table(title="Watchdog reports (MemAlloc-Info)", title_justify="left")
    with_host = bool(snaps["host"].notna().any())
    for column in ("host", "line", "ts", "stalling", "Δ", "dying", "victim", "oom_count", "Δ "):
        if column != "host" or with_host:
            table.add_column(column, justify="left" if column == "host" else "right", no_wrap=True)
    rows = list(snaps.itertuples())
    shown = rows if len(rows) <= TIMELINE_ROWS else rows[:4] + rows[-(TIMELINE_ROWS - 4) :]
    previous = None
    for i, row in enumerate(shown):
        if len(rows) > TIMELINE_ROWS and i == 4:
            gap = ["…", "", Text(f"{len(rows) - TIMELINE_ROWS} more"), "", "", "", "", ""]
            table.add_row(*([""] if with_host else []), *gap)
            previous = None
        oom = _num(row.oom_count) + (f"/{_num(row.oom_count_nofs)}" if not pd.isna(row.oom_count_nofs) else "")
        host = [Text(clean(str(row.host)) if not pd.isna(row.host) else "-")] if with_host else []
        table.add_row(
            *host,
            str(row.line),
            _ts(row.ts),
            _num(row.stalling),
            _delta(row.stalling, previous.stalling if previous else None),
            _num(row.dying),
            _num(row.victim),
            oom,
            _delta(row.oom_count, previous.oom_count if previous else None),
        )
        previous = row
    return Fitted(table, TIMELINE_DROP)


def stalled_tasks(capture: Capture, hz: float | None = None, pairs: dict[str | None, HostPairs] | None = None
                  ) -> Fitted | None:
    """``pairs``: :func:`pairs_by_host` of the capture's tasks, when the caller has them. The
    watchdog's task lines and blocked (D) tasks of dumps, not every sleeping task of a SysRq-t dump."""
    tasks = stalled_tasks_of(capture.tasks)
    if tasks.empty:
        return None
    seconds = delay_seconds(capture, hz, pairs)
    # The latest row of each task is found on the columns that order and group the rows; only
    # the rows shown are then taken whole (sorting every column of a long table is slow).
    keys = tasks[["source", "line", "host", "comm", "pid", "delay"]].sort_index(kind="stable")  # reading order
    latest = keys.groupby(["host", "comm", "pid"], observed=True, dropna=False).tail(1)
    latest = latest.assign(_delay=latest["delay"].fillna(-1)).sort_values("_delay", ascending=False)
    table = Table(title=f"Stalled tasks (latest line of each, worst first; {len(latest)} tasks)", title_justify="left")
    for column in ("comm(pid)", "line", "state", "seq", "gfp", "order", "delay", "switches", "flags"):
        table.add_column(column, overflow="fold", no_wrap=column in ("line", "seq", "order", "switches", "flags"))
    for row in tasks.loc[latest.index[:TASK_ROWS]].itertuples():
        words = [w for w in ("uninterruptible", "exiting", "dying", "victim") if getattr(row, w)]
        state = " ".join(filter(None, [None if pd.isna(row.state) else str(row.state), *words]))
        gfp = "" if pd.isna(row.gfp) else f"{int(row.gfp):#x}"
        if not pd.isna(row.gfp_names):
            gfp += f"({row.gfp_names})"
        table.add_row(
            # A long name may go to the next line before its pid, never inside the name.
            Wrapped(clean(f"{row.comm}({row.pid})"), before="("),
            str(row.line),
            Wrapped(clean(state)),
            _num(row.seq),
            # 0x142134a(GFP_NOFS|__GFP_HIGHMEM|...) breaks after the mask and after each flag.
            Wrapped(clean(gfp), after="(|"),
            _num(row.order),
            Wrapped(_num(row.delay) + (f" ({seconds[row.Index]:.1f}s)" if pd.notna(seconds[row.Index]) else "")),
            _num(row.switches),
            "" if pd.isna(row.flags) else f"{int(row.flags):#x}",
        )
    if len(latest) > TASK_ROWS:
        table.caption = f"{len(latest) - TASK_ROWS} more tasks not shown (use --format json or the Python API)"
    return Fitted(table, TASK_DROP)


class FindingPanel:
    """A finding in a panel titled with its severity, rule and title. When the title does not fit
    on the border it moves, whole and wrapped, to the top of the panel, with only the severity
    and rule left on the border."""

    def __init__(self, finding: Finding) -> None:
        self.finding = finding

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[RenderableType]:
        finding = self.finding
        style = _SEVERITY_STYLE[finding.severity]
        room = options.max_width - _TITLE_MARGIN
        severity = Text(f"{finding.severity.value.upper()} ", style=style)
        rule = clean(f"{finding.rule}" + (f" @ {finding.host}" if finding.host else ""))
        heading = clean(f": {finding.title}")
        body = Text()
        if cell_len(severity.plain + rule + heading) <= room:
            title = Text.assemble(severity, rule, heading)
        elif cell_len(severity.plain + rule) <= room:
            title = Text.assemble(severity, rule)
            body.append(clean(finding.title) + "\n", style="bold")
        else:
            title = severity
            body.append(rule + heading + "\n", style="bold")
        body.append(clean(finding.explanation) + "\n")
        if finding.tasks:
            body.append("Tasks: ", style="bold")
            body.append(clean(", ".join(f"{t.comm}({t.pid})" for t in finding.tasks[:12])))
            if len(finding.tasks) > 12:
                body.append(f" and {len(finding.tasks) - 12} more")
            body.append("\n")
        body.append("Evidence:\n", style="bold")
        for e in finding.evidence:
            where = f"{e.source}:{e.line}" + (f" [{e.ts:.6f}]" if e.ts is not None else "")
            body.append(f"  {clean(where)}  ", style="dim")
            body.append(clean(e.text) + "\n")
        body.rstrip()
        # A word too long for the panel breaks between GFP flags (a|b) or after a comma, else a path
        # after a /, and a file name after - or _ only if it must.
        yield Panel(Wrapped(body, after=("|,", "/", "-_")), title=title, title_align="left", border_style=style)


def finding_panel(finding: Finding) -> FindingPanel:
    return FindingPanel(finding)


def render(capture: Capture, findings: list[Finding], console: Console, hz: float | None = None,
           processes: int = 1) -> None:
    """The report: with several machines or boots, one part for each (its verdict, tables and
    findings under a rule naming it), then what was read, once. With ``processes`` of two or
    more, a report of many parts has them rendered by that many forked processes (see
    :func:`_parts`)."""
    views = report_views(capture, findings)
    if len(views) < 2:
        _body(capture, findings, console, hz)
    else:
        boots = boots_table(views)
        if boots is not None:
            console.print(_boots(boots))
        _parts(views, console, hz, processes)
    _inputs(capture, console)


# From this many parts on, ``processes`` forked processes render them. A part costs tens of
# milliseconds whatever its size (rich lays out each table and panel; the part's rows are cut
# from the capture), so a serial capture of a machine rebooted after each incident (the bench's
# serial family: 268 boots in 30 MB, 47,000 lines of report) spent seconds here on one core.
FORK_PARTS = 8


def _parts(views: list[ReportView], console: Console, hz: float | None, processes: int) -> None:
    """Each view's part, in order: rendered here, or with many views by forked processes into
    text that this process writes in order as it comes (the same text: each is rendered by this
    console, captured; bench/README.md has the gain)."""
    if processes < 2 or len(views) < FORK_PARTS or not forked.available():
        for view in views:
            _part(view, console, hz)
        return
    # What is written but still buffered would be written again by each child when it exits:
    # flushed first (writing nothing flushes).
    _write(console, "")
    pending: dict[int, str] = {}
    written = 0
    # Closed at once when writing fails (the reader went away): that stops the children.
    with closing(forked.shared(partial(_rendered, views, console, hz), range(len(views)), processes)) as parts:
        for at, part in parts:
            pending[at] = part
            while written in pending:
                _write(console, pending.pop(written))
                written += 1


def _part(view: ReportView, console: Console, hz: float | None) -> None:
    console.print()
    console.rule(Text(clean(view.title), style="bold"), align="left")
    part = view.capture
    _body(part, view.findings, console, hz, view.trajectories(part))


def _rendered(views: list[ReportView], console: Console, hz: float | None,
              chosen: Sequence[int]) -> Iterator[tuple[int, str]]:
    for at in chosen:
        with console.capture() as captured:
            _part(views[at], console, hz)
        yield at, captured.get()


def _write(console: Console, rendered: str) -> None:
    """Text rendered by this console (:meth:`Console.capture`) to its file, as rich writes it."""
    try:
        console.file.write(rendered)
        console.file.flush()
    except BrokenPipeError:
        console.on_broken_pipe()


def _boots(boots: sections.Table) -> Fitted:
    """The boots table (see ``views.boots_table``), before the parts it lists."""
    table = Table(title=f"Boots ({len(boots.rows)}): each diagnosed on its own, in the parts below",
                  title_justify="left")
    for name in boots.columns:
        wraps = name in ("machine", "first finding")
        table.add_column(name, justify="right" if name in boots.numeric else "left", no_wrap=not wraps,
                         overflow="fold" if wraps else "ellipsis")
    for row in boots.rows:
        table.add_row(*(Wrapped(clean(cell)) if name in ("machine", "first finding") else Text(clean(cell))
                        for name, cell in zip(boots.columns, row, strict=True)))
    return Fitted(table, BOOTS_DROP, {"first finding": 30})


def _body(capture: Capture, findings: list[Finding], console: Console, hz: float | None = None,
          trajectories: pd.DataFrame | None = None) -> None:
    # Read once for the verdict's sentence on HZ and the delays in seconds.
    pairs = pairs_by_host(capture.tasks)
    console.print(Panel(Wrapped(clean(headline(capture, findings))), title="Verdict", title_align="left"))
    if findings:
        console.print(Wrapped(clean(verdict(capture, findings, pairs, trajectories))))
    stalling = [int(v) for v in capture.snapshots["stalling"].dropna()]
    if stalling:
        console.print(StallingLine(stalling))
    for table in (timeline(capture), stalled_tasks(capture, hz, pairs)):
        if table is not None:
            console.print(table)
    if findings:
        console.print(Text(f"Findings ({len(findings)})", style="bold"))
        console.print(Group(*(finding_panel(f) for f in findings)))


def input_line(stats: InputStats, understood: bool = True) -> str:
    """One input's line of the summary of what was read."""
    return (f"{stats.path}: {stats.physical_lines} lines ({stats.lines} records), {stats.parsed} "
            f"records understood, {stats.unparsed} not understood"
            + (" (list them with --show-unparsed)" if stats.unparsed else "")
            + ("" if understood else f"; {not_a_kernel_log(stats)}")
            + (f"; {stats.duplicates} record(s) dropped as read before from {', '.join(stats.duplicate_of)}"
               if stats.duplicates else "")
            + (f"; damaged: {stats.damaged}" if stats.damaged else ""))


def _inputs(capture: Capture, console: Console) -> None:
    facts = summary(capture)
    strangers = {stats.path for stats in not_understood(capture)}
    for stats in capture.inputs:
        console.print(Wrapped(Text(clean(input_line(stats, stats.path not in strangers)), style="dim"),
                              after=("/", "-_")))
    for line in skipped_lines(capture):
        console.print(Text(clean(line), style="dim"))
    console.print(
        Text(
            f"{facts['snapshots']} MemAlloc-Info line(s), {facts['tasks']} MemAlloc task line(s), "
            f"{facts['events']} kernel report line(s)",
            style="dim",
        )
    )


def skipped_lines(capture: Capture) -> list[str]:
    """What was not read of bundles and archives: the other copies of a kernel log each on its own
    line (a reader may want one of them instead), the rest counted."""
    copies = [s for s in capture.skipped if s.reason.startswith(ANOTHER_COPY)]
    others = len(capture.skipped) - len(copies)
    lines = [f"not read: {s.path}: {s.reason}" for s in copies]
    if others:
        lines.append(f"not read: {others} other file(s) of directories, bundles or archives (not kernel logs, or not "
                     "regular files); list them with --show-skipped")
    return lines
