"""The oom_count trend shared by oom-plateau and oom-livelock (a helper, not a rule).

oom_count counts calls to out_of_memory(), not kills. Whether it moves while tasks keep
stalling tells apart "stuck before the OOM killer" from "the OOM killer runs and nothing frees".
Every MemAlloc-Info line is an observation, including the line that closes a report (from v5
on a report is bracketed by two): a count that rises while one report prints is real evidence.
A count that stays flat only means something when it stays flat for a while, so a flat phase
must span MIN_FLAT_SECONDS (or several reports when the log has no timestamps). The verdict
follows the latest sustained phase: a log that climbed and then stopped climbing is stuck now.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stallscope.rules.base import Evidence, HostView

MIN_FLAT_SECONDS = 10.0


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
    observations: pd.DataFrame
    slash_format: bool

    @property
    def latest(self) -> Phase | None:
        return self.phases[-1] if self.phases else None


def observations(view: HostView) -> pd.DataFrame:
    """Snapshots with a known oom_count and stalling count, in log order."""
    snaps = view.snapshots
    if snaps.empty:
        return snaps
    # A count dropped as out of range (a garbled line) says nothing about the trend.
    known = (snaps["oom_count"].notna() & snaps["stalling"].notna()).to_numpy(dtype=bool)
    # The table's row order is the reading order (files in rotation order, then lines).
    return snaps[known].sort_index(kind="stable")


def oom_trend(view: HostView) -> Trend | None:
    """Split the observations into phases of flat or rising oom_count (once per view).

    A drop in oom_count means a new boot (or a new counter): the trend restarts there.
    Observations where nothing stalls end a phase too, since the stall recovered.
    """
    return view.of_view("oom_trend", _trend)


def _trend(view: HostView) -> Trend | None:
    obs = observations(view)
    if len(obs) < 2:
        return None
    # Plain arrays: a long capture has thousands of observations and phases.
    labels = obs.index.tolist()
    counts = obs["oom_count"].astype("int64").tolist()
    stalls = obs["stalling"].astype("int64").tolist()
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
    slash = bool(obs["oom_count_nofs"].notna().any())
    sustained = _Sustained(obs)
    return Trend([p for p, first in phases if sustained(p, first)], obs, slash)


class _Sustained:
    """Whether a phase lasted: rising always counts, flat must span MIN_FLAT_SECONDS."""

    def __init__(self, obs: pd.DataFrame) -> None:
        self.ts = obs["ts"].to_numpy(dtype="float64", na_value=np.nan)
        self.report = obs["report"].to_numpy(dtype="float64", na_value=np.nan)

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
    span = _span(ts[first], ts[last])
    if phase.trend == "flat":
        return f"stayed at {int(count[first])}{span} over {phase.observations} reports"
    return (f"rose from {int(count[first])} to {int(count[last])}{span} "
            f"over {phase.observations} reports")


def _ts_and_count(view: HostView) -> tuple[dict[int, float], dict[int, int]]:
    """ts and oom_count of each snapshot row: a log can have thousands of phases to describe."""

    def compute(v: HostView) -> tuple[dict[int, float], dict[int, int]]:
        rows = v.snapshots.index.tolist()
        return (dict(zip(rows, v.snapshots["ts"].tolist(), strict=True)),
                dict(zip(rows, v.snapshots["oom_count"].tolist(), strict=True)))

    return view.of_view("snapshot_ts_count", compute)


def _span(start: object, end: object) -> str:
    if pd.isna(start) or pd.isna(end):  # type: ignore[arg-type]
        return ""
    return f" between {float(start):.1f}s and {float(end):.1f}s"  # type: ignore[arg-type]


def phase_evidence(view: HostView, phases: list[Phase], limit: int = 6) -> list[Evidence]:
    """First and last line of each phase, newest phases kept when there are many."""
    rows: list[int] = []
    for phase in phases:
        for index in (phase.rows[0], phase.rows[-1]):
            if index not in rows:
                rows.append(index)
    return [view.snapshot_evidence(i) for i in rows[-limit:]]


def stuck_tasks_sentence(view: HostView, phase: Phase) -> str:
    """The opening both OOM-trend rules share: how many reports, how many tasks stayed stuck."""
    stalling = view.snapshots.loc[phase.rows]["stalling"].astype(int)
    return (
        f"Across the last {phase.observations} watchdog reports {int(stalling.min())}-{int(stalling.max())} "
        "tasks stayed stuck in memory allocation while"
    )


def with_slash_note(trend: Trend, explanation: str) -> str:
    return f"{explanation} {SLASH_NOTE}" if trend.slash_format else explanation


SLASH_NOTE = (
    "This build prints oom_count=A/B: the rule follows A, the number of out_of_memory() calls; "
    "B counts allocations that skipped the OOM killer because they lacked __GFP_FS."
)
