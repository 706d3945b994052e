"""Diagnosis rules: one module per rule, each with ``RULE`` and ``check(view) -> [Finding]``."""

from __future__ import annotations

from stallscope.rules import (
    allocation_failure,
    cpu_lockup,
    fs_reclaim_dependency,
    hung_task,
    kswapd_lock_wait,
    lock_owner_cycle,
    oom_kill,
    oom_livelock,
    oom_plateau,
    reclaim_throttle,
    rescuer_stuck,
    seq_livelock,
    slow_progress,
    thp_fragmentation,
    victim_stuck,
    warn_alloc_stall,
    workqueue_lockup,
)
from stallscope.rules.base import Rule

ALL_RULES: tuple[Rule, ...] = (
    oom_plateau,  # type: ignore[list-item]
    oom_livelock,  # type: ignore[list-item]
    seq_livelock,  # type: ignore[list-item]
    slow_progress,  # type: ignore[list-item]
    kswapd_lock_wait,  # type: ignore[list-item]
    fs_reclaim_dependency,  # type: ignore[list-item]
    reclaim_throttle,  # type: ignore[list-item]
    rescuer_stuck,  # type: ignore[list-item]
    thp_fragmentation,  # type: ignore[list-item]
    victim_stuck,  # type: ignore[list-item]
    hung_task,  # type: ignore[list-item]
    warn_alloc_stall,  # type: ignore[list-item]
    allocation_failure,  # type: ignore[list-item]
    workqueue_lockup,  # type: ignore[list-item]
    lock_owner_cycle,  # type: ignore[list-item]
    oom_kill,  # type: ignore[list-item]
    cpu_lockup,  # type: ignore[list-item]
)
