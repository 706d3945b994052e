"""warn-alloc-stall: the page allocator itself reported allocations that took too long.

warn_alloc() prints "page allocation stalls for Nms" (4.9-4.14) at most once per 10 s per
ratelimit, so the reports are a sample: "warn_alloc: N callbacks suppressed" counts the ones
dropped. A stall of minutes means the task made no progress at all for that long.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from stallscope.capture.events import stack_frames, suppressed_callbacks
from stallscope.capture.model import timestamp
from stallscope.capture.stacks import guilty_frame, reliable_functions
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef
from stallscope.rules.common.noise import noise_reason
from stallscope.rules.common.task_facts import view_alloc_reports

RULE = "warn-alloc-stall"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 110
SEVERITY = "critical / warning / info"
SUMMARY = (
    "The page allocator reported an allocation that took too long (page allocation stalls for N ms); "
    "khugepaged's huge-page requests are called background noise (info)."
)
NEXT_STEPS: str | None = (
    "the Mem-Info printed with the stall (free against the min watermark, file against anonymous "
    "pages, swap) and whether kswapd was running"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True

# A task that could not allocate for a minute or more is not slow, it is stuck.
CRITICAL_STALL_MS = 60_000
_MAX_TASKS = 6


def check(view: HostView) -> list[Finding]:
    stalls = view_alloc_reports(view, "warn_alloc_stall")
    if stalls.empty:
        return []
    known = stalls[stalls["stall_ms"].notna()]
    longest = known.loc[known["stall_ms"].astype(int).idxmax()] if not known.empty else stalls.iloc[0]
    ms = int(longest["stall_ms"]) if pd.notna(longest["stall_ms"]) else 0
    who = _who(longest)
    gfp = longest["gfp_names"] or longest["mode"] or "unknown mode"
    order = int(longest["order"]) if pd.notna(longest["order"]) else "?"
    functions = reliable_functions(stack_frames(view.capture, longest["stack"]))
    caller = guilty_frame(functions) if functions else None
    suppressed = suppressed_callbacks(view.rows, "warn_alloc")
    dropped = int(suppressed[suppressed["function"] == "warn_alloc"]["suppressed"].sum()) if not suppressed.empty else 0
    masks = Counter(name for name in stalls["gfp_names"].dropna())
    orders = sorted({int(o) for o in stalls["order"].dropna()})
    # The first tasks named, each once: a stall storm has tens of thousands of reports.
    tasks: dict[TaskRef, None] = {}
    for comm, pid in zip(stalls["comm"].astype(object).tolist(), stalls["pid"].astype(object).tolist(), strict=True):
        if len(tasks) == _MAX_TASKS:
            break
        if pd.notna(pid):
            tasks.setdefault(TaskRef(str(comm), int(pid)))
    title = (
        f"Page allocation stalled for {ms} ms ({ms / 1000:.0f}s): {who}, order-{order} {gfp}"
        f" - {len(stalls)} stall report(s)"
    )
    why = [
        f"warn_alloc() reported {len(stalls)} allocation(s) that kept failing to get memory; the longest, "
        f"{who} asking for an order-{order} {gfp} allocation, had been trying for {ms} ms"
        + (f", allocating from {caller}." if caller else ".")
    ]
    modes = ", ".join(f"{name.strip()} x{n}" for name, n in masks.most_common()) or "not printed"
    why.append(f"Orders seen: {', '.join(map(str, orders)) or 'not printed'}; modes: {modes}.")
    if dropped:
        why.append(
            f"printk's ratelimit dropped {dropped} more warn_alloc() report(s) "
            "(\"callbacks suppressed\"): the real number of stalls is larger than what is shown."
        )
    reasons = [noise_reason(c, o, g) for c, o, g in zip(stalls["comm"], stalls["order"], stalls["gfp_names"],
                                                          strict=True)]
    noise = all(reasons)
    if noise:
        # Every stall reported is of a kind nobody waits for: said, and kept out of the warnings.
        title = "Background noise: " + title[0].lower() + title[1:]
        why.append(f"This is background noise, not a stall that holds anything up: {reasons[0]}.")
    elif ms >= CRITICAL_STALL_MS:
        why.append("A stall of a minute or more means the task made no forward progress at all.")
    evidence = [Evidence(str(longest["source"]), int(longest["line"]), timestamp(longest["ts"]), str(longest["text"]))]
    for _, row in stalls.head(3).iterrows():
        if int(row["line"]) != int(longest["line"]):
            evidence.append(Evidence(str(row["source"]), int(row["line"]), timestamp(row["ts"]), str(row["text"])))
    evidence += [view.event_evidence(int(i)) for i in suppressed["event"].head(3)] if not suppressed.empty else []
    return [
        Finding(
            rule=RULE,
            severity=Severity.INFO if noise else Severity.CRITICAL if ms >= CRITICAL_STALL_MS else Severity.WARNING,
            title=title,
            explanation=" ".join(why),
            evidence=evidence,
            tasks=list(tasks),
        )
    ]


def _who(row: pd.Series) -> str:
    comm = row["comm"] if row["comm"] else "?"
    return f"{comm}({int(row['pid'])})" if pd.notna(row["pid"]) else str(comm)


