"""other-report: the kernel reported something that is not a memory-allocation stall.

An oops, a BUG, a WARNING, a panic that is not the OOM killer's: a reader who runs stallscope on
such a log should hear what the kernel did report, and where (the function its trace or its
WARNING line names), rather than nothing, and never a warning or a critical finding about memory.
When the log also shows memory trouble, the report is named as something else that happened.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from stallscope.capture.events import field, of_kind, records
from stallscope.capture.stacks import function_class, normalize_function
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef, in_boot
from stallscope.rules.common.reports import DEVICE_KINDS, memory_boots
from stallscope.rules.common.task_facts import stack_functions, trace_after, trace_frame_evidence

RULE = "other-report"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 150
SEVERITY = "info"
SUMMARY = (
    "The kernel reported something other than a memory stall (an oops, a BUG, a WARNING outside mm/, a "
    "panic that is not the OOM killer's, a KASAN/KMSAN/KCSAN/UBSAN or lockdep report): names the report and "
    "the function it happened in, and a failure the kernel's fault injection forced on its task just before."
)
NEXT_STEPS: str | None = "the report's call trace and the lines printed just before it"
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = False

_REPORTS = ("oops", "atomic_bug", "bad_page", "kernel_warning", "kernel_panic", "sanitizer_report", "lockdep_report")
# Lines between two report headers of one report (an oops' BUG line, its Oops line, the panic).
_SAME_REPORT = 80
_MAX_REPORTS = 3
# A device's failure printed next to a report's header is what the report is about: the message
# of a WARNING comes before its "WARNING: CPU:" line on x86 ("NETDEV WATCHDOG: eth0 (r8169):
# transmit queue 0 timed out"), after it where WARN() is no trap (32-bit ARM), and machine-check
# lines come before the panic they cause. Lines before, lines after.
_CAUSE_REACH = (3, 2)
# Frames that raise or print a report, above the function it is about.
_RAISING = frozenset({"__warn", "warn_slowpath_fmt", "warn_slowpath_null", "report_bug", "do_trap", "do_error_trap",
                      "die", "__die", "oops_end", "panic", "bug_handler", "call_timer_fn", "do_page_fault",
                      "__do_kernel_fault", "do_translation_fault", "do_mem_abort", "el1_abort", "el1h_64_sync_handler",
                      "el1h_64_sync", "handle_exception", "no_context", "__bad_area_nosemaphore",
                      "bad_area_nosemaphore", "page_fault_oops", "kernelmode_fixup_or_oops", "exc_page_fault",
                      "asm_exc_page_fault", "do_user_addr_fault", "handle_page_fault", "die_kernel_fault",
                      # helpers whose job is to BUG() on a check another function failed
                      "skb_panic", "skb_over_panic", "skb_under_panic", "usercopy_abort", "fortify_panic",
                      "__fortify_panic", "__fortify_report"})

# The checkers' own reporting machinery (KASAN, KMSAN, KCSAN, UBSAN): above the function checked.
_CHECKER_PREFIXES = ("kasan_", "__kasan_", "__asan_", "__hwasan_", "kmsan_", "__msan_", "kcsan_", "__tsan_", "ubsan_",
                     "__ubsan_handle_", "print_address_description", "print_report", "report_tag_fault",
                     "do_tag_check_fault", "check_memory_region", "dump_stack", "show_stack")
# Library routines a checker catches in the act (copying, comparing, checksumming, list and
# lock primitives): the code that called them with the bad memory is the one the report is about.
_LIBRARY_PREFIXES = ("mem", "str", "crc", "__crc", "_copy_", "copy_", "__copy_", "__list_", "list_", "hex_dump",
                     "atomic_", "_atomic_", "__atomic_", "test_and_", "__test_and_", "_raw_spin", "_raw_read",
                     "_raw_write", "lock_acquire", "lock_release", "__lock_acquire", "do_raw_spin", "queued_spin",
                     "rhashtable_", "xas_", "stack_trace_", "aes_", "__wake_up", "kvfree", "kfree", "usb_submit_urb")
# Lines from a lockdep header to the first lock it names (the header, its rule, who tries).
_LOCK_REACH = 12
# Lines from a lockdep header to the end of its dependency chains and stack backtrace.
_CHAIN_REACH = 250
# Lines and seconds from a failure forced by fault injection ("FAULT_INJECTION: forcing a failure." /
# "name failslab, ...") to a report it may have caused: the error path runs at once, in the task
# the failure was forced on, and its report follows within a screenful of interleaved output.
_INJECTED_REACH = 200
_INJECTED_SECONDS = 5.0
# The faults that fail a memory allocation (lib/fault-inject.c attributes, mm/failslab.c, mm/page_alloc.c).
_ALLOCATION_FAULTS = frozenset({"failslab", "fail_page_alloc"})
# The reports that name the instruction they stopped at (a fault, a trap, a BUG): the register
# line's function is what they are about. (A WARNING names its function on its own line.)
_FAULTING = frozenset({"oops", "atomic_bug", "bad_page"})
_CHECKED_FUNCTION = re.compile(r"in ([A-Za-z_.$][A-Za-z0-9_.$]*)\+0x")


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    findings: list[Finding] = []
    for boot, reports in view.records_by_boot(*_REPORTS).items():
        if any(_not_memory(row) for _, row in reports):
            # What a report's lines are near (its CPU line, a device failure, an injected fault)
            # is looked up in its boot's own rows: the boot's view (a boot with such a report is rare).
            memory = boot in memory_boots(view)
            findings += [in_boot(finding, boot) for finding in _of_boot(view.boot_view(boot), memory)]
    return findings


def _of_boot(view: HostView, memory: bool) -> list[Finding]:
    """The findings of one boot's view (``memory``: whether the boot has a memory report)."""
    events = view.events
    reports = of_kind(view.rows, *_REPORTS)
    reports = reports[[_not_memory(row) for _, row in records(reports)]] if len(reports) else reports
    if reports.empty:
        return []
    claimed = view.report_stacks(reports.assign(event=reports.index))
    groups: list[list[tuple[int, object, int | None]]] = []
    for (index, row), stack in zip(records(reports), claimed, strict=True):
        line = int(row["line"])  # type: ignore[call-overload]
        if groups and groups[-1][-1][1] == row["source"] and line - _line(events, groups[-1][-1][0]) <= _SAME_REPORT:
            groups[-1].append((int(index), row["source"], stack))  # type: ignore[call-overload]
        else:
            groups.append([(int(index), row["source"], stack)])  # type: ignore[call-overload]
    return [_finding(view, group, memory) for group in groups[:_MAX_REPORTS]]


def _line(events: pd.DataFrame, index: int) -> int:
    return int(events.at[index, "line"])


def _not_memory(row: dict[str, object]) -> bool:
    """Reports the memory rules speak for are left to them: the OOM killer's panics, WARNINGs in mm/."""
    kind = row["kind"]
    if kind == "kernel_panic":
        reason = field(row, "reason") or ""  # type: ignore[arg-type]
        return not ("deadlocked on memory" in reason or "panic_on_oom" in reason or "Out of memory" in reason
                    or "hung_task" in reason or "softlockup" in reason or "LOCKUP" in reason)
    if kind == "kernel_warning":
        srcline = field(row, "srcline") or ""  # type: ignore[arg-type]
        return not srcline.startswith("mm/")
    return True


def _finding(view: HostView, group: list[tuple[int, object, int | None]], memory: bool) -> Finding:
    first = group[0][0]
    header = view.event_evidence(first)
    cause = _device_cause(view, first)
    evidence = [header] if cause is None else [cause, header]
    function, frame = _where(view, group)
    evidence += [e for e in frame if e not in evidence]
    evidence += [view.event_evidence(index) for index, _, _ in group[1:3]]
    task = _task(view, first)
    injected = _injected_fault(view, first, task)
    if injected is not None:
        evidence = [e for e in injected[1] if e not in evidence] + evidence
    what = header.text
    where = f" in {function}" if function and function not in what else ""
    beside = f", with \"{cause.text}\"" if cause is not None else ""
    lead = "Also in this log, " if memory else "Not a memory-allocation stall: "
    return Finding(
        rule=RULE,
        severity=Severity.INFO,
        title=f"{lead}{what}{where}{beside}",
        explanation=(
            f"The kernel printed \"{what}\"" + (f", in {function}" if function else "")
            + (f", while {task.comm}({task.pid}) ran" if task else "")
            + (f", next to a device's report of a failure: \"{cause.text}\"" if cause is not None else "") + ". "
            + ("It is a report of its own, next to the memory findings; it is not a stall of the page allocator."
               if memory else
               "Nothing in this log is a memory-allocation stall: this report is what the kernel says happened. "
               "Its call trace and the lines around it are where to look, not memory management.")
            + (injected[0] if injected is not None else "")
        ),
        evidence=evidence,
        tasks=[task] if task else [],
    )


def _injected_fault(view: HostView, event: int, task: TaskRef | None) -> tuple[str, list[Evidence]] | None:
    """The failure fault injection forced on the report's own task just before it (within
    _INJECTED_REACH lines and _INJECTED_SECONDS of its header, the nearest): what to say of it, and
    its lines. A panic is the end of an earlier report, not a report of its own: none."""
    if task is None or view.cell("events", event, "kind") == "kernel_panic":
        return None
    line = int(view.cell("events", event, "line"))
    source = view.cell("events", event, "source")
    named = of_kind(view.rows, "fault_injection_name")
    named = named[((named["source"] == source) & (named["line"] < line)
                   & (named["line"] >= line - _INJECTED_REACH)).to_numpy(dtype=bool, na_value=False)]
    if not len(named):
        return None
    index = int(named.index[-1])
    at, ts = view.cell("events", event, "ts"), named.at[index, "ts"]
    if at is not None and ts is not None and not pd.isna(at) and not pd.isna(ts) \
            and not 0 <= float(at) - float(ts) <= _INJECTED_SECONDS:
        return None
    if _task(view, index) != task:
        return None  # the failure was forced on another task (its "CPU: N PID: N Comm:" line says)
    name = str(field(dict(named.loc[index]), "name") or "")
    evidence = [view.event_evidence(index)]
    header = of_kind(view.rows, "fault_injection")
    header = header[((header["source"] == source) & (header["line"] == int(named.at[index, "line"]) - 1))
                    .to_numpy(dtype=bool, na_value=False)]
    if len(header):
        evidence.insert(0, view.event_evidence(int(header.index[0])))
    what = ("a memory allocation" if name in _ALLOCATION_FAULTS else "a call") + f" ({name})"
    return (f" Just before it, the kernel's fault injection forced {what} to fail "
            "(CONFIG_FAULT_INJECTION, as syzkaller uses it): a report right after an injected failure is often "
            "a bug in that failure's error path, in the task the failure was forced on; the failed call's stack "
            "follows the injection lines."), evidence


def _device_cause(view: HostView, event: int) -> Evidence | None:
    """The device failure (see device-error) printed within _CAUSE_REACH lines of a report's
    header, in its input: the nearest one (the one before on a tie)."""
    line = int(view.cell("events", event, "line"))
    source = view.cell("events", event, "source")
    near = of_kind(view.rows, *DEVICE_KINDS)
    before, after = _CAUSE_REACH
    near = near[((near["source"] == source) & (near["line"] != line) & (near["line"] >= line - before)
                 & (near["line"] <= line + after)).to_numpy(dtype=bool, na_value=False)]
    if not len(near):
        return None
    distance = [(abs(int(at) - line), int(at) > line) for at in near["line"].tolist()]
    return view.event_evidence(int(near.index[distance.index(min(distance))]))


def _where(view: HostView, group: list[tuple[int, object, int | None]]) -> tuple[str | None, list[Evidence]]:
    """The function a report is about, and the line that shows it: a WARNING names it; else the
    first frame of its trace that is not the machinery raising the report, with its caller."""
    stacks = stack_functions(view)
    for index, source, stack in group:
        fields = view.cell("events", index, "fields")
        if fields.get("fault_function") and str(view.cell("events", index, "kind")) in _FAULTING \
                and _own(fields["fault_function"]):
            return _fault_site(view, index, source, stack, stacks, fields)
    for index, source, stack in group:
        kind = str(view.cell("events", index, "kind"))
        fields = view.cell("events", index, "fields")
        if kind == "kernel_warning" and fields.get("function"):
            return str(fields["function"]), []
        if kind == "sanitizer_report":
            # "BUG: KASAN: use-after-free in snd_seq_queue_alloc+0x670/0x690": the checker names
            # the function that made the bad access (UBSAN names a source line: its trace then).
            named = _CHECKED_FUNCTION.match(str(fields.get("detail") or ""))
            if named:
                return _with_caller(view, index, source, stack, stacks, normalize_function(named.group(1)))
        if kind == "lockdep_report":
            taken = _lock_taken(view, index)
            if taken is not None:
                return taken
    for index, source, stack in group:
        if stack is None:
            continue
        functions = stacks.get(int(stack), [])
        own = [at for at, name in enumerate(functions) if _own(name)]
        if not own:
            continue
        names = [functions[at] for at in own[:2]]
        position = trace_after(view, source, int(view.cell("events", index, "line")) - 1, int(stack))
        text = names[0] + (f" (called from {names[1]})" if len(names) > 1 else "")
        return text, trace_frame_evidence(view, position, own[:2])
    return None, []


def _fault_site(view: HostView, index: int, source: object, stack: int | None, stacks: dict[int, list[str]],
                fields: dict[str, str]) -> tuple[str, list[Evidence]]:
    """Where an oops' CPU was, as its register line names it, with the line; a library routine
    caught in the act (memcpy, strlen) is named with its caller from the trace."""
    # (The line's own time is not kept: fields hold nothing the capture format changes.)
    line = Evidence(str(source), int(fields["fault_line"]), None, fields.get("fault_text") or "")
    function = normalize_function(fields["fault_function"])
    functions = stacks.get(int(stack), []) if stack is not None else []
    # arm64 and 32-bit ARM print the faulting function as the trace's first frame; x86 and
    # powerpc start the trace at its caller. The caller is the next own frame that is not a
    # library routine.
    start = functions.index(function) + 1 if function in functions else 0
    caller = next((at for at in range(start, len(functions)) if _own(functions[at]) and functions[at] != function
                   and not functions[at].startswith(_LIBRARY_PREFIXES)), None)
    if caller is None:
        return function, [line]
    position = trace_after(view, source, int(view.cell("events", index, "line")) - 1, int(stack))  # type: ignore[arg-type]
    return f"{function} (called from {functions[caller]})", [line, *trace_frame_evidence(view, position, [caller])]


def _with_caller(view: HostView, index: int, source: object, stack: int | None, stacks: dict[int, list[str]],
                 function: str) -> tuple[str, list[Evidence]]:
    """A checker's function, with the caller its trace shows when it is a library routine caught in
    the act (a KASAN report "in memcmp" is about the code that passed memcmp the freed buffer)."""
    functions = stacks.get(int(stack), []) if stack is not None else []
    if function not in functions or not function.startswith(_LIBRARY_PREFIXES):
        return function, []
    at = functions.index(function)
    caller = next((k for k in range(at + 1, len(functions))
                   if _own(functions[k]) and not functions[k].startswith(_LIBRARY_PREFIXES)), None)
    if caller is None:
        return function, []
    position = trace_after(view, source, int(view.cell("events", index, "line")) - 1, int(stack))  # type: ignore[arg-type]
    return f"{function} (called from {functions[caller]})", trace_frame_evidence(view, position, [at, caller])


def _lock_taken(view: HostView, report: int) -> tuple[str, list[Evidence]] | None:
    """The lock a lockdep report is about and where it was taken: the first lock it names ("...
    is trying to acquire lock:" / "... takes:" then " (sk_lock-AF_INET){+.+.}, at: [<...>]
    do_ip_setsockopt.isra.12+0x1d9/0x3210"), within _LOCK_REACH lines of its header."""
    line = int(view.cell("events", report, "line"))
    source = view.cell("events", report, "source")
    locks = of_kind(view.rows, "lockdep_lock")
    locks = locks[((locks["source"] == source) & (locks["line"] > line)
                   & (locks["line"] <= line + _LOCK_REACH)).to_numpy(dtype=bool, na_value=False)]
    for index, row in records(locks.head(1)):
        function, lock = field(row, "function"), field(row, "lock")
        if lock and lock.startswith("(") and lock.endswith(")"):
            lock = lock[1:-1]  # lockdep prints the class name in parentheses
        if not function:
            continue
        name = normalize_function(str(function))
        evidence = [view.event_evidence(int(index))]  # type: ignore[call-overload]
        caller = _caller_in_report(view, source, line, name)
        if caller is not None:
            name = f"{name} (called from {caller[0]})"
            evidence += caller[1]
        return (f"{name} (taking {lock})" if lock else name), evidence
    return None


def _caller_in_report(view: HostView, source: object, line: int, function: str) -> tuple[str, list[Evidence]] | None:
    """Who called ``function`` in the first trace of a lockdep report that shows it (the chain
    "-> #0" of the lock taken, or the stack backtrace): the frame below it that is not a locking
    or library routine."""
    traces = view.capture.traces
    if not len(traces):
        return None
    near = ((traces["source"] == source) & (traces["line"] > line)
            & (traces["line"] <= line + _CHAIN_REACH)).to_numpy(dtype=bool, na_value=False)
    stacks = stack_functions(view)
    for position in np.flatnonzero(near).tolist():
        stack = traces["stack"].iat[position]
        if stack is None or pd.isna(stack):
            continue
        functions = stacks.get(int(stack), [])
        if function not in functions:
            continue
        at = functions.index(function)
        below = next((k for k in range(at + 1, len(functions))
                      if _own(functions[k]) and not functions[k].startswith(_LIBRARY_PREFIXES)), None)
        if below is None:
            return None
        return functions[below], trace_frame_evidence(view, position, [at, below])
    return None


def _own(name: str) -> bool:
    """A frame of the code the report is about (not printing, raising or entering it)."""
    name = normalize_function(name)
    if name in _RAISING or name.startswith(_CHECKER_PREFIXES):
        return False
    cls = function_class(name)
    return cls is None or cls.role.value in ("helper", "wrapper", "allocator", "reclaim")


def _task(view: HostView, event: int) -> TaskRef | None:
    """The task the report's CPU line names (its "CPU: N PID: N Comm:" or <= 3.x "Pid: N, comm:" line)."""
    events = view.events
    line = int(view.cell("events", event, "line"))
    source = view.cell("events", event, "source")
    cpu = events[events["kind"].isin(("dump_cpu", "dump_pid")) & (events["source"] == source)
                 & (events["line"] >= line) & (events["line"] <= line + 30)]
    # A WARNING line names its task's pid: where two CPUs' reports interleave, the CPU line of
    # the other one may come first.
    fields = view.cell("events", event, "fields")
    own_pid = str(fields.get("pid") or "") if view.cell("events", event, "kind") == "kernel_warning" else ""
    if own_pid.isdigit() and len(own_pid) < 10 and len(cpu):
        cpu = cpu[(cpu["pid"] == int(own_pid)).to_numpy(dtype=bool, na_value=False)]
    for _, row in records(cpu.head(1)):
        comm, pid = row.get("comm"), row.get("pid")
        if isinstance(comm, str) and pid is not None and not pd.isna(pid):  # type: ignore[arg-type]
            return TaskRef(comm, int(pid))  # type: ignore[call-overload]
    return None
