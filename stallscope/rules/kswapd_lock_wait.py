"""kswapd-lock-wait: kswapd sleeps in a lock or I/O wait instead of reclaiming.

kswapd is the background reclaimer everyone else relies on; when it blocks on a filesystem lock
(xfs_buf_lock, __xfs_iflock, an rwsem) whose holder itself needs memory, reclaim stops for all.
A switches counter that does not move between reports proves it never ran in between.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stallscope.capture.model import labels_at
from stallscope.capture.stacks import WaitSite
from stallscope.capture.trajectories import comm_starts_with, group_numbers, text_codes
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef, in_boot
from stallscope.rules.common.task_facts import stack_wait_site, task_and_wait_site

RULE = "kswapd-lock-wait"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 30
SEVERITY = "critical / warning"
SUMMARY = (
    "kswapd sleeps in a lock or I/O wait (a filesystem buffer, inode flush or rwsem) instead of "
    "reclaiming."
)
NEXT_STEPS: str | None = (
    "the held locks (SysRq-d) for the owner of the lock kswapd waits on, and whether that owner is "
    "itself allocating"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.016, 0.001)


def _wait(view: HostView, stack: int) -> WaitSite | None:
    """Where a stack waits, when it is blocked on a lock, I/O or another task's work (not idle in
    kswapd_try_to_sleep, not in reclaim's own throttles: reclaim-throttle reads those)."""
    if stack < 0:
        return None
    site = stack_wait_site(view, stack)
    return site if site.blocked else None


# What kswapd waits for, by the kind of the primitive it sleeps in (an open-coded wait in a lock
# wrapper has no primitive: a lock).
_WAITS = {"lock": "lock wait", "completion": "wait for another task's work", "page": "wait on a page",
          "bit": "wait on a buffer or inode bit", "io": "wait for I/O", "journal": "wait for a journal commit",
          "rcu": "wait for an RCU grace period"}



# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    tasks = view.tasks
    if tasks.empty:
        return []
    # Vectorized on row positions: a Python call per task row costs more than the rest of the
    # rule, and so did the tables of the kswapd rows pandas made (a millisecond a boot).
    at = np.flatnonzero(comm_starts_with(tasks, "kswapd"))
    if not len(at):
        return []
    # Each (boot, comm, pid) in order of first appearance (-1: no pid printed, not a kswapd to
    # follow), its rows in log order; worked out once for all of them: a machine can show dozens
    # of kswapd threads in each of hundreds of boots.
    comm = tasks["comm"]
    comm_codes = text_codes(comm)[0][at]
    pid_codes = pd.factorize(tasks["pid"].array[at])[0]
    boot_of = view.boot_column("tasks")[at]
    group = group_numbers(boot_of, comm_codes, pid_codes)
    group[(comm_codes < 0) | (pid_codes < 0)] = -1
    lines = tasks["line"].to_numpy(dtype="int64", na_value=np.iinfo(np.int64).max)[at]
    order = np.lexsort((lines, tasks["source"].cat.codes.to_numpy()[at], group))
    order = order[group[order] >= 0]
    rows = at[order]
    group = group[order]
    boot_of = boot_of[order].tolist()
    starts = np.flatnonzero(np.diff(group, prepend=-1))
    ends = [*starts[1:].tolist(), len(group)]
    blocked = tasks["uninterruptible"].to_numpy(dtype=bool)[rows] | _in_d_state(tasks["state"], rows)
    stacks = tasks["stack"].to_numpy(dtype="int64", na_value=-1)[rows].tolist()  # -1: no stack
    switches_of = tasks["switches"].to_numpy(dtype="float64", na_value=np.nan)[rows]
    indexes = labels_at(tasks.index, rows).tolist()
    comms = comm.iloc[rows].tolist()
    pids = tasks["pid"].iloc[rows].tolist()
    # Per boot, each finding with where its kswapd waits.
    by_boot: dict[int, list[tuple[Finding, str]]] = {}
    # What each stack waits in: a kswapd blocked for an hour is reported with the same stack
    # thousands of times.
    wait_of: dict[int, WaitSite | None] = {}
    for begin, end in zip(starts.tolist(), ends, strict=True):
        comm, pid = comms[begin], pids[begin]
        waits: list[tuple[int, WaitSite]] = []
        for at in range(begin, end):
            if not blocked[at]:
                continue
            stack = stacks[at]
            if stack not in wait_of:
                wait_of[stack] = _wait(view, stack)
            found = wait_of[stack]
            if found is not None:
                waits.append((indexes[at], found))
        if not waits:
            continue
        switches = switches_of[begin:end]
        switches = switches[~np.isnan(switches)]
        frozen = len(switches) >= 2 and bool((switches == switches[0]).all())
        site = waits[-1][1]
        where = site.waiting()
        evidence: list[Evidence] = []
        for index, _ in (waits[0], waits[-1]) if len(waits) > 1 else waits:
            evidence += task_and_wait_site(view, index)
        if frozen:
            detail = (
                f"Its switches counter stayed at {int(switches[0])} across {len(switches)} reports: "
                "it was never scheduled in between, so it is blocked, not busy."
            )
        else:
            detail = (
                "Seen in a single report (or its switches counter moved), so this is a snapshot: "
                "compare its switches counter across later reports to tell a stuck kswapd from a slow one."
            )
        by_boot.setdefault(boot_of[begin], []).append((
            Finding(
                rule=RULE,
                severity=Severity.CRITICAL if frozen else Severity.WARNING,
                title=f"{comm}({pid}) is blocked {where}",
                explanation=(
                    f"{comm}, the background reclaim thread, is in uninterruptible sleep {where}, "
                    f"a {_WAITS[site.kind or 'lock']}, instead of reclaiming memory. {detail} While kswapd "
                    "waits, every allocation falls back to direct reclaim; if the lock holder itself needs memory "
                    "(writeback, a filesystem transaction), nothing makes progress."
                ),
                evidence=evidence,
                tasks=[TaskRef(str(comm), int(pid))],  # type: ignore[arg-type]
            ),
            site.describe(),
        ))
    findings = []
    for boot, pairs in sorted(by_boot.items()):
        for finding in _one_per_site([finding for finding, _ in pairs], [site for _, site in pairs]):
            findings.append(in_boot(finding, boot))
    return findings


def _in_d_state(state: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Whether the task-state line of each of ``rows`` said D."""
    codes, names = text_codes(state)
    return codes[rows] == names.index("D") if "D" in names else np.zeros(len(rows), dtype=bool)  # type: ignore[no-any-return]


def _one_per_site(findings: list[Finding], sites: list[str]) -> list[Finding]:
    """kswapd threads (one per NUMA node) blocked at one site: one finding naming them all."""
    groups: dict[str, list[Finding]] = {}
    for finding, site in zip(findings, sites, strict=True):
        groups.setdefault(site or finding.title, []).append(finding)
    out: list[Finding] = []
    for site, group in groups.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        tasks = [t for f in group for t in f.tasks]
        names = ", ".join(f"{t.comm}({t.pid})" for t in tasks)
        evidence: list[Evidence] = []
        for f in group:
            evidence += [e for e in f.evidence if e not in evidence]
        out.append(Finding(
            rule=RULE,
            severity=max((f.severity for f in group), key=lambda severity: severity.rank),
            title=f"{len(tasks)} kswapd threads are blocked waiting in {site}: {names}",
            explanation=f"Every kswapd of the machine listed here ({names}) waits in {site}: one wait stops "
                        f"background reclaim on all their nodes. The first of them: {group[0].explanation}",
            evidence=evidence,
            tasks=tasks,
        ))
    return out
