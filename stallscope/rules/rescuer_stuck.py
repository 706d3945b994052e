"""rescuer-stuck: a WQ_MEM_RECLAIM rescuer thread is itself waiting for memory.

Workqueues that reclaim depends on (filesystem I/O completion, writeback) own a rescuer thread,
created in advance, so their work can run even when no new worker can be forked under memory
pressure. That guarantee is gone when the rescuer blocks in the allocator: the work items it
should run (xfs_end_io, ...) wait, and so does every reclaimer waiting for that I/O.

A rescuer is recognized by ``rescuer_thread`` in its trace, by a ``(RESCUER)`` entry for its pid
in a workqueue dump, or, when neither was captured, by a workqueue worker (PF_WQ_WORKER) whose
comm is its workqueue's name instead of ``kworker/...``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from stallscope.capture.events import WORKQUEUE_DUMP_KINDS
from stallscope.capture.layouts import PF_WQ_WORKER
from stallscope.capture.model import missing, text_blocks
from stallscope.capture.trajectories import comm_starts_with
from stallscope.rules.base import Evidence, Finding, HostView, Severity, in_boot
from stallscope.rules.common.task_facts import (
    GFP_NAMES,
    functions_of,
    gfp_names_of,
    guilty_of,
    label,
    latest_tasks,
    stack_functions,
    task_and_frames,
    task_ref,
    task_stacks_of,
)

RULE = "rescuer-stuck"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 10
SEVERITY = "critical"
SUMMARY = (
    "A WQ_MEM_RECLAIM workqueue's rescuer thread is itself waiting for memory, so the work that would"
    " free memory cannot run."
)
NEXT_STEPS: str | None = (
    "the workqueue dump (MAYDAY, pending work of that workqueue) and whether kthreadd can still "
    "create workers"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (GFP_NAMES,)
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.018, 0.095)
_RESCUER_IN_DUMP = re.compile(r"(\d+)\(RESCUER\)")
COMM_LEN = 15  # task->comm holds 15 characters, so a long workqueue name is cut


def rescuer_evidence(view: HostView, task: int, dump_pids: dict[int, int]) -> str | None:
    """How we know a task row is a rescuer, or None when it is not one."""
    if "rescuer_thread" in functions_of(view, task):
        return "rescuer_thread in its call trace"
    pid = int(view.cell("tasks", task, "pid"))
    if pid in dump_pids:
        return "listed as (RESCUER) in a workqueue dump"
    comm = str(view.cell("tasks", task, "comm"))
    queue = view.cell("tasks", task, "workqueue")
    flags = view.cell("tasks", task, "flags")
    if pd.isna(flags) or not int(flags) & PF_WQ_WORKER or comm.startswith("kworker/"):
        return None
    if isinstance(queue, str) and queue[:COMM_LEN] == comm[:COMM_LEN]:
        return "a workqueue worker (PF_WQ_WORKER) named after its workqueue, not kworker/..."
    return None


_TEXT_BLOCK = 4096


def _dump_rescuers(view: HostView) -> dict[int, dict[int, int]]:
    """Per boot, pid -> event row of the workqueue dump lines naming it as a rescuer."""
    out: dict[int, dict[int, int]] = {}
    events = view.events
    # Only a workqueue dump prints "(RESCUER)" (show_pwq(), kernel/workqueue.c): its lines are
    # read, not the hundreds of thousands of other event lines of a long capture.
    dump = view.rows.positions(*WORKQUEUE_DUMP_KINDS)
    texts = events["text"].array[dump].tolist()  # (only the dump's texts unpacked)
    # The substring test first, on blocks of lines joined, then on the lines of a block that has it.
    named = [at for start, block in text_blocks(texts, _TEXT_BLOCK) if "(RESCUER)" in block
             for at in range(start, min(start + _TEXT_BLOCK, len(texts))) if "(RESCUER)" in str(texts[at])]
    rows = dump[named]
    boots = view.boot_column("events")[rows].tolist()
    for index, text, boot in zip(events.index[rows].tolist(), [texts[at] for at in named], boots, strict=True):
        for found in _RESCUER_IN_DUMP.finditer(str(text)):
            out.setdefault(boot, {}).setdefault(int(found.group(1)), int(index))
    return out


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    tasks = latest_tasks(view)  # each task of each boot
    if not len(tasks):
        return []
    # A rescuer with no allocation in progress has nothing to be stuck on: only tasks in the
    # allocator (a delay, and not idle without seq and gfp) are asked whether they are rescuers.
    idle = (tasks["state"].astype(object) == "I") & tasks["seq"].isna() & tasks["gfp"].isna()
    allocating = tasks.index[(tasks["delay"].notna() & ~idle).to_numpy(dtype=bool, na_value=False)]
    if not len(allocating):
        return []
    dump = _dump_rescuers(view) if len(view.events) else {}
    stuck: dict[int, list[tuple[int, str]]] = {}
    candidates = _maybe_rescuers(view, tasks, allocating, dump)
    for task, boot in zip(candidates, view.boots_of("tasks", candidates).tolist(), strict=True):
        how = rescuer_evidence(view, task, dump.get(boot, {}))
        if how is not None:
            stuck.setdefault(boot, []).append((task, how))
    if not stuck:
        return []
    gfp = gfp_names_of(view)
    findings = []
    for boot, found in sorted(stuck.items()):
        kthreadd = _stalled_kthreadd(view, boot)
        for task, how in found:
            finding = _finding(view, task, how, gfp, dump.get(boot, {}), kthreadd)
            findings.append(in_boot(finding, boot))
    return findings


def _maybe_rescuers(view: HostView, tasks: pd.DataFrame, allocating: pd.Index, dump: dict[int, dict[int, int]]
                    ) -> list[int]:
    """The ``allocating`` task rows that any sign of :func:`rescuer_evidence` may hold for, found
    on arrays (a boot has dozens of allocating tasks, and rescuers are rare): a trace with
    rescuer_thread, a pid the dump of its boot lists, or a workqueue worker not named kworker/."""
    at = tasks.index.get_indexer(allocating)
    traced = np.isin(task_stacks_of(view, allocating), _rescuer_stacks(view))
    listed: np.ndarray | bool = False
    if dump:
        pids = tasks["pid"].to_numpy(dtype="int64", na_value=-1)[at].tolist()
        boots = view.boots_of("tasks", allocating).tolist()
        listed = np.array([pid in dump.get(boot, {}) for pid, boot in zip(pids, boots, strict=True)], dtype=bool)
    worker = (tasks["flags"].to_numpy(dtype="int64", na_value=0)[at] & PF_WQ_WORKER) != 0
    worker &= ~comm_starts_with(tasks, "kworker/")[at]
    return allocating[traced | listed | worker].tolist()


def _rescuer_stacks(view: HostView) -> list[int]:
    """The stacks of the capture whose trace holds rescuer_thread (found once for all views)."""
    return view.of_capture("rescuer stacks", lambda _: [
        stack for stack, functions in stack_functions(view).items() if "rescuer_thread" in functions])


def _stalled_kthreadd(view: HostView, boot: int) -> int | None:
    """The last task row of the boot's kthreadd (pid 2) stalled in the allocator."""

    def compute(view: HostView) -> dict[int, int]:
        # Every boot's at once: a boot's rows cut from the table cost pandas' fixed costs each.
        tasks = view.tasks
        if not len(tasks):
            return {}
        stalled = ((tasks["pid"] == 2) & tasks["delay"].notna()).to_numpy(dtype=bool, na_value=False)
        return dict(zip(view.boot_column("tasks")[stalled].tolist(), tasks.index[stalled].tolist(), strict=True))

    return view.of_view("rescuer-stuck stalled kthreadd", compute).get(boot)


def _finding(view: HostView, task: int, how: str, gfp: pd.Series, dump: dict[int, int],
             kthreadd: int | None) -> Finding:
    row = {c: view.cell("tasks", task, c) for c in ("workqueue", "comm", "pid", "delay", "seq")}
    who = label(view, task)
    queue = row["workqueue"] if isinstance(row["workqueue"], str) else str(row["comm"])
    names = gfp.get(task, "")
    request = f"a {names} allocation" if names else "an allocation"
    # The frame that allocates and the rescuer_thread frame that says whose thread this is.
    evidence: list[Evidence] = task_and_frames(view, task, [guilty_of(view, task), "rescuer_thread"])
    pid = row["pid"]
    if not missing(pid) and int(pid) in dump:  # (a pid no number holds is missing)
        evidence.append(view.event_evidence(dump[int(pid)]))
    extra = ""
    if kthreadd is not None:
        evidence.append(view.task_evidence(kthreadd))
        extra = (
            f" kthreadd({2}) is stalled in the allocator too, so no new worker thread can be "
            "created: the rescuer is the only way this workqueue can move."
        )
    return Finding(
        rule=RULE,
        severity=Severity.CRITICAL,
        title=f"WQ_MEM_RECLAIM rescuer {who} of workqueue {queue} is stuck in {request}",
        explanation=(
            f"{who} is the rescuer of {queue} ({how}). Rescuers exist so that work reclaim depends on "
            f"can run when no worker can be forked; this one has been in the allocator for "
            f"delay={row['delay']} jiffies (seq={row['seq']}), so the work queued on {queue} is not "
            f"running and whatever waits for it (I/O completion, writeback, reclaim) waits too.{extra} "
            "Check the workqueue dump for MAYDAY and the pending count of this workqueue."
            + (" Its __GFP_NOWARN keeps warn_alloc() from ever reporting this stall." if "NOWARN" in names
               else "")
        ),
        evidence=evidence,
        tasks=[task_ref(view, task)],
    )
