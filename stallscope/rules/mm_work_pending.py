"""mm-work-pending: work that memory management needs waits in a workqueue behind a stuck worker.

Some of the memory allocator's own bookkeeping runs as per-CPU work items: vmstat_update folds the
per-CPU vmstat counters that reclaim decides on (zone_reclaimable(), too_many_isolated()), and
drain_all_pages() / lru_add_drain_all() queue drain_local_pages_wq / lru_add_drain_per_cpu on every
CPU and wait for them in flush_work(). A worker pool runs its items one after another while its
running worker does not sleep: a worker that loops in the allocator (or in reclaim) holds back
everything queued on its CPU, and the allocators then decide on stale counters or wait for a drain
that cannot start (Tetsuo Handa, 2015-2016: "vmstat_update workqueue item forever remains
pending"). Work that reclaim waits for (I/O completion on a WQ_MEM_RECLAIM workqueue) stuck behind
a worker in the allocator closes the same loop.

The workqueue dump (SysRq-t, the workqueue watchdog, the OOM watchdog) lists each pool_workqueue's
``in-flight:`` and ``pending:`` items; a 2016 debug build adds how long each waited
(``vmstat_update(delay=140854)``, jiffies). Without it an item's age is read from the dumps it
stays pending in, or from the pool's ``hung=`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from stallscope.capture.events import BusyPwq, WorkItem, WorkqueueDumps, field, int_field, ints
from stallscope.capture.fields import is_fields
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef, distinct_lines, in_boot
from stallscope.rules.common.task_facts import (
    boot_hz,
    functions_of,
    label,
    latest_by_boot,
    task_ref,
    view_workqueue_dumps,
)

RULE = "mm-work-pending"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 15
SEVERITY = "critical / warning"
SUMMARY = (
    "Work that memory management needs (vmstat_update, drain_local_pages_wq, lru_add_drain_per_cpu, "
    "I/O completion on a WQ_MEM_RECLAIM workqueue) stays pending behind a worker stuck in the allocator."
)
NEXT_STEPS: str | None = (
    "the in-flight worker's trace (why it does not sleep or finish) and whether vmstat_update runs on "
    "its own WQ_MEM_RECLAIM workqueue in this kernel"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.0, 0.017)

# The allocator's own per-CPU work, and what waits when it does not run.
MM_WORK = {
    "vmstat_update": "it folds the per-CPU vmstat counters that reclaim decides on, so zone_reclaimable() and "
                     "too_many_isolated() read stale numbers while it waits",
    "vmstat_shepherd": "it queues vmstat_update on every CPU",
    "drain_local_pages_wq": "drain_all_pages() queues it on every CPU and waits for it in flush_work()",
    "lru_add_drain_per_cpu": "lru_add_drain_all() queues it on every CPU and waits for it in flush_work()",
}
WQ_MEM_RECLAIM = 0x8
MIN_PENDING_SECONDS = 10.0
# When HZ is unknown a delay is read at the highest common HZ: the shortest time it can mean.
FASTEST_HZ = 1000.0
_MAX_EVIDENCE = 8


@dataclass(slots=True)
class Waiting:
    """A pending item of a pool_workqueue, with how long it is known to have waited."""

    pwq: BusyPwq
    item: WorkItem
    seconds: float | None  # the shortest time it can have waited
    how: str  # how the age is known


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    if view.events.empty:
        return []
    findings = []
    for boot, dumps in view_workqueue_dumps(view).items():
        finding = _of_boot(view, boot, dumps)
        if finding is not None:
            findings.append(in_boot(finding, boot))
    return findings


def _of_boot(view: HostView, boot: int, dumps: WorkqueueDumps) -> Finding | None:
    # Only the latest dump is read, and earlier ones while an item stays pending in them: a long
    # capture holds hundreds of dumps.
    busy = dumps.latest()
    if not busy:
        return None
    hz = boot_hz(view, boot)
    stalled = _stalled_allocators(view, boot)
    pools = _pools(view, boot, busy)
    found: list[Waiting] = []
    for pwq in busy:
        for item in pwq.waiting:
            if item.function not in MM_WORK or any(w.item.function == item.function and w.pwq is pwq for w in found):
                continue
            waiting = _age(dumps, pwq, item, hz.hz, pools)
            if waiting.seconds is not None and waiting.seconds >= MIN_PENDING_SECONDS:
                found.append(waiting)
    if not found:
        return None
    # One finding for the log: the item behind a worker stalled in the allocator first, then the oldest.
    found.sort(key=lambda w: (not _stuck_workers(busy, w.pwq, stalled), -(w.seconds or 0.0)))
    return _finding(view, boot, busy, found, stalled, hz.hz, pools)


def _stuck_workers(busy: list[BusyPwq], pwq: BusyPwq, stalled: dict[int, int]) -> list[tuple[BusyPwq, WorkItem]]:
    return [(p, r) for p in _same_pool(busy, pwq) for r in p.running
            if not r.rescuer and r.worker is not None and r.worker in stalled]


def _age(dumps: WorkqueueDumps, pwq: BusyPwq, item: WorkItem, hz: float | None, pools: dict[int, Pool]) -> Waiting:
    if item.delay is not None:
        seconds = item.delay / (hz or FASTEST_HZ)
        read = f"{seconds:.0f}s at HZ={hz:.0f}" if hz else f"at least {seconds:.0f}s"
        return Waiting(pwq, item, seconds, f"for delay={item.delay} jiffies ({read})")
    # The same item pending on the same CPU in every dump back to the first one that shows it.
    first = pwq
    for dump in range(pwq.dump - 1, -1, -1):
        found = next((p for p in dumps.dump(dump)
                      if p.workqueue == pwq.workqueue and p.cpus == pwq.cpus and p.source == pwq.source), None)
        if found is None or not any(w.function == item.function for w in found.waiting):
            break
        first = found
    if first is not pwq and first.ts is not None and pwq.ts is not None and pwq.ts > first.ts:
        return Waiting(pwq, item, pwq.ts - first.ts,
                       f"in every dump from {first.ts:.1f}s to {pwq.ts:.1f}s ({pwq.ts - first.ts:.0f}s)")
    pool = pools.get(pwq.line)
    stuck = pool.hung if pool is not None else None
    if stuck:
        return Waiting(pwq, item, float(stuck), f"on a pool that started no work item for {stuck}s (hung={stuck}s)")
    return Waiting(pwq, item, None, "")


@dataclass(frozen=True, slots=True)
class Pool:
    """The pool line a pool_workqueue's CPUs share in its dump: "pool 4: cpus=2 ... workers=2 manager: 11509"."""

    event: int
    hung: int | None
    workers: int | None
    idle: int
    manager: int | None


def _pools(view: HostView, boot: int, busy: list[BusyPwq]) -> dict[int, Pool]:
    """pwq line -> the first pool line of its CPUs after it."""
    first = min((p.line for p in busy), default=0)
    # Tuples of the columns read, a row (a dict) made only for the pool lines after the dump's
    # first pwq line: every dump of a long capture lists every pool again.
    lines = view.records_by_boot("wq_pool").tuples(boot, ("source", "line", "fields"))
    rows = [(index, str(source), int(line), {"fields": fields if is_fields(fields) else {}})  # type: ignore[call-overload]
            for index, source, line, fields in lines if int(line) > first]  # type: ignore[call-overload]
    pools = [
        (source, line, field(row, "cpus"), field(row, "nice"),
         Pool(int(index), int_field(row, "hung"), int_field(row, "workers"),  # type: ignore[call-overload]
              len(ints(row, "idle")), int_field(row, "manager")))
        for index, source, line, row in rows
    ]
    out: dict[int, Pool] = {}
    for pwq in busy:
        after = next((p for p in pools if p[0] == pwq.source and p[1] > pwq.line and p[2] == pwq.cpus
                      and p[3] == pwq.nice), None)
        if after is not None:
            out[pwq.line] = after[4]
    return out


def _stalled_allocators(view: HostView, boot: int) -> dict[int, int]:
    """pid -> latest task row of the boot's tasks stalled in the allocator (a watchdog line with a delay)."""
    return {int(view.cell("tasks", t, "pid")): t for t in latest_by_boot(view).get(boot, [])
            if not pd.isna(view.cell("tasks", t, "delay"))}


def _same_pool(busy: list[BusyPwq], pwq: BusyPwq) -> list[BusyPwq]:
    return [p for p in busy if p.dump == pwq.dump and p.source == pwq.source and p.cpus == pwq.cpus
            and p.nice == pwq.nice]


def _finding(view: HostView, boot: int, busy: list[BusyPwq], found: list[Waiting], stalled: dict[int, int],
             hz: float | None, pools: dict[int, Pool]) -> Finding:
    waiting = found[0]
    pwq, item = waiting.pwq, waiting.item
    pool = _same_pool(busy, pwq)
    running = [(p, r) for p in pool for r in p.running if not r.rescuer]
    evidence: list[Evidence] = [view.event_evidence(item.event)]
    tasks: list[TaskRef] = []
    why = [f"{item.function} is pending on {pwq.workqueue} (cpus={pwq.cpus}) {waiting.how}: "
           f"{MM_WORK[item.function]}."]
    stuck = _stuck_workers(busy, pwq, stalled)
    for holder, run in stuck[:2]:
        task = stalled[run.worker]  # type: ignore[index]
        age = f" (delay={run.delay})" if run.delay is not None else ""
        why.append(f"Its CPU's pool is busy with {run.function}{age} of {holder.workqueue}, in flight on "
                   f"{label(view, task)}, which is itself stalled in the allocator "
                   f"(delay={int(view.cell('tasks', task, 'delay'))}).")
        tasks.append(task_ref(view, task))
        evidence += [view.task_evidence(task), view.event_evidence(run.event)]
    others = [(p, r) for p, r in running if (p, r) not in stuck]
    if others:
        names = sorted({f"{r.function} ({p.workqueue})" for p, r in others})
        why.append(f"{'Also in' if stuck else 'In'} flight on that CPU's pool: " + ", ".join(names[:5])
                   + ("..." if len(names) > 5 else "") + ".")
        if not stuck:
            evidence.append(view.event_evidence(others[0][1].event))
    why += _pool_sentences(view, pools.get(pwq.line), running, stuck, stalled, evidence)
    flushers = _flushers(view, boot, item)
    if flushers:
        why.append(f"{', '.join(flushers)} wait{'s' if len(flushers) == 1 else ''} for it in flush_work() (BAR).")
    why += _allocators(view, boot, item.function)
    also = [f"{w.item.function} on cpus={w.pwq.cpus} ({_short(w)[4:]})" for w in found[1:]]
    if also:
        why.append("Also pending: " + ", ".join(also[:4]) + ("..." if len(also) > 4 else "") + ".")
        evidence += [view.event_evidence(w.item.event) for w in found[1:3]]
    rescuers = sorted({f"{p.workqueue} rescuer {r.worker} running {r.function}" for p in pool for r in p.running
                       if r.rescuer})
    if rescuers:
        why.append("Rescuers at work on that CPU: " + "; ".join(rescuers) + ".")
    if hz is None and any(w.item.delay is not None for w in found):
        why.append(f"HZ is unknown: delays are read at HZ={FASTEST_HZ:.0f}, the shortest time they can mean.")
    allocating = bool(stalled) or bool(flushers) or _stalls(view, boot)
    if not allocating:
        why.append("No allocation is seen stalling while it waits.")
    behind = ""
    if stuck:
        behind = f" behind {stuck[0][1].function} on {label(view, stalled[stuck[0][1].worker])}"  # type: ignore[index]
    elif len(running) == 1:
        behind = f" behind {running[0][1].function}"
    elif running:
        behind = f" with {len(running)} workers of its pool busy"
    title = f"{item.function} pending on cpus={pwq.cpus} {_short(waiting)}{behind}"
    if stuck:
        title += " stalled in the allocator"
    return Finding(rule=RULE, severity=Severity.CRITICAL if allocating else Severity.WARNING, title=title,
                   explanation=" ".join(why), evidence=distinct_lines(evidence)[:_MAX_EVIDENCE], tasks=tasks)


Running = list[tuple[BusyPwq, WorkItem]]


def _pool_sentences(view: HostView, pool: Pool | None, running: Running, stuck: Running, stalled: dict[int, int],
                    evidence: list[Evidence]) -> list[str]:
    """Why the pool does not start the pending item: its running worker, or no worker to run it."""
    out = []
    if len(running) == 1 and stuck:
        out.append("A pool starts its next item only when its running worker sleeps or finishes: a worker looping "
                   "in the allocator holds back every item queued behind it on that CPU.")
    elif len(running) == 1:
        out.append("A pool starts its next item only when its running worker sleeps or finishes (or another worker "
                   "is free to take it).")
    if pool is not None and pool.idle == 0 and pool.manager is not None:
        out.append(f"The pool has no idle worker (workers={pool.workers}) and its manager {pool.manager} is creating "
                   "one, which needs memory (kthreadd forks it).")
        evidence.append(view.event_evidence(pool.event))
        if 2 in stalled:
            task = stalled[2]
            delay = int(view.cell("tasks", task, "delay"))
            out.append(f"{label(view, task)} is itself stalled in the allocator (delay={delay}): no new worker can "
                       "be created.")
            evidence.append(view.task_evidence(task))
    elif len(running) > 1:
        out.append(f"{len(running)} workers of that pool are busy: a pending item waits for one of them or for a new "
                   "worker, and creating one needs memory (kthreadd forks it).")
    return out


def _stalls(view: HostView, boot: int) -> bool:
    """Whether the boot's log shows allocations stalling (watchdog reports, warn_alloc stalls)."""
    stalling = view.snapshots["stalling"].to_numpy(dtype="int64", na_value=0)[view.boot_rows("snapshots", boot)]
    return bool((stalling > 0).any()) or bool(view.boot_records(boot, "warn_alloc_stall"))


def _short(waiting: Waiting) -> str:
    if waiting.item.delay is not None:
        return f"for delay={waiting.item.delay}"
    return f"for at least {waiting.seconds:.0f}s"


def _flushers(view: HostView, boot: int, item: WorkItem) -> list[str]:
    tasks = latest_by_boot(view).get(boot, [])
    out = []
    for pid in item.flushers:
        rows = [t for t in tasks if _is(view.cell("tasks", t, "pid"), pid)]
        out.append(label(view, rows[-1]) if rows else f"pid {pid}")
    return out


def _is(value: object, pid: int) -> bool:
    return not pd.isna(value) and value == pid  # type: ignore[arg-type]


# Where allocators wait when a mm work item does not run.
_WAITS = {
    "vmstat_update": ("too_many_isolated", "loop in too_many_isolated(), which reads the NR_ISOLATED counters "
                      "vmstat_update would fold"),
    "drain_local_pages_wq": ("drain_all_pages", "wait in drain_all_pages() for the drain"),
    "lru_add_drain_per_cpu": ("lru_add_drain_all", "wait in lru_add_drain_all() for the drain"),
}


def _allocators(view: HostView, boot: int, function: str) -> list[str]:
    wait = _WAITS.get(function)
    tasks = latest_by_boot(view).get(boot, [])
    if wait is None or not tasks:
        return []
    frame, doing = wait
    found = [t for t in tasks if frame in functions_of(view, t)]
    if not found:
        return []
    names = ", ".join(label(view, t) for t in found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
    return [f"{len(found)} task(s) {doing}: {names}."]
