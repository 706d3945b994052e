"""seq-livelock: one allocation request of a task makes no progress across observations.

The same pid keeps the same seq while delay grows: the request that started at that seq is
still inside the page allocator's slow path, report after report.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np
import pandas as pd

from stallscope.rules.base import Finding, HostView, Severity, TaskRef, by_boot, in_boot
from stallscope.rules.common.seq_history import SEQ_HISTORY, stuck_requests

RULE = "seq-livelock"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 90
SEVERITY = "critical"
SUMMARY = (
    "The same allocation request of a task (same seq) is reported again with a larger delay: it made "
    "no progress between reports."
)
NEXT_STEPS: str | None = None
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (SEQ_HISTORY,)
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.251, 0.0)
_NAMED = 8
_MAX_EVIDENCE = 12  # evidence of the first _MAX_EVIDENCE // 2 named requests (fewer than _NAMED)


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


# What a finding reads of a stuck request (a row of stuck_requests).
_Request = namedtuple("_Request", "first last comm pid seq")


def check(view: HostView) -> list[Finding]:
    stuck = stuck_requests(view)
    if stuck.empty:
        return []
    # The columns read and the growths once for every boot (a boot's table cut, sorted and made
    # tuples by pandas cost a millisecond or two); a request made a tuple only where named.
    columns = _Request(*(stuck[name].tolist() for name in _Request._fields))  # a list per field
    growth = (stuck["delay_last"].astype("int64") - stuck["delay_first"].astype("int64")).to_numpy()
    # The requests of each boot (a request is of one boot: the boot is part of its task).
    return [in_boot(_finding(view, columns, positions, growth[positions]), boot)
            for boot, positions in by_boot(view.boots_of("tasks", stuck["first"].to_numpy())).items()]


def _finding(view: HostView, columns: Any, positions: np.ndarray, growth: np.ndarray) -> Finding:
    """The finding of one boot's stuck requests (``positions`` in ``columns``, the _Request
    columns of stuck_requests) and the growth of each one's delay."""
    # Worst first (the largest growth of the delay; ties in log order).
    order = np.argsort(-growth, kind="stable")
    ranked = positions[order].tolist()
    named = [_Request(*(column[at] for column in columns)) for at in ranked[:_NAMED]]
    worst = named[0]
    count = len(ranked)
    names = ", ".join(
        f"{r.comm}({r.pid}) " + (f"seq={int(r.seq)}" if pd.notna(r.seq) else "no seq printed")
        for r in named
    )
    more = f" and {count - _NAMED} more" if count > _NAMED else ""
    evidence = []
    for row in named[:_MAX_EVIDENCE // 2]:
        evidence += [view.task_evidence(int(row.first)), view.task_evidence(int(row.last))]
    # Distinct (comm, pid) first: a long capture has tens of thousands of stuck requests.
    pairs = dict.fromkeys((str(columns.comm[at]), int(columns.pid[at])) for at in ranked)
    tasks = [TaskRef(comm, pid) for comm, pid in pairs]
    return Finding(
        rule=RULE,
        severity=Severity.CRITICAL,
        title=(
            f"{count} allocation request(s) made no progress: same request while delay grows "
            f"(worst {worst.comm}({worst.pid}), +{int(growth[order[0]])} jiffies)"
        ),
        explanation=(
            f"These tasks were reported again with the same allocation request and a larger delay "
            f"(the same seq; where the watchdog printed no seq, a delay that only grew): "
            f"{names}{more}. The request never completed "
            "between watchdog scans, so the allocator is not making progress for them (a "
            "livelock or an indefinite wait inside __alloc_pages_slowpath), not merely slow. "
            "Their call traces show where each request waits."
        ),
        evidence=evidence,
        tasks=tasks,
    )
