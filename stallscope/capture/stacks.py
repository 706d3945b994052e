"""Reading call traces the way a kernel developer does: what each kernel function is, and where a task waits.

One table, :data:`FUNCTIONS`, says what a function is to someone reading a trace: the printing of
the trace itself, the scheduler, a sleeping primitive (named as its callers call it), the
wait-queue and debugging plumbing around them, a generic lock wrapper or waiting helper, a
thread's entry point, the allocator, reclaim. Kept as tables so that adding a kernel version's
names for the same thing is a one-line change.

:func:`wait_site` reads a sleeping task's trace with it: the primitive it sleeps in and the
function that called it ("down_read in rmap_walk_file"), and, when that caller is a generic
wrapper or helper, the first function past them ("wait_for_completion in __flush_work (from
p9_fd_close)"). Every rule that asks where a task waits uses it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from stallscope.capture.model import Capture

# Compiler clones of one function print as name.isra.N, name.constprop.N, name.part.N, name.cold.
_CLONE_SUFFIX = re.compile(r"(\.(isra|constprop|part|cold|llvm|lto_priv)(\.\d+)?)+$")


def normalize_function(name: str) -> str:
    """One name for every compiler clone of a function, and without 6.x ``__pfx_`` padding."""
    name = _CLONE_SUFFIX.sub("", name)
    return name[6:] if name.startswith("__pfx_") else name


class Role(Enum):
    """What a function is to someone reading a trace."""

    REPORTING = "reporting"  # prints the trace itself: dump_stack, show_stack, sched_show_task
    SCHEDULER = "scheduler"  # the context switch and the schedule*() entry points
    SLEEP = "sleep"  # a sleeping primitive: lock slow paths, completions, page and bit waits, ...
    PLUMBING = "plumbing"  # wait queues, timers, lockdep and irq tracing around a sleep
    WRAPPER = "wrapper"  # takes a sleeping lock for its caller: rtnl_lock, console_lock, xfs_ilock
    HELPER = "helper"  # waits for other work on its caller's behalf: __flush_work, kthread_stop
    ENTRY = "entry"  # where a thread's work comes from: kthread, a syscall, a page fault
    ALLOCATOR = "allocator"  # the page and slab allocators' entry points
    RECLAIM = "reclaim"  # page and slab reclaim


@dataclass(frozen=True, slots=True)
class FunctionClass:
    role: Role
    primitive: str | None = None  # a sleep's name as its callers call it (mutex_lock for __mutex_lock)
    kind: str | None = None  # what a sleep waits for: see SLEEP_KINDS


# What a sleeping primitive waits for. A task in a "blocked" kind depends on another task (a lock
# holder, the completer, the I/O, the journal, a grace period); "sleep" and "throttle" end by
# themselves (a timed sleep, reclaim's and writeback's back-offs).
SLEEP_KINDS = ("lock", "completion", "page", "bit", "io", "journal", "rcu", "sleep", "throttle")
BLOCKED_KINDS = frozenset({"lock", "completion", "page", "bit", "io", "journal", "rcu"})

# Sleeping primitives: (kind, the name callers use, the functions of its slow path across kernel
# versions). A trace shows the slow path innermost first; the outermost frame of it says which
# call the task made (down_read, not the rwsem_down_read_slowpath it ended in).
_SLEEPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # Sleeping locks.
    ("lock", "mutex_lock", ("mutex_lock", "mutex_lock_nested", "_mutex_lock_nest_lock", "mutex_lock_nest_lock",
                            "__mutex_lock", "__mutex_lock_common", "__mutex_lock_slowpath", "mutex_lock_io",
                            "mutex_lock_io_nested")),
    ("lock", "mutex_lock_killable", ("mutex_lock_killable", "mutex_lock_killable_nested",
                                     "__mutex_lock_killable_slowpath")),
    ("lock", "mutex_lock_interruptible", ("mutex_lock_interruptible", "mutex_lock_interruptible_nested",
                                          "__mutex_lock_interruptible_slowpath")),
    ("lock", "ww_mutex_lock", ("ww_mutex_lock", "ww_mutex_lock_interruptible", "__ww_mutex_lock",
                               "__ww_mutex_lock_slowpath", "__ww_mutex_lock_interruptible_slowpath",
                               "ww_mutex_lock_slow")),
    ("lock", "rt_mutex_lock", ("rt_mutex_lock", "rt_mutex_lock_nested", "__rt_mutex_lock", "rt_mutex_slowlock",
                               "__rt_mutex_slowlock", "__rt_mutex_slowlock_locked", "rt_mutex_slowlock_block",
                               "rt_mutex_lock_interruptible", "rt_mutex_lock_killable")),
    ("lock", "down_read", ("down_read", "down_read_nested", "down_read_non_owner", "__down_read",
                           "__down_read_common", "rwsem_down_read_failed", "call_rwsem_down_read_failed",
                           "__rwsem_down_read_failed_common", "rwsem_down_read_slowpath")),
    ("lock", "down_read_killable", ("down_read_killable", "down_read_killable_nested", "__down_read_killable",
                                    "rwsem_down_read_failed_killable", "call_rwsem_down_read_failed_killable")),
    ("lock", "down_read_interruptible", ("down_read_interruptible", "__down_read_interruptible")),
    ("lock", "down_write", ("down_write", "down_write_nested", "_down_write_nest_lock", "down_write_nest_lock",
                            "__down_write", "__down_write_common", "rwsem_down_write_failed",
                            "call_rwsem_down_write_failed", "__rwsem_down_write_failed_common",
                            "rwsem_down_write_slowpath")),
    ("lock", "down_write_killable", ("down_write_killable", "down_write_killable_nested", "__down_write_killable",
                                     "rwsem_down_write_failed_killable", "call_rwsem_down_write_failed_killable")),
    # Semaphores: every down*() variant sleeps in __down_common.
    ("lock", "down", ("down", "__down", "__down_common")),
    ("lock", "down_interruptible", ("down_interruptible", "__down_interruptible")),
    ("lock", "down_killable", ("down_killable", "__down_killable")),
    ("lock", "down_timeout", ("down_timeout", "__down_timeout")),
    # The tty line discipline semaphore; down_read_failed/down_write_failed are its own static slow
    # paths in drivers/tty/tty_ldsem.c (the rwsem ones are named rwsem_*).
    ("lock", "ldsem_down_read", ("ldsem_down_read", "down_read_failed")),
    ("lock", "ldsem_down_write", ("ldsem_down_write", "ldsem_down_write_nested", "down_write_failed")),
    # Per-cpu rw-semaphores: the freeze protection of sb_start_write, cgroup_threadgroup_rwsem, ...
    ("lock", "percpu_down_read", ("percpu_down_read", "__percpu_down_read", "percpu_rwsem_wait")),
    ("lock", "percpu_down_write", ("percpu_down_write",)),
    ("lock", "lock_page", ("lock_page", "__lock_page", "lock_page_killable", "__lock_page_killable",
                           "lock_page_or_retry", "__lock_page_or_retry")),
    ("lock", "folio_lock", ("folio_lock", "__folio_lock", "folio_lock_killable", "__folio_lock_killable",
                            "folio_lock_or_retry", "__folio_lock_or_retry")),
    ("lock", "lock_buffer", ("lock_buffer", "__lock_buffer")),
    ("lock", "wait_on_bit_lock", ("wait_on_bit_lock", "wait_on_bit_lock_io", "__wait_on_bit_lock",
                                  "out_of_line_wait_on_bit_lock")),
    # Completions: every variant sleeps in (__)wait_for_common.
    ("completion", "wait_for_completion", ("wait_for_completion", "wait_for_completion_state", "wait_for_common",
                                           "__wait_for_common", "do_wait_for_common")),
    ("completion", "wait_for_completion_timeout", ("wait_for_completion_timeout",)),
    ("completion", "wait_for_completion_io", ("wait_for_completion_io", "wait_for_common_io")),
    ("completion", "wait_for_completion_io_timeout", ("wait_for_completion_io_timeout",)),
    ("completion", "wait_for_completion_interruptible", ("wait_for_completion_interruptible",)),
    ("completion", "wait_for_completion_interruptible_timeout", ("wait_for_completion_interruptible_timeout",)),
    ("completion", "wait_for_completion_killable", ("wait_for_completion_killable",)),
    ("completion", "wait_for_completion_killable_timeout", ("wait_for_completion_killable_timeout",)),
    # Waits on a page's or folio's flags (locked, writeback): page cache reads and writeback.
    ("page", "wait_on_page_bit", ("wait_on_page_bit", "wait_on_page_bit_common", "wait_on_page_bit_killable")),
    ("page", "wait_on_page_locked", ("wait_on_page_locked", "wait_on_page_locked_killable")),
    ("page", "wait_on_page_writeback", ("wait_on_page_writeback",)),
    ("page", "folio_wait_bit", ("folio_wait_bit", "folio_wait_bit_common", "folio_wait_bit_killable")),
    ("page", "folio_wait_locked", ("folio_wait_locked", "folio_wait_locked_killable")),
    ("page", "folio_wait_writeback", ("folio_wait_writeback", "folio_wait_stable")),
    ("page", "migration_entry_wait", ("migration_entry_wait", "migration_entry_wait_on_locked",
                                      "__migration_entry_wait")),
    # Waits on a bit of a word (buffer heads, inode and journal state).
    ("bit", "wait_on_bit", ("wait_on_bit", "wait_on_bit_io", "wait_on_bit_timeout", "__wait_on_bit",
                            "out_of_line_wait_on_bit", "out_of_line_wait_on_bit_timeout", "bit_wait", "bit_wait_io",
                            "bit_wait_timeout", "bit_wait_io_timeout")),
    ("bit", "wait_on_buffer", ("wait_on_buffer", "__wait_on_buffer")),
    # Journal commits: a task that needs the journal waits for the commit thread.
    ("journal", "jbd2_log_wait_commit", ("jbd2_log_wait_commit",)),
    ("journal", "wait_transaction_locked", ("wait_transaction_locked",)),
    ("journal", "xfs_log_force", ("xfs_log_force", "_xfs_log_force", "xfs_log_force_lsn", "_xfs_log_force_lsn",
                                  "xfs_log_force_seq", "xlog_wait")),
    # RCU grace periods (synchronize_sched was its own flavour until 4.20).
    ("rcu", "synchronize_rcu", ("synchronize_rcu", "synchronize_rcu_normal", "__wait_rcu_gp", "wait_rcu_gp")),
    ("rcu", "synchronize_sched", ("synchronize_sched",)),
    ("rcu", "synchronize_rcu_bh", ("synchronize_rcu_bh",)),
    ("rcu", "synchronize_rcu_expedited", ("synchronize_rcu_expedited", "_synchronize_rcu_expedited",
                                          "synchronize_rcu_expedited_wait", "synchronize_rcu_expedited_wait_once")),
    ("rcu", "synchronize_sched_expedited", ("synchronize_sched_expedited", "synchronize_sched_expedited_wait")),
    ("rcu", "synchronize_srcu", ("synchronize_srcu", "__synchronize_srcu")),
    ("rcu", "synchronize_srcu_expedited", ("synchronize_srcu_expedited",)),
    ("rcu", "synchronize_rcu_tasks", ("synchronize_rcu_tasks", "synchronize_rcu_tasks_generic",
                                      "synchronize_rcu_tasks_rude", "synchronize_rcu_tasks_trace")),
    ("rcu", "rcu_barrier", ("rcu_barrier", "_rcu_barrier", "rcu_barrier_sched", "rcu_barrier_bh", "srcu_barrier",
                            "rcu_barrier_tasks")),
    ("rcu", "rcu_sync_enter", ("rcu_sync_enter",)),
    # Timed sleeps.
    ("sleep", "msleep", ("msleep",)),
    ("sleep", "msleep_interruptible", ("msleep_interruptible",)),
    ("sleep", "ssleep", ("ssleep",)),
    ("sleep", "usleep_range", ("usleep_range", "usleep_range_state")),
    ("sleep", "do_nanosleep", ("do_nanosleep",)),
    # Reclaim's and writeback's own back-offs (their names changed across kernels: congestion_wait
    # and wait_iff_congested in 4.x, reclaim_throttle in 5.16+). too_many_isolated is the loop
    # condition around the back-off: a task seen there loops in the throttle.
    ("throttle", "congestion_wait", ("congestion_wait",)),
    ("throttle", "wait_iff_congested", ("wait_iff_congested",)),
    ("throttle", "reclaim_throttle", ("reclaim_throttle", "consider_reclaim_throttle")),
    ("throttle", "throttle_direct_reclaim", ("throttle_direct_reclaim",)),
    ("throttle", "throttle_vm_writeout", ("throttle_vm_writeout",)),
    ("throttle", "too_many_isolated", ("too_many_isolated",)),
    ("throttle", "balance_dirty_pages", ("balance_dirty_pages", "balance_dirty_pages_ratelimited",
                                         "balance_dirty_pages_ratelimited_flags")),
)

# How the trace came to be printed: above the task's own frames, never where it is.
_REPORTING = (
    "dump_stack", "dump_stack_lvl", "__dump_stack", "show_stack", "show_stack_log_lvl", "show_trace_log_lvl",
    "dump_backtrace", "sched_show_task", "show_regs", "__show_regs", "unwind_backtrace", "c_backtrace",
    "nmi_cpu_backtrace", "nmi_trigger_cpumask_backtrace", "arch_trigger_cpumask_backtrace",
    # fault injection printing the stack of the call it makes fail (lib/fault-inject.c)
    "fail_dump", "should_fail", "should_fail_ex",
)

# The context switch and the scheduler's entry points: every sleeping task has them on top.
# __sched_text_start is the first symbol of the scheduler's text section: traces print __schedule
# under it when the symbol table places __schedule at the section's start.
_SCHEDULER = (
    "__switch_to", "__switch_to_asm", "cpu_switch_to", "context_switch", "__schedule", "__sched_text_start",
    "schedule", "__schedule_loop", "schedule_idle", "schedule_rtlock", "schedule_timeout",
    "schedule_timeout_uninterruptible", "schedule_timeout_killable", "schedule_timeout_interruptible",
    "schedule_timeout_idle", "schedule_preempt_disabled", "preempt_schedule", "preempt_schedule_common",
    "preempt_schedule_irq", "preempt_schedule_notrace", "_cond_resched", "__cond_resched", "__cond_resched_lock",
    "schedule_hrtimeout", "schedule_hrtimeout_range", "schedule_hrtimeout_range_clock", "freezable_schedule",
)
# io_schedule is the scheduler too, but it says the task waits for I/O (and counts as iowait).
_IO_SCHEDULER = ("io_schedule", "io_schedule_timeout")

# Around a sleep: wait queues, timers of timed sleeps, wakeups, lockdep, irq tracing and the
# sanitizers' hooks. Most come as unreliable "? " frames; some unwinders print them plainly.
_PLUMBING = (
    "autoremove_wake_function", "prepare_to_wait", "prepare_to_wait_event", "prepare_to_wait_exclusive",
    "finish_wait", "wait_woken", "add_wait_queue", "remove_wait_queue", "__wake_up", "wake_up_q",
    "wake_up_process", "try_to_wake_up", "init_wait_entry", "lock_timer_base", "try_to_del_timer_sync",
    "del_timer_sync", "__timer_delete_sync", "init_timer_key", "cascade", "ktime_get", "lock_acquire",
    "lock_release", "lock_downgrade", "mark_held_locks", "find_held_lock", "check_noncircular", "__might_sleep",
    "___might_sleep", "__might_resched", "debug_check_no_locks_freed", "print_irqtrace_events", "_raw_spin_lock",
    "_raw_spin_lock_irq", "_raw_spin_lock_irqsave", "_raw_spin_unlock", "_raw_spin_unlock_irq",
    "_raw_spin_unlock_irqrestore",
)
# Interrupt entry and tracing frames that land on top of a preempted or sleeping task.
_PLUMBING_PREFIXES = ("asm_", "sysvec_", "apic_", "smp_apic_", "irq_", "__sysvec_", "trace_hardirqs",
                      "__sanitizer_cov_", "kasan_", "__kasan_")

# Functions whose job is to take a sleeping lock for their caller: the lock is theirs to name
# (rtnl_lock: the RTNL mutex), the caller is who wanted it. A function named for a lock that
# calls a lock primitive is taken as one too (see is_lock_wrapper).
_WRAPPERS = (
    "rtnl_lock", "rtnl_lock_killable", "console_lock", "tty_lock", "tty_lock_slave", "tty_ldisc_lock",
    "tty_ldisc_lock_pair", "tty_ldisc_lock_pair_timeout", "tty_ldisc_ref_wait", "lock_sock", "lock_sock_nested",
    "__lock_sock", "inode_lock", "inode_lock_nested", "inode_lock_shared", "i_mmap_lock_read", "i_mmap_lock_write",
    "anon_vma_lock_read", "anon_vma_lock_write", "mmap_read_lock", "mmap_write_lock", "mmap_read_lock_killable",
    "mmap_write_lock_killable", "lock_rename", "lock_mount", "namespace_lock", "cgroup_lock",
    "cgroup_kn_lock_live", "cpus_read_lock", "get_online_cpus", "cpu_hotplug_begin", "mem_hotplug_begin",
    "device_lock", "__fdget_pos", "fdget_pos", "genl_lock", "nfnl_lock", "xfs_ilock", "xfs_buf_lock",
    "xfs_iflock", "__xfs_iflock", "xfs_ilock_data_map_shared", "xfs_ilock_attr_map_shared",
    # Freeze protection: sb_start_write and its callers take the superblock's per-cpu rwsem.
    "sb_start_write", "__sb_start_write", "sb_start_pagefault", "sb_start_intwrite", "mnt_want_write",
    "mnt_want_write_file", "file_start_write",
)

# Functions that wait for other work on their caller's behalf: flushing or cancelling work items,
# stopping a kthread, a synchronous USB transfer, writeback of a range, RCU through the network
# stack's synchronize_net. The caller past them is who needed the wait.
_HELPERS = (
    "flush_work", "__flush_work", "flush_delayed_work", "__cancel_work_timer", "__cancel_work_sync",
    "cancel_work_sync", "cancel_delayed_work_sync", "flush_workqueue", "__flush_workqueue", "drain_workqueue",
    "destroy_workqueue", "flush_scheduled_work", "kthread_stop", "kthread_stop_put", "kthread_park",
    "kthread_flush_work", "kthread_flush_worker", "kthread_cancel_work_sync", "kthread_cancel_delayed_work_sync",
    "synchronize_net", "usb_start_wait_urb", "usb_control_msg", "usb_bulk_msg", "usb_interrupt_msg",
    "usb_kill_urb", "usb_kill_anchored_urbs", "usb_wait_anchor_empty_timeout", "__filemap_fdatawait_range",
    "filemap_fdatawait_range", "filemap_fdatawait_range_keep_errors", "filemap_fdatawait_keep_errors",
    "filemap_fdatawait", "filemap_write_and_wait", "filemap_write_and_wait_range", "file_write_and_wait_range",
    "fdatawait_one_bdev", "wait_on_page_writeback_range", "submit_bio_wait", "blk_execute_rq",
    "blk_mq_freeze_queue_wait", "blk_mq_freeze_queue", "blk_freeze_queue", "call_usermodehelper_exec",
    # waits for the writeback work its caller queued (sync_inodes_sb, freeing a memory cgroup)
    "wb_wait_for_completion",
)

# Where a thread's work comes from: a guilty frame is never one of these or beyond them.
_ENTRIES = (
    "kthread", "ret_from_fork", "ret_from_fork_asm", "worker_thread", "rescuer_thread", "process_one_work",
    "do_syscall_64", "entry_SYSCALL64_slow_path", "entry_SYSCALL_64_after_hwframe", "entry_SYSCALL_64_fastpath",
    "page_fault", "asm_exc_page_fault", "exc_page_fault", "do_page_fault", "__do_page_fault",
)

# The page allocator and slab entry points: skipping them leaves the caller that allocates.
_ALLOCATORS = (
    "__alloc_pages", "__alloc_pages_nodemask", "__alloc_pages_slowpath", "__alloc_pages_direct_reclaim",
    "__alloc_pages_direct_compact", "__alloc_pages_may_oom", "__perform_reclaim", "alloc_pages",
    "alloc_pages_current", "alloc_pages_vma", "alloc_pages_mpol", "alloc_page_interleave", "__get_free_pages",
    "get_zeroed_page", "__page_cache_alloc", "filemap_alloc_folio", "__filemap_get_folio", "pagecache_get_page",
    "grab_cache_page_write_begin", "folio_alloc", "vma_alloc_folio", "__folio_alloc", "new_slab", "allocate_slab",
    "___slab_alloc", "__slab_alloc", "slab_alloc_node", "__kmalloc", "__kmalloc_node", "kmalloc_order",
    "kmalloc_large", "kmem_cache_alloc", "kmem_cache_alloc_node", "kmem_cache_alloc_trace", "kmem_cache_alloc_lru",
    "mempool_alloc", "mempool_alloc_slab", "mempool_kmalloc", "mempool_alloc_pages",
    # kmalloc's large and tracking paths of 4.x-6.x, and 6.10+'s _noprof names (allocation tagging)
    "alloc_kmem_pages", "alloc_kmem_pages_node", "kmalloc_order_trace", "__kmalloc_large_node", "kmalloc_trace",
    "__kmalloc_track_caller",
    "__kmalloc_node_track_caller", "kvmalloc_node", "__kvmalloc_node", "alloc_pages_exact",
    "__alloc_pages_noprof", "alloc_pages_noprof", "alloc_pages_mpol_noprof", "__kmalloc_noprof",
    "__kmalloc_node_noprof", "__kmalloc_cache_noprof", "kmalloc_trace_noprof", "kmalloc_large_noprof",
    "__kmalloc_large_node_noprof", "kmem_cache_alloc_noprof", "kmem_cache_alloc_node_noprof",
    "__kvmalloc_node_noprof", "folio_alloc_noprof", "__folio_alloc_noprof",
    # 6.15+'s frozen pages, and slab's per-CPU sheaves refilling from new slabs (6.18+)
    "__alloc_frozen_pages_noprof", "alloc_frozen_pages_noprof", "__alloc_frozen_pages", "alloc_slab_page",
    "refill_objects", "refill_sheaf", "__pcs_replace_empty_main",
    # vmalloc's own page allocation (its warn_alloc report comes from __vmalloc_area_node)
    "__vmalloc_area_node", "__vmalloc_node_range", "__vmalloc_node_range_noprof", "__vmalloc_node", "vmalloc",
    "vzalloc", "vm_area_alloc_pages",
    "kmem_alloc", "kmem_zone_alloc", "kmem_alloc_large", "kmem_realloc", "kmem_zalloc", "kmem_zone_zalloc",  # xfs
    "warn_alloc", "out_of_memory",
    # the allocators' fault-injection hooks (failslab, fail_page_alloc)
    "should_failslab", "__should_failslab", "should_fail_alloc_page", "__should_fail_alloc_page",
    "slab_pre_alloc_hook", "prepare_alloc_pages",
)

# Reclaim (names differ across kernel versions).
_RECLAIM = (
    "try_to_free_pages", "do_try_to_free_pages", "try_to_free_mem_cgroup_pages", "shrink_node",
    "shrink_node_memcg", "shrink_zone", "shrink_zone_memcg", "shrink_zones", "shrink_lruvec", "shrink_many",
    "shrink_one", "shrink_list", "shrink_inactive_list", "shrink_active_list", "shrink_page_list",
    "shrink_folio_list", "shrink_slab", "do_shrink_slab", "shrink_slab_memcg", "evict_folios",
    "try_to_shrink_lruvec", "lru_gen_shrink_lruvec", "balance_pgdat", "kswapd", "mem_cgroup_shrink_node",
    "pageout", "vmpressure", "vmpressure_prio",
)


def _table() -> dict[str, FunctionClass]:
    table: dict[str, FunctionClass] = {}

    def put(name: str, cls: FunctionClass) -> None:
        if name in table:
            raise ValueError(f"{name} is classed twice")  # one class per function: the tests build this
        table[name] = cls

    for role, names in ((Role.REPORTING, _REPORTING), (Role.SCHEDULER, _SCHEDULER), (Role.PLUMBING, _PLUMBING),
                        (Role.WRAPPER, _WRAPPERS), (Role.HELPER, _HELPERS), (Role.ENTRY, _ENTRIES),
                        (Role.ALLOCATOR, _ALLOCATORS), (Role.RECLAIM, _RECLAIM)):
        for name in names:
            put(name, FunctionClass(role))
    for name in _IO_SCHEDULER:
        put(name, FunctionClass(Role.SCHEDULER, name, "io"))
    for kind, primitive, names in _SLEEPS:
        for name in names:
            put(name, FunctionClass(Role.SLEEP, primitive, kind))
    return table


# The one table: function name (normalized) -> what it is.
FUNCTIONS: dict[str, FunctionClass] = _table()


def _of_role(*roles: Role) -> frozenset[str]:
    return frozenset(name for name, cls in FUNCTIONS.items() if cls.role in roles)


ALLOCATOR_FRAMES = _of_role(Role.ALLOCATOR)
RECLAIM_FRAMES = _of_role(Role.RECLAIM)
ENTRY_FRAMES = _of_role(Role.ENTRY)


def function_class(name: str) -> FunctionClass | None:
    """What a (normalized) function is, or None for the functions that do the task's own work."""
    found = FUNCTIONS.get(name)
    if found is None and name.startswith(_PLUMBING_PREFIXES):
        return _PLUMBING_CLASS
    return found


_PLUMBING_CLASS = FunctionClass(Role.PLUMBING)
# Words of a function name that name something other than a lock.
_NOT_LOCK_WORDS = frozenset({"block", "unblock", "clock", "unlock", "trylock", "deadlock", "livelock"})


def is_lock_wrapper(name: str) -> bool:
    """Whether a function that calls a sleeping lock is a lock wrapper: listed, or named for a lock
    (rtnl_lock, tty_ldisc_lock_pair_timeout, xfs_ilock: a word of its name ends in "lock")."""
    cls = FUNCTIONS.get(name)
    if cls is not None:
        return cls.role is Role.WRAPPER
    return any(word.endswith("lock") and word not in _NOT_LOCK_WORDS for word in name.split("_"))


def _generic(name: str) -> bool:
    """Frames that say nothing about where a task is by themselves."""
    cls = function_class(name)
    return cls is not None and cls.role in (Role.REPORTING, Role.SCHEDULER, Role.SLEEP, Role.PLUMBING)


@dataclass(frozen=True, slots=True)
class WaitSite:
    """Where a task's trace says it waits (see :func:`wait_site`)."""

    primitive: str | None  # the sleeping primitive as callers call it ("mutex_lock"), or io_schedule
    kind: str | None  # what the primitive waits for (SLEEP_KINDS)
    caller: str | None  # the function that called it; with no primitive, the one that called the scheduler
    origin: str | None  # past a generic wrapper or helper caller: the first function that is neither
    chain: tuple[str, ...]  # the caller and the wrappers or helpers past it, up to the origin included
    depth: int | None  # the caller's position in the functions read
    asleep: bool  # the trace begins in the scheduler or a sleeping primitive
    cut_after: str | None  # the trace ends before the frames the description needs: its last frame

    @property
    def blocked(self) -> bool:
        """Asleep on something another task must release or finish: a lock, a completion, a page,
        I/O, the journal, a grace period (not a timed sleep, not a reclaim back-off)."""
        if not self.asleep:
            return False
        if self.kind in BLOCKED_KINDS:
            return True
        # An open-coded lock (a wrapper that calls the scheduler itself, as __xfs_iflock did).
        return self.primitive is None and self.caller is not None and is_lock_wrapper(self.caller)

    def describe(self) -> str:
        """"down_read in rmap_walk_file", "wait_for_completion in __flush_work (from p9_fd_close)",
        "jbd2_log_wait_commit in jbd2_complete_transaction", "" when nothing is known."""
        if self.primitive and self.caller:
            where = f"{self.primitive} in {self.caller}"
        else:
            where = self.primitive or self.caller or ""
        return f"{where} (from {self.origin})" if where and self.origin else where

    def waiting(self) -> str:
        """The description in a sentence: "waiting in mutex_lock in rtnl_lock (from
        ipv6_sock_ac_close)"; a cut trace says so ("waiting in mutex_lock; its call trace is cut
        before the caller", "in the scheduler; its call trace is cut after schedule")."""
        where = self.describe()
        if self.cut_after is None:
            return f"waiting in {where}" if where else "(no call trace read)"
        if self.caller is None and where:
            return f"waiting in {where}; its call trace is cut before the caller"
        cut = f"its call trace is cut after {self.cut_after}"
        if where:
            return f"waiting in {where}; {cut}"
        return f"in the scheduler; {cut}" if self.asleep else cut


NO_WAIT_SITE = WaitSite(None, None, None, None, (), None, False, None)


def wait_site(functions: Sequence[str]) -> WaitSite:
    """Where a trace (normalized functions, innermost first, unreliable ones left out) waits.

    The frames that printed the trace, the scheduler and the plumbing around a sleep are skipped;
    the sleeping primitives under them are read as one call, named by the outermost of them as
    its callers call it (rwsem_down_read_slowpath, call_rwsem_down_read_failed, down_read: one
    down_read). The next frame is the caller. A caller that only wraps the lock (rtnl_lock) or
    waits on its caller's behalf (__flush_work) is followed past, to the origin; a thread's entry
    point ends the search. A trace that ends before the caller (or before the origin a generic
    caller needs) is cut: ``cut_after`` names its last frame.
    """
    count = len(functions)
    if not count:
        return NO_WAIT_SITE
    at = 0
    asleep = False
    sleep: FunctionClass | None = None
    io: str | None = None
    while at < count:
        cls = function_class(functions[at])
        if cls is None or cls.role not in (Role.REPORTING, Role.SCHEDULER, Role.SLEEP, Role.PLUMBING):
            break
        if cls.role is Role.SCHEDULER:
            asleep = True
            io = io or cls.primitive
        elif cls.role is Role.SLEEP:
            asleep = True
            sleep = cls  # the outermost one wins
        at += 1
    primitive, kind = (sleep.primitive, sleep.kind) if sleep else (io, "io" if io else None)
    if at == count:
        return WaitSite(primitive, kind, None, None, (), None, asleep, functions[-1])
    caller = functions[at]
    chain = [caller]
    origin: str | None = None
    cut_after: str | None = None
    if _passes_through(caller, kind):
        after = at + 1
        while after < count:
            name = functions[after]
            cls = function_class(name)
            after += 1
            if cls is not None and cls.role is Role.PLUMBING:
                continue
            if cls is not None and cls.role is Role.ENTRY:
                break
            chain.append(name)
            if not _passes_through(name, kind) and not (cls is not None and cls.role is Role.SLEEP):
                origin = name
                break
        else:
            cut_after = functions[-1]
    return WaitSite(primitive, kind, caller, origin, tuple(chain), at, asleep, cut_after)


def _passes_through(name: str, kind: str | None) -> bool:
    """Whether the search for who waits goes on past ``name``: a generic lock wrapper or helper."""
    cls = FUNCTIONS.get(name)
    if cls is not None:
        return cls.role in (Role.WRAPPER, Role.HELPER)
    return kind == "lock" and is_lock_wrapper(name)


def _is_helper(name: str) -> bool:
    cls = FUNCTIONS.get(name)
    return cls is not None and cls.role is Role.HELPER


def reliable_functions(frames: list[tuple[str, bool]]) -> list[str]:
    """Normalized function names of the frames the unwinder trusts (all, when it trusts none)."""
    trusted = [normalize_function(name) for name, reliable in frames if reliable]
    return trusted or [normalize_function(name) for name, _ in frames]


def first_meaningful(functions: Sequence[str]) -> str | None:
    """The first frame that is not reporting, scheduler, sleeping primitive or plumbing."""
    return next((name for name in functions if not _generic(name)), None)


# --- signatures: what a stalled task is stuck in, and who asked for the memory ----------------


def stuck_in(functions: list[str]) -> tuple[str | None, str | None]:
    """(wait, site): the innermost thing a trace waits in, and the frame that called it.

    ``congestion_wait`` called from ``shrink_inactive_list`` gives
    ("congestion_wait", "shrink_inactive_list"); a lock taken through a wrapper is named by the
    wrapper (``xfs_buf_lock``, called from ``_xfs_buf_find``), a bare I/O sleep by its caller. A
    trace that does not sleep gives its innermost meaningful frame and that frame's caller.
    """
    site = wait_site(functions)
    if site.asleep and site.caller is not None:
        if _passes_through(site.caller, site.kind) and not _is_helper(site.caller):
            return site.caller, _next_meaningful(functions, site.depth, site.caller)
        if site.primitive is not None and site.kind != "io":
            return site.primitive, site.caller
    wait: str | None = None
    for name in functions:
        if _generic(name):
            continue
        if wait is None:
            wait = name
        elif name != wait:  # unreliable frames often repeat the frame just inside
            return wait, name
    return wait, None


def _next_meaningful(functions: list[str], depth: int | None, name: str) -> str | None:
    start = 0 if depth is None else depth + 1
    return next((f for f in functions[start:] if not _generic(f) and f != name), None)


def guilty_frame(functions: list[str]) -> str | None:
    """The frame to blame: the caller that allocates, or (outside the allocator) who waits for the lock.

    Scheduler, sleep, reclaim and allocator frames are skipped; the search stops at the thread's
    entry (kthread, syscall, page fault), where nothing more specific is left.
    """
    allocating = any(f in ALLOCATOR_FRAMES for f in functions)
    if not allocating:
        site = wait_site(functions)
        if site.kind in BLOCKED_KINDS and site.kind != "io" and site.caller is not None:
            # A lock taken through its wrapper is named by the wrapper (xfs_buf_lock, rtnl_lock
            # say which lock); past a generic helper (__flush_work), by who needed the wait.
            if _is_helper(site.caller):
                return site.origin or site.caller
            return site.caller
    seen_allocator = False
    for name in functions:
        if name in ENTRY_FRAMES:
            return None
        if name in ALLOCATOR_FRAMES:
            seen_allocator = True
            continue
        if _generic(name) or name in RECLAIM_FRAMES:
            continue
        if allocating and not seen_allocator:
            continue  # frames inside reclaim/shrinkers, above the allocation
        return name
    return None


def describe(wait: str | None, site: str | None) -> str:
    if wait is None:
        return "(no trace)"
    return f"{site} <- {wait}" if site else wait


def signatures(capture: Capture) -> pd.DataFrame:
    """One row per printed trace with its signature and guilty frame (see capture.signatures)."""
    # The table lives in capture.signatures, which imports this module: import it at call time.
    from stallscope.capture.signatures import signatures as table

    return table(capture)
