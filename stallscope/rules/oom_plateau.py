"""oom-plateau: tasks keep stalling while oom_count does not move.

The watchdog's documentation: if oom_count does not increase over time, allocation requests
got stuck before calling the OOM killer (throttled in reclaim, or waiting for locks), so the
OOM killer cannot help and the machine hangs silently.
"""

from __future__ import annotations

from stallscope.rules.base import Finding, HostView, Severity
from stallscope.rules.common.oom_trend import (
    describe_phase,
    oom_trend,
    phase_evidence,
    stuck_tasks_sentence,
    with_slash_note,
)

RULE = "oom-plateau"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 70
SEVERITY = "critical"
SUMMARY = (
    "Tasks keep stalling while oom_count does not move: the allocations are stuck before the OOM "
    "killer, so nothing will be killed."
)
NEXT_STEPS: str | None = (
    "Mem-Info and the traces of the stalling tasks for where reclaim loops without reaching the OOM "
    "killer"
)


def check(view: HostView) -> list[Finding]:
    trend = oom_trend(view)
    if trend is None or trend.latest is None or trend.latest.trend != "flat":
        return []
    latest = trend.latest
    snaps = view.snapshots.loc[latest.rows]
    stalling = snaps["stalling"].astype(int)
    history = "; ".join(f"oom_count {describe_phase(view, p)}" for p in trend.phases)
    explanation = (
        f"{stuck_tasks_sentence(view, latest)} oom_count did not increase ({history}). "
        "The stalled allocations never reach out_of_memory(): they are looping or sleeping before the "
        "OOM killer (typically throttled in direct reclaim, or unable to invoke it because they lack "
        "__GFP_FS), so nothing will be killed and the machine will not recover by itself. "
        "Look at where the stalled tasks' traces sit and what kswapd is doing."
    )
    explanation = with_slash_note(trend, explanation)
    return [
        Finding(
            rule=RULE,
            severity=Severity.CRITICAL,
            title=(
                f"Allocations are stuck before the OOM killer: {int(stalling.iloc[-1])} tasks stalling, "
                f"oom_count frozen at {int(snaps['oom_count'].iloc[-1])}"
            ),
            explanation=explanation,
            evidence=phase_evidence(view, trend.phases),
        )
    ]
