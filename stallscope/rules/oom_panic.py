"""oom-panic: an OOM episode ended the machine instead of killing a task.

Two ways, both in mm/oom_kill.c: the OOM killer found nothing it may kill ("Out of memory and no
killable processes...", then panic("System is deadlocked on memory")), or vm.panic_on_oom asked
for a panic rather than a kill ("Out of memory: system-wide panic_on_oom is enabled": every
OOM not confined to a cpuset, mempolicy or memory cgroup; "compulsory": every OOM, a memory
cgroup's limit included). The first is a shortage nothing can resolve (a boot without user
space, every task protected by oom_score_adj -1000); the second is a setting, and the log says
whether a real shortage or one cgroup's limit set it off.
"""

from __future__ import annotations

from stallscope.capture.events import field
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef, in_boot
from stallscope.rules.common.oom_reports import manual_invocations, memcg_oom_frame
from stallscope.rules.common.task_facts import OOM_INVOCATIONS, REPORTERS, oom_invocations_by_boot

RULE = "oom-panic"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 105
SEVERITY = "critical"
SUMMARY = (
    "An OOM ended in a kernel panic: nothing was killable (System is deadlocked on memory), or "
    "vm.panic_on_oom panicked instead of killing; says which, and whether a memory cgroup's limit set it off."
)
NEXT_STEPS: str | None = (
    "the task table of the OOM report (oom_score_adj -1000 everywhere means nothing was killable), "
    "vm.panic_on_oom, and what held the memory in Mem-Info"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (OOM_INVOCATIONS, REPORTERS)

# The boot thread: an OOM it invokes comes before user space, with no task to kill.
_BOOT = ("swapper/", "init")


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    # Each boot's OOM panics (label, reason) and "no killable processes" lines.
    oom_panics: dict[int, list[tuple[int, str]]] = {}
    for boot, panics in view.records_by_boot("kernel_panic").items():
        found = [(int(i), reason) for i, r in panics if _oom_reason(reason := str(field(r, "reason") or ""))]  # type: ignore[call-overload]
        if found:
            oom_panics[boot] = found
    none_killable = view.records_by_boot("oom_no_killable")
    boots = sorted({*oom_panics, *none_killable})
    if not boots:
        return []
    invoked = oom_invocations_by_boot(view)
    return [in_boot(finding, boot) for boot in boots
            for finding in _of_boot(view, boot, oom_panics.get(boot, []), none_killable.get(boot, []),
                                    invoked.get(boot, []))]


def _of_boot(view: HostView, boot: int, oom_panics: list[tuple[int, str]],
             none_killable: list[tuple[object, dict[str, object]]], invoked: list[dict[str, object]]
             ) -> list[Finding]:
    """The finding of one boot's OOM panics, "no killable processes" lines and OOM invocations."""
    if not oom_panics and len(invoked) and len(manual_invocations(invoked)) == len(invoked):
        return []  # SysRq-f found no victim: "OOM request ignored", no panic (oom-kill says so)
    evidence: list[Evidence] = [view.event_evidence(int(row["event"])) for row in invoked[:2]]  # type: ignore[call-overload]
    evidence += [view.event_evidence(int(i)) for i, _ in none_killable[:1]]  # type: ignore[call-overload]
    evidence += [view.event_evidence(i) for i, _ in oom_panics[:1]]
    callers = list(dict.fromkeys(str(row["comm"]) for row in invoked if row["comm"] is not None))
    by = f" (invoked by {', '.join(callers[:3])})" if callers else ""
    memcg = memcg_oom_frame(view, invoked)
    reason = oom_panics[0][1] if oom_panics else ""
    if "panic_on_oom" in reason:
        compulsory = "compulsory" in reason
        title = (f"Kernel panic by vm.panic_on_oom={2 if compulsory else 1}: the OOM killer was told to panic, "
                 f"not to kill{by}")
        why = [f"The kernel panicked instead of killing a task: \"{reason}\". "
               + ("With vm.panic_on_oom=2 every OOM panics, a memory cgroup's limit included."
                  if compulsory else "With vm.panic_on_oom=1 an OOM of the whole machine panics.")]
        if memcg:
            memcg, lines = memcg
            evidence[1:1] = lines
            why.append(f"This OOM came from a memory cgroup's limit ({memcg} in the trace of the invoking "
                       "task), not from the machine running out of memory: one cgroup reaching its limit "
                       "took the machine down.")
            title += f"; a memory cgroup's limit set it off ({memcg})"
        why.append("Whether to panic is a setting: set vm.panic_on_oom=0 to have the OOM killer kill a task, "
                   "or keep it if a reboot is wanted, and find what filled memory (Mem-Info, the task table).")
    else:
        if oom_panics:
            title = f"Kernel panic: the OOM killer found no killable process{by}"
        else:
            title = f"The OOM killer found no killable process{by}: the kernel panics next"
        why = ["The OOM killer ran out of candidates (\"Out of memory and no killable processes...\")"
               + (", and the kernel panicked (\"System is deadlocked on memory\")." if oom_panics else
                  "; the log ends before the panic that follows (\"System is deadlocked on memory\": "
                  "out_of_memory() panics when neither SysRq nor a memory cgroup's limit asked).")]
        boot_thread = [c for c in callers if c.startswith(_BOOT)]
        if boot_thread:
            why.append(f"{boot_thread[0]} invoked it, the boot thread: memory ran out before any user-space task "
                       "existed that could be killed; the memory given to this kernel (a crash kernel's "
                       "crashkernel= reservation, mem=) is too small for what it starts.")
        unkillable = _unkillable_rows(view.boot_records(boot, "oom_task_row"))
        if unkillable is not None:
            listed, protected = unkillable
            if listed and listed == protected:
                why.append(f"Every one of the {listed} tasks in the OOM task table has oom_score_adj -1000 "
                           "(never killed).")
        why.append("Nothing could be freed by killing: find what holds the memory (Mem-Info: slab, "
                   "unreclaimable pages, huge allocations) rather than which task to kill.")
    return [Finding(
        rule=RULE,
        severity=Severity.CRITICAL,
        title=title,
        explanation=" ".join(why),
        evidence=evidence,
        tasks=list(dict.fromkeys(TaskRef(str(r["comm"]), r["pid"]) for r in invoked  # type: ignore[arg-type]
                                 if r["pid"] is not None and r["comm"] is not None)),
    )]


def _oom_reason(reason: str) -> bool:
    """Whether a panic's reason is the OOM killer's (no victim, or panic_on_oom)."""
    return "deadlocked on memory" in reason or "panic_on_oom" in reason or reason.startswith("Out of memory")


def _unkillable_rows(rows: list[tuple[object, dict[str, object]]]) -> tuple[int, int] | None:
    """(rows, rows with oom_score_adj -1000) of the OOM task tables (their "oom_task_row" records),
    None when none was printed."""
    if not rows:
        return None
    protected = 0
    for _, row in rows:
        # The last of the columns after rss is oom_score_adj (see grammars/oom.lark).
        columns = (field(row, "column") or "").split()
        protected += bool(columns) and columns[-1] == "-1000"
    return len(rows), protected
