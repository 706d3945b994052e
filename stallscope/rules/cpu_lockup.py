"""cpu-lockup: a CPU stopped scheduling (soft or hard lockup, RCU stall).

Not a memory-allocation stall by itself, but it explains one: a task spinning with preemption
off holds its CPU, and reclaim or the OOM killer waiting for that CPU (or for an RCU grace
period) cannot progress. The finding names the CPU, the task and the function it spins in.
"""

from __future__ import annotations

from stallscope.capture.events import field, int_field
from stallscope.capture.stacks import (
    ALLOCATOR_FRAMES,
    ENTRY_FRAMES,
    RECLAIM_FRAMES,
    first_meaningful,
    normalize_function,
    reliable_functions,
)
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef, in_boot

RULE = "cpu-lockup"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 170
SEVERITY = "critical / warning"
SUMMARY = (
    "A CPU stopped scheduling: a soft or hard lockup or an RCU stall."
)
NEXT_STEPS: str | None = None
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
_KINDS = ("soft_lockup", "hard_lockup", "rcu_stall")
_LABEL = {"soft_lockup": "soft lockup", "hard_lockup": "hard lockup", "rcu_stall": "RCU stall"}
# Where reclaim is entered, and which reclaim that is: a CPU spinning in reclaim is stuck in the
# reclaim its caller asked for (a memory cgroup's charge, an allocation, kswapd).
_RECLAIM_ENTRIES = {
    "try_to_free_mem_cgroup_pages": "memory cgroup reclaim",
    "try_to_free_pages": "direct reclaim",
    "balance_pgdat": "kswapd's reclaim",
    "mem_cgroup_shrink_node": "memory cgroup soft-limit reclaim",
    "node_reclaim": "node reclaim",
    "__node_reclaim": "node reclaim",
}


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    return [in_boot(finding, boot) for boot, reports in view.records_by_boot(*_KINDS).items()
            for finding in _of_boot(view, reports)]


def _of_boot(view: HostView, reports: list[tuple[object, dict[str, object]]]) -> list[Finding]:
    """The findings of one boot's lockup and RCU stall reports (records, in log order)."""
    findings: list[Finding] = []
    seen: set[tuple[str, str | None]] = set()
    for _, row in reports:
        kind = str(row["kind"])
        cpu = field(row, "cpu") or field(row, "stall_cpu")
        if (kind, cpu) in seen:
            continue  # the watchdog repeats itself while the lockup lasts; the first says it
        seen.add((kind, cpu))
        functions = [normalize_function(name) for name, _ in view.stack_frames(row["stack"])]
        where = first_meaningful(functions)
        if where is not None:
            # The loop the CPU cannot leave is often its caller's: a soft lockup "in pfn_valid"
            # spins in __reset_isolation_pfn. The first other function below it says so.
            trusted = reliable_functions(view.stack_frames(row["stack"]))
            below = trusted[trusted.index(where) + 1:] if where in trusted else []
            caller = next((f for f in below if f != where), None)
            if caller is not None:
                where = f"{where} (called from {caller})"
        reclaim = _reclaim_entry(functions)
        comm, pid = field(row, "comm"), int_field(row, "pid")
        seconds = field(row, "seconds")
        who = f" [{comm}:{pid}]" if comm and pid is not None else ""
        label = _LABEL[kind]
        title = label[0].upper() + label[1:] + (f" on CPU#{cpu}" if cpu else "") + (
            f" for {seconds}s" if seconds else "") + who + (f" in {where}" if where else "") + (
            f", in {reclaim}" if reclaim else "")
        repeats = [index for index, other in reports if other["kind"] == kind]
        evidence: list[Evidence] = [view.event_evidence(int(i)) for i in repeats[:3]]  # type: ignore[call-overload]
        findings.append(
            Finding(
                rule=RULE,
                severity=Severity.WARNING,
                title=title,
                explanation=(
                    f"The kernel's {_LABEL[kind]} detector reported {len(repeats)} time(s)"
                    + (f"; the first report names {comm}({pid})" if comm and pid is not None else "")
                    + (f", whose trace runs in {where}" if where else "")
                    + (f"; the CPU spins in {reclaim}: a reclaim loop that neither frees memory nor "
                       "gives up keeps its CPU" if reclaim else "")
                    + ". A CPU that does not schedule delays everything that waits for it: RCU grace "
                    "periods, per-CPU work, and the tasks queued behind it, including reclaim."
                ),
                evidence=evidence,
                tasks=[TaskRef(comm, pid)] if comm and pid is not None else [],
            )
        )
    return findings


def _reclaim_entry(functions: list[str]) -> str | None:
    """Which reclaim a trace runs in, with where it is entered and who asked: "memory cgroup
    reclaim (try_to_free_mem_cgroup_pages, from try_charge)"; None outside reclaim."""
    for at, name in enumerate(functions):
        kind = _RECLAIM_ENTRIES.get(name)
        if kind is None:
            continue
        caller = next((f for f in functions[at + 1:] if f not in RECLAIM_FRAMES and f not in ALLOCATOR_FRAMES), None)
        if caller in ENTRY_FRAMES:
            caller = None  # kswapd's thread: nobody asked
        return f"{kind} ({name}" + (f", from {caller})" if caller else ")")
    return None
