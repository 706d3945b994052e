"""Reading call traces the way a kernel developer does: skip the generic frames, name the rest.

Kept as tables so that adding a kernel version's names for the same thing is a one-line change.
"""

from __future__ import annotations

import re
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


# Scheduler entry points: every sleeping task has them on top; they say nothing by themselves.
# (arm64, powerpc and riscv traces of a sleeping task start at the context switch itself.)
SCHEDULER_FRAMES = frozenset(
    {
        "__switch_to",
        "__schedule",
        "schedule",
        "schedule_timeout",
        "schedule_timeout_uninterruptible",
        "schedule_timeout_killable",
        "schedule_preempt_disabled",
        "preempt_schedule_common",
        "_cond_resched",
        "__cond_resched",
        "io_schedule",
        "io_schedule_timeout",
        "schedule_hrtimeout_range",
        "do_nanosleep",
    }
)

# Sleeping-lock and wait primitives: when a task's innermost meaningful frames are these, it is
# waiting for a lock (or for I/O) held or owed by someone else.
LOCK_WAIT_FRAMES = frozenset(
    {
        "__down",
        "__down_common",
        "down",
        "__down_read",
        "down_read",
        "down_read_nested",
        "down_write",
        "down_write_nested",
        "rwsem_down_read_failed",
        "rwsem_down_write_failed",
        "call_rwsem_down_read_failed",
        "call_rwsem_down_write_failed",
        "rwsem_down_read_slowpath",
        "rwsem_down_write_slowpath",
        "__mutex_lock",
        "__mutex_lock_slowpath",
        "mutex_lock",
        "mutex_lock_nested",
        "mutex_lock_killable",
        "percpu_rwsem_wait",
        "__percpu_down_read",
        "percpu_down_write",
        "rt_mutex_slowlock",
        "wait_for_completion",
        "wait_on_page_bit",
        "wait_on_page_bit_common",
        "folio_wait_bit_common",
        "__lock_page",
        "__folio_lock",
        "bit_wait_io",
        "__wait_on_bit",
        "__wait_on_bit_lock",
        "out_of_line_wait_on_bit",
        "__wait_on_buffer",
        "wait_on_buffer",
        "io_schedule",
        "io_schedule_timeout",
        # Filesystem locks that are the documented culprits of reclaim stalls.
        "xfs_buf_lock",
        "__xfs_iflock",
        "xfs_iflock",
        "xfs_ilock",
        "xfs_log_force",
        "jbd2_log_wait_commit",
        "wait_transaction_locked",
    }
)

# Frames that only move a task towards the wait: lock debugging, timers, wait-queue plumbing.
PLUMBING_FRAMES = frozenset(
    {
        "autoremove_wake_function",
        "prepare_to_wait",
        "prepare_to_wait_event",
        "finish_wait",
        "trace_hardirqs_on",
        "lock_timer_base",
        "__timer_delete_sync",
        "wake_up_process",
        "try_to_wake_up",
        "mark_held_locks",
        "wait_woken",
        "remove_wait_queue",
        "add_wait_queue",
    }
)


# Internal slow paths named as the lock call a reader recognises.
_LOCK_DISPLAY = {
    "__down": "down",
    "__down_common": "down",
    "rwsem_down_read_failed": "down_read",
    "call_rwsem_down_read_failed": "down_read",
    "rwsem_down_read_slowpath": "down_read",
    "__down_read": "down_read",
    "down_read_nested": "down_read",
    "rwsem_down_write_failed": "down_write",
    "call_rwsem_down_write_failed": "down_write",
    "rwsem_down_write_slowpath": "down_write",
    "down_write_nested": "down_write",
    "__mutex_lock": "mutex_lock",
    "__mutex_lock_slowpath": "mutex_lock",
    "mutex_lock_nested": "mutex_lock",
    "__percpu_down_read": "percpu_down_read",
    "percpu_rwsem_wait": "percpu_down_read",
}


def lock_display_name(function: str) -> str:
    return _LOCK_DISPLAY.get(function, function)


def reliable_functions(frames: list[tuple[str, bool]]) -> list[str]:
    """Normalized function names of the frames the unwinder trusts (all, when it trusts none)."""
    trusted = [normalize_function(name) for name, reliable in frames if reliable]
    return trusted or [normalize_function(name) for name, _ in frames]


def lock_wait(functions: list[str]) -> tuple[str, int] | None:
    """The lock/I/O wait a trace sits in: the outermost wait frame directly under the scheduler.

    Returns the function name and its depth. The outermost one is what a reader names
    (``xfs_buf_lock`` rather than ``__down_common``), because it says which lock.
    """
    found: tuple[str, int] | None = None
    for depth, name in enumerate(functions):
        if name in SCHEDULER_FRAMES and name not in LOCK_WAIT_FRAMES:
            continue
        if name in PLUMBING_FRAMES:
            continue
        if name in LOCK_WAIT_FRAMES:
            found = (name, depth)
            continue
        break
    return found


def first_meaningful(functions: list[str]) -> str | None:
    """The first frame that is not scheduler, lock-primitive or plumbing."""
    for name in functions:
        if name in SCHEDULER_FRAMES or name in LOCK_WAIT_FRAMES or name in PLUMBING_FRAMES:
            continue
        return name
    return None


# --- signatures: what a stalled task is stuck in, and who asked for the memory ----------------
# The page allocator and slab entry points: skipping them leaves the caller that allocates.
ALLOCATOR_FRAMES = frozenset(
    {
        "__alloc_pages",
        "__alloc_pages_nodemask",
        "__alloc_pages_slowpath",
        "__alloc_pages_direct_reclaim",
        "__alloc_pages_direct_compact",
        "__alloc_pages_may_oom",
        "__perform_reclaim",
        "alloc_pages",
        "alloc_pages_current",
        "alloc_pages_vma",
        "alloc_pages_mpol",
        "alloc_page_interleave",
        "__get_free_pages",
        "get_zeroed_page",
        "__page_cache_alloc",
        "filemap_alloc_folio",
        "__filemap_get_folio",
        "pagecache_get_page",
        "grab_cache_page_write_begin",
        "folio_alloc",
        "vma_alloc_folio",
        "__folio_alloc",
        "new_slab",
        "allocate_slab",
        "___slab_alloc",
        "__slab_alloc",
        "slab_alloc_node",
        "__kmalloc",
        "__kmalloc_node",
        "kmalloc_order",
        "kmalloc_large",
        "kmem_cache_alloc",
        "kmem_cache_alloc_node",
        "kmem_cache_alloc_trace",
        "kmem_cache_alloc_lru",
        "mempool_alloc",
        "kmem_alloc",  # xfs wrappers
        "kmem_zone_alloc",
        "kmem_alloc_large",
        "warn_alloc",
        "out_of_memory",
    }
)

# Reclaim, and the waits reclaim throttles itself with (names differ across kernel versions).
RECLAIM_FRAMES = frozenset(
    {
        "try_to_free_pages",
        "do_try_to_free_pages",
        "try_to_free_mem_cgroup_pages",
        "shrink_node",
        "shrink_node_memcg",
        "shrink_zone",
        "shrink_zone_memcg",
        "shrink_zones",
        "shrink_lruvec",
        "shrink_many",
        "shrink_one",
        "shrink_list",
        "shrink_inactive_list",
        "shrink_active_list",
        "shrink_page_list",
        "shrink_folio_list",
        "shrink_slab",
        "do_shrink_slab",
        "shrink_slab_memcg",
        "evict_folios",
        "try_to_shrink_lruvec",
        "lru_gen_shrink_lruvec",
        "balance_pgdat",
        "kswapd",
        "mem_cgroup_shrink_node",
        "pageout",
        "vmpressure",
        "vmpressure_prio",
    }
)
THROTTLE_FRAMES = frozenset(
    {"congestion_wait", "wait_iff_congested", "reclaim_throttle", "throttle_direct_reclaim",
     "too_many_isolated", "balance_dirty_pages"}
)
# Where a thread's work comes from: the guilty frame is never one of these or beyond them.
ENTRY_FRAMES = frozenset(
    {
        "kthread",
        "ret_from_fork",
        "worker_thread",
        "rescuer_thread",
        "process_one_work",
        "do_syscall_64",
        "entry_SYSCALL64_slow_path",
        "entry_SYSCALL_64_after_hwframe",
        "page_fault",
        "asm_exc_page_fault",
        "exc_page_fault",
        "do_page_fault",
        "__do_page_fault",
    }
)
# Timer and interrupt frames that land on top of a sleeping or preempted task's trace.
_NOISE_PREFIXES = ("asm_", "sysvec_", "apic_", "smp_apic_", "irq_", "__sysvec_", "trace_hardirqs")
_NOISE = frozenset({"lock_timer_base", "cascade", "wait_woken", "remove_wait_queue",
                    "init_timer_key", "ktime_get", "__switch_to", "_raw_spin_lock",
                    "_raw_spin_unlock", "__timer_delete_sync", "del_timer_sync",
                    "dump_stack", "dump_stack_lvl", "__dump_stack", "show_stack"})


_IO_SLEEP = frozenset({"io_schedule", "io_schedule_timeout"})


def _generic(name: str) -> bool:
    return (
        name in SCHEDULER_FRAMES
        or name in LOCK_WAIT_FRAMES
        or name in PLUMBING_FRAMES
        or name in _NOISE
        or name.startswith(_NOISE_PREFIXES)
    )


def stuck_in(functions: list[str]) -> tuple[str | None, str | None]:
    """(wait, site): the innermost thing a trace waits in, and the frame that called it.

    ``congestion_wait`` called from ``shrink_inactive_list`` gives
    ("congestion_wait", "shrink_inactive_list"); a lock wait names the lock's outermost primitive.
    """
    lock = lock_wait(functions)
    start = 0
    wait: str | None = None
    if lock is not None:
        # A bare I/O sleep is how congestion_wait and friends sleep: name the caller instead.
        wait = None if lock[0] in _IO_SLEEP else lock[0]
        start = lock[1] + 1
    for depth in range(start, len(functions)):
        name = functions[depth]
        if _generic(name):
            continue
        if wait is None:
            wait = name
            continue
        if name != wait:  # unreliable frames often repeat the frame just inside
            return wait, name
    return wait, None


def guilty_frame(functions: list[str]) -> str | None:
    """The frame to blame: the caller that allocates, or (outside the allocator) the lock waited for.

    Scheduler, lock, wait, reclaim and allocator frames are skipped; the search stops at the
    thread's entry (kthread, syscall, page fault), where nothing more specific is left.
    """
    allocating = any(f in ALLOCATOR_FRAMES for f in functions)
    if not allocating:
        lock = lock_wait(functions)
        if lock is not None and lock[0] not in _IO_SLEEP:
            after = first_meaningful(functions[lock[1] + 1 :])
            # A generic primitive (mutex_lock) says less than the function that took it.
            return lock[0] if lock[0] not in _GENERIC_LOCKS else after or lock[0]
    seen_allocator = False
    for name in functions:
        if name in ENTRY_FRAMES:
            return None
        if name in ALLOCATOR_FRAMES:
            seen_allocator = True
            continue
        if _generic(name) or name in RECLAIM_FRAMES or name in THROTTLE_FRAMES:
            continue
        if allocating and not seen_allocator:
            continue  # frames inside reclaim/shrinkers, above the allocation
        return name
    return None


_GENERIC_LOCKS = frozenset(
    {
        "__down", "__down_common", "down", "__down_read", "down_read", "down_read_nested",
        "down_write", "down_write_nested", "rwsem_down_read_failed", "rwsem_down_write_failed",
        "call_rwsem_down_read_failed", "call_rwsem_down_write_failed", "rwsem_down_read_slowpath",
        "rwsem_down_write_slowpath", "__mutex_lock", "__mutex_lock_slowpath", "mutex_lock",
        "mutex_lock_nested", "mutex_lock_killable", "rt_mutex_slowlock", "wait_for_completion",
    }
)


def describe(wait: str | None, site: str | None) -> str:
    if wait is None:
        return "(no trace)"
    return f"{site} <- {wait}" if site else wait


def signatures(capture: Capture) -> pd.DataFrame:
    """One row per printed trace with its signature and guilty frame (see capture.signatures)."""
    # The table lives in capture.signatures, which imports this module: import it at call time.
    from stallscope.capture.signatures import signatures as table

    return table(capture)
