"""slow-progress: a task keeps being reported as stalling, but its seq moves forward.

Every request eventually completes and the next one stalls again: the system is overloaded
rather than livelocked, unless the caller retries a failed allocation itself (an open-coded
__GFP_NOFAIL loop), which the watchdog sees as new requests but is effectively a livelock.

The 2015-2016 watchdog prints no seq; there progress shows as stalls ending: fewer tasks stalling
than in the report before, or the watchdog falling silent (it prints only while something stalls).
"""

from __future__ import annotations

import pandas as pd

from stallscope.capture.events import tuples
from stallscope.rules.base import Finding, HostView, Severity, TaskRef, by_boot, in_boot
from stallscope.rules.common.oom_trend import OOM_TRENDS, RECURRING, Trend, oom_trends
from stallscope.rules.common.seq_history import SEQ_HISTORY, advancing_tasks

RULE = "slow-progress"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 130
SEVERITY = "warning"
SUMMARY = (
    "A task keeps being reported as stalling but its seq advances (on the 2015-2016 watchdog, without seq: "
    "stalls keep ending): overloaded rather than livelocked."
)
NEXT_STEPS: str | None = None
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (OOM_TRENDS, SEQ_HISTORY)
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.054, 0.0)
_NAMED = 8
_MAX_EVIDENCE = 8


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    moving = advancing_tasks(view)  # in log order, each task of one boot
    boots = by_boot(view.boots_of("tasks", moving["first"].to_numpy())) if len(moving) else {}
    trends = oom_trends(view)
    findings = []
    for boot in sorted({*boots, *trends}):
        mine = boots.get(boot, ())
        if len(mine):
            found: Finding | None = _advancing(view, moving.iloc[mine])
        else:
            trend = trends[boot]
            # The 2015-2016 watchdog prints no seq: there stalls are seen ending in its reports.
            found = (_stalls_ending(view, boot, trend)
                     if trend is not None and trend.derived and trend.recoveries >= RECURRING else None)
        if found is not None:
            findings.append(in_boot(found, boot))
    return findings


def _advancing(view: HostView, moving: pd.DataFrame) -> Finding:
    rows = tuples(moving)  # once: each call costs pandas' fixed costs per column
    names = ", ".join(
        f"{r.comm}({r.pid}) seq {int(r.seq_first)}->{int(r.seq_last)}" for r in rows[:_NAMED]
    )
    more = f" and {len(moving) - _NAMED} more" if len(moving) > _NAMED else ""
    evidence = []
    for row in rows[:_MAX_EVIDENCE // 2]:
        evidence += [view.task_evidence(int(row.first)), view.task_evidence(int(row.last))]
    return Finding(
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
        tasks=[TaskRef(str(r.comm), int(r.pid)) for r in rows],
    )


def _stalls_ending(view: HostView, boot: int, trend: Trend) -> Finding:
    """Reports of a watchdog without seq that show stalls ending again and again."""
    snaps = view.snapshots.iloc[view.boot_rows("snapshots", boot)]
    stalling = snaps["stalling"].astype("Int64")
    ts = snaps["ts"].astype("Float64")
    # An excerpt may hold reports out of time order: the span is from the earliest to the latest.
    span = "" if ts.isna().all() else f" between {float(ts.min()):.0f}s and {float(ts.max()):.0f}s"
    return Finding(
        rule=RULE,
        severity=Severity.WARNING,
        title=(f"Stalls keep ending: {trend.recoveries} times the watchdog reported fewer stalling tasks or fell "
               f"silent over {len(snaps)} reports"),
        explanation=(
            f"This watchdog generation prints no seq, but its {len(snaps)} reports{span} show stalls ending "
            f"{trend.recoveries} times: the number of stalling tasks fell, or no report was printed for more than "
            f"twice the usual interval (it prints only while something stalls). Between "
            f"{int(stalling.min())} and {int(stalling.max())} tasks stalled at a time: allocations stall for a "
            "while and then complete, an overloaded system rather than a livelock."
        ),
        evidence=[view.snapshot_evidence(i) for i in trend.recovered_at[:_MAX_EVIDENCE // 2]],
    )
