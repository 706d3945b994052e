"""slow-progress: a task keeps being reported as stalling, but its seq moves forward.

Every request eventually completes and the next one stalls again: the system is overloaded
rather than livelocked, unless the caller retries a failed allocation itself (an open-coded
__GFP_NOFAIL loop), which the watchdog sees as new requests but is effectively a livelock.
"""

from __future__ import annotations

from stallscope.rules.base import Finding, HostView, Severity, TaskRef
from stallscope.rules.common.seq_history import advancing_tasks

RULE = "slow-progress"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 130
SEVERITY = "warning"
SUMMARY = (
    "A task keeps being reported as stalling but its seq advances: overloaded rather than livelocked."
)
NEXT_STEPS: str | None = None
_NAMED = 8
_MAX_EVIDENCE = 8


def check(view: HostView) -> list[Finding]:
    moving = advancing_tasks(view)
    if moving.empty:
        return []
    names = ", ".join(
        f"{r.comm}({r.pid}) seq {int(r.seq_first)}->{int(r.seq_last)}" for r in moving.head(_NAMED).itertuples()
    )
    more = f" and {len(moving) - _NAMED} more" if len(moving) > _NAMED else ""
    evidence = []
    for row in moving.head(_MAX_EVIDENCE // 2).itertuples():
        evidence += [view.task_evidence(int(row.first)), view.task_evidence(int(row.last))]
    return [
        Finding(
            rule=RULE,
            severity=Severity.WARNING,
            title=f"{len(moving)} task(s) keep stalling but their allocation requests complete (seq advances)",
            explanation=(
                f"Reported again with a larger seq: {names}{more}. Each request finished and a new one "
                "stalled, so memory allocation is progressing, only too slowly: overload rather than "
                "livelock. Caveat from the watchdog's documentation: a caller that retries failed "
                "allocations in its own loop (an open-coded __GFP_NOFAIL) also advances seq while "
                "never getting anywhere; check whether the traces show such a retry loop."
            ),
            evidence=evidence,
            tasks=[TaskRef(str(r.comm), int(r.pid)) for r in moving.itertuples()],
        )
    ]
