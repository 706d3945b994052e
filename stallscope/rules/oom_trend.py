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
    """Snapshots with a known oom_count, in log order."""
    snaps = view.snapshots
    if snaps.empty:
        return snaps
    snaps = snaps[snaps["oom_count"].notna()]
    return snaps.sort_values(["source", "line"], kind="stable")


def oom_trend(view: HostView) -> Trend | None:
    """Split the observations into phases of flat or rising oom_count.

    A drop in oom_count means a new boot (or a new counter): the trend restarts there.
    Observations where nothing stalls end a phase too, since the stall recovered.
    """
    obs = observations(view)
    if len(obs) < 2:
        return None
    phases: list[Phase] = []
    previous: tuple[int, int, int] | None = None  # (index, oom_count, stalling)
    current: Phase | None = None
    for index, row in obs.iterrows():
        count, stalling = int(row["oom_count"]), int(row["stalling"])
        if previous is None or stalling == 0 or previous[2] == 0 or count < previous[1]:
            current = None
            previous = (int(index), count, stalling)  # type: ignore[arg-type]
            continue
        trend = "flat" if count == previous[1] else "rising"
        if current is not None and current.trend == trend:
            current.rows.append(int(index))  # type: ignore[arg-type]
        else:
            current = Phase(trend, [previous[0], int(index)])  # type: ignore[arg-type]
            phases.append(current)
        previous = (int(index), count, stalling)  # type: ignore[arg-type]
    slash = bool(obs["oom_count_nofs"].notna().any())
    return Trend([p for p in phases if _sustained(obs, p)], obs, slash)


def _sustained(obs: pd.DataFrame, phase: Phase) -> bool:
    if phase.trend == "rising":
        return True
    rows = obs.loc[phase.rows]
    start, end = rows["ts"].iloc[0], rows["ts"].iloc[-1]
    if pd.isna(start) or pd.isna(end):
        return rows["report"].nunique() >= 2
    return float(end) - float(start) >= MIN_FLAT_SECONDS


def describe_phase(view: HostView, phase: Phase) -> str:
    snaps = view.snapshots
    first, last = snaps.loc[phase.rows[0]], snaps.loc[phase.rows[-1]]
    span = _span(first["ts"], last["ts"])
    if phase.trend == "flat":
        return f"stayed at {int(first['oom_count'])}{span} over {phase.observations} reports"
    return f"rose from {int(first['oom_count'])} to {int(last['oom_count'])}{span} over {phase.observations} reports"


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
