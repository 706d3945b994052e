"""Every line kind: a start symbol of ``grammars/*.lark``, the grammar file it is in, and what a
line of that kind is to the reading pipeline (its role).

This is the one table of line kinds. The parser tries the kinds in the order of the table (the
first grammar that accepts a line's shape decides its kind); the builder, the fast path and the
events table derive every set of kinds they need from the roles below. Adding a line kind is
adding its rule to a grammar and one row here. The fields of each event kind are documented in
:mod:`stallscope.capture.events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

# Roles: what a line of a kind does to the blocks being read.
WATCHDOG = "watchdog"  # the watchdog's own lines (MemAlloc-Info, MemAlloc: a task of its report)
TASK_STATE = "task state"  # a task's state line ("task:kswapd0 state:D ...", "kswapd0 D ..."): opens a task
WORKER = "worker"  # "Workqueue: events vmstat_update": the work a worker task runs, before its trace
STACK_WORDS = "stack words"  # raw stack contents printed before a trace: counted, nothing else
TRACE_HEADER = "trace header"  # "Call Trace:": a trace starts
FRAME = "frame"  # one function of a trace
TRACE_BODY = "trace body"  # markers (<IRQ>, <EOI>) and bare addresses inside a trace
REGISTER = "register"  # register, stack and code dumps: part of a trace, never its start
TRACE_REFERENCE = "trace reference"  # "<Same stack as pid 30>": the trace is another task's, printed before
EVENT = "event"  # a row of the events table
EVENT_WITH_TRACE = "event with trace"  # a row of the events table that owns the trace after it
REPORT_DETAIL = "report detail"  # lines of a crash report that are not its header (#PF:, page dumps)
REPORT_END = "report end"  # "cut here", "end trace", what follows a panic: closes what is open


@dataclass(frozen=True, slots=True)
class LineKind:
    start: str  # the grammar's start symbol, and the kind's name everywhere
    grammar: str  # grammars/<grammar>.lark
    role: str


def _kinds(grammar: str, role: str, *starts: str) -> list[LineKind]:
    return [LineKind(start, grammar, role) for start in starts]


# In the order the parser tries them. Kinds that share a leading literal sit in one grammar; the
# broad ones (a leading comm, "name:value" counters) come last so that a specific kind is never
# shadowed.
KINDS: tuple[LineKind, ...] = (
    *_kinds("memalloc", WATCHDOG, "memalloc_info", "memalloc_task", "memalloc_inflight"),
    *_kinds("task_state", TASK_STATE, "task_state_new"),
    *_kinds("call_trace", TRACE_HEADER, "call_trace"),
    *_kinds("call_trace", FRAME, "frame"),
    *_kinds("call_trace", TRACE_BODY, "trace_marker", "frame_address"),
    *_kinds("call_trace", WORKER, "workqueue"),
    *_kinds("call_trace", REGISTER, "rip", "code_bytes", "registers"),
    *_kinds("call_trace", TRACE_REFERENCE, "same_stack"),
    # Before the reports: a register line of zeros ("x3 : 0000000000000000 x2 : 0000000000000000")
    # has the shape of a Mem-Info counter line ("x0 : 0 x0 : 0").
    *_kinds("registers", REGISTER, "arch_registers", "ppc_registers", "fault_location", "memory_dump",
            "instruction_dump"),
    # Hung tasks: a blocker's trace is that of the likely lock owner.
    *_kinds("hung_task", EVENT_WITH_TRACE, "hung_task", "hung_task_blocker"),
    *_kinds("hung_task", EVENT, "hung_task_hint"),
    *_kinds("warn_alloc", EVENT_WITH_TRACE, "warn_alloc_stall", "warn_alloc_failure", "vmalloc_failure"),
    *_kinds("warn_alloc", EVENT, "cma_alloc_failure", "ratelimit_suppressed", "xfs_alloc_retry"),
    *_kinds("warn_alloc", REPORT_DETAIL, "cma_available"),
    *_kinds("slab", EVENT, "slub_alloc_failure", "slub_cache", "slub_debug_order", "slub_node"),
    *_kinds("oom", EVENT_WITH_TRACE, "oom_invoke"),
    *_kinds("oom", EVENT, "oom_kill_process", "oom_killed_process", "oom_no_killable", "oom_kill_summary",
            "oom_reaper_reaped", "oom_reaper_unable", "oom_tasks_header", "oom_task_row", "oom_memcg_usage",
            "oom_memcg_stats", "oom_memcg_task"),
    *_kinds("workqueue", EVENT, "wq_lockup", "wq_show_busy", "wq_show_backtraces", "wq_workqueue", "wq_pwq",
            "wq_in_flight", "wq_pending", "wq_pool"),
    *_kinds("lockdep", EVENT, "lockdep_all_header", "lockdep_held_header", "lockdep_held", "lockdep_end"),
    *_kinds("lockdep", EVENT_WITH_TRACE, "lockdep_report"),
    *_kinds("lockdep", EVENT, "lockdep_lock"),
    *_kinds("lockdep", REPORT_DETAIL, "lockdep_detail"),
    *_kinds("lockup", EVENT_WITH_TRACE, "soft_lockup", "hard_lockup", "rcu_stall"),
    *_kinds("lockup", EVENT, "rcu_stall_cpu", "rcu_stall_gp", "rcu_kthread_starved", "rcu_stall_note"),
    *_kinds("lockup", EVENT_WITH_TRACE, "rcu_stall_dump", "nmi_backtrace"),
    *_kinds("lockup", EVENT, "nmi_request", "nmi_handler_slow"),
    *_kinds("lockup", EVENT_WITH_TRACE, "spinlock_lockup"),
    *_kinds("sysrq", EVENT, "sysrq"),
    # The stack of the allocation fault injection made fail follows its name line.
    *_kinds("fault_inject", EVENT, "fault_injection"),
    *_kinds("fault_inject", EVENT_WITH_TRACE, "fault_injection_name"),
    *_kinds("dump_header", EVENT, "dump_cpu", "dump_pid", "dump_taint", "dump_taint_legend", "dump_hardware",
            "dump_modules", "dump_cpuset"),
    *_kinds("meminfo", EVENT, "meminfo_header", "meminfo_node", "meminfo_zone", "meminfo_buddy",
            "meminfo_lowmem_reserve", "meminfo_hugepages", "meminfo_pagecache", "meminfo_pages",
            "meminfo_swap_cache", "meminfo_swap", "meminfo_pcp_zone", "meminfo_pcp", "meminfo_slab_header",
            "meminfo_slab", "meminfo_counters"),
    *_kinds("oops", EVENT_WITH_TRACE, "oops", "kernel_warning", "kernel_panic", "atomic_bug", "sanitizer_report"),
    *_kinds("page", EVENT_WITH_TRACE, "bad_page"),
    *_kinds("oom", EVENT, "oom_memcg_stat"),
    *_kinds("oops", REPORT_END, "oops_cut", "oops_end"),
    *_kinds("oops", REPORT_DETAIL, "oops_fault", "oops_task"),
    *_kinds("oops", REPORT_END, "oops_epilogue"),
    *_kinds("oops", REPORT_DETAIL, "oops_context", "sanitizer_detail", "check_message"),
    *_kinds("page", REPORT_DETAIL, "page_dump"),
    # Late: a driver's message reads like many things ("DRIVER DEVICE: ..."); the XFS report
    # prints its trace (xfs_corruption_error) after the line.
    *_kinds("device", EVENT, "device_error", "ata_error", "block_error"),
    *_kinds("device", EVENT_WITH_TRACE, "fs_error"),
    *_kinds("device", EVENT, "netdev_watchdog", "machine_check", "drm_error", "nfs_error"),
    *_kinds("task_state", TASK_STATE, "task_state_old"),
    *_kinds("call_trace", STACK_WORDS, "stack_words"),
)


def of_roles(*roles: str) -> frozenset[str]:
    """The kinds whose role is one of ``roles``."""
    return frozenset(kind.start for kind in KINDS if kind.role in roles)


ROLE: dict[str, str] = {kind.start: kind.role for kind in KINDS}
# (grammar file, start symbols) in the order a shape is tried: consecutive kinds of one grammar
# are offered to it together.
GRAMMAR_ORDER: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (grammar, tuple(kind.start for kind in group)) for grammar, group in groupby(KINDS, key=lambda k: k.grammar)
)
EVENT_KINDS = of_roles(EVENT, EVENT_WITH_TRACE)
# Event kinds whose report goes on with a call trace (dump_stack / sched_show_task) that belongs to
# the event.
EVENT_KINDS_WITH_TRACE = of_roles(EVENT_WITH_TRACE)
REGISTER_KINDS = of_roles(REGISTER)
TRACE_BODY_KINDS = of_roles(FRAME, TRACE_BODY, REGISTER)
# What may come between a task's state line and its trace without ending the task.
TASK_PREAMBLE_KINDS = of_roles(TASK_STATE, WORKER, STACK_WORDS)
STATE_KINDS = of_roles(TASK_STATE)
# Kinds the builder only counts: they neither end nor start a block.
NOOP_KINDS = of_roles(STACK_WORDS)
REPORT_END_KINDS = of_roles(REPORT_END)
