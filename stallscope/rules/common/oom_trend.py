"""The oom_count trend shared by oom-plateau and oom-livelock (a helper, not a rule).

oom_count counts calls to out_of_memory(), not kills. Whether it moves while tasks keep
stalling tells apart "stuck before the OOM killer" from "the OOM killer runs and nothing frees".
Every MemAlloc-Info line is an observation, including the line that closes a report (from v5
on a report is bracketed by two): a count that rises while one report prints is real evidence.
A count that stays flat only means something when it stays flat for a while, so a flat phase
must span MIN_FLAT_SECONDS (or several reports when the log has no timestamps). The verdict
follows the latest sustained phase: a log that climbed and then stopped climbing is stuck now.

The 2015-2016 watchdog (``MemAlloc-Info: N stalling task, N dying task, N victim task.``) prints
no oom_count: there the count is the OOM killer invocations the log shows before each report
(``invoked oom-killer`` lines, or the kill lines of an excerpt without them). That count is
weaker evidence (an excerpt may leave OOM lines out), so a phase of such a log also ends where
the watchdog fell silent (nothing stalled for a while), where time goes backwards (excerpts
out of order) or where fewer tasks stall than before (a stall ended). Such a count says nothing
while a victim or dying task exists (out_of_memory() then returns without printing a report, so
its calls are invisible) nor when the log shows stalls ending again and again (finite stalls,
see ``recoveries``); and a derived phase must last to the log's last report.

With a single report a trend has no second point, yet the report can be enough:
``oom_count=0`` means out_of_memory() was never called while tasks stall; on the older watchdog
the stall's own delay spans a window the log covers without an OOM line (:func:`one_report`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stallscope.capture.hz import infer_hz
from stallscope.rules.base import Evidence, HostView, by_boot

MIN_FLAT_SECONDS = 10.0
# A derived count's phase ends where two reports are further apart than this many times the
# usual interval between reports: the watchdog prints only while something stalls.
SILENT_GAP = 2.0
# What counts as an OOM killer invocation when a watchdog line has no oom_count, in order of
# preference: the header of each report, else the lines of an excerpt that kept only the kills.
OOM_CALL_KINDS = (("oom_invoke",), ("oom_kill_process",), ("oom_killed_process",))


@dataclass(frozen=True, slots=True)
class Phase:
    trend: str  # "flat" or "rising"
    rows: list[int]  # snapshot indexes, in log order

    @property
    def observations(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, slots=True)
class Trend:
    phases: list[Phase]
    # oom_count (as printed, or derived) of the first and last observation (snapshot row) of each
    # phase, what a finding cites: of every observation, a dict of the 1 GB excerpts capture's
    # 590,000 reports held 48 MB in the rules process (bench/README.md, thirty-second round).
    counts: dict[int, int]
    slash_format: bool
    derived: bool = False  # oom_count counted from the OOM lines (a watchdog without oom_count)
    recovered_at: tuple[int, ...] = ()  # derived: reports after the watchdog fell silent or fewer tasks stalled

    @property
    def recoveries(self) -> int:
        return len(self.recovered_at)

    @property
    def latest(self) -> Phase | None:
        return self.phases[-1] if self.phases else None


def oom_counts(view: HostView) -> pd.Series:
    """oom_count per snapshot: as printed, or the OOM invocations logged before a line without one
    in its boot."""
    return view.of_view("oom_counts", _oom_counts)


def counts_derived(view: HostView) -> bool:
    """Whether some watchdog line of this view has no oom_count (the count is then derived)."""
    return bool(_unprinted(view.snapshots).any())


def _unprinted(snaps: pd.DataFrame) -> np.ndarray:
    """The watchdog lines that print no oom_count at all (a printed one that could not be read,
    beyond int64, is missing but not derived)."""
    if not len(snaps):
        return np.zeros(0, dtype=bool)
    absent = snaps["oom_count"].isna().to_numpy(dtype=bool, copy=True)
    if absent.any():
        # The text only of the lines without a count: most views print it on every line.
        texts = snaps["text"].array[absent]
        absent[absent] = ["oom_count=" not in str(text) for text in texts]
    return absent


def _oom_counts(view: HostView) -> pd.Series:
    snaps = view.snapshots
    printed = snaps["oom_count"].astype("Float64")
    missing = _unprinted(snaps)
    if not missing.any():
        return printed
    # Set at once: pandas' setitem per row cost more than the counting.
    values = printed.to_numpy(dtype="float64", na_value=np.nan)
    boots = view.boot_column("snapshots")
    at = np.flatnonzero(missing)
    # The columns read, taken once for every boot: of the OOM lines, and of the lines without a count.
    calls_of = _oom_calls_by_boot(view)
    calls = np.concatenate(list(calls_of.values())) if calls_of else np.empty(0, dtype=np.intp)
    events = view.events
    oom = _Lines(events, calls)
    place: dict[int, slice] = {}
    for boot, found in calls_of.items():
        start = place[next(reversed(place))].stop if place else 0
        place[boot] = slice(start, start + len(found))
    reports = _Lines(snaps, at)
    for boot, mine in by_boot(boots[at]).items():
        values[at[mine]] = _counted(oom.part(place.get(boot, slice(0, 0))), reports.part(mine))
    return pd.Series(pd.array(values, dtype="Float64"), index=printed.index, name=printed.name)


class _Lines:
    """Where some rows of a table were logged: source, line and ts as arrays."""

    def __init__(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        self.source = frame["source"].take(rows).astype(object).to_numpy() if len(rows) else np.empty(0, dtype=object)
        self.line = frame["line"].to_numpy(dtype="int64")[rows]
        self.ts = frame["ts"].to_numpy(dtype="float64", na_value=np.nan)[rows]

    def part(self, at: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.source[at], self.line[at], self.ts[at]


Where = tuple[np.ndarray, np.ndarray, np.ndarray]  # source, line, ts of some lines


def _counted(calls: Where, reports: Where) -> np.ndarray:
    """How many OOM invocations (``calls``) were logged before each report line: before the line
    in its own file; in another file, before it in time."""
    sources, lines, ts = calls
    report_sources, report_lines, report_ts = reports
    # Counted by bisections, a source's reports at once (an OOM storm has thousands of reports
    # and of OOM lines).
    timed = ~np.isnan(report_ts)
    counts = np.zeros(len(report_lines), dtype="int64")
    counts[timed] = np.searchsorted(np.sort(ts[~np.isnan(ts)]), report_ts[timed], side="left")
    for source in set(report_sources.tolist()):
        mine = report_sources == source
        own = sources == source
        counts[mine] += np.searchsorted(np.sort(lines[own]), report_lines[mine], side="left")
        # Those of its own file before it in time were counted by line instead.
        mine &= timed
        counts[mine] -= np.searchsorted(np.sort(ts[own & ~np.isnan(ts)]), report_ts[mine], side="left")
    return counts.astype("float64")


def _oom_calls_by_boot(view: HostView) -> dict[int, np.ndarray]:
    """The OOM killer invocations of each boot (positions in ``view.events``): the rows of the first
    of OOM_CALL_KINDS the boot has."""
    rows = view.rows
    boots = view.boot_column("events")
    found: dict[int, np.ndarray] = {}
    for kinds in OOM_CALL_KINDS:
        at = rows.positions(*kinds)
        for boot, mine in by_boot(boots[at]).items() if len(at) else ():
            found.setdefault(boot, at[mine])
    return found


# The view memo of oom_trends(): several rules read it (see SHARED_DERIVATIONS in stallscope.rules).
OOM_TRENDS = "oom_trends"


def oom_trends(view: HostView) -> dict[int, Trend | None]:
    """The trend of each boot of the view with watchdog reports (0: a view without boot numbers),
    as its own view would have it: for a rule that reads every boot at once. Derived once per view."""
    return view.of_view(OOM_TRENDS, _trends)


def oom_trend(view: HostView) -> Trend | None:
    """Split the observations of a view of one boot into phases of flat or rising oom_count (once
    per view).

    A drop in oom_count means a new boot (or a new counter): the trend restarts there.
    Observations where nothing stalls end a phase too, since the stall recovered.
    """
    trends = oom_trends(view)
    if len(trends) > 1:
        raise ValueError("a view of several boots has a trend per boot: see oom_trends")
    return next(iter(trends.values()), None)


def _trends(view: HostView) -> dict[int, Trend | None]:
    snaps = view.snapshots
    if snaps.empty:
        return {}
    # Every column read as a plain array once for all boots: a boot's few rows cost pandas'
    # fixed costs only. A count (or stalling count) printed beyond what its column holds is
    # missing: that report is no point of the trend.
    counts = oom_counts(view).to_numpy(dtype="float64", na_value=np.nan)
    stalling = snaps["stalling"]
    known = ~np.isnan(counts) & ~stalling.isna().to_numpy(dtype=bool)
    columns = _Columns(snaps, counts, stalling)
    unprinted = _unprinted(snaps)
    labels = snaps.index.to_numpy()
    trends: dict[int, Trend | None] = {}
    for boot, mine in by_boot(view.boot_column("snapshots")).items():
        obs = mine[known[mine]]
        # The table's row order is the reading order (files in rotation order, then lines).
        obs = obs[np.argsort(labels[obs], kind="stable")]
        trends[boot] = _trend(columns.of(obs), bool(unprinted[mine].any())) if len(obs) >= 2 else None
    return trends


class _Columns:
    """The snapshot columns a trend reads, as arrays of the view's rows."""

    def __init__(self, snaps: pd.DataFrame, counts: np.ndarray, stalling: pd.Series) -> None:
        self.labels = snaps.index.to_numpy()
        self.counts = np.nan_to_num(counts).astype("int64")
        self.stalling = stalling.to_numpy(dtype="int64", na_value=0)
        self.nofs = snaps["oom_count_nofs"].notna().to_numpy(dtype=bool)
        self.ts = snaps["ts"].to_numpy(dtype="float64", na_value=np.nan)
        self.report = snaps["report"].to_numpy(dtype="float64", na_value=np.nan)
        self.waiting = (snaps["dying"].to_numpy(dtype="int64", na_value=0)
                        + snaps["victim"].to_numpy(dtype="int64", na_value=0)) > 0

    def of(self, rows: np.ndarray) -> _Observations:
        return _Observations(self.labels[rows].tolist(), self.counts[rows].tolist(), self.stalling[rows].tolist(),
                             bool(self.nofs[rows].any()), self.ts[rows], self.report[rows], self.waiting[rows])


@dataclass(frozen=True, slots=True)
class _Observations:
    """The observations of one boot, in log order: snapshots with a known oom_count."""

    labels: list[int]
    counts: list[int]
    stalls: list[int]
    slash: bool
    ts: np.ndarray
    report: np.ndarray
    waiting: np.ndarray  # a victim or dying task exists


def _trend(obs: _Observations, derived: bool) -> Trend:
    labels, counts, stalls = obs.labels, obs.counts, obs.stalls
    phases: list[tuple[Phase, int]] = []  # each phase with the position of its first observation
    current: Phase | None = None
    for at in range(len(labels)):
        count, stalling = counts[at], stalls[at]
        if at == 0 or stalling == 0 or stalls[at - 1] == 0 or count < counts[at - 1]:
            current = None
            continue
        trend = "flat" if count == counts[at - 1] else "rising"
        if current is not None and current.trend == trend:
            current.rows.append(int(labels[at]))
        else:
            current = Phase(trend, [int(labels[at - 1]), int(labels[at])])
            phases.append((current, at - 1))
    recovered: tuple[int, ...] = ()
    if derived:
        phases, recovered = _derived_phases(phases, obs)
    sustained = _Sustained(obs)
    kept = [(p, first) for p, first in phases if sustained(p, first)]
    # A phase's rows are observations in a row, from its first.
    ends = {row: counts[at] for p, first in kept
            for row, at in ((p.rows[0], first), (p.rows[-1], first + len(p.rows) - 1))}
    return Trend([p for p, _ in kept], ends, obs.slash, derived, recovered)


# Stalls seen ending this many times make a derived count's phases finite stalls, not a plateau.
RECURRING = 3


def _derived_phases(phases: list[tuple[Phase, int]], obs: _Observations
                    ) -> tuple[list[tuple[Phase, int]], tuple[int, ...]]:
    """The phases a derived count can judge, and the reports that show a stall ended before them."""
    ts = obs.ts
    stalls = obs.stalls
    waiting = obs.waiting
    steps = np.diff(ts)
    usual = float(np.nanmedian(steps[steps > 0])) if np.any(steps > 0) else np.nan
    labels = obs.labels
    recovered = tuple(
        int(labels[at]) for at in range(1, len(labels))
        if stalls[at] < stalls[at - 1] or (not np.isnan(usual) and ts[at] - ts[at - 1] > SILENT_GAP * usual)
    )
    if len(recovered) >= RECURRING:
        return [], recovered
    kept: list[tuple[Phase, int]] = []
    for phase, first in phases:
        last = first + len(phase.rows) - 1
        if last != len(labels) - 1 or waiting[first : last + 1].any():
            continue  # ended before the log did, or the OOM killer waits for a victim
        cut = first
        for at in range(first + 1, last + 1):
            gap = ts[at] - ts[at - 1]
            if gap < 0 or stalls[at] < stalls[at - 1] or (not np.isnan(usual) and gap > SILENT_GAP * usual):
                cut = at
        rows = phase.rows[cut - first :]
        if len(rows) >= 2:
            kept.append((Phase(phase.trend, rows), cut))
    return kept, recovered


class _Sustained:
    """Whether a phase lasted: rising always counts, flat must span MIN_FLAT_SECONDS."""

    def __init__(self, obs: _Observations) -> None:
        self.ts = obs.ts
        self.report = obs.report

    def __call__(self, phase: Phase, first: int) -> bool:
        # A phase is a run of consecutive observations, from position ``first`` on.
        if phase.trend == "rising":
            return True
        last = first + len(phase.rows) - 1
        start, end = self.ts[first], self.ts[last]
        if np.isnan(start) or np.isnan(end):
            reports = self.report[first : last + 1]
            return len(np.unique(reports[~np.isnan(reports)])) >= 2
        return float(end) - float(start) >= MIN_FLAT_SECONDS


def describe_phase(view: HostView, phase: Phase) -> str:
    ts, count = _ts_and_count(view)
    first, last = phase.rows[0], phase.rows[-1]
    span = _span(ts(first), ts(last))
    if phase.trend == "flat":
        return f"stayed at {int(count(first))}{span} over {phase.observations} reports"
    return (f"rose from {int(count(first))} to {int(count(last))}{span} "
            f"over {phase.observations} reports")


def _ts_and_count(view: HostView) -> tuple[Callable[[int], float], Callable[[int], float]]:
    """Readers of a snapshot row's ts and oom_count by label: a log can have thousands of phases
    to describe. (Dicts of every row's held 100 bytes a report, per view.)"""

    def compute(v: HostView) -> tuple[Callable[[int], float], Callable[[int], float]]:
        position = v.snapshots.index.get_loc
        ts = v.snapshots["ts"].to_numpy(dtype="float64", na_value=np.nan)
        count = oom_counts(v).to_numpy(dtype="float64", na_value=np.nan)
        return (lambda row: ts[position(row)]), (lambda row: count[position(row)])

    return view.of_view("snapshot_ts_count", compute)


def _span(start: object, end: object) -> str:
    if pd.isna(start) or pd.isna(end):  # type: ignore[arg-type]
        return ""
    return f" between {float(start):.1f}s and {float(end):.1f}s"  # type: ignore[arg-type]


def phase_evidence(view: HostView, phases: list[Phase], limit: int = 6) -> list[Evidence]:
    """First and last line of each phase, newest phases kept when there are many."""
    # Each row once, where it first comes (a dict: a storm has thousands of phases).
    rows = list(dict.fromkeys(index for phase in phases for index in (phase.rows[0], phase.rows[-1])))
    return [view.snapshot_evidence(i) for i in rows[-limit:]]


def stuck_tasks_sentence(view: HostView, phase: Phase) -> str:
    """The opening both OOM-trend rules share: how many reports, how many tasks stayed stuck."""
    stalling = [int(view.cell("snapshots", row, "stalling")) for row in phase.rows]
    return (
        f"Across the last {phase.observations} watchdog reports {min(stalling)}-{max(stalling)} "
        "tasks stayed stuck in memory allocation while"
    )


def with_slash_note(trend: Trend, explanation: str) -> str:
    """The explanation with what the log's oom_count means (A/B, or counted from the OOM lines)."""
    if trend.derived:
        explanation = f"{explanation} {DERIVED_NOTE}"
    return f"{explanation} {SLASH_NOTE}" if trend.slash_format else explanation


DERIVED_NOTE = (
    "This watchdog generation prints no oom_count: the count here is the OOM killer invocations the log "
    "shows before each report (an excerpt that leaves OOM lines out makes it too low)."
)


SLASH_NOTE = (
    "This build prints oom_count=A/B: the rule follows A, the number of out_of_memory() calls; "
    "B counts allocations that skipped the OOM killer because they lacked __GFP_FS."
)


@dataclass(frozen=True, slots=True)
class OneReport:
    """A single watchdog report that shows the allocations stuck before the OOM killer."""

    snapshot: int  # the report's MemAlloc-Info row
    never_called: bool  # it prints oom_count=0
    window: float | None  # seconds the log covers, inside the stall, without an OOM line
    longest: int | None  # the report's longest delay (jiffies)
    exiting: list[int]  # task rows of exiting or dying tasks stalled at least MIN_FLAT_SECONDS
    hz: float | None  # HZ of the log, None when unknown (then delays are read at HZ=1000)


# When HZ is unknown a delay is read at the highest common HZ: the shortest time it can mean.
FASTEST_HZ = 1000.0


def one_report(view: HostView) -> OneReport | None:
    """The latest report, when it alone shows tasks stuck before the OOM killer (no trend to judge)."""
    snaps = view.snapshots
    trend = oom_trend(view)
    if snaps.empty or (trend is not None and (trend.phases or trend.recoveries >= RECURRING)):
        return None  # the trend decides, or the log shows stalls ending again and again
    last = snaps.index[-1]
    stalling = snaps.at[last, "stalling"]
    if pd.isna(stalling) or int(stalling) == 0:
        return None
    printed = snaps.at[last, "oom_count"]
    if not pd.isna(printed):
        return OneReport(int(last), True, None, None, [], None) if int(printed) == 0 else None
    if any(not pd.isna(snaps.at[last, c]) and int(snaps.at[last, c]) for c in ("dying", "victim")):
        return None  # out_of_memory() waits for the victim without a word: its calls are not seen
    tasks = view.tasks
    report = tasks[(tasks["snapshot"] == last).fillna(False).to_numpy(dtype=bool)
                   & tasks["delay"].notna().to_numpy(dtype=bool)] if len(tasks) else tasks
    if not len(report):
        return None
    estimate = view.of_view("hz", lambda v: infer_hz(v.tasks))
    hz = estimate.hz if estimate.known else None
    delays = report["delay"].astype("int64")
    longest = int(delays.max())
    at = snaps.at[last, "ts"]
    if pd.isna(at):
        return None
    start = max(_first_ts(view, snaps.at[last, "source"]), float(at) - longest / (hz or FASTEST_HZ))
    calls = next(iter(_oom_calls_by_boot(view).values()), np.empty(0, dtype=np.intp))
    seen = view.events["ts"].to_numpy(dtype="float64", na_value=np.nan)[calls]
    if bool(((seen >= start) & (seen <= float(at))).any()):
        return None
    window = float(at) - start
    exiting = [int(t) for t in report.index
               if (_flag(report.at[t, "exiting"]) or _flag(report.at[t, "dying"]))
               and int(report.at[t, "delay"]) / (hz or FASTEST_HZ) >= MIN_FLAT_SECONDS]
    if window < MIN_FLAT_SECONDS and not exiting:
        return None
    return OneReport(int(last), False, window, longest, exiting, hz)


def _flag(value: object) -> bool:
    """A task-line tag (exiting, dying), False where the line could not say."""
    return not pd.isna(value) and bool(value)  # type: ignore[arg-type]


def _first_ts(view: HostView, source: object) -> float:
    """The earliest timestamp the log of ``source`` shows: what it covers begins there."""
    found = [float(frame.loc[(frame["source"] == source).to_numpy(dtype=bool), "ts"].min())
             for frame in (view.events, view.tasks, view.snapshots) if len(frame)]
    found = [f for f in found if not np.isnan(f)]
    return min(found) if found else float("inf")
