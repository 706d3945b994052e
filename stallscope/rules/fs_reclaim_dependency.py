"""fs-reclaim-dependency: reclaim waits on the filesystem while the filesystem waits on memory.

GFP_NOFS and GFP_NOIO allocations may not recurse into the filesystem or block I/O, and (in the
kernels of this corpus) do not invoke the OOM killer; they can only wait for someone else to
free memory. When kswapd or a direct reclaimer is itself blocked on a filesystem lock or on
writeback, the dependency closes into a loop: reclaim waits for the filesystem, the filesystem
(writeback, I/O completion) waits for a NOFS/NOIO allocation, and that allocation waits for
reclaim.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from stallscope.capture.layouts import PF_WQ_WORKER
from stallscope.capture.model import missing
from stallscope.capture.stacks import RECLAIM_FRAMES, WaitSite
from stallscope.rules.base import Evidence, Finding, HostView, Severity, in_boot
from stallscope.rules.common.task_facts import (
    GFP_NAMES,
    gfp_name_codes,
    gfp_names_of,
    guilty_of,
    is_kswapd,
    label,
    latest_tasks,
    stack_trace,
    task_and_frames,
    task_and_wait_site,
    task_ref,
    task_stacks_of,
)

RULE = "fs-reclaim-dependency"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 20
SEVERITY = "critical / warning"
SUMMARY = (
    "GFP_NOFS/GFP_NOIO allocations stall while kswapd or reclaim waits on filesystem locks or I/O: a "
    "dependency loop between the filesystem and memory."
)
NEXT_STEPS: str | None = (
    "the held locks (SysRq-d) for the filesystem lock's owner and the workqueue dump for stuck "
    "writeback or I/O-completion work"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (GFP_NAMES,)
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.075, 0.0)
FS_PREFIXES = ("xfs_", "_xfs_", "__xfs_", "ext4_", "jbd2_", "btrfs_", "f2fs_", "nfs_", "ext3_",
               "journal_", "gfs2_", "ocfs2_")
RESTRICTED = ("GFP_NOFS", "GFP_NOIO")
LOOKAHEAD = 4  # frames past the lock primitive in which the filesystem caller must appear


def fs_wait(site: WaitSite, functions: list[str]) -> str | None:
    """Where a trace waits ("down in xfs_buf_lock (from _xfs_buf_find)"), when it is blocked in
    filesystem code: the caller, the origin, or a frame just past the caller is the filesystem's."""
    if not site.blocked or site.depth is None:
        return None
    if any(name.startswith(FS_PREFIXES) for name in site.chain):
        return site.describe()
    nearby = [f for f in functions[site.depth + 1 : site.depth + 1 + LOOKAHEAD] if f.startswith(FS_PREFIXES)]
    return f"{site.describe()} (under {nearby[0]})" if nearby else None


def restricted_flag(names: str) -> str | None:
    if " or " in names:  # an ambiguous decoding proves nothing
        return None
    parts = names.split("|")
    return next((flag for flag in RESTRICTED if flag in parts), None)


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    tasks = latest_tasks(view)  # each task of each boot
    if not len(tasks):
        return []
    gfp = gfp_names_of(view)
    # Each task's names by position (Series.get per task cost microseconds a call).
    codes, texts = gfp_name_codes(gfp)
    at = gfp.index.get_indexer(tasks.index)
    names = [texts[code] if code >= 0 else "" for code in np.where(at >= 0, codes[at.clip(0)], -1).tolist()]
    # Per boot, in log order.
    restricted: dict[int, list[tuple[int, str]]] = {}
    waiters: dict[int, list[tuple[int, str]]] = {}
    # A task line cut before its delay has <NA> there.
    timed = tasks["delay"].notna().to_numpy(dtype=bool)
    kswapd = [is_kswapd(comm) for comm in tasks["comm"].astype(object).tolist()]
    # Where each stack's trace waits in the filesystem from reclaim (None: it does not), and
    # where it does when its task is kswapd: once per stack, which many task rows share.
    waits: dict[tuple[int, bool], str | None] = {}
    for task, boot, gfp_names, stack, on_time, is_kswapd_task in zip(
            tasks.index.tolist(), view.boots_of("tasks", tasks.index).tolist(), names,
            task_stacks_of(view, tasks.index).tolist(), timed.tolist(), kswapd, strict=True):
        flag = restricted_flag(gfp_names)
        if flag and on_time:
            restricted.setdefault(boot, []).append((task, flag))
        key = (stack, is_kswapd_task)
        if key not in waits:
            waits[key] = _reclaim_fs_wait(view, stack, is_kswapd_task)
        where = waits[key]
        if where:
            waiters.setdefault(boot, []).append((task, where))
    findings = []
    for boot in sorted(restricted.keys() & waiters.keys()):
        finding = _finding(view, boot, waiters[boot], restricted[boot])
        findings.append(in_boot(finding, boot))
    return findings


def _reclaim_fs_wait(view: HostView, stack: int, kswapd: bool) -> str | None:
    """Where a trace (its stack, -1 for none) waits in the filesystem, when its task reclaims:
    kswapd, or a trace with a reclaim frame."""
    functions, site = stack_trace(view, stack)
    if not (kswapd or RECLAIM_FRAMES & set(functions)):
        return None
    return fs_wait(site, functions)


# Tasks named in the chain (with their lines cited) on each side, the others counted: a boot
# with hundreds of tasks in GFP_NOFS allocations gave a chain of all of them, which reads as
# none (a boot of the serial bench family, real captures one after another: 207 tasks and 225
# cited lines in one finding). The real logs of tests/data have at most 2 waiters and 3
# restricted tasks, all named.
_MAX_NAMED = 4


def _finding(view: HostView, boot: int, waiters: list[tuple[int, str]], restricted: list[tuple[int, str]]
             ) -> Finding:
    evidence: list[Evidence] = []
    links = []
    for task, where in waiters[:_MAX_NAMED]:
        role = "kswapd" if is_kswapd(view.cell("tasks", task, "comm")) else "reclaim"
        links.append(f"{label(view, task)} ({role}) is waiting in {where}")
        evidence += task_and_wait_site(view, task)
    if len(waiters) > _MAX_NAMED:
        links[-1] += f" (and {len(waiters) - _MAX_NAMED} more reclaiming task(s) waiting in the filesystem)"
    # The loop is closed when the restricted allocators are the workers (writeback, I/O
    # completion, disk events) whose work reclaim waits for; a user task's NOFS fault is not.
    workers = {task for task, _ in restricted if _worker(view, task)}
    # NOIO sits below NOFS in the I/O stack: list NOFS first so the chain reads downwards.
    ordered = sorted(restricted, key=lambda item: RESTRICTED.index(item[1]))
    named = ordered
    if len(ordered) > _MAX_NAMED:
        # The workers first: they close the loop. Named in the chain's order.
        chosen = sorted(range(len(ordered)), key=lambda at: ordered[at][0] not in workers)[:_MAX_NAMED]
        named = [ordered[at] for at in sorted(chosen)]
    for task, flag in named:
        caller = guilty_of(view, task)
        queue = view.cell("tasks", task, "workqueue")
        work = f", workqueue {queue}" if isinstance(queue, str) else ""
        site = f" for {caller}" if isinstance(caller, str) else ""
        links.append(f"{label(view, task)} needs {flag} memory{site}{work}")
        evidence += task_and_frames(view, task, [caller if isinstance(caller, str) else None])
    left = Counter(flag for _, flag in ordered) - Counter(flag for _, flag in named)
    if left:
        links[-1] += " (and " + " and ".join(f"{left[flag]} more task(s) needing {flag} memory"
                                             for flag in RESTRICTED if left[flag]) + ")"
    nofs = _nofs_oom_calls(view, boot)
    closed = bool(workers)
    chain = (" -> " if closed else "; ").join(links)
    return Finding(
        rule=RULE,
        severity=Severity.CRITICAL if closed else Severity.WARNING,
        title=(f"Reclaim waits on the filesystem while {len(restricted)} GFP_NOFS/GFP_NOIO "
               "allocation(s) wait on reclaim"),
        explanation=(
            f"{'Dependency chain' if closed else 'At the same time'}: {chain}. "
            + (CLOSED if closed else OPEN)
            + f"{nofs} Check who holds the filesystem lock (held locks), the writeback and "
            "in-flight work in the workqueue dump, and whether oom_count keeps rising without kills."
        ),
        evidence=evidence,
        tasks=[task_ref(view, t) for t, _ in waiters] + [task_ref(view, t) for t, _ in restricted],
    )


CLOSED = (
    "Reclaim cannot finish until the filesystem lock or writeback it waits for completes; the "
    "workers that would complete it are themselves waiting for GFP_NOFS/GFP_NOIO allocations, which "
    "may not enter the filesystem and do not invoke the OOM killer, so they can only wait for reclaim."
)
OPEN = (
    "Reclaim waits for the filesystem, and GFP_NOFS/GFP_NOIO requests can neither reclaim through "
    "the filesystem nor invoke the OOM killer; none of them is a writeback or I/O worker here, so "
    "this is a contributing dependency rather than a proven loop."
)


def _worker(view: HostView, task: int) -> bool:
    flags = view.cell("tasks", task, "flags")
    queue = view.cell("tasks", task, "workqueue")
    return isinstance(queue, str) or (not pd.isna(flags) and bool(int(flags) & PF_WQ_WORKER))


def _nofs_oom_calls(view: HostView, boot: int) -> str:
    """The Feb-Apr 2016 builds count out_of_memory() calls from !__GFP_FS requests separately."""
    counted = view.of_view("fs-reclaim nofs counts", _nofs_counts).get(boot)
    if counted is None:
        return ""
    (first_nofs, _, first_line), (nofs, count, line) = counted
    if missing(count):
        return ""  # a count beyond what its column holds (a garbled digit): nothing to compare
    return (f" oom_count counts {int(nofs)} of its {int(count)} out_of_memory() calls as coming from "  # type: ignore[call-overload]
            f"!__GFP_FS requests (line {int(line)}; {int(first_nofs)} at line {int(first_line)}), "  # type: ignore[call-overload]
            "which the OOM killer declines.")


def _nofs_counts(view: HostView) -> dict[int, tuple[tuple[object, object, object], tuple[object, object, object]]]:
    """(oom_count_nofs, oom_count, line) of each boot's first and last watchdog line that counts
    !__GFP_FS calls, found once per view (a pandas selection per boot cost a millisecond each)."""
    snaps = view.snapshots
    if not len(snaps):
        return {}
    counted = np.flatnonzero(snaps["oom_count_nofs"].notna().to_numpy(dtype=bool))
    if not len(counted):
        return {}
    columns = [snaps[name].take(counted).tolist() for name in ("oom_count_nofs", "oom_count", "line")]
    found: dict[int, tuple[tuple[object, object, object], tuple[object, object, object]]] = {}
    for boot, row in zip(view.boot_column("snapshots")[counted].tolist(), zip(*columns, strict=True), strict=True):
        found[boot] = (found[boot][0] if boot in found else row, row)
    return found
