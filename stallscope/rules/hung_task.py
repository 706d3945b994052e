"""hung-task: khungtaskd reported a task stuck in D state for longer than hung_task_timeout_secs.

The report names the task; its trace says what it waits for. kswapd hanging stops background
reclaim for everybody, and a hang in the period where the watchdog reports allocation stalls is
usually one link of the same dependency chain, so both are critical. A hung thread of an OOM
victim keeps the victim from exiting, which is why OOM kills before the hang are named too.
"""

from __future__ import annotations

import pandas as pd

from stallscope.capture.events import hung_tasks, lock_blockers, oom_kills, report_stacks
from stallscope.capture.model import timestamp
from stallscope.capture.stacks import NO_WAIT_SITE
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef
from stallscope.rules.common.task_facts import stack_wait_site

RULE = "hung-task"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 100
SEVERITY = "critical / warning"
SUMMARY = (
    "khungtaskd reported a task blocked in D state for longer than hung_task_timeout_secs; names "
    "where it waits."
)
NEXT_STEPS: str | None = None

# Kernel threads never belong to an OOM victim, so OOM kills are not context for them.
_KERNEL_THREADS = ("kswapd", "kworker/", "kcompactd", "khugepaged", "kthreadd", "jbd2/", "xfs", "khungtaskd")

_MAX_KILLS_NAMED = 4


def _where(view: HostView, stack: object) -> tuple[str, str]:
    """Where a hung task waits: the words of its title, and of its explanation.

    "waiting in PRIMITIVE in CALLER (from ORIGIN)" as :meth:`WaitSite.waiting` words it; a
    report without a trace (or whose trace was not read), or with one whose frames were not
    understood, says so.
    """
    if stack is None:
        # Either none was printed, or its lines were not understood (counted as unparsed).
        return "(no call trace read)", "; no call trace of it was read"
    site = stack_wait_site(view, int(stack))  # type: ignore[call-overload]
    if site == NO_WAIT_SITE:
        return "(its call trace was not understood)", "; its call trace was printed but not understood"
    where = site.waiting()
    return where, f"; its call trace shows it {where}"


def _stalls_overlap(view: HostView, source: str, start: float | None, end: float | None) -> bool:
    snaps = view.snapshots
    if snaps.empty:
        return False
    stalling = snaps[(snaps["source"] == source) & (snaps["stalling"].fillna(0) > 0)]
    if stalling.empty or start is None or end is None:
        return not stalling.empty
    return bool(((stalling["ts"] >= start) & (stalling["ts"] <= end)).any())


def check(view: HostView) -> list[Finding]:
    hung = hung_tasks(view.events)
    if hung.empty:
        return []
    # Once for all reports: a trace the builder did not tie to its report is claimed by position.
    hung["stack"] = pd.array(report_stacks(view.capture, hung), dtype="Int64")
    blockers = lock_blockers(view.events)
    kills = oom_kills(view.events)
    findings: list[Finding] = []
    for (comm, pid), reports in hung.groupby(["comm", "pid"], sort=False):
        first, last = reports.iloc[0], reports.iloc[-1]
        seconds = int(reports["seconds"].max())
        stacks = reports["stack"].dropna().tolist()
        where, trace = _where(view, stacks[-1] if stacks else None)
        first_ts, last_ts = timestamp(first["ts"]), timestamp(last["ts"])
        # The printed time is a lower bound: the task was already blocked that long at the first report.
        since = None if first_ts is None else first_ts - int(first["seconds"])
        correlated = _stalls_overlap(view, str(first["source"]), since, last_ts)
        kswapd = str(comm).startswith("kswapd")
        repeat = f" ({len(reports)} reports)" if len(reports) > 1 else ""
        title = f"Hung task: {comm}({pid}) blocked for more than {seconds}s {where}" + repeat
        why = [
            f"khungtaskd found {comm}({pid}) in uninterruptible sleep without being scheduled for "
            f"more than {seconds} seconds{trace}."
        ]
        evidence = [Evidence(str(first["source"]), int(first["line"]), first_ts, str(first["text"]))]
        if len(reports) > 1:
            evidence.append(Evidence(str(last["source"]), int(last["line"]), last_ts, str(last["text"])))
        tasks = [TaskRef(str(comm), int(pid))]
        mine = blockers[blockers["pid"] == pid] if not blockers.empty else blockers
        for _, block in mine.iterrows():
            why.append(f"The kernel names the likely owner of its {block['lock_type']}: "
                       f"{block['owner_comm']}({block['owner_pid']}).")
            evidence.append(
                Evidence(str(block["source"]), int(block["line"]), timestamp(block["ts"]), str(block["text"]))
            )
            tasks.append(TaskRef(str(block["owner_comm"]), int(block["owner_pid"])))
        earlier = kills[(kills["source"] == first["source"]) & (kills["line"] < last["line"])] if len(kills) else kills
        if not earlier.empty and not str(comm).startswith(_KERNEL_THREADS):
            named = ", ".join(f"{k['comm']}({k['pid']})" for _, k in earlier.head(_MAX_KILLS_NAMED).iterrows())
            why.append(
                f"The OOM killer killed {named} before this report: if {comm} is a thread of a "
                "victim, that victim cannot exit (and free its memory) until this wait ends."
            )
            for _, k in earlier.head(_MAX_KILLS_NAMED).iterrows():
                evidence.append(view.event_evidence(int(k["event"])))
                tasks.append(TaskRef(str(k["comm"]), int(k["pid"])))
        findings.append(
            Finding(
                rule=RULE,
                severity=Severity.CRITICAL if kswapd or correlated else Severity.WARNING,
                title=title,
                explanation=" ".join(why),
                evidence=evidence,
                tasks=tasks,
            )
        )
    return findings
