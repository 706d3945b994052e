"""oom-livelock: tasks keep stalling while oom_count keeps rising.

out_of_memory() keeps being called but memory is not freed. oom_count counts calls, not kills:
if no kill is logged while it climbs, the callers cannot kill (e.g. !__GFP_FS allocations
return from the OOM path without selecting a victim); if kills are logged, the victims do not
release memory.
"""

from __future__ import annotations

import pandas as pd

from stallscope.capture.events import of_kind
from stallscope.rules.base import Finding, HostView, Severity
from stallscope.rules.common.oom_trend import (
    describe_phase,
    oom_trend,
    phase_evidence,
    stuck_tasks_sentence,
    with_slash_note,
)

RULE = "oom-livelock"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 50
SEVERITY = "critical"
SUMMARY = (
    "Tasks keep stalling while oom_count keeps rising: out_of_memory() is called but no memory is freed."
)
NEXT_STEPS: str | None = "whether a victim exists and exits (victim= and the dying tasks' traces)"
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True

# Event kinds (grammars/oom.lark) that mean a process was chosen or killed.
KILL_KINDS = frozenset({"oom_kill_process", "oom_killed_process"})


def _kills_between(view: HostView, start: float | None, end: float | None) -> pd.Index:
    """Event rows of the kills logged between two times."""
    kills = of_kind(view.rows, *KILL_KINDS)
    if kills.empty or start is None or end is None:
        return kills.index[:0]
    ts = kills["ts"]
    return kills.index[((ts >= start) & (ts <= end)).to_numpy(dtype=bool, na_value=False)]


def check(view: HostView) -> list[Finding]:
    trend = oom_trend(view)
    if trend is None or trend.latest is None or trend.latest.trend != "rising":
        return []
    latest = trend.latest
    snaps = trend.observations.loc[latest.rows]  # oom_count as printed, or derived
    first, last = snaps.iloc[0], snaps.iloc[-1]
    calls = int(last["oom_count"]) - int(first["oom_count"])
    start = None if pd.isna(first["ts"]) else float(first["ts"])
    end = None if pd.isna(last["ts"]) else float(last["ts"])
    kills = _kills_between(view, start, end)
    history = "; ".join(f"oom_count {describe_phase(view, p)}" for p in trend.phases)
    evidence = phase_evidence(view, trend.phases)
    if not len(kills):
        why = (
            f"No 'Killed process' / 'Kill process' line appears while it climbs by {calls}: the OOM "
            "killer is called but does not kill. Allocations without __GFP_FS (GFP_NOFS, GFP_NOIO) "
            "cannot invoke the OOM killer and keep retrying, and an existing OOM victim that is not "
            "exiting blocks the selection of a new one."
        )
    else:
        why = (
            f"{len(kills)} kill(s) are logged in this window, yet tasks keep stalling: the victims "
            "are not releasing memory (check whether they are stuck on a lock or in uninterruptible "
            "sleep)."
        )
        evidence += [view.event_evidence(int(i)) for i in kills[:3]]
    explanation = (
        f"{stuck_tasks_sentence(view, latest)} out_of_memory() kept being called ({history}). {why}"
    )
    explanation = with_slash_note(trend, explanation)
    return [
        Finding(
            rule=RULE,
            severity=Severity.CRITICAL,
            title=(
                f"OOM livelock: out_of_memory() called {calls} more times while "
                f"{int(last['stalling'])} tasks keep stalling"
            ),
            explanation=explanation,
            evidence=evidence,
        )
    ]
