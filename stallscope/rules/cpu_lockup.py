"""cpu-lockup: a CPU stopped scheduling (soft or hard lockup, RCU stall).

Not a memory-allocation stall by itself, but it explains one: a task spinning with preemption
off holds its CPU, and reclaim or the OOM killer waiting for that CPU (or for an RCU grace
period) cannot progress. The finding names the CPU, the task and the function it spins in.
"""

from __future__ import annotations

from stallscope.capture.events import field, int_field, of_kind, stack_frames
from stallscope.capture.stacks import first_meaningful, normalize_function, reliable_functions
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef

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


def check(view: HostView) -> list[Finding]:
    reports = of_kind(view.events, *_KINDS)
    if reports.empty:
        return []
    findings: list[Finding] = []
    seen: set[tuple[str, str | None]] = set()
    for _, row in reports.iterrows():
        kind = str(row["kind"])
        cpu = field(row, "cpu") or field(row, "stall_cpu")
        if (kind, cpu) in seen:
            continue  # the watchdog repeats itself while the lockup lasts; the first says it
        seen.add((kind, cpu))
        functions = [normalize_function(name) for name, _ in stack_frames(view.capture, row["stack"])]
        where = first_meaningful(functions)
        if where is not None:
            # The loop the CPU cannot leave is often its caller's: a soft lockup "in pfn_valid"
            # spins in __reset_isolation_pfn. The first other function below it says so.
            trusted = reliable_functions(stack_frames(view.capture, row["stack"]))
            below = trusted[trusted.index(where) + 1:] if where in trusted else []
            caller = next((f for f in below if f != where), None)
            if caller is not None:
                where = f"{where} (called from {caller})"
        comm, pid = field(row, "comm"), int_field(row, "pid")
        seconds = field(row, "seconds")
        who = f" [{comm}:{pid}]" if comm and pid is not None else ""
        label = _LABEL[kind]
        title = label[0].upper() + label[1:] + (f" on CPU#{cpu}" if cpu else "") + (
            f" for {seconds}s" if seconds else "") + who + (f" in {where}" if where else "")
        repeats = reports[(reports["kind"] == kind)]
        evidence: list[Evidence] = [view.event_evidence(int(i)) for i in repeats.index[:3]]
        findings.append(
            Finding(
                rule=RULE,
                severity=Severity.WARNING,
                title=title,
                explanation=(
                    f"The kernel's {_LABEL[kind]} detector reported {len(repeats)} time(s)"
                    + (f"; the first report names {comm}({pid})" if comm and pid is not None else "")
                    + (f", whose trace runs in {where}" if where else "")
                    + ". A CPU that does not schedule delays everything that waits for it: RCU grace "
                    "periods, per-CPU work, and the tasks queued behind it, including reclaim."
                ),
                evidence=evidence,
                tasks=[TaskRef(comm, pid)] if comm and pid is not None else [],
            )
        )
    return findings
