"""Every call trace a view holds, with whose it is: the tasks' (watchdog reports, task dumps) and
the reports' own (a hung task, a soft lockup, an RCU stall): for rules that look for a pattern in
any trace, whoever printed it."""

from __future__ import annotations

import pandas as pd

from stallscope.capture.events import field
from stallscope.capture.model import missing
from stallscope.parse.kinds import EVENT_KINDS_WITH_TRACE
from stallscope.rules.base import Evidence, HostView, TaskRef
from stallscope.rules.common.task_facts import (
    frame_evidence,
    functions_of,
    label,
    latest_tasks,
    stack_functions,
    task_ref,
    trace_after,
    trace_frame_evidence,
)

# The view memo of traced(): several rules read it (see SHARED_DERIVATIONS in stallscope.rules).
TRACED = "traced"


class Traced:
    """One trace: whose (``who``, ``task``), its functions innermost first, and how to quote it.

    A task row's name and line are read when a rule asks for them: every task of a boot has a
    trace, and a rule quotes a few of them."""

    __slots__ = ("_line", "_position", "_task", "_task_row", "_view", "_who", "delay", "functions")

    def __init__(self, who: str | None, task: TaskRef | None, functions: list[str], delay: int | None,
                 line: Evidence | None, view: HostView, task_row: int | None = None, position: int = -1) -> None:
        self._who = who
        self._task = task
        self.functions = functions
        self.delay = delay  # the watchdog's delay of a task row (jiffies), None elsewhere
        self._line = line
        self._view = view
        self._task_row = task_row
        self._position = position

    @property
    def who(self) -> str:
        if self._who is None:
            self._who = label(self._view, self._task_row)  # type: ignore[arg-type]
        return self._who

    @property
    def task(self) -> TaskRef | None:
        if self._task is None and self._task_row is not None:
            self._task = task_ref(self._view, self._task_row)
        return self._task

    @property
    def line(self) -> Evidence:
        """The task's or the report's line."""
        if self._line is None:
            self._line = self._view.task_evidence(self._task_row)  # type: ignore[arg-type]
        return self._line

    @property
    def of_report(self) -> bool:
        """Whether the trace is a report's own (a soft lockup caught the CPU there), not a task row's."""
        return self._task_row is None

    def frames(self, positions: list[int]) -> list[Evidence]:
        """The printed lines of the frames at ``positions`` of :attr:`functions`."""
        if self._task_row is not None:
            return frame_evidence(self._view, self._task_row, positions)
        return trace_frame_evidence(self._view, self._position, positions)


def traced(view: HostView) -> dict[int, list[Traced]]:
    """Per boot of the view (0 where none is numbered), the latest trace of every task, then the
    trace of every report that has one: each trace once in its boot (a hung-task report and the
    task row of its dump share one). Derived once per view for every rule that reads it (callers
    must not change them)."""
    return view.of_view(TRACED, _traced)


def _traced(view: HostView) -> dict[int, list[Traced]]:
    found: dict[int, list[Traced]] = {}
    seen: dict[int, set[tuple[str, ...]]] = {}
    tasks = latest_tasks(view)
    for row, boot in zip(tasks.index.tolist(), view.boots_of("tasks", tasks.index).tolist(), strict=True):
        functions = functions_of(view, row)
        if not functions or tuple(functions) in seen.setdefault(boot, set()):
            continue
        seen[boot].add(tuple(functions))
        delay = view.cell("tasks", row, "delay")
        found.setdefault(boot, []).append(
            Traced(None, None, functions, None if delay is None or pd.isna(delay) else int(delay), None, view, row))
    reports = view.records_by_boot(*EVENT_KINDS_WITH_TRACE)
    if not reports:
        return dict(sorted(found.items()))
    stacks = stack_functions(view)
    for boot, rows in reports.items():
        mine = seen.setdefault(boot, set())
        for index, row in rows:
            if missing(row["stack"]):
                continue
            stack = int(row["stack"])  # type: ignore[call-overload]
            functions = stacks.get(stack, [])
            if not functions or tuple(functions) in mine:
                continue
            mine.add(tuple(functions))
            found.setdefault(boot, []).append(_of_report(view, index, row, stack, functions))
    return dict(sorted(found.items()))


def _of_report(view: HostView, index: object, row: dict[str, object], stack: int, functions: list[str]) -> Traced:
    """The trace of a report (a hung task, a soft lockup, an RCU stall), named as it names its task."""
    pid = row["pid"]
    comm = row["comm"]
    known = isinstance(comm, str) and pid is not None and not pd.isna(pid)  # type: ignore[arg-type]
    if known:
        who = f"{comm}({int(pid)})"  # type: ignore[call-overload]
    else:
        # A CPU's backtrace (an NMI backtrace, an RCU stall's dump) names the CPU, not a task.
        what, cpu = str(row["kind"]).replace("_", " "), field(row, "cpu")
        who = str(comm) if isinstance(comm, str) else (f"CPU {cpu} ({what})" if cpu else what)
    position = trace_after(view, row["source"], int(row["line"]) - 1, stack)  # type: ignore[call-overload]
    return Traced(who, TaskRef(str(comm), int(pid)) if known else None, functions, None,  # type: ignore[call-overload]
                  view.event_evidence(int(index)), view, None, position)  # type: ignore[call-overload]
