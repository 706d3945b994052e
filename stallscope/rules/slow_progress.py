"""slow-progress: a task keeps being reported as stalling, but its seq moves forward.

Every request eventually completes and the next one stalls again: the system is overloaded
rather than livelocked, unless the caller retries a failed allocation itself (an open-coded
__GFP_NOFAIL loop), which the watchdog sees as new requests but is effectively a livelock.
"""

from __future__ import annotations

from stallscope.rules.base import Finding, HostView, Severity, TaskRef
from stallscope.rules.seq_history import advancing_pairs, histories

RULE = "slow-progress"
_MAX_EVIDENCE = 8


def check(view: HostView) -> list[Finding]:
    moving: list[tuple[TaskRef, int, int, list[int]]] = []
    for history in histories(view):
        steps = advancing_pairs(history)
        if steps:
            seqs = history.rows["seq"].astype("int64")
            moving.append(
                (
                    TaskRef(history.comm, history.pid),
                    int(seqs.iloc[0]),
                    int(seqs.iloc[-1]),
                    [int(history.rows.index[0]), int(history.rows.index[-1])],
                )
            )
    if not moving:
        return []
    names = ", ".join(f"{t.comm}({t.pid}) seq {a}->{b}" for t, a, b, _ in moving[:8])
    more = f" and {len(moving) - 8} more" if len(moving) > 8 else ""
    evidence = [view.task_evidence(i) for *_, rows in moving for i in rows][:_MAX_EVIDENCE]
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
            tasks=[t for t, *_ in moving],
        )
    ]
