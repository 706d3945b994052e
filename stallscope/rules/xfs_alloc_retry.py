"""xfs-alloc-retry: XFS retries a memory allocation that keeps failing, without end.

XFS's own allocation wrappers (fs/xfs/kmem.c kmem_alloc, kmem_zone_alloc, kmem_realloc, and
xfs_buf_allocate_memory, 2.6-5.x) do not let an allocation fail: they retry it, sleeping 20 ms in
congestion_wait(HZ/50) between tries, and every 100 failures print "XFS: comm(pid) possible memory
allocation deadlock [size N] in kmem_alloc (mode:0x...)". Each line stands for at least 2 s in
which the task got no memory; the task holds whatever XFS locks and transaction it allocates
under. A large request (an order above 3 needs physically contiguous pages) made without
__GFP_FS, as XFS's are, was not helped by direct compaction on older kernels (before "mm,
compaction: allow compaction for GFP_NOFS requests", 2018): fragmentation alone keeps it failing.
"""

from __future__ import annotations

import math

import pandas as pd

from stallscope.capture.events import field
from stallscope.capture.model import timestamp
from stallscope.capture.stacks import guilty_frame
from stallscope.rules.base import Finding, HostView, Severity, TaskRef, in_boot
from stallscope.rules.common.task_facts import report_gfp_names

RULE = "xfs-alloc-retry"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
# A report of the kernel about an allocation stall, beside warn_alloc's own.
RANK = 112
SEVERITY = "critical / warning"
SUMMARY = (
    "XFS keeps retrying an allocation that fails (\"possible memory allocation deadlock ... in kmem_alloc\"): "
    "names the task, the size and mode, and how long the retries went on."
)
NEXT_STEPS: str | None = (
    "the task's trace (what XFS allocates, under which locks), the size (a large request needs contiguous "
    "memory: the Mem-Info buddy lists show fragmentation) and whether the same task repeats"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True

# Every line stands for 100 failed tries 20 ms apart: retries seen for a minute or more mean the
# task is stuck, as warn-alloc-stall says of a stall of a minute.
_CRITICAL_SECONDS = 60.0
_COSTLY_ORDER = 3  # PAGE_ALLOC_COSTLY_ORDER
_PAGE_SIZE = 4096


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    return [in_boot(finding, boot) for boot, reports in view.records_by_boot("xfs_alloc_retry").items()
            for finding in _of_boot(view, boot, reports)]


def _of_boot(view: HostView, boot: int, reports: list[tuple[object, dict[str, object]]]) -> list[Finding]:
    """One finding per task and request of one boot's reports (records, in log order)."""
    groups: dict[tuple[object, ...], list[tuple[int, dict[str, object]]]] = {}
    for index, row in reports:
        key = (field(row, "comm"), field(row, "pid"), field(row, "function"), field(row, "size_bytes"),
               field(row, "mode"))
        groups.setdefault(key, []).append((int(index), row))  # type: ignore[call-overload]
    return [_finding(view, boot, key, rows) for key, rows in groups.items()]


def _finding(view: HostView, boot: int, key: tuple[object, ...], rows: list[tuple[int, dict[str, object]]]) -> Finding:
    comm, pid, function, size, mode = (str(k) if k is not None else None for k in key)
    first, last = rows[0][1], rows[-1][1]
    who = f"{comm}({pid})" if comm and pid else (comm or "a task")
    decoded = report_gfp_names(view, first["source"], mode, boot) if mode else None
    names = decoded.text if decoded is not None and not decoded.ambiguous else None
    order = _order(size)
    what = (f"{size} bytes" if size and size.isdigit() else "an allocation") + (
        f" (order-{order} with 4 KiB pages)" if order is not None else "")
    start, end = timestamp(first["ts"]), timestamp(last["ts"])
    seconds = end - start if start is not None and end is not None else None
    caller = _caller(view, boot, pid)
    title = (f"XFS retries a failing allocation without end: {who} in {function}"
             + (f" (from {caller})" if caller else "") + f", {what}, mode {mode}"
             + (f" ({names})" if names else "") + (f" - {len(rows)} reports" if len(rows) > 1 else ""))
    why = [
        f"XFS's {function} does not let an allocation fail: it retries it, sleeping 20 ms "
        "(congestion_wait(HZ/50)) between tries, and prints \"possible memory allocation deadlock\" every "
        f"100 failures, so each of the {len(rows)} line(s) here stands for at least 2 s in which {who} got no "
        "memory, holding whatever XFS locks and transaction it allocates under."
    ]
    if seconds is not None and len(rows) > 1:
        why.append(f"The reports span {seconds:.0f} s.")
    if decoded is not None:
        why.append(f"The mode decodes as {decoded.text} ({decoded.how}).")
    if order is not None and order > _COSTLY_ORDER:
        why.append(
            f"An order-{order} request needs {2 ** order} physically contiguous pages: it can fail while plenty of "
            "memory is free but fragmented, and a request without __GFP_FS, as XFS's are, got no direct "
            "compaction on kernels before \"mm, compaction: allow compaction for GFP_NOFS requests\" (2018). "
            "The Mem-Info buddy lists show whether pages of that order are left.")
    stuck = seconds is not None and seconds >= _CRITICAL_SECONDS
    evidence = [view.event_evidence(index) for index, _ in rows[:2]]
    if len(rows) > 2:
        evidence.append(view.event_evidence(rows[-1][0]))
    tasks = [TaskRef(comm, int(pid))] if comm and pid and pid.isdigit() and len(pid) < 10 else []
    return Finding(
        rule=RULE,
        severity=Severity.CRITICAL if stuck else Severity.WARNING,
        title=title,
        explanation=" ".join(why),
        evidence=evidence,
        tasks=tasks,
    )


def _order(size: str | None) -> int | None:
    """The page order kmalloc asks the page allocator for, with 4 KiB pages (None: no size)."""
    if not size or not size.isdigit() or len(size) > 15:
        return None
    pages = max(1, math.ceil(int(size) / _PAGE_SIZE))
    return max(0, math.ceil(math.log2(pages)))


def _caller(view: HostView, boot: int, pid: str | None) -> str | None:
    """Who in XFS asked, from the task's own trace in its boot when the log holds one (a SysRq or
    hung-task dump)."""
    if not pid or not pid.isdigit() or len(pid) >= 10 or view.tasks.empty:
        return None
    rows = view.tasks.iloc[view.boot_rows("tasks", boot)]
    rows = rows[(rows["pid"] == int(pid)).to_numpy(dtype=bool, na_value=False)]
    for stack in rows["stack"].tolist():
        if stack is None or pd.isna(stack):
            continue
        functions = view.functions(stack)
        if functions:
            return guilty_frame(functions)
    return None
