"""lock-owner-cycle: who waits for which lock, who holds it, and whether the waits close a cycle.

Two sources name lock owners. 6.14+ hung-task reports say "blocked on a mutex likely owned by
task B:2" (also semaphores and rw-semaphores). Lockdep dumps list the locks each task holds; a
task that is blocked shows the lock it is acquiring as its last entry (lockdep records it before
sleeping), so a hung task whose trace waits in that entry's function is waiting for it, and the
other holders of the same lock class are its possible owners. A cycle in "waits for a lock held
by" is a deadlock: nothing will make progress without outside help.
"""

from __future__ import annotations

from stallscope.capture.events import HELD_LOCK_KINDS, blocker_rows_of, held_rows_of, hung_rows_of
from stallscope.capture.stacks import NO_WAIT_SITE, normalize_function
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef, in_boot
from stallscope.rules.common.task_facts import stack_wait_site

RULE = "lock-owner-cycle"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 150
SEVERITY = "critical / warning / info"
SUMMARY = (
    "Hung tasks and lockdep's held locks show who holds which lock and who waits; a cycle is a deadlock."
)
NEXT_STEPS: str | None = None
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.0, 0.019)

_MAX_HOLDERS = 8

Task = tuple[str, int]


def _edges_from_blockers(blockers: list[dict[str, object]]
                         ) -> tuple[dict[Task, set[Task]], dict[Task, str], list[Evidence]]:
    edges: dict[Task, set[Task]] = {}
    what: dict[Task, str] = {}
    evidence: list[Evidence] = []
    for row in blockers:
        if row["owner_pid"] is None or row["pid"] is None:
            continue  # no owner named, or a pid no number holds (a garbled digit): no edge
        waiter: Task = (str(row["comm"]), int(row["pid"]))  # type: ignore[call-overload]
        owner: Task = (str(row["owner_comm"]), int(row["owner_pid"]))  # type: ignore[call-overload]
        edges.setdefault(waiter, set()).add(owner)
        what[waiter] = str(row["lock_type"])
        evidence.append(Evidence.of_row(row))
    return edges, what, evidence


def _edges_from_lockdep(view: HostView, held: list[dict[str, object]],
                        hung_records: list[tuple[object, dict[str, object]]]
                        ) -> tuple[dict[Task, set[Task]], dict[Task, str]]:
    """Hung tasks blocked on a lock taken where they took their last held lock.

    The function lockdep names for the lock is the one that called the lock primitive: the wait
    site's caller, or a wrapper on the way to its origin (rtnl_lock for the RTNL mutex). A task
    whose last entry was taken elsewhere holds that lock and waits for something else.

    A waiter with no other holder in the dump is kept with an empty owner set.
    """
    edges: dict[Task, set[Task]] = {}
    what: dict[Task, str] = {}
    if not held:
        return edges, what
    # The held locks by holder and by lock, in log order, found once: a long capture has
    # thousands of hung-task reports and lockdep lines.
    by_holder: dict[object, list[dict[str, object]]] = {}
    by_lock: dict[object, list[dict[str, object]]] = {}
    for row in held:
        by_holder.setdefault(row["holder_pid"], []).append(row)
        by_lock.setdefault(row["lock"], []).append(row)
    hung_reports = hung_rows_of(hung_records)
    for hung, stack in zip(hung_reports, view.report_stacks(hung_reports), strict=True):
        pid = hung["pid"]
        mine = by_holder.get(pid) if pid is not None else None
        if not mine:
            continue
        acquiring = mine[-1]
        site = NO_WAIT_SITE if stack is None else stack_wait_site(view, stack)
        if site.kind != "lock" or normalize_function(str(acquiring["function"])) not in site.chain:
            continue
        waiter: Task = (str(hung["comm"]), int(pid))  # type: ignore[call-overload]
        owners = edges.setdefault(waiter, set())
        for other in by_lock[acquiring["lock"]]:
            holder = other["holder_pid"]
            # A held-lock line without its "locks held by" header (cut from the capture) has no holder.
            if holder != pid and holder is not None:
                owners.add((str(other["holder_comm"]), int(holder)))  # type: ignore[call-overload]
        what[waiter] = f"{acquiring['lock']} (taken in {acquiring['function']})"
    return edges, what


def _cycle(edges: dict[Task, set[Task]]) -> list[Task] | None:
    """A cycle of the wait-for graph, as the list of tasks along it (a self-wait is one task)."""
    state: dict[Task, int] = {}
    path: list[Task] = []

    def visit(node: Task) -> list[Task] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def _holder(value: object) -> str:
    # A held-lock line without its "locks held by" header (cut from the capture) names no holder.
    return "?" if value is None else str(value)


def _name(task: Task) -> str:
    return f"{task[0]}({task[1]})"


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    held, blockers = view.records_by_boot(*HELD_LOCK_KINDS), view.records_by_boot("hung_task_blocker")
    findings: list[Finding] = []
    for boot in sorted(set(held) | set(blockers)):
        found = _of_boot(view, held_rows_of(held.get(boot, [])), blocker_rows_of(blockers.get(boot, [])),
                         view.boot_records(boot, "hung_task"))
        findings += [in_boot(finding, boot) for finding in found]
    return findings


def _of_boot(view: HostView, held: list[dict[str, object]], blockers: list[dict[str, object]],
             hung_records: list[tuple[object, dict[str, object]]]) -> list[Finding]:
    """The finding of one boot's held locks and hung-task blockers (rows: ``held_rows_of``,
    ``blocker_rows_of``) and hung-task reports (records)."""
    edges, what, evidence = _edges_from_blockers(blockers)
    lockdep_edges, lockdep_what = _edges_from_lockdep(view, held, hung_records)
    for waiter, owners in lockdep_edges.items():
        edges.setdefault(waiter, set()).update(owners)
        what.setdefault(waiter, lockdep_what[waiter])
    if not edges and not held:
        return []
    why: list[str] = []
    tasks: dict[TaskRef, None] = {}  # in order of mention, each once
    for waiter, owners in edges.items():
        if owners:
            why.append(f"{_name(waiter)} waits for {what.get(waiter, 'a lock')} held by "
                       + ", ".join(_name(o) for o in sorted(owners)) + ".")
        else:
            why.append(f"{_name(waiter)} is blocked acquiring {what.get(waiter, 'a lock')}, and no other task "
                       "in the dump holds it: its owner was not printed (snipped output, or a lock lockdep "
                       "does not track).")
        for task in (waiter, *sorted(owners)):
            tasks.setdefault(TaskRef(*task))
    if held:
        # Each holder's entry of each index once (the last printed: a task's locks are listed
        # again in a later dump), in log order.
        last_of: dict[tuple[object, object], int] = {}
        for at, row in enumerate(held):
            last_of[(row["holder_pid"], row["index"])] = at
        last = [held[at] for at in sorted(last_of.values())]
        by_lock: dict[object, list[dict[str, object]]] = {}
        for row in last:
            by_lock.setdefault(row["lock"], []).append(row)
        parts = []
        for lock, rows in by_lock.items():
            holders = [f"{_holder(r['holder_comm'])}/{_holder(r['holder_pid'])}" for r in rows[:_MAX_HOLDERS]]
            more = f" and {len(rows) - _MAX_HOLDERS} more" if len(rows) > _MAX_HOLDERS else ""
            parts.append(f"{lock} (taken in {rows[0]['function']}) by {', '.join(holders)}{more}")
        why.append("Lockdep lists these locks as held (a blocked task's last entry is the lock it is "
                   "acquiring): " + "; ".join(parts) + ".")
        evidence += [Evidence.of_row(r) for r in last[:3]]
        for r in last:
            # A held-lock line without its "locks held by" header (cut from the capture) has no holder.
            if r["holder_pid"] is None:
                continue
            ref = TaskRef(str(r["holder_comm"]), int(r["holder_pid"]))  # type: ignore[call-overload]
            if ref not in tasks and len(tasks) < _MAX_HOLDERS:
                tasks[ref] = None
    cycle = _cycle(edges)
    if cycle:
        loop = " -> ".join(_name(t) for t in [*cycle, cycle[0]])
        title = f"Lock dependency cycle: {loop}"
        why.insert(0, f"The tasks wait for each other's locks in a cycle ({loop}): a deadlock that no "
                      "amount of waiting resolves.")
        severity = Severity.CRITICAL
    elif any(edges.values()):
        waiter = next(w for w, owners in edges.items() if owners)
        title = (f"Lock wait: {_name(waiter)} waits for {what.get(waiter, 'a lock')} held by "
                 + ", ".join(_name(o) for o in sorted(edges[waiter])))
        severity = Severity.WARNING
    elif edges:
        waiter = next(iter(edges))
        title = f"Lock wait: {_name(waiter)} waits for {what.get(waiter, 'a lock')}, owner not in the dump"
        severity = Severity.INFO
    else:
        holders: dict[object, set[object]] = {}
        for row in held:
            holders.setdefault(row["lock"], set()).add(row["holder_pid"])
        counts = {lock: len(pids - {None}) for lock, pids in holders.items()}
        # The lock most tasks hold; of those, the first printed.
        most = max(counts, key=counts.__getitem__)
        title = f"Held locks: {most} held by {counts[most]} task(s)"
        severity = Severity.INFO
    return [
        Finding(rule=RULE, severity=severity, title=title, explanation=" ".join(why),
                evidence=evidence[:8], tasks=list(tasks))
    ]


