"""oom-printk-stall: the OOM killer is stuck printing its report to the console.

out_of_memory() runs with oom_lock held, and oom_kill_process() prints the OOM report (the
allocating task's trace, Mem-Info, the task table) with printk(). Before printk could hand its
output to a thread (6.x consoles), console_unlock() made the task that printed write every
pending line to every console itself; on a slow console (a serial port, a netconsole, a VGA text
console) while other CPUs keep adding lines, that task does not leave console_unlock(). The OOM
killer then holds oom_lock the whole time: no victim is chosen or killed, and every other
allocation that needs the OOM killer fails to take oom_lock, sleeps and retries. Tetsuo Handa
named it the "warn_alloc() vs printk() lockup" on linux-mm (2016-2017).

Fires on a task whose trace goes from the OOM killer (oom_kill_process, dump_header, dump_tasks,
out_of_memory) into the console output (console_unlock and its successors, a console driver's
write): the watchdog's MemAlloc tasks, the tasks of any dump, and the stack of a report (a soft
lockup, an RCU stall, a hung task) that caught the CPU there.
"""

from __future__ import annotations

from stallscope.rules.base import Finding, HostView, Severity, in_boot
from stallscope.rules.common.traced import TRACED, Traced, traced

RULE = "oom-printk-stall"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
# Before oom-livelock and oom-plateau: an OOM killer that cannot finish printing explains both.
RANK = 45
SEVERITY = "critical / warning"
SUMMARY = (
    "The task holding the OOM killer (oom_kill_process) is stuck writing its report to the console "
    "(console_unlock): no victim is killed meanwhile, and every allocation that needs the OOM killer waits."
)
NEXT_STEPS: str | None = (
    "the console: its speed (a serial console at 9600-115200 baud), the console log level (dmesg -n, "
    "loglevel=), and the size of the OOM report (vm.oom_dump_tasks=0 drops its task table)"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (TRACED,)

# The OOM killer's own frames, printing its report (mm/oom_kill.c).
_OOM = ("oom_kill_process", "__oom_kill_process", "dump_header", "dump_tasks", "out_of_memory")
# printk writing to the consoles itself: console_unlock (<= 6.x), its 6.0-6.6 loop
# (console_flush_all, console_emit_next_record), the legacy 6.7+ path, and the drivers' writes.
_CONSOLE = frozenset({"console_unlock", "console_flush_all", "console_emit_next_record",
                      "__console_flush_and_unlock", "console_flush_one_record", "call_console_drivers",
                      "serial8250_console_write", "univ8250_console_write", "vt_console_print",
                      "pl011_console_write", "write_msg", "hvc_console_print"})
# A stall shorter than this many jiffies (10 s at HZ=1000) is a slow report, not a stuck one.
_STUCK_DELAY = 10_000


def _printing(functions: list[str]) -> tuple[str, str] | None:
    """(console frame, OOM frame) when the trace prints from inside the OOM killer."""
    console = next((f for f in functions if f in _CONSOLE), None)
    if console is None:
        return None
    below = functions[functions.index(console) + 1:]
    # Named by the OOM killer's entry (oom_kill_process), not the helper that prints for it.
    oom = next((f for f in _OOM if f in below), None)
    return (console, oom) if oom is not None else None


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    return [in_boot(finding, boot) for boot, traces in traced(view).items() for finding in _of_boot(view, traces)]


def _of_boot(view: HostView, traces: list[Traced]) -> list[Finding]:
    findings: list[Finding] = []
    for trace in traces:
        where = _printing(trace.functions)
        if where is None:
            continue
        console, oom = where
        # A report (a soft lockup) caught the CPU there; a task row is stuck only past a delay.
        stuck = trace.of_report or (trace.delay is not None and trace.delay >= _STUCK_DELAY)
        since = f" (delay={trace.delay})" if trace.delay is not None else ""
        findings.append(Finding(
            rule=RULE,
            severity=Severity.CRITICAL if stuck else Severity.WARNING,
            title=f"The OOM killer is stuck printing its report: {trace.who} in {console} under {oom}{since}",
            explanation=_why(trace.who, console, oom, since),
            evidence=[trace.line, *trace.frames([trace.functions.index(console), trace.functions.index(oom)])],
            tasks=[trace.task] if trace.task is not None else [],
        ))
    return findings


def _why(who: str, console: str, oom: str, since: str) -> str:
    return (
        f"{who} is inside the OOM killer ({oom}) and printing its report: its trace is in {console}, "
        f"writing the pending kernel messages to the console itself{since}. The OOM killer holds oom_lock "
        "all that time, so no victim is chosen or killed, and every other allocation that needs the OOM "
        "killer fails to take oom_lock and sleeps and retries: the machine looks hung in the allocator "
        "while the bottleneck is the console. A slow console (serial, netconsole, VGA text) and a large "
        "report (Mem-Info, a task table of thousands of tasks) make it worse; lowering the console log "
        "level or setting vm.oom_dump_tasks=0 shortens what the OOM killer must print."
    )

