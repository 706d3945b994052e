"""oom-plateau: tasks keep stalling while oom_count does not move.

The watchdog's documentation: if oom_count does not increase over time, allocation requests
got stuck before calling the OOM killer (throttled in reclaim, or waiting for locks), so the
OOM killer cannot help and the machine hangs silently.
"""

from __future__ import annotations

import pandas as pd

from stallscope.rules.base import Finding, HostView, Severity, in_boot
from stallscope.rules.common.oom_trend import (
    FASTEST_HZ,
    OOM_TRENDS,
    RECURRING,
    OneReport,
    Trend,
    describe_phase,
    one_report,
    oom_trends,
    phase_evidence,
    stuck_tasks_sentence,
    with_slash_note,
)
from stallscope.rules.common.task_facts import label, task_ref

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
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (OOM_TRENDS,)


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    findings = []
    for boot, trend in oom_trends(view).items():
        if trend is None or trend.latest is None:
            found = _one_report(view, boot, trend)
        else:
            found = _plateau(view, trend) if trend.latest.trend == "flat" else None
        if found is not None:
            findings.append(in_boot(found, boot))
    return findings


def _one_report(view: HostView, boot: int, trend: Trend | None) -> Finding | None:
    """The finding of :func:`one_report` on the boot's own view, asked for only where its last
    watchdog line (in table order) reports stalling tasks without a count above zero: elsewhere
    one_report finds nothing, and a boot's own view costs pandas' fixed costs again."""
    if trend is not None and trend.recoveries >= RECURRING:
        return None
    rows = view.boot_rows("snapshots", boot)
    if not len(rows):
        return None
    last = view.snapshots.index[rows[-1]]
    stalling, printed = (view.cell("snapshots", last, column) for column in ("stalling", "oom_count"))
    if pd.isna(stalling) or int(stalling) == 0 or (not pd.isna(printed) and int(printed) != 0):
        return None
    single = one_report(view.boot_view(boot))
    return None if single is None else _one_report_finding(view, single)


def _plateau(view: HostView, trend: Trend) -> Finding:
    latest = trend.phases[-1]
    last = latest.rows[-1]  # oom_count as printed, or derived
    history = "; ".join(f"oom_count {describe_phase(view, p)}" for p in trend.phases)
    explanation = (
        f"{stuck_tasks_sentence(view, latest)} oom_count did not increase ({history}). "
        "The stalled allocations never reach out_of_memory(): they are looping or sleeping before the "
        "OOM killer (typically throttled in direct reclaim, or unable to invoke it because they lack "
        "__GFP_FS), so nothing will be killed and the machine will not recover by itself. "
        "Look at where the stalled tasks' traces sit and what kswapd is doing."
    )
    explanation = with_slash_note(trend, explanation)
    return Finding(
        rule=RULE,
        severity=Severity.CRITICAL,
        title=(
            f"Allocations are stuck before the OOM killer: {int(view.cell('snapshots', last, 'stalling'))} tasks "
            f"stalling, oom_count frozen at {trend.counts[last]}"
        ),
        explanation=explanation,
        evidence=phase_evidence(view, trend.phases),
    )


# One report shows where the stall stands, not whether it ends: it says what would decide.
_NOTHING_KILLED = (
    "The stalled allocations have not reached out_of_memory() (or it returned without a kill), so the OOM "
    "killer is not what will end this stall. One report cannot show whether the stalls end on their own: a "
    "later watchdog report, or SysRq-m and SysRq-w while it lasts, would."
)


def _seconds(jiffies: int, hz: float | None) -> str:
    if hz is None:
        return f"at least {jiffies / FASTEST_HZ:.0f}s"
    return f"{jiffies / hz:.0f}s at HZ={hz:.0f}"


def _one_report_finding(view: HostView, single: OneReport) -> Finding:
    """One watchdog report is enough: oom_count=0, or a long stall the log covers without an OOM line."""
    snap = single.snapshot
    stalling = int(view.cell("snapshots", snap, "stalling"))
    evidence = [view.snapshot_evidence(snap)]
    if single.never_called:
        return Finding(
            rule=RULE, severity=Severity.CRITICAL,
            title=f"Allocations are stuck before the OOM killer: {stalling} tasks stalling, oom_count=0",
            explanation=(
                f"The watchdog's only report says {stalling} tasks are stalled in memory allocation (each for at "
                "least its threshold) and oom_count=0: out_of_memory() has not been called once since boot. "
                + _NOTHING_KILLED + " Look at what the stalled tasks wait for and whether the memory reserves "
                "are gone (Mem-Info)."
            ),
            evidence=evidence,
        )
    why = [
        f"One report of the 2015-2016 watchdog, which prints no oom_count: {stalling} tasks stalled in memory "
        f"allocation, the longest for delay={single.longest} jiffies ({_seconds(single.longest or 0, single.hz)})."
    ]
    if single.window is not None and single.window > 0:
        why.append(f"The log covers the last {single.window:.0f}s of that stall and shows no OOM killer invocation "
                   "in it.")
    for task in single.exiting[:3]:
        delay = int(view.cell("tasks", task, "delay"))
        why.append(f"{label(view, task)} is exiting and has been in the allocator for delay={delay} jiffies "
                   f"({_seconds(delay, single.hz)}): the OOM killer of this generation gives up choosing a "
                   "victim while a task is exiting (it expects the exit to free memory), and this exit waits "
                   "for memory itself.")
        evidence.append(view.task_evidence(task))
    why.append(_NOTHING_KILLED)
    if single.hz is None:
        why.append(f"HZ is unknown (no request was seen in two reports): delays are read at HZ={FASTEST_HZ:.0f}, "
                   "the shortest time they can mean.")
    worst = f", {label(view, single.exiting[0])} exiting" if single.exiting else ""
    return Finding(
        rule=RULE, severity=Severity.CRITICAL,
        title=(f"Allocations are stuck before the OOM killer: {stalling} tasks stalling{worst}, no OOM killer "
               "invocation logged during the stall"),
        explanation=" ".join(why),
        evidence=evidence,
        tasks=[task_ref(view, t) for t in single.exiting],
    )
