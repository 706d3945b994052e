"""oom-livelock: tasks keep stalling while oom_count keeps rising.

out_of_memory() keeps being called but memory is not freed. oom_count counts calls, not kills:
if no kill is logged while it climbs, the callers cannot kill (e.g. !__GFP_FS allocations
return from the OOM path without selecting a victim); if kills are logged, the victims do not
release memory.
"""

from __future__ import annotations

import numpy as np

from stallscope.capture.model import timestamp
from stallscope.rules.base import Finding, HostView, Severity, in_boot
from stallscope.rules.common.oom_trend import (
    OOM_TRENDS,
    Trend,
    describe_phase,
    oom_trends,
    phase_evidence,
    stuck_tasks_sentence,
    with_slash_note,
)

RULE = "oom-livelock"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 50
SEVERITY = "critical"
SUMMARY = (
    "Tasks keep stalling while oom_count keeps rising: out_of_memory() is called but no memory is freed."
)
NEXT_STEPS: str | None = "whether a victim exists and exits (victim= and the dying tasks' traces)"
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (OOM_TRENDS,)
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.172, 0.088)

# Event kinds (grammars/oom.lark) that mean a process was chosen or killed.
KILL_KINDS = frozenset({"oom_kill_process", "oom_killed_process"})


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def _kills_between(view: HostView, boot: int, start: float | None, end: float | None) -> list[int]:
    """Event rows of the kills logged in ``boot`` between two times (each boot's clock starts again)."""
    rows = view.rows
    at = rows.positions(*KILL_KINDS)
    if not len(at) or start is None or end is None:
        return []
    ts = view.events["ts"].to_numpy(dtype="float64", na_value=np.nan)[at]
    at = at[(view.boot_column("events")[at] == boot) & (ts >= start) & (ts <= end)]
    # In log order (the table's index order), as the kinds' rows are read.
    return sorted(view.events.index[at].tolist())


def check(view: HostView) -> list[Finding]:
    findings = []
    for boot, trend in oom_trends(view).items():
        if trend is None or trend.latest is None or trend.latest.trend != "rising":
            continue
        finding = _finding(view, boot, trend)
        findings.append(in_boot(finding, boot))
    return findings


def _finding(view: HostView, boot: int, trend: Trend) -> Finding:
    latest = trend.phases[-1]
    first, last = latest.rows[0], latest.rows[-1]  # oom_count as printed, or derived
    calls = trend.counts[last] - trend.counts[first]
    start, end = (timestamp(view.cell("snapshots", row, "ts")) for row in (first, last))
    kills = _kills_between(view, boot, start, end)
    history = "; ".join(f"oom_count {describe_phase(view, p)}" for p in trend.phases)
    evidence = phase_evidence(view, trend.phases)
    if not len(kills):
        why = (
            f"No 'Killed process' / 'Kill process' line appears while it climbs by {calls}: the OOM "
            "killer is called but does not kill. Allocations without __GFP_FS (GFP_NOFS, GFP_NOIO) "
            "cannot invoke the OOM killer and keep retrying, and an existing OOM victim that is not "
            "exiting blocks the selection of a new one."
        )
    else:
        why = (
            f"{len(kills)} kill(s) are logged in this window, yet tasks keep stalling: the victims "
            "are not releasing memory (check whether they are stuck on a lock or in uninterruptible "
            "sleep)."
        )
        evidence += [view.event_evidence(int(i)) for i in kills[:3]]
    explanation = (
        f"{stuck_tasks_sentence(view, latest)} out_of_memory() kept being called ({history}). {why}"
    )
    explanation = with_slash_note(trend, explanation)
    return Finding(
        rule=RULE,
        severity=Severity.CRITICAL,
        title=(
            f"OOM livelock: out_of_memory() called {calls} more times while "
            f"{int(view.cell('snapshots', last, 'stalling'))} tasks keep stalling"
        ),
        explanation=explanation,
        evidence=evidence,
    )
