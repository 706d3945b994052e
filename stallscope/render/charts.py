"""Charts for the HTML report, drawn by matplotlib as static SVG (no script, no web font).

Task and host names come from the log: mathtext is switched off so that a ``$`` in a name is
shown, not typeset, and matplotlib's SVG writer escapes them as XML text.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib as mpl
import pandas as pd
from matplotlib.axes import Axes

# Figures are made without pyplot: no GUI backend is chosen, and a notebook's own backend and
# open figures are left alone.
from matplotlib.figure import Figure

from stallscope.capture.model import Capture
from stallscope.render import sections
from stallscope.render.mdtext import clean

NAMED_TASKS = 10  # tasks drawn in colour and named in the legend; the others are drawn grey
MAX_TASKS = 200  # beyond this the grey lines only add bytes
_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "stallscope",  # stable element ids: the same capture gives the same file
    "text.parse_math": False,
    "text.usetex": False,
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
_EVENT_COLOURS = {
    "OOM kill": "#d62728",
    "OOM reaper": "#ff7f0e",
    "hung task": "#9467bd",
    "allocation stall": "#8c564b",
    "allocation failure": "#e377c2",
    "lockup": "#17becf",
    "SysRq": "#7f7f7f",
}


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    description: str  # alt text: what the chart shows, for readers who cannot see it
    svg: str


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buffer.getvalue()


def _hosts(frame: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    if "host" not in frame.columns or not frame["host"].notna().any():
        return [(None, frame)]
    out: list[tuple[str | None, pd.DataFrame]] = []
    for host in frame["host"].astype(object).dropna().unique():
        out.append((clean(str(host)), frame[frame["host"] == host]))
    if frame["host"].isna().any():
        out.append(("(no host)", frame[frame["host"].isna()]))
    return out


def _mark_events(axes: list[Axes], events: pd.DataFrame, legend_on: Axes) -> None:
    """A vertical line at every notable kernel report, one colour (and legend entry) per label."""
    if events.empty:
        return
    for label, rows in events.groupby("label", sort=True):
        times = rows["ts"].dropna()
        if times.empty:
            continue
        colour = _EVENT_COLOURS.get(str(label), "#7f7f7f")
        for ax in axes:
            ax.vlines(times, 0, 1, transform=ax.get_xaxis_transform(), colors=colour, alpha=0.35, linewidth=0.8,
                      zorder=0)
        legend_on.plot([], [], color=colour, alpha=0.6, label=f"{label} ({len(times)})")


def _parts(capture: Capture, parts: sections.Parts | None) -> sections.Parts:
    return parts if parts is not None else sections.Parts(capture, [])


def stalling_chart(capture: Capture, parts: sections.Parts | None = None) -> Chart | None:
    snaps = capture.snapshots
    if snaps.empty or not snaps["ts"].notna().any():
        return None
    events = _parts(capture, parts).notable()
    with mpl.rc_context(_RC):
        figure = Figure(figsize=(10, 5.5))
        top, bottom = figure.subplots(2, 1, sharex=True)
        for host, rows in _hosts(snaps):
            rows = rows.sort_values("ts")
            suffix = f" {host}" if host else ""
            top.plot(rows["ts"], rows["stalling"].astype("Float64"), marker="o", markersize=3,
                     drawstyle="steps-post", label=f"stalling{suffix}")
            bottom.plot(rows["ts"], rows["oom_count"].astype("Float64"), marker="o", markersize=3,
                        drawstyle="steps-post", label=f"oom_count{suffix}")
        top.set_ylabel("tasks stalling")
        bottom.set_ylabel("oom_count")
        bottom.set_xlabel("kernel time (s)")
        top.set_ylim(bottom=0)
        _mark_events([top, bottom], events, top)
        top.legend(loc="upper left", fontsize=8)
        bottom.legend(loc="upper left", fontsize=8)
        top.set_title("Watchdog reports: tasks stalling and OOM-killer invocations")
        svg = _svg(figure)
    return Chart("Stalling and oom_count over time",
                 "Tasks stalling and oom_count at each MemAlloc-Info report, per host, "
                 "with OOM kills, hung tasks and other kernel reports marked as vertical lines.", svg)


def _task_delays(capture: Capture, parts: sections.Parts) -> tuple[pd.DataFrame, str]:
    tasks = capture.tasks
    # The columns the chart reads: selecting every column of a long table costs more.
    rows = tasks.loc[(tasks["delay"].notna() & tasks["ts"].notna()).to_numpy(dtype=bool),
                     ["host", "comm", "pid", "ts", "delay"]]
    seconds = parts.delay_seconds()
    if seconds is not None and seconds[rows.index].notna().all():
        return rows.assign(value=seconds[rows.index]), "delay (s)"
    return rows.assign(value=rows["delay"].astype(float)), "delay (jiffies)"


def delay_chart(capture: Capture, parts: sections.Parts | None = None) -> Chart | None:
    parts = _parts(capture, parts)
    rows, unit = _task_delays(capture, parts)
    if rows.empty:
        return None
    # "" rather than NaN for a capture without host names: NaN keys never compare equal.
    rows = rows.assign(comm=rows["comm"].astype(str), host=rows["host"].astype(object).fillna(""))
    keys = ["host", "comm", "pid"]
    worst = rows.groupby(keys, dropna=False, sort=False)["value"].max().sort_values(ascending=False, kind="stable")
    order = list(worst.index[:MAX_TASKS])
    named = set(order[:NAMED_TASKS])
    events = parts.notable()
    with mpl.rc_context(_RC):
        figure = Figure(figsize=(10, 4.5))
        ax = figure.subplots()
        grouped = dict(list(rows.groupby(keys, dropna=False, sort=False)))
        # Grey first so the named tasks are drawn on top of them.
        for key in sorted(order, key=lambda k: k in named):
            part = grouped[key].sort_values("ts")
            host, comm, pid = key
            # Made visible: a control character would leave the SVG not well-formed XML (no chart).
            label = clean(f"{comm}({pid})" + (f" @{host}" if host else ""))
            if key in named:
                ax.plot(part["ts"], part["value"], marker="o", markersize=3, linewidth=1.2, label=label)
            else:
                ax.plot(part["ts"], part["value"], color="#bbbbbb", linewidth=0.6, marker=".", markersize=2)
        # The tasks' own time span: a few seconds of reports would vanish on an hour of OOM kills.
        first, last = float(rows["ts"].min()), float(rows["ts"].max())
        pad = max((last - first) * 0.05, 1.0)
        ax.set_xlim(first - pad, last + pad)
        if not events.empty:
            events = events[events["ts"].between(first - pad, last + pad)]
        _mark_events([ax], events, ax)
        ax.set_xlabel("kernel time (s)")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        others = len(worst) - len(named)
        ax.set_title("Per-task allocation delay at each report"
                     + (f" ({len(named)} longest named, {others} more in grey)" if others > 0 else ""))
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
        svg = _svg(figure)
    return Chart("Per-task delay over time",
                 f"Each stalled task's delay at every report it appears in; the {len(named)} longest "
                 "delays are named, kernel reports are marked as vertical lines.", svg)


def events_chart(capture: Capture, parts: sections.Parts | None = None) -> Chart | None:
    """Kernel reports on a time axis, one row per kind: the timeline when there is no watchdog."""
    events = _parts(capture, parts).notable()
    events = events[events["ts"].notna()] if not events.empty else events
    if events.empty:
        return None
    labels = sorted(events["label"].unique())
    with mpl.rc_context(_RC):
        figure = Figure(figsize=(10, 1.2 + 0.45 * len(labels)))
        ax = figure.subplots()
        for row, label in enumerate(labels):
            times = events.loc[events["label"] == label, "ts"]
            ax.scatter(times, [row] * len(times), marker="|", s=200, color=_EVENT_COLOURS.get(label, "#7f7f7f"))
        ax.set_yticks(range(len(labels)), [f"{label} ({int((events['label'] == label).sum())})" for label in labels])
        ax.set_ylim(-0.7, len(labels) - 0.3)
        ax.set_xlabel("kernel time (s)")
        ax.set_title("Kernel reports over time")
        svg = _svg(figure)
    return Chart("Kernel reports over time",
                 "Each OOM kill, hung-task report, allocation failure and lockup as a tick at its kernel time.", svg)


def charts(capture: Capture, parts: sections.Parts | None = None) -> list[Chart]:
    """The report's charts; ``parts``: the report's :class:`sections.Parts`, whose tables they share."""
    parts = _parts(capture, parts)
    found = (stalling_chart(capture, parts), delay_chart(capture, parts), events_chart(capture, parts))
    return [c for c in found if c is not None]
