"""Diagnosis rules: one module per rule, each with ``RULE`` and ``check(view) -> [Finding]``."""

from __future__ import annotations

from stallscope.rules import (
    kswapd_lock_wait,
    oom_livelock,
    oom_plateau,
    seq_livelock,
    slow_progress,
)
from stallscope.rules.base import Rule

ALL_RULES: tuple[Rule, ...] = (
    oom_plateau,  # type: ignore[list-item]
    oom_livelock,  # type: ignore[list-item]
    seq_livelock,  # type: ignore[list-item]
    slow_progress,  # type: ignore[list-item]
    kswapd_lock_wait,  # type: ignore[list-item]
)
