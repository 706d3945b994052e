"""victim-stuck: a task the OOM killer chose (or that was killed) does not exit.

Memory freed by a kill comes back only when the victim exits (or the OOM reaper unmaps its
memory). A victim sleeping uninterruptibly on a lock held by a task that is itself waiting for
memory never exits; while it holds TIF_MEMDIE the OOM killer waits for it instead of choosing
another victim, so the whole system waits with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stallscope.capture.events import of_kind, tuples
from stallscope.capture.fields import is_fields
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef, in_boot
from stallscope.rules.common.task_facts import (
    GFP_NAMES,
    functions_of,
    gfp_name_codes,
    gfp_names_of,
    label,
    task_and_wait_site,
    trajectories_view,
    wait_site_of,
)

RULE = "victim-stuck"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 40
SEVERITY = "critical / warning"
SUMMARY = (
    "An OOM victim or dying task does not exit (blocked on a lock, its switches frozen), or the OOM "
    "reaper could not reap it."
)
NEXT_STEPS: str | None = (
    "the held locks for the owner of the lock the victim sleeps on, and the oom_reaper messages"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (GFP_NAMES,)
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.2, 0.101)
# Victims named in the title of a finding for several (all are in its task list).
_MAX_NAMED = 5


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    unable = _reaper_unable(view)
    tasks = view.tasks
    marked = len(tasks) and (bool(tasks["dying"].any()) or bool(tasks["victim"].any()))
    # Only a task marked dying or victim is followed: without one, no trajectory is derived.
    followed = _marked_trajectories(view) if marked else []
    by_boot: dict[int, list[Any]] = {}
    for t, boot in zip(followed, view.boots_of("tasks", [int(t.first_task) for t in followed]).tolist(), strict=True):
        by_boot.setdefault(boot, []).append(t)
    findings = []
    for boot in sorted({*by_boot, *unable, *_dying_boots(view)}):
        for finding in _of_boot(view, boot, by_boot.get(boot, []), unable.get(boot, {})):
            findings.append(in_boot(finding, boot))
    return findings


def _of_boot(view: HostView, boot: int, followed: list[Any], unable: dict[int, int]) -> list[Finding]:
    """The findings of one boot: its marked tasks' trajectories, its reaper failures."""
    findings: list[Finding] = []
    seen: set[int] = set()
    # One finding per cause: victims waiting on the same lock are one finding naming them all.
    by_lock: dict[str, list[Finding]] = {}
    for t in followed:
        pid = int(t.pid)
        last = int(t.last_task)
        lock = _lock_of(view, last)
        repeated = t.kind == "victim-not-exiting"
        blocked = bool(view.cell("tasks", last, "uninterruptible")) or str(view.cell("tasks", last, "state")) == "D"
        if not (repeated or pid in unable or (blocked and lock)):
            continue
        seen.add(pid)
        found = _victim(view, boot, t, lock, unable.get(pid))
        if lock:
            if lock not in by_lock:
                findings.append(found)  # the group's place among the findings
            by_lock.setdefault(lock, []).append(found)
        else:
            findings.append(found)
    for lock, group in by_lock.items():
        if len(group) > 1:
            findings[findings.index(group[0])] = _victims(lock, group)
    for pid, event in unable.items():
        if pid not in seen:
            findings.append(_reaper_only(view, boot, pid, event))
    note = _dying_without_victim(view, boot)
    if note is not None:
        findings.append(note)
    return findings


def _marked_trajectories(view: HostView) -> list[Any]:
    """The trajectories (as :func:`tuples` gives them) of the tasks marked dying or victim:
    a few of a boot's tasks, and making a tuple of every task's row cost a millisecond or two."""
    traj = trajectories_view(view)
    marked = [at for at, (dying, victim) in enumerate(zip(traj["dying"].tolist(), traj["victim"].tolist(), strict=True))
              if dying or victim]
    return tuples(traj.iloc[marked], index=False) if marked else []


def _reaper_unable(view: HostView) -> dict[int, dict[int, int]]:
    """Per boot, pid -> event row of the OOM reaper's "unable to reap" lines (the last one of a pid)."""
    rows = of_kind(view.rows, "oom_reaper_unable")
    rows = rows[rows["pid"].notna()] if len(rows) else rows
    found: dict[int, dict[int, int]] = {}
    for index, pid, boot in zip(rows.index, rows["pid"], view.boots_of("events", rows.index).tolist(), strict=True):
        found.setdefault(boot, {})[int(pid)] = int(index)
    return found


def _lock_of(view: HostView, task: int) -> str | None:
    """Where a task is blocked ("down_write in vma_link"), when it waits for another task."""
    site = wait_site_of(view, task)
    return site.describe() if site.blocked else None


def _victim(view: HostView, boot: int, t: object, lock: str | None, reaper_event: int | None) -> Finding:
    first, last = int(t.first_task), int(t.last_task)  # type: ignore[attr-defined]
    who = label(view, last)
    words = [w for w in ("uninterruptible", "exiting", "dying", "victim") if view.cell("tasks", last, w)]
    evidence: list[Evidence] = []
    if first != last:
        evidence.append(view.task_evidence(first))
    evidence += task_and_wait_site(view, last)
    parts = [f"{who} is marked {' '.join(words)}"]
    n = t.observations  # type: ignore[attr-defined]
    if n > 1:
        span = _span(t)
        parts.append(f"in {n} reports{span}")
        delta = t.switches_delta  # type: ignore[attr-defined]
        if delta is not None and not pd.isna(delta):
            parts.append("and its switches counter never moved" if delta == 0
                         else f"(switches +{delta})")
    text = " ".join(parts) + "."
    if lock:
        text += f" It is waiting in {lock}: whoever holds or owes it must finish before the victim can exit."
    text += _killed_allocators(view, t, evidence, boot)
    text += _fs_nofs_allocators(view, boot, lock, last, evidence)
    if reaper_event is not None:
        evidence.append(view.event_evidence(reaper_event))
        text += (" The OOM reaper could not reap it either (it could not take the victim's "
                 "mmap_sem), so its memory stays allocated.")
        text += _mmap_holders(view, boot, evidence)
    text += (" While a victim is pending the OOM killer does not pick another one. Check the held "
             "locks (SysRq-d / lockdep) for who holds the lock, and whether that holder is "
             "stalled in the allocator.")
    critical = n > 1 or reaper_event is not None
    return Finding(
        rule=RULE,
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        title=f"OOM victim {who} is not exiting" + (f": waiting in {lock}" if lock else ""),
        explanation=text,
        evidence=evidence,
        tasks=[TaskRef(str(t.comm), int(t.pid))],  # type: ignore[attr-defined]
    )


def _victims(lock: str, group: list[Finding]) -> Finding:
    """Victims waiting in one place: one finding listing them, the first one's account kept."""
    tasks = [t for finding in group for t in finding.tasks]
    names = ", ".join(f"{t.comm}({t.pid})" for t in tasks[:_MAX_NAMED])
    more = f" and {len(tasks) - _MAX_NAMED} more" if len(tasks) > _MAX_NAMED else ""
    evidence: list[Evidence] = []
    for finding in group:
        evidence += [e for e in finding.evidence if e not in evidence]
    return Finding(
        rule=RULE,
        severity=max((f.severity for f in group), key=lambda severity: severity.rank),
        title=f"{len(tasks)} OOM victims are not exiting: waiting in {lock}: {names}{more}",
        explanation=(f"{len(tasks)} OOM victims or dying tasks ({names}{more}) all wait in {lock}: one wait holds "
                     f"them all, and none can exit before it ends. The first of them: {group[0].explanation}"),
        evidence=evidence,
        tasks=tasks,
    )


def _killed_allocators(view: HostView, t: object, evidence: list[Evidence], boot: int | None = None) -> str:
    """Other killed or exiting tasks still stuck in the allocator (of ``boot``; None: of the whole
    view): likely holders of its lock."""
    pid = int(t.pid)  # type: ignore[attr-defined]
    grouped = view.of_view("killed allocators", _killed_in_allocator)
    mine = grouped.get(boot, []) if boot is not None else [one for rows in grouped.values() for one in rows]
    if boot is None and len(grouped) > 1:
        mine.sort()  # row order, as one view of all boots lists them
    others = [(row, p) for row, p in mine if p is not pd.NA and p != pid]
    if not others:
        return ""
    # Each pid's last row, in row order (drop_duplicates("pid", keep="last")).
    final = {p: at for at, (_, p) in enumerate(others)}
    last = [row for at, (row, p) in enumerate(others) if final[p] == at]
    evidence.append(view.task_evidence(int(last[0])))
    names = ", ".join(f"{label(view, int(i))} seq={view.cell('tasks', i, 'seq')}" for i in last[:5])
    return (f" Killed or exiting tasks that are themselves waiting for memory: {names}; a lock "
            "such a task holds cannot be released until its allocation succeeds.")


def _killed_in_allocator(view: HostView) -> dict[int, list[tuple[int, object]]]:
    """Per boot, the task rows (and their pids) of killed or exiting tasks waiting for memory, in
    row order, once per view: on the columns read, not the rows (taking every column cost most of
    this rule, and a view of a million task rows has it asked for each victim)."""
    tasks = view.tasks
    if not len(tasks):
        return {}
    chosen = (tasks["delay"].notna() & (tasks["exiting"] | tasks["dying"] | tasks["victim"])).to_numpy(
        dtype=bool, na_value=False)
    grouped: dict[int, list[tuple[int, object]]] = {}
    for row, pid, boot in zip(tasks.index[chosen].tolist(), tasks["pid"].array[chosen].tolist(),
                              view.boot_column("tasks")[chosen].tolist(), strict=True):
        grouped.setdefault(boot, []).append((row, pid))
    return grouped


def _fs_nofs_allocators(view: HostView, boot: int, lock: str | None, victim: int, evidence: list[Evidence]) -> str:
    """GFP_NOFS allocators of the boot inside the filesystem whose lock the victim waits for."""
    fs = _fs_of(functions_of(view, victim)) if lock else None
    if fs is None:
        return ""
    found = [task for task, inside in view.of_view("victim-stuck nofs", _nofs_allocators).get(boot, ())
             if inside == fs and task != victim]
    if not found:
        return ""
    evidence.append(view.task_evidence(found[-1]))
    names = ", ".join(label(view, t) for t in dict.fromkeys(found))
    return (f" GFP_NOFS allocations inside the same filesystem ({fs}) are stalled too: {names}. A "
            "filesystem lock holder that allocates with GFP_NOFS is the usual owner of such a lock; "
            "lockdep's held-locks list would confirm it.")


def _nofs_allocators(view: HostView) -> dict[int, list[tuple[int, str]]]:
    """Per boot, the task rows that allocate with GFP_NOFS inside a filesystem, with its name, in
    row order: found once per view, not once per victim (an OOM storm has hundreds of victims)."""
    codes, names = gfp_name_codes(gfp_names_of(view))  # a code per task row, in row order
    nofs = np.flatnonzero(np.array([("GFP_NOFS" in n.split("|")) for n in names] + [False])[codes])
    boots = view.boot_column("tasks")[nofs].tolist()
    found: dict[int, list[tuple[int, str]]] = {}
    for task, boot in zip(view.tasks.index[nofs].tolist(), boots, strict=True):
        fs = _fs_of(functions_of(view, task))
        if fs is not None:
            found.setdefault(boot, []).append((task, fs))
    return found


def _fs_of(functions: list[str]) -> str | None:
    for name in functions:
        prefix = name.lstrip("_").split("_", 1)[0]
        if prefix in _FILESYSTEMS:
            return prefix
    return None


_FILESYSTEMS = frozenset({"xfs", "ext4", "btrfs", "f2fs", "nfs", "jbd2", "ext3", "gfs2", "ocfs2"})


def _span(t: object) -> str:
    first, last = t.first_ts, t.last_ts  # type: ignore[attr-defined]
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return ""
    return f" over {float(last) - float(first):.0f} s"


MmapHolder = tuple[int, str, int]  # header event row, "comm/pid" as printed, pid


def _mmap_holders(view: HostView, boot: int, evidence: list[Evidence]) -> str:
    """Tasks lockdep shows holding an mmap_sem in the boot: the reaper needs that lock."""
    holders, stalled = mmap_holders(view, boot)
    if not holders:
        return ""
    evidence.append(view.event_evidence(holders[0][0]))
    names = ", ".join(n for _, n, _ in holders[:5])
    more = f" and {len(holders) - 5} more" if len(holders) > 5 else ""
    text = f" Lockdep shows {len(holders)} task(s) holding an mmap_sem ({names}{more})"
    if stalled:
        row = _waiting_tasks(view).get(boot, {})[stalled[0]]
        evidence.append(view.task_evidence(row))
        text += f", and {label(view, row)} among them is itself stalled in the allocator"
    return text + "."


def mmap_holders(view: HostView, boot: int | None = None) -> tuple[list[MmapHolder], list[int]]:
    """The holders of an mmap_sem that lockdep lists (one per such held-lock line) in ``boot`` (None:
    in the whole view), and the pids among them that are themselves stalled in the allocator."""
    holders: list[MmapHolder] = []
    kinds = ("lockdep_held_header", "lockdep_held")
    # Each lock's header is the last one before it, in log order.
    header: tuple[int, object, object] | None = None
    for index, row in view.rows.records(*kinds) if boot is None else view.boot_records(boot, *kinds):
        if row["kind"] == "lockdep_held_header":
            header = (int(index), row["comm"], row["pid"])  # type: ignore[call-overload]
            continue
        fields = row["fields"]
        lock = str(fields.get("lock", "")) if is_fields(fields) else ""
        # renamed mmap_lock in 5.8; a header whose pid could not be read (beyond any pid's
        # range) names no task.
        if ("mmap_sem" in lock or "mmap_lock" in lock) and header is not None and not pd.isna(header[2]):  # type: ignore[arg-type]
            holders.append((header[0], f"{header[1]}/{header[2]}", int(header[2])))  # type: ignore[call-overload]
    if not holders:
        return holders, []
    by_boot = _waiting_tasks(view)
    waiting = by_boot.get(boot, {}) if boot is not None else {p for pids in by_boot.values() for p in pids}
    return holders, [p for _, _, p in holders if p in waiting]


def _waiting_tasks(view: HostView) -> dict[int, dict[int, int]]:
    """Per boot, pid -> the last task row (label) of each task of the boot that waited for memory
    (printed with a delay) in any of its rows."""

    def compute(view: HostView) -> dict[int, dict[int, int]]:
        tasks = view.tasks
        last: dict[int, dict[int, int]] = {}
        waited: set[tuple[int, int]] = set()
        if not len(tasks):
            return last
        named = tasks["pid"].notna().to_numpy(dtype=bool)
        delays = tasks["delay"].notna().to_numpy(dtype=bool)[named].tolist()
        for row, pid, boot, delay in zip(tasks.index[named].tolist(), tasks["pid"].array[named].tolist(),
                                         view.boot_column("tasks")[named].tolist(), delays, strict=True):
            last.setdefault(boot, {})[int(pid)] = int(row)
            if delay:
                waited.add((boot, int(pid)))
        return {boot: {pid: row for pid, row in rows.items() if (boot, pid) in waited} for boot, rows in last.items()}

    return view.of_view("victim-stuck waiting tasks", compute)


def _reaper_only(view: HostView, boot: int, pid: int, event: int) -> Finding:
    row = view.events.loc[event]
    who = f"{row['comm']}({pid})"
    evidence = [view.event_evidence(event)]
    text = (f"The OOM reaper gave up on {who}: it could not take the victim's mmap_sem, so the "
            "victim's memory is not freed until the victim itself exits.")
    text += _mmap_holders(view, boot, evidence)
    return Finding(
        rule=RULE,
        severity=Severity.CRITICAL,
        title=f"The OOM reaper could not reap {who}",
        explanation=text + " Check who holds that mmap_sem and what it is waiting for.",
        evidence=evidence,
        tasks=[TaskRef(str(row["comm"]), pid)],
    )


def _dying_boots(view: HostView) -> set[int]:
    """The boots with a watchdog line of dying tasks and victim=0 (see :func:`_dying_without_victim`)."""
    snaps = view.snapshots
    if not len(snaps):
        return set()
    chosen = _dying_without_victim_rows(snaps)
    return set(view.boot_column("snapshots")[chosen].tolist())


def _dying_without_victim_rows(snaps: pd.DataFrame) -> np.ndarray:
    return ((snaps["dying"].to_numpy(dtype="int64", na_value=0) > 0)
            & (snaps["victim"].to_numpy(dtype="int64", na_value=-1) == 0))


def _dying_without_victim(view: HostView, boot: int) -> Finding | None:
    """Killed tasks piling up while no task holds TIF_MEMDIE, in more than one report of the boot."""
    snaps = view.snapshots
    if not len(snaps):
        return None
    # On arrays: most boots have a few reports, and each Series operation costs its fixed cost.
    at = view.boot_rows("snapshots", boot)
    dying_counts = snaps["dying"].to_numpy(dtype="int64", na_value=0)[at]
    chosen = _dying_without_victim_rows(snaps)[at]
    rows = snaps.index[at[chosen]]
    if len(rows) < 2:
        return None
    first, last = int(rows[0]), int(rows[-1])
    dying = int(dying_counts[chosen].max())
    return Finding(
        rule=RULE,
        severity=Severity.WARNING,
        title=f"Up to {dying} tasks are dying but none is an OOM victim (victim=0 in {len(rows)} reports)",
        explanation=(
            f"{len(rows)} reports show dying tasks (fatal signal pending) with victim=0: these tasks "
            "were killed but are not exiting, and no task holds TIF_MEMDIE, so the OOM killer is "
            "not waiting on a victim - it is not being invoked at all, or finds nothing to kill. "
            "Check the dying tasks' traces for the lock they sleep on and whether oom_count moves."
        ),
        evidence=[view.snapshot_evidence(first), view.snapshot_evidence(last)],
    )
