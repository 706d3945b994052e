"""The fleet summary on the terminal: printed before the per-finding report when there are several machines."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from stallscope.diagnose import BY_ROTATION
from stallscope.fleet import Fleet, MachineSummary, Occurrence
from stallscope.render.layout import Fitted, Wrapped
from stallscope.rules.base import Severity

_STYLE = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
# Left out first when a table does not fit the line (see stallscope.render.layout).
MACHINES_DROP = ("last", "first", "boots", "tasks", "max stalling", "findings")
# A machine's name and its worst finding are running text: narrower than this, better a column less.
MACHINES_COMFORTABLE = {"machine": 20, "worst finding": 30}
SHARED_DROP = ("traces", "blames", "machines")


def _where(at: Occurrence | None, show_source: bool) -> Wrapped:
    if at is None:
        return Wrapped("")
    place = f"{at.source}:{at.line}" if show_source else f"line {at.line}"
    return Wrapped(place + (f" [{at.ts:.3f}]" if at.ts is not None else ""), after=("/", "-_"))


def _machine(m: MachineSummary) -> Wrapped:
    """A host name is kept whole; a machine named by its file may break after / - _ in the path."""
    return Wrapped(Text(m.name, style="bold" if m.stalled else "dim"), after="" if m.host is not None else ("/", "-_"))


def machines_table(summary: Fleet) -> Fitted:
    stalled = len(summary.stalled)
    table = Table(title=f"Fleet: {stalled} of {len(summary.machines)} machine(s) stalled", title_justify="left")
    for column in ("machine", "boots", "worst finding", "findings", "max stalling", "tasks", "first", "last"):
        table.add_column(column, overflow="fold", justify="right" if column in ("max stalling", "tasks") else "left")
    for m in summary.machines:
        # A machine named by its file shows the file once; one named by a host shows its files too.
        show_source = m.host is not None and len(m.sources) > 1
        worst = Text("")
        if m.worst is not None:
            worst.append(m.worst.severity.value.upper() + " ", style=_STYLE[m.worst.severity])
            worst.append(f"{m.worst.rule}: {m.worst.title}")
        elif not m.stalled:
            worst.append("no stall", style="dim")
        counts = ", ".join(f"{n} {severity}" for severity, n in m.findings.items())
        table.add_row(
            _machine(m),
            str(m.boots),
            Wrapped(worst),
            counts,
            "" if m.max_stalling is None else str(m.max_stalling),
            str(m.tasks) if m.tasks else "",
            _where(m.first, show_source),
            _where(m.last, show_source),
        )
    table.caption = machines_decided(summary)
    table.caption_justify = "left"
    return Fitted(table, MACHINES_DROP, MACHINES_COMFORTABLE)


def machines_decided(summary: Fleet) -> str:
    """How the rows were found to be one machine's, said once under the table."""
    kinds: dict[str, list[str]] = {}
    for m in summary.machines:
        kinds.setdefault(m.decided_by, []).append(" + ".join(m.sources) if len(m.sources) > 1 else m.name)
    parts = []
    for reason, names in kinds.items():
        shown = names if reason == BY_ROTATION else names[:0]
        parts.append(f"{len(names)} by {reason}" + (f" ({'; '.join(shown)})" if shown else ""))
    return "Machines: " + ", ".join(parts) + "."


def shared_table(summary: Fleet) -> Fitted | None:
    if not summary.shared:
        return None
    table = Table(title="Stack signatures seen on several machines (likely one bug, many machines)",
                  title_justify="left")
    for column in ("machines", "signature", "blames", "traces", "machine names"):
        table.add_column(column, overflow="fold", justify="right" if column in ("machines", "traces") else "left")
    for s in summary.shared:
        table.add_row(str(len(s.machines)), Wrapped(s.signature), Wrapped(s.guilty or ""), str(s.traces),
                      Wrapped(", ".join(s.machines), after=("/", "-_")))
    return Fitted(table, SHARED_DROP)


def render(summary: Fleet, console: Console) -> None:
    console.print(machines_table(summary))
    shared = shared_table(summary)
    if shared is not None:
        console.print(shared)
    console.print(Text("Per-machine details follow.", style="dim"))
