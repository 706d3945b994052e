"""warn-alloc-stall: the page allocator itself reported allocations that took too long.

warn_alloc() prints "page allocation stalls for Nms" (4.9-4.14) at most once per 10 s per
ratelimit, so the reports are a sample: "warn_alloc: N callbacks suppressed" counts the ones
dropped. A stall of minutes means the task made no progress at all for that long.
"""

from __future__ import annotations

from collections import Counter

from stallscope.capture.events import suppressed_of
from stallscope.capture.model import missing
from stallscope.capture.stacks import guilty_frame, reliable_functions
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef, in_boot
from stallscope.rules.common.noise import noise_reason
from stallscope.rules.common.task_facts import REPORTERS, alloc_reports_by_boot

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
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (REPORTERS,)
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.0, 0.085)

# A task that could not allocate for a minute or more is not slow, it is stuck.
CRITICAL_STALL_MS = 60_000
_MAX_TASKS = 6


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    return [in_boot(finding, boot) for boot, stalls in alloc_reports_by_boot(view, "warn_alloc_stall").items()
            for finding in _of_boot(view, boot, stalls)]


def _of_boot(view: HostView, boot: int, stalls: list[dict[str, object]]) -> list[Finding]:
    """The finding of one boot's stall reports (rows of ``alloc_reports`` as dicts, in log order)."""
    known = [row for row in stalls if not missing(row["stall_ms"])]
    # The first of the longest, as idxmax finds it.
    longest = max(known, key=lambda row: int(row["stall_ms"])) if known else stalls[0]  # type: ignore[call-overload]
    ms = int(longest["stall_ms"]) if not missing(longest["stall_ms"]) else 0  # type: ignore[call-overload]
    who = _who(longest)
    gfp = longest["gfp_names"] or longest["mode"] or "unknown mode"
    order = int(longest["order"]) if not missing(longest["order"]) else "?"  # type: ignore[call-overload]
    functions = reliable_functions(view.stack_frames(longest["stack"]))
    caller = guilty_frame(functions) if functions else None
    suppressed = suppressed_of(view.boot_records(boot, "ratelimit_suppressed"), "warn_alloc")
    dropped = sum(int(row["suppressed"]) for row in suppressed  # type: ignore[call-overload]
                  if row["function"] == "warn_alloc" and not missing(row["suppressed"]))
    masks = Counter(row["gfp_names"] for row in stalls if not missing(row["gfp_names"]))
    orders = sorted({int(row["order"]) for row in stalls if not missing(row["order"])})  # type: ignore[call-overload]
    # The first tasks named, each once: a stall storm has tens of thousands of reports.
    tasks: dict[TaskRef, None] = {}
    for row in stalls:
        if len(tasks) == _MAX_TASKS:
            break
        if not missing(row["pid"]):
            tasks.setdefault(TaskRef(str(row["comm"]), int(row["pid"])))  # type: ignore[call-overload]
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
    reasons = [noise_reason(row["comm"], row["order"], row["gfp_names"]) for row in stalls]
    noise = all(reasons)
    if noise:
        # Every stall reported is of a kind nobody waits for: said, and kept out of the warnings.
        title = "Background noise: " + title[0].lower() + title[1:]
        why.append(f"This is background noise, not a stall that holds anything up: {reasons[0]}.")
    elif ms >= CRITICAL_STALL_MS:
        why.append("A stall of a minute or more means the task made no forward progress at all.")
    evidence = [Evidence.of_row(longest)]
    evidence += [Evidence.of_row(row) for row in stalls[:3] if int(row["line"]) != int(longest["line"])]  # type: ignore[call-overload]
    evidence += [view.event_evidence(int(row["event"])) for row in suppressed[:3]]  # type: ignore[call-overload]
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


def _who(row: dict[str, object]) -> str:
    comm = row["comm"] if row["comm"] else "?"
    return f"{comm}({int(row['pid'])})" if not missing(row["pid"]) else str(comm)  # type: ignore[call-overload]




