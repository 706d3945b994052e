"""allocation-failure: the page allocator gave up and returned NULL ("page allocation failure").

The caller asked for a mode that may fail (__GFP_NORETRY, __GFP_NOWAIT, atomic, high order) and
memory could not be found in time. Whether that is harmful depends on the caller's fallback, so
the finding names the order, the mode and the function that allocated.
"""

from __future__ import annotations

import pandas as pd

from stallscope.capture.events import alloc_reports, stack_frames, suppressed_callbacks
from stallscope.capture.model import timestamp
from stallscope.capture.stacks import guilty_frame, reliable_functions
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef
from stallscope.rules.common.noise import noise_reason
from stallscope.rules.common.task_facts import report_gfp_names, with_reporters

RULE = "allocation-failure"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 120
SEVERITY = "warning / info"
SUMMARY = (
    "The page allocator gave up (page allocation failure): the request, its gfp flags and the frame "
    "that made it; an order-9+ __GFP_NORETRY or khugepaged request is called background noise (info)."
)
NEXT_STEPS: str | None = None
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True


def check(view: HostView) -> list[Finding]:
    failures = alloc_reports(with_reporters(view.events, "warn_alloc_failure"), "warn_alloc_failure")
    if failures.empty:
        return []
    suppressed = suppressed_callbacks(view.events, "warn_alloc")
    dropped = int(suppressed[suppressed["function"] == "warn_alloc"]["suppressed"].sum()) if not suppressed.empty else 0
    findings: list[Finding] = []
    for (comm, order, mode), rows in failures.groupby(["comm", "order", "mode"], sort=False, dropna=False):
        first = rows.iloc[0]
        # Before 4.6 the line gives the mask in hex only: name it for the log's kernel. A reading
        # the eras cannot settle (a tie, "A (eras) or B (eras)") stays out of the title.
        decoded = None if first["gfp_names"] else report_gfp_names(view, first["source"], mode)
        settled = decoded.text if decoded and " or " not in decoded.text else None
        names = first["gfp_names"] or settled or mode or "unknown mode"
        functions = reliable_functions(stack_frames(view.capture, first["stack"]))
        caller = guilty_frame(functions) if functions else None
        pid = first["pid"]
        who = f"{comm}" + (f"({int(pid)})" if pid is not None and not pd.isna(pid) else "")
        where = f" in {caller}" if caller else ""
        title = f"Allocation failure: {who} order-{order} {names}{where}" + (
            f" ({len(rows)} reports)" if len(rows) > 1 else ""
        )
        why = [
            f"The page allocator failed an order-{order} allocation with mode {mode}"
            + (f" ({names})" if names != mode else "") + " for "
            f"{who}{', called from ' + caller if caller else ''}."
        ]
        if decoded:
            why.append(f"The kernel printed the mode in hex only; decoded: {decoded.text} ({decoded.how}).")
        if "NORETRY" in str(names) or "NOWAIT" in str(names) or "ATOMIC" in str(names):
            why.append("The mode allows failure (no retry / no sleeping), so the caller must handle NULL; "
                       "the OOM killer is not invoked for it.")
        if order is not None and not pd.isna(order) and int(order) > 0:
            why.append("A higher-order request needs physically contiguous pages: fragmentation can make it "
                       "fail while plenty of memory is free.")
        if dropped:
            why.append(f"printk's ratelimit dropped {dropped} warn_alloc() report(s): there were more.")
        noise = noise_reason(comm, order, names)
        if noise:
            title = f"Background noise: {title[0].lower()}{title[1:]}"
            why.append(f"This is background noise, not a shortage that holds anything up: {noise}.")
        evidence = [
            Evidence(str(r["source"]), int(r["line"]), timestamp(r["ts"]), str(r["text"]))
            for _, r in rows.head(3).iterrows()
        ]
        tasks = [TaskRef(str(comm), int(pid))] if pid is not None and not pd.isna(pid) else []
        findings.append(
            Finding(
                rule=RULE,
                severity=Severity.INFO if noise else Severity.WARNING,
                title=title,
                explanation=" ".join(why),
                evidence=evidence,
                tasks=tasks,
            )
        )
    return findings


