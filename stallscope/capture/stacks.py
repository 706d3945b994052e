"""Reading call traces the way a kernel developer does: skip the generic frames, name the rest.

Kept as tables so that adding a kernel version's names for the same thing is a one-line change.
"""

from __future__ import annotations

import re

# Compiler clones of one function print as name.isra.N, name.constprop.N, name.part.N, name.cold.
_CLONE_SUFFIX = re.compile(r"(\.(isra|constprop|part|cold|llvm|lto_priv)(\.\d+)?)+$")


def normalize_function(name: str) -> str:
    """One name for every compiler clone of a function, and without 6.x ``__pfx_`` padding."""
    name = _CLONE_SUFFIX.sub("", name)
    return name[6:] if name.startswith("__pfx_") else name


# Scheduler entry points: every sleeping task has them on top; they say nothing by themselves.
SCHEDULER_FRAMES = frozenset(
    {
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
