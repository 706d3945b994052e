"""workqueue-lockup: a worker pool stopped processing work items.

The workqueue watchdog prints "BUG: workqueue lockup" when a pool made no progress for
wq_watchdog_thresh (30 s by default); the busy-workqueue dump that follows says which pools hang
("hung=Ns"), which workqueues called for their rescuer (MAYDAY: no new worker could be created,
typically because creating one needs memory) and what the rescuers are running. Work that
memory reclaim depends on (writeback, I/O completion) stuck there stalls reclaim itself.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from stallscope.capture.events import WORKQUEUE_DUMP_KINDS, BusyPwq, pools_of
from stallscope.capture.fields import is_fields
from stallscope.capture.model import missing
from stallscope.rules.base import Evidence, Finding, HostView, Severity, in_boot
from stallscope.rules.common.task_facts import view_workqueue_dumps

RULE = "workqueue-lockup"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 140
SEVERITY = "critical"
SUMMARY = (
    "A worker pool stopped processing work items (BUG: workqueue lockup, pools hung for 30 s or "
    "more)."
)
NEXT_STEPS: str | None = None
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.0, 0.351)

# The workqueue watchdog's default threshold: a pool hung this long is what it reports.
HUNG_SECONDS = 30
_MAX_EVIDENCE = 8


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    lockups = view.records_by_boot("wq_lockup")
    hung_pools = _hung_pool_lines(view)
    findings = []
    for boot in sorted({*lockups, *hung_pools}):
        finding = _of_boot(view, boot, lockups.get(boot, []), pools_of(hung_pools.get(boot, [])))
        if finding is not None:
            findings.append(in_boot(finding, boot))
    return findings


def _of_boot(view: HostView, boot: int, lockups: list[tuple[object, dict[str, Any]]], pools: pd.DataFrame
             ) -> Finding | None:
    hung = pools[pools["hung"].fillna(0) >= HUNG_SECONDS] if not pools.empty else pools
    if not lockups and hung.empty:
        return None
    dumps = view_workqueue_dumps(view).get(boot)
    mayday: list[BusyPwq] = []
    rescuing: list[BusyPwq] = []
    for pwq in dumps.each(dumps.containing(_rescue_lines(view, boot))) if dumps is not None else ():
        if pwq.mayday:
            mayday.append(pwq)
        if pwq.rescuers:
            rescuing.append(pwq)
    evidence: list[Evidence] = [view.event_evidence(int(i)) for i, _ in lockups[:2]]  # type: ignore[call-overload]
    why: list[str] = []
    if lockups:
        worst = lockups[-1][1]
        stuck = int(worst["fields"].get("stuck", 0))
        why.append(f"The workqueue watchdog reported {len(lockups)} lockup(s); the last one, a pool on "
                   f"cpus={worst['fields'].get('cpus')}, had not made progress for {stuck}s.")
    longest = int(hung["hung"].max()) if not hung.empty else 0
    if not hung.empty:
        # Each dump lists every pool again: the last listing of a pool is its latest state.
        latest = hung.drop_duplicates("pool", keep="last")
        # A pool number no number holds (a garbled digit) is missing: "pool ?".
        pools_text = [f"pool {'?' if missing(r['pool']) else int(r['pool'])} (cpus={r['cpus']}) hung={int(r['hung'])}s"
                      for _, r in latest.iterrows()]
        why.append("Pools with work waiting and no progress: " + ", ".join(pools_text) + ".")
        # The pool lines themselves (verbatim), not the summary above.
        evidence += [view.event_evidence(int(event)) for event in latest["event"][:3]]
    names = sorted({p.workqueue for p in mayday})
    if names:
        why.append(
            "Workqueues in MAYDAY (no worker could be created, so they depend on their rescuer): "
            + ", ".join(names) + ". Creating a worker needs memory: under memory pressure only the "
            "rescuer (one per WQ_MEM_RECLAIM workqueue) can run their work."
        )
        evidence += [Evidence(p.source, p.line, p.ts, p.text) for p in mayday[-2:]]
    if rescuing:
        parts = [
            f"{p.workqueue} rescuer pid {', '.join(map(str, p.rescuers))} running {', '.join(sorted(set(p.in_flight)))}"
            for p in rescuing
        ]
        why.append("Rescuers busy: " + "; ".join(dict.fromkeys(parts)) + ". A rescuer that blocks (e.g. in a "
                   "memory allocation) leaves its workqueue with no way forward.")
    stuck_for = max(longest, max((int(r["fields"].get("stuck", 0)) for _, r in lockups), default=0))
    title = f"Workqueue lockup: worker pools stuck for up to {stuck_for}s"
    if names:
        title += f", MAYDAY on {', '.join(names[:3])}" + ("..." if len(names) > 3 else "")
    return Finding(
        rule=RULE,
        severity=Severity.CRITICAL,
        title=title,
        explanation=" ".join(why),
        evidence=evidence[:_MAX_EVIDENCE],
    )


# The field of a workqueue dump's line that says a rescuer is asked for or at work: a pwq line's
# MAYDAY, an in-flight line's worker marked (RESCUER).
_RESCUE_FIELDS = {"wq_pwq": "mayday", "wq_in_flight": "rescuer"}


def _rescue_lines(view: HostView, boot: int) -> list[int]:
    """Where the boot's lines of a MAYDAY or a rescuer at work stand among its workqueue dump
    lines: only the dumps holding them are read (a long capture's dumps hold 200,000 lines a GB,
    and reading every pool_workqueue of each was most of this rule's time)."""
    records = view.records_by_boot(*WORKQUEUE_DUMP_KINDS)
    return [at for at, (kind, fields) in enumerate(zip(records.values(boot, "kind"), records.values(boot, "fields"),
                                                       strict=True))
            if kind in _RESCUE_FIELDS and is_fields(fields) and fields.get(_RESCUE_FIELDS[kind]) is not None]


def _hung_pool_lines(view: HostView) -> dict[int, list[tuple[object, dict[str, Any]]]]:
    """Per boot, the pool lines whose hung= reaches HUNG_SECONDS, the only ones this rule reads."""
    # Every workqueue dump lists every pool: reading all of them row by row would be most of
    # this rule's time on a long capture.
    found = {boot: [(index, row) for index, row in rows if _seconds(row["fields"]) >= HUNG_SECONDS]
             for boot, rows in view.records_by_boot("wq_pool").items()}
    return {boot: rows for boot, rows in found.items() if rows}


def _seconds(fields: object) -> int:
    """hung= of a pool line's fields as workqueue_pools reads it, 0 when absent or not a number."""
    text = fields.get("hung") if is_fields(fields) else None
    try:
        return 0 if text is None else int(text)
    except ValueError:
        return 0


