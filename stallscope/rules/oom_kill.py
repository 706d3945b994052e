"""oom-kill: the OOM killer ran and killed tasks; who, how big, and in which memory cgroup.

A kill is the kernel resolving a memory shortage, not a stall by itself: the finding is a
warning that names every victim so the reader can tell a runaway process (the largest victim,
killed again after respawning) from a cgroup limit doing its job. The watchdog rules say whether
the kills helped.
"""

from __future__ import annotations

import pandas as pd

from stallscope.capture.events import field, of_kind, oom_invocations, oom_kills, records
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef
from stallscope.rules.common.task_facts import with_reporters

RULE = "oom-kill"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 160
SEVERITY = "warning"
SUMMARY = (
    "The OOM killer killed tasks: every victim, its size, oom_score_adj and memory cgroup, and who "
    "invoked it."
)
NEXT_STEPS: str | None = None
_NAMED = 10


def _memcg_of(view: HostView) -> dict[int, str]:
    """Victim pid -> the memory cgroup whose limit was hit (4.19+ oom-kill summary line)."""
    found: dict[int, str] = {}
    for _, row in records(of_kind(view.events, "oom_kill_summary")):
        memcg, pid = field(row, "oom_memcg"), field(row, "pid")
        if memcg and pid and pid.isdigit():
            found[int(pid)] = memcg
    return found


def _size(kb: int) -> str:
    return f"{kb // 1024} MB" if kb >= 10 * 1024 else f"{kb} kB"


def check(view: HostView) -> list[Finding]:
    kills = oom_kills(view.events)
    if kills.empty:
        return []
    invoked = oom_invocations(with_reporters(view.events, "oom_invoke"))
    memcgs = _memcg_of(view)
    victims: list[str] = []
    for row in kills.head(_NAMED).itertuples():
        size = f", anon-rss {_size(int(row.anon_rss_kb))}" if pd.notna(row.anon_rss_kb) else ""
        adj = f", oom_score_adj {int(row.oom_score_adj)}" if pd.notna(row.oom_score_adj) else ""
        where = f" in memcg {memcgs[int(row.pid)]}" if pd.notna(row.pid) and int(row.pid) in memcgs else ""
        at = f" at {float(row.ts):.2f}s" if pd.notna(row.ts) else ""
        victims.append(f"{row.comm}({row.pid}){at}{size}{adj}{where}")
    more = f" and {len(kills) - _NAMED} more" if len(kills) > _NAMED else ""
    callers = ", ".join(dict.fromkeys(str(c) for c in invoked["comm"].dropna()))
    scope = "a memory cgroup limit" if kills["memcg"].all() else "the whole machine running out of memory"
    evidence: list[Evidence] = [view.event_evidence(int(i)) for i in invoked["event"].head(2)]
    evidence += [view.event_evidence(int(i)) for i in kills["event"].head(_NAMED)]
    summary = of_kind(view.events, "oom_kill_summary")
    evidence += [view.event_evidence(int(i)) for i in summary.index[:2]]
    return [
        Finding(
            rule=RULE,
            severity=Severity.WARNING,
            title=f"The OOM killer killed {len(kills)} task(s): " + ", ".join(
                f"{r.comm}({r.pid})" for r in kills.head(4).itertuples()
            ) + ("…" if len(kills) > 4 else ""),
            explanation=(
                f"The OOM killer was invoked {len(invoked)} time(s)"
                + (f" by {callers}" if callers else "")
                + f" because of {scope}, and killed: {'; '.join(victims)}{more}. "
                "Check whether the victim is the task that was growing (a leak or runaway) and whether "
                "memory came back afterwards: a victim that cannot exit (see victim-stuck and hung-task "
                "findings) keeps the shortage going."
            ),
            evidence=evidence,
            tasks=list(dict.fromkeys(TaskRef(str(r.comm), int(r.pid)) for r in kills.itertuples() if pd.notna(r.pid))),
        )
    ]
