"""hung-task: khungtaskd reported a task stuck in D state for longer than hung_task_timeout_secs.

The report names the task; its trace says what it waits for. kswapd hanging stops background
reclaim for everybody, and a hang in the period where the watchdog reports allocation stalls is
usually one link of the same dependency chain, so both are critical. A hung thread of an OOM
victim keeps the victim from exiting, which is why OOM kills before the hang are named too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from stallscope.capture.events import blocker_rows_of, hung_rows_of
from stallscope.capture.model import timestamp
from stallscope.capture.stacks import NO_WAIT_SITE, Role, WaitSite, function_class
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef, in_boot
from stallscope.rules.common.reports import DEVICE_KINDS, device_label
from stallscope.rules.common.task_facts import (
    OOM_KILLS,
    oom_kills_by_boot,
    stack_wait_site,
    stack_wait_site_evidence,
    trace_after,
)

RULE = "hung-task"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 100
SEVERITY = "critical / warning"
SUMMARY = (
    "khungtaskd reported a task blocked in D state for longer than hung_task_timeout_secs; names "
    "where it waits."
)
NEXT_STEPS: str | None = None
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (OOM_KILLS,)
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.0, 0.223)

# Kernel threads never belong to an OOM victim, so OOM kills are not context for them.
_KERNEL_THREADS = ("kswapd", "kworker/", "kcompactd", "khugepaged", "kthreadd", "jbd2/", "xfs", "khungtaskd")

_MAX_KILLS_NAMED = 4
# How long before a hung task was last scheduled a device failure may have been printed and
# still be named as what it waits for (a disk's error handling retries for minutes).
_FAILURE_REACH = 600.0
_FAILURE_LINES = 500
# Tasks named in the title of a finding for several hung tasks (all are in its task list).
_MAX_NAMED = 5


def _where(view: HostView, stack: object) -> tuple[str, str]:
    """Where a hung task waits: the words of its title, and of its explanation.

    "waiting in PRIMITIVE in CALLER (from ORIGIN)" as :meth:`WaitSite.waiting` words it; a
    report without a trace (or whose trace was not read), or with one whose frames were not
    understood, says so.
    """
    if stack is None:
        # Either none was printed, or its lines were not understood (counted as unparsed).
        return "(no call trace read)", "; no call trace of it was read"
    site = stack_wait_site(view, int(stack))  # type: ignore[call-overload]
    if site == NO_WAIT_SITE:
        return "(its call trace was not understood)", "; its call trace was printed but not understood"
    where = site.waiting()
    return where, f"; its call trace shows it {where}"


def _stalling_times(view: HostView) -> dict[tuple[int, str], np.ndarray]:
    """Per boot and input, the times of the watchdog's reports that count stalling tasks (NaN: no
    time), found once per view for all its hung tasks."""
    snaps = view.snapshots
    if snaps.empty:
        return {}
    stalling = (snaps["stalling"].fillna(0) > 0).to_numpy(dtype=bool)
    if not stalling.any():
        return {}
    sources = snaps["source"].to_numpy(dtype=object)[stalling].tolist()
    boots = view.boot_column("snapshots")[stalling].tolist()
    times = snaps["ts"].to_numpy(dtype="float64", na_value=np.nan)[stalling].tolist()
    # In one pass: a capture of hundreds of boots has as many (boot, input) pairs.
    found: dict[tuple[int, str], list[float]] = {}
    for boot, source, at in zip(boots, sources, times, strict=True):
        found.setdefault((boot, str(source)), []).append(at)
    return {key: np.array(values, dtype="float64") for key, values in found.items()}


def _stalls_overlap(view: HostView, boot: int, source: str, start: float | None, end: float | None) -> bool:
    times = view.of_view("hung-task stalling times", _stalling_times).get((boot, source))
    if times is None or start is None or end is None:
        return times is not None
    return bool(((times >= start) & (times <= end)).any())


@dataclass(slots=True)
class _Hung:
    """One hung task (all its reports) as a finding says it."""

    comm: str
    pid: int
    seconds: int
    reports: int
    where: str
    trace: str
    site: str | None  # where it waits, when its trace says (tasks waiting at one site are one finding)
    critical: bool
    why: list[str]
    evidence: list[Evidence]
    tasks: list[TaskRef]

    @property
    def label(self) -> str:
        return f"{self.comm}({self.pid})"


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    findings = []
    for boot, reports in view.records_by_boot("hung_task").items():
        for finding in _of_boot(view, boot, hung_rows_of(reports)):
            findings.append(in_boot(finding, boot))
    return findings


# A row of a boot's hung-task reports, blockers, kills (events.hung_rows_of, ...), as a dict.
Row = dict[str, Any]


def _of_boot(view: HostView, boot: int, hung: list[Row]) -> list[Finding]:
    # A boot's few reports as rows: a table per boot and its pandas calls cost more than the rule.
    # Once for all reports: a trace the builder did not tie to its report is claimed by position.
    for row, stack in zip(hung, view.report_stacks(hung), strict=True):
        row["stack"] = stack
    blockers = blocker_rows_of(view.boot_records(boot, "hung_task_blocker"))
    kills = oom_kills_by_boot(view).get(boot, [])
    failures = view.boot_records(boot, *DEVICE_KINDS)
    # Each task's reports, in order of its first one.
    by_task: dict[tuple[object, object], list[Row]] = {}
    for row in hung:
        if row["comm"] is not None and row["pid"] is not None:
            by_task.setdefault((row["comm"], row["pid"]), []).append(row)
    # One finding per cause: hung tasks waiting at the same site are listed in one finding.
    groups: dict[object, list[_Hung]] = {}
    for (comm, pid), reports in by_task.items():
        found = _hung(view, boot, str(comm), int(pid), reports, blockers, kills, failures)  # type: ignore[call-overload]
        groups.setdefault(found.site or (comm, pid), []).append(found)
    return [_finding(members) if len(members) > 1 else _single(members[0]) for members in groups.values()]


def _hung(view: HostView, boot: int, comm: str, pid: int, reports: list[Row], blockers: list[Row],
          kills: list[Row], failures: list[tuple[object, dict[str, object]]]) -> _Hung:
    """One hung task of its ``reports`` (rows of :func:`hung_tasks` as dicts, in log order)."""
    first, last = reports[0], reports[-1]
    # A time beyond any number's range (a garbled report) is unknown: the others say how long.
    known = [r["seconds"] for r in reports if r["seconds"] is not None]
    seconds = int(max(known)) if known else 0
    stacks = [r["stack"] for r in reports if r["stack"] is not None]
    stack = int(stacks[-1]) if stacks else None
    where, trace = _where(view, stack)
    site = _site_key(stack_wait_site(view, stack)) if stack is not None else None
    first_ts, last_ts = timestamp(first["ts"]), timestamp(last["ts"])
    # The printed time is a lower bound: the task was already blocked that long at the first report.
    since = None if first_ts is None or first["seconds"] is None else first_ts - int(first["seconds"])
    correlated = _stalls_overlap(view, boot, str(first["source"]), since, last_ts)
    why: list[str] = []
    evidence = [Evidence.of_row(first)]
    if stack is not None:
        # The frames of the wait site, quoted from the trace the last report printed.
        evidence += stack_wait_site_evidence(view, trace_after(view, last["source"], int(last["line"]), stack))
    if len(reports) > 1:
        evidence.append(Evidence.of_row(last))
    tasks = [TaskRef(comm, pid)]
    for block in blockers:
        if block["pid"] != pid or block["owner_pid"] is None:
            continue  # another task's, or an owner whose pid no number holds (a garbled digit)
        why.append(f"The kernel names the likely owner of {comm}({pid})'s {block['lock_type']}: "
                   f"{block['owner_comm']}({block['owner_pid']}).")
        evidence.append(Evidence.of_row(block))
        tasks.append(TaskRef(str(block["owner_comm"]), int(block["owner_pid"])))
    earlier = [k for k in kills if k["source"] == first["source"] and k["line"] < last["line"]]
    if earlier and not comm.startswith(_KERNEL_THREADS):
        named = ", ".join(f"{k['comm']}({'?' if k['pid'] is None else k['pid']})" for k in earlier[:_MAX_KILLS_NAMED])
        why.append(
            f"The OOM killer killed {named} before this report: if {comm} is a thread of a "
            "victim, that victim cannot exit (and free its memory) until this wait ends."
        )
        for k in earlier[:_MAX_KILLS_NAMED]:
            evidence.append(view.event_evidence(int(k["event"])))
            if k["pid"] is not None:  # None: a pid no number holds (a garbled digit)
                tasks.append(TaskRef(str(k["comm"]), int(k["pid"])))
    failed = _failed_before(failures, first, last, since)
    if failed:
        labels = list(dict.fromkeys(device_label(row) for _, row in failed))
        _, latest = failed[-1]
        why.insert(0,
            f"Before this report {' and '.join(labels[:3])} reported failures ({len(failed)} line(s), the last "
            f"\"{latest['text']}\"): a task waiting for I/O, or for a lock held across I/O, on a device that "
            "stopped answering hangs like this; check that device before memory (see device-error).")
        evidence.append(view.event_evidence(int(failed[-1][0])))  # type: ignore[call-overload]
    return _Hung(comm, pid, seconds, len(reports), where, trace, site,
                 comm.startswith("kswapd") or correlated, why, evidence, tasks)


def _failed_before(failures: list[tuple[object, dict[str, object]]], first: Row, last: Row,
                   since: float | None) -> list[tuple[object, dict[str, object]]]:
    """The device failures of the hung task's input printed before its last report, and at most
    _FAILURE_REACH seconds before it was last scheduled (without kernel timestamps, at most
    _FAILURE_LINES lines before its first report): an I/O error at boot is no reason for a hang
    an hour later."""
    found = []
    for index, row in failures:
        line = row["line"]
        if row["source"] != first["source"] or line is None or pd.isna(line) or not line < last["line"]:  # type: ignore[arg-type, operator]
            continue
        ts = row["ts"]
        if since is not None and ts is not None and not pd.isna(ts):  # type: ignore[arg-type]
            near = ts >= since - _FAILURE_REACH  # type: ignore[operator]
        else:
            near = line >= int(first["line"]) - _FAILURE_LINES  # type: ignore[operator]
        if near:
            found.append((index, row))
    return found


def _site_key(site: WaitSite) -> str | None:
    """What makes two hung tasks one cause: the same primitive called from the same function
    ("percpu_down_read in mnt_want_write", whichever syscall came through it; the lock a wrapper
    takes is one lock), or past a generic waiting helper, the same origin too."""
    if not site.asleep or site.primitive is None or site.caller is None:
        return None
    caller = function_class(site.caller)
    if caller is not None and caller.role is Role.HELPER:
        # A generic helper (__flush_work, kthread_stop) does not say what it waits for: its origin does.
        return site.describe()
    return f"{site.primitive} in {site.caller}"


def _single(one: _Hung) -> Finding:
    repeat = f" ({one.reports} reports)" if one.reports > 1 else ""
    return Finding(
        rule=RULE,
        severity=Severity.CRITICAL if one.critical else Severity.WARNING,
        title=f"Hung task: {one.label} blocked for more than {one.seconds}s {one.where}" + repeat,
        explanation=" ".join([
            f"khungtaskd found {one.label} in uninterruptible sleep without being scheduled for "
            f"more than {one.seconds} seconds{one.trace}.", *one.why]),
        evidence=one.evidence,
        tasks=one.tasks,
    )


def _finding(members: list[_Hung]) -> Finding:
    """Tasks hung at one wait site: one finding naming them all."""
    seconds = max(m.seconds for m in members)
    least = min(m.seconds for m in members)
    span = f"{seconds}" if least == seconds else f"{least}-{seconds}"
    where = f"waiting in {members[0].site}"
    names = ", ".join(m.label for m in members[:_MAX_NAMED])
    more = f" and {len(members) - _MAX_NAMED} more" if len(members) > _MAX_NAMED else ""
    why = [
        f"khungtaskd found {len(members)} tasks ({names}{more}) in uninterruptible sleep without being "
        f"scheduled for more than {span} seconds, each of them {where} as its call trace shows ("
        + "; ".join(f"{m.label} {m.where}" + (f", {m.reports} reports" if m.reports > 1 else "")
                   for m in members[:_MAX_NAMED]) + "): one wait holds them all."
    ]
    evidence: list[Evidence] = []
    tasks: list[TaskRef] = []
    for member in members:
        why += member.why
        evidence += member.evidence
        tasks += [t for t in member.tasks if t not in tasks]
    return Finding(
        rule=RULE,
        severity=Severity.CRITICAL if any(m.critical for m in members) else Severity.WARNING,
        title=f"Hung tasks: {len(members)} tasks blocked for more than {seconds}s {where}: {names}{more}",
        explanation=" ".join(why),
        evidence=evidence,
        tasks=tasks,
    )
