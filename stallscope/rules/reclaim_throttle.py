"""reclaim-throttle: direct reclaimers sleep in reclaim's own throttles instead of reclaiming.

Reclaim throttles itself when too many pages are isolated from the LRU lists or too many are
under writeback; the names of those waits changed across kernels (congestion_wait and
wait_iff_congested in 4.x, reclaim_throttle in 5.16+). If the tasks that could put the pages
back (kswapd, writeback workers) are stuck too, the throttled tasks loop forever: the
too_many_isolated() livelock, which never reaches the OOM killer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from stallscope.capture.events import tuples
from stallscope.capture.stacks import RECLAIM_FRAMES, WaitSite
from stallscope.capture.trajectories import comm_ranks
from stallscope.rules.base import Evidence, Finding, HostView, Severity, in_boot
from stallscope.rules.common.task_facts import (
    GFP_NAMES,
    gfp_names_of,
    is_kswapd,
    label,
    latest_tasks,
    stack_trace,
    task_and_frames,
    task_ref,
    task_stacks_of,
    traces_where,
    trajectories_view,
)

RULE = "reclaim-throttle"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 60
SEVERITY = "warning / critical"
SUMMARY = (
    "Direct reclaimers sleep in reclaim's own throttles (too_many_isolated, congestion_wait, "
    "throttle_vm_writeout, reclaim_throttle) instead of reclaiming."
)
NEXT_STEPS: str | None = (
    "Mem-Info (isolated and writeback pages) and what kswapd and the writeback workers are doing"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (GFP_NAMES,)
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.038, 0.004)
MAX_CITED = 6

# What each throttle means, by (wait, caller); None matches any caller.
MEANING: dict[tuple[str, str | None], str] = {
    ("congestion_wait", "shrink_inactive_list"): (
        "the too_many_isolated() loop: more pages are isolated from the LRU than are left on it, "
        "so the task sleeps and checks again, for as long as whoever isolated them cannot finish"
    ),
    ("too_many_isolated", None): (
        "the too_many_isolated() loop: more pages are isolated from the LRU than are left on it"
    ),
    ("wait_iff_congested", None): (
        "the congestion back-off after a reclaim pass that found pages under writeback"
    ),
    ("congestion_wait", None): "a congestion back-off inside reclaim",
    ("reclaim_throttle", None): (
        "reclaim_throttle(): direct reclaim waits for writeback to progress or for isolated pages "
        "to return to the LRU"
    ),
    ("throttle_direct_reclaim", None): "the pfmemalloc throttle, waiting for kswapd to refill reserves",
}
DIRECT_RECLAIM = frozenset({"try_to_free_pages", "do_try_to_free_pages", "__perform_reclaim"})
LRU_SCAN = ("shrink_inactive_list", "shrink_lruvec", "shrink_folio_list", "shrink_page_list",
            "shrink_active_list", "shrink_node", "shrink_zone")


def throttle_of(site: WaitSite, functions: list[str]) -> tuple[str, str] | None:
    """(throttle, its caller) when a trace (its wait site and functions) sleeps or loops in a
    throttle called from reclaim."""
    if site.kind != "throttle" or site.primitive is None or site.depth is None:
        return None
    # The throttle's caller, or reclaim just past it (reclaim_throttle from a helper of shrink_node).
    callers = [f for f in functions[site.depth : site.depth + 3] if f != site.primitive]
    caller = next((f for f in callers if f in RECLAIM_FRAMES), None)
    return (site.primitive, caller) if caller is not None else None


def meaning(wait: str, caller: str) -> str:
    return MEANING.get((wait, caller)) or MEANING.get((wait, None), "a reclaim throttle")


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


@dataclass(slots=True)
class _Boot:
    """What one boot's latest task rows show, in log order."""

    throttled: list[tuple[int, str, str]] = field(default_factory=list)
    scanning: list[tuple[int, str]] = field(default_factory=list)
    kswapd: list[tuple[int, str, str]] = field(default_factory=list)
    looping: list[str] = field(default_factory=list)


def check(view: HostView) -> list[Finding]:
    tasks = latest_tasks(view)  # each task of each boot
    gfp = gfp_names_of(view)
    boots: dict[int, _Boot] = {}
    kswapd = [is_kswapd(comm) for comm in tasks["comm"].astype(object).tolist()]
    # What a trace says (its stack; -1: none), for kswapd or another task: once per stack, which
    # many task rows of a long capture share.
    said: dict[tuple[int, bool], tuple[str, tuple[str, ...]] | None] = {}
    for task, boot, stack, of_kswapd in zip(tasks.index.tolist(), view.boots_of("tasks", tasks.index).tolist(),
                                            task_stacks_of(view, tasks.index).tolist(), kswapd, strict=True):
        key = (stack, of_kswapd)
        if key not in said:
            said[key] = _reclaim_of(view, stack, of_kswapd)
        found = said[key]
        if found is None:
            continue
        role, values = found
        seen = boots.setdefault(boot, _Boot())
        (seen.kswapd if role == "kswapd" else seen.throttled if role == "throttled" else seen.scanning).append(
            (task, *values))  # type: ignore[arg-type]
    for boot, looping in _same_seq_in_lru(view).items():
        boots.setdefault(boot, _Boot()).looping = looping
    findings = []
    for boot, seen in sorted(boots.items()):
        if seen.throttled or seen.looping:
            finding = _finding(view, seen.throttled, seen.scanning, seen.kswapd, seen.looping, gfp)
            findings.append(in_boot(finding, boot))
    return findings


def _reclaim_of(view: HostView, stack: int, kswapd: bool) -> tuple[str, tuple[str, ...]] | None:
    """What a task's trace (its stack; -1: none) says of reclaim: kswapd in a throttle, a direct
    reclaimer throttled (throttle, caller) or scanning the LRU (where), else None."""
    functions, site = stack_trace(view, stack)
    found = throttle_of(site, functions)
    if kswapd:
        return ("kswapd", found) if found else None
    if not DIRECT_RECLAIM & set(functions):
        return None
    if found:
        return "throttled", found
    where = next((f for f in functions if f in LRU_SCAN), None)
    return ("scanning", (where,)) if where else None


def _same_seq_in_lru(view: HostView) -> dict[int, list[str]]:
    """Per boot, tasks that kept one seq across reports while every trace stayed in shrink_inactive_list."""
    out: dict[int, list[str]] = {}
    # Per task (boot, comm, pid), grouped in one pass: whether every row's trace is in
    # shrink_inactive_list (a row without a trace is not).
    rows = view.tasks
    inside = traces_where(view, lambda fs: "shrink_inactive_list" in fs)
    if not len(rows) or not inside.any():
        return out  # no trace there: no trajectory to derive (a boot's view pays for it otherwise)
    traj = trajectories_view(view)
    # Only a livelocked or blocked task can be one (a tuple of every task's 26 columns cost a
    # millisecond or two a boot).
    kinds = traj["kind"].tolist()
    candidates = [at for at, kind in enumerate(kinds) if kind in ("livelocked", "blocked")]
    if not candidates:
        return out
    flags = pd.Series(inside, index=rows.index)
    # Grouped by the comm's rank, named afterwards: one name per task, not one per row.
    ranks, names = comm_ranks(rows)
    named = pd.Series(ranks, index=rows.index).where(ranks < len(names))  # a missing comm: no task
    boot = pd.Series(view.boot_column("tasks"), index=rows.index)
    every = flags.groupby([boot, named, rows["pid"]], observed=True).all()
    looping = {(int(boot), names[int(rank)], pid): value
               for (boot, rank, pid), value in zip(every.index, every.to_numpy().tolist(), strict=True)}
    chosen = traj.iloc[candidates]
    for t, boot in zip(tuples(chosen, index=False),
                       view.boots_of("tasks", chosen["first_task"].to_numpy(dtype="int64")).tolist(), strict=True):
        if looping.get((boot, t.comm, t.pid), False):
            out.setdefault(boot, []).append(f"{t.comm}({t.pid}) kept seq={t.seq_last} over {t.observations} reports")
    return out


def _finding(view: HostView, throttled: list[tuple[int, str, str]], scanning: list[tuple[int, str]],
             kswapd: list[tuple[int, str, str]], looping: list[str], gfp: object) -> Finding:
    groups: dict[tuple[str, str], list[int]] = {}
    for task, wait, caller in throttled:
        groups.setdefault((wait, caller), []).append(task)
    (wait, caller), members = max(groups.items(), key=lambda kv: len(kv[1])) if groups else (
        ("", "shrink_inactive_list"), [])
    evidence: list[Evidence] = []
    for task in members[:MAX_CITED]:
        evidence += task_and_frames(view, task, [wait, caller])
    parts = []
    if members:
        names = ", ".join(label(view, t) for t in members[:MAX_CITED])
        more = f" and {len(members) - MAX_CITED} more" if len(members) > MAX_CITED else ""
        parts.append(
            f"{len(members)} task(s) in direct reclaim ({names}{more}) sleep in {wait} called from "
            f"{caller}: {meaning(wait, caller)}."
        )
    for (w, c), others in groups.items():
        if (w, c) != (wait, caller):
            parts.append(f"{len(others)} more sleep in {c} <- {w}.")
    if scanning:
        who = ", ".join(f"{label(view, t)} in {where}" + _gfp_note(gfp, t) for t, where in scanning)
        parts.append(f"Still scanning the LRU lists in direct reclaim: {who}.")
        for task, where in scanning[:MAX_CITED]:
            evidence += task_and_frames(view, task, [where])
    for task, w, c in kswapd:
        parts.append(f"kswapd itself, {label(view, task)}, is throttled in {c} <- {w}.")
        evidence += task_and_frames(view, task, [w, c])
    writeback = [t for t in [*members, *(t for t, _ in scanning)] if _queue(view, t) == "writeback"]
    if writeback:
        who = ", ".join(label(view, t) + _gfp_note(gfp, t) for t in writeback)
        parts.append(
            f"Writeback itself needs memory: {who} runs the writeback workqueue and is in direct "
            "reclaim, so the writeback the throttled tasks wait for is held up by the same shortage."
        )
    if looping:
        parts.append("Across reports, with every trace in shrink_inactive_list: " + "; ".join(looping)
                     + " - the same request never completes.")
    parts.append(
        "Check what holds the isolated or dirty pages: kswapd's trace, writeback workers and the "
        "Mem-Info isolated_file/isolated_anon and writeback counts."
    )
    # One report shows where tasks are, not that they stay there: only a repeated seq is critical.
    critical = bool(looping)
    if members:
        title = f"{len(members)} direct reclaimer(s) are throttled in {caller} <- {wait} instead of reclaiming"
    else:
        title = (f"{len(looping)} task(s) keep one allocation request across reports while looping "
                 "in shrink_inactive_list")
    refs = [task_ref(view, t) for t in members] + [task_ref(view, t) for t, _ in scanning]
    refs += [task_ref(view, t) for t, _, _ in kswapd]
    return Finding(
        rule=RULE,
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        title=title,
        explanation=" ".join(parts),
        evidence=evidence,
        tasks=refs,
    )


def _gfp_note(gfp: object, task: int) -> str:
    names = gfp.get(task, "") if hasattr(gfp, "get") else ""  # type: ignore[union-attr]
    return f" ({names})" if names else ""


def _queue(view: HostView, task: int) -> str:
    value = view.cell("tasks", task, "workqueue")
    return "" if value is None or value != value else str(value)
