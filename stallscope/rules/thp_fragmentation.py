"""thp-fragmentation: high-order allocations stall although small pages are free.

Above PAGE_ALLOC_COSTLY_ORDER (3) the allocator needs a contiguous block, which compaction has to
build when free memory is fragmented; a transparent huge page (order 9) stalls in compaction
even while plenty of order-0 pages are free. The buddy lines of a Mem-Info dump
(``Node 0 Normal: 12*4kB (U) ... = 1234kB``) tell whether a large enough block existed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stallscope.capture.fields import is_fields
from stallscope.rules.base import Evidence, Finding, HostView, Severity, by_boot, in_boot
from stallscope.rules.common.task_facts import guilty_of, label, latest_tasks, task_and_frames, task_ref

RULE = "thp-fragmentation"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 80
SEVERITY = "warning"
SUMMARY = (
    "High-order (e.g. order-9 THP) allocations stall while small pages are free: memory is "
    "fragmented, not exhausted."
)
NEXT_STEPS: str | None = (
    "the Mem-Info buddy lines and the THP defrag setting"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.0, 0.038)
COSTLY_ORDER = 3
PLENTY = 4  # free memory at least this many times the request counts as "plenty"


def buddy_table(labels: Sequence[object], fields: Sequence[object]) -> list[tuple[int, str, list[int]]]:
    """(event row, zone, free blocks per order) of the last Mem-Info buddy line of each zone among
    these lines (their row labels and fields), zones in the order they first appear: the last
    dump of each zone describes the stall best. Only those lines are taken apart: a boot of a
    long journal holds its buddy lines by the hundred thousand (a dict and a list each were
    40-60 MB at once for 300 MB of journal-short)."""
    last: dict[str, int] = {}
    for at, row in enumerate(fields):
        if is_fields(row) and "count" in row:
            last[f"{row.get('node', '?')}/{row.get('zone', '?')}"] = at
    return [(int(labels[at]), zone, [int(n) for n in str(fields[at]["count"]).split()])  # type: ignore[index,call-overload]
            for zone, at in last.items()]


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    tasks = latest_tasks(view)  # each task of each boot
    if not len(tasks):
        return []
    # On arrays first: most boots have no costly request, and each Series operation costs its
    # fixed cost (a missing order compares as no order).
    orders = tasks["order"].to_numpy(dtype="float64", na_value=np.nan)
    chosen = np.flatnonzero((orders > COSTLY_ORDER) & ~tasks["delay"].isna().to_numpy(dtype=bool))
    if not len(chosen):
        return []
    costly = tasks.iloc[chosen]
    findings = []
    lines = view.records_by_boot("meminfo_buddy")
    for boot, at in by_boot(view.boots_of("tasks", costly.index)).items():
        buddy = buddy_table(lines.values(boot, None), lines.values(boot, "fields"))
        for order, rows in costly.iloc[at].groupby("order", sort=True):
            finding = _finding(view, int(order), [int(i) for i in rows.index], buddy)
            findings.append(in_boot(finding, boot))
    return findings


def _finding(view: HostView, order: int, members: list[int], buddy: list[tuple[int, str, list[int]]]
             ) -> Finding:
    evidence: list[Evidence] = []
    for task in members[:5]:
        evidence += task_and_frames(view, task, [guilty_of(view, task)])
    names = ", ".join(label(view, t) for t in members[:5])
    size_kb = 4 << order
    if not buddy:
        text = (f"{len(members)} task(s) ({names}) stall in order-{order} allocations "
                f"({size_kb} kB contiguous). No Mem-Info buddy lines were captured, so whether "
                "order-0 pages were free (fragmentation) or memory was simply short is unknown; "
                "a SysRq-m dump while the stall lasts tells them apart.")
        severity = Severity.INFO
    else:
        text, severity = _with_buddy(order, members, names, buddy, view, evidence)
    return Finding(
        rule=RULE,
        severity=severity,
        title=f"{len(members)} order-{order} allocation(s) stalling" + (
            " while smaller pages are free" if severity is Severity.WARNING else ""),
        explanation=text,
        evidence=evidence,
        tasks=[task_ref(view, t) for t in members],
    )


def _with_buddy(order: int, members: list[int], names: str, buddy: list[tuple[int, str, list[int]]],
                view: HostView, evidence: list[Evidence]) -> tuple[str, Severity]:
    free_pages = sum(sum(c << k for k, c in enumerate(counts)) for _, _, counts in buddy)
    large = sum(sum(counts[order:]) for _, _, counts in buddy)
    for index, _, _ in buddy:
        evidence.append(view.event_evidence(index))
    free_kb = free_pages * 4
    head = f"{len(members)} task(s) ({names}) stall in order-{order} allocations ({4 << order} kB). "
    if large == 0 and free_pages >= PLENTY << order:
        return (head + f"The last buddy lines show {free_kb} kB free but no free block of order "
                f"{order} or more: memory is fragmented, not exhausted. Compaction (or a THP "
                "defrag setting that makes faults compact synchronously) is where these tasks "
                "wait; check /sys/kernel/mm/transparent_hugepage/defrag and compaction stats.",
                Severity.WARNING)
    if large == 0:
        return (head + f"The last buddy lines show only {free_kb} kB free and no block of order "
                f"{order}: memory is short overall, not just fragmented.", Severity.INFO)
    return (head + f"The last buddy lines still show {large} free block(s) of order {order} or "
            "more, so fragmentation alone does not explain the stall (watermarks, cpuset or zone "
            "limits may).", Severity.INFO)
