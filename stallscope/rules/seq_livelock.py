"""seq-livelock: one allocation request of a task makes no progress across observations.

The same pid keeps the same seq while delay grows: the request that started at that seq is
still inside the page allocator's slow path, report after report.
"""

from __future__ import annotations

from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef
from stallscope.rules.seq_history import histories, same_request_runs

RULE = "seq-livelock"
_EVIDENCE_PER_TASK = 2
_MAX_EVIDENCE = 12


def check(view: HostView) -> list[Finding]:
    stuck: list[tuple[TaskRef, int, int, int, list[Evidence]]] = []
    for history in histories(view):
        for run in same_request_runs(history):
            first, last = run.iloc[0], run.iloc[-1]
            evidence = [view.task_evidence(int(run.index[0])), view.task_evidence(int(run.index[-1]))]
            stuck.append(
                (
                    TaskRef(history.comm, history.pid),
                    int(first["seq"]),
                    int(last["delay"]) - int(first["delay"]),
                    len(run),
                    evidence[:_EVIDENCE_PER_TASK],
                )
            )
    if not stuck:
        return []
    stuck.sort(key=lambda item: -item[2])
    worst = stuck[0]
    names = ", ".join(f"{t.comm}({t.pid}) seq={seq}" for t, seq, _, _, _ in stuck[:8])
    more = f" and {len(stuck) - 8} more" if len(stuck) > 8 else ""
    evidence = [e for *_, ev in stuck for e in ev][:_MAX_EVIDENCE]
    return [
        Finding(
            rule=RULE,
            severity=Severity.CRITICAL,
            title=(
                f"{len(stuck)} task(s) stuck in one allocation request: seq unchanged while delay grows "
                f"(worst {worst[0].comm}({worst[0].pid}), +{worst[2]} jiffies)"
            ),
            explanation=(
                f"These tasks were reported again with the same allocation sequence number and a "
                f"larger delay: {names}{more}. The request that began at that seq never completed "
                "between watchdog scans, so the allocator is not making progress for them (a "
                "livelock or an indefinite wait inside __alloc_pages_slowpath), not merely slow. "
                "Their call traces show where each request waits."
            ),
            evidence=evidence,
            tasks=[t for t, *_ in stuck],
        )
    ]
