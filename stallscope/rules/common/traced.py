"""Every call trace a view holds, with whose it is: the tasks' (watchdog reports, task dumps) and
the reports' own (a hung task, a soft lockup, an RCU stall): for rules that look for a pattern in
any trace, whoever printed it."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from stallscope.capture.events import field, kind_records
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


def traced(view: HostView) -> list[Traced]:
    """The latest trace of every task, then the trace of every report that has one: each trace
    once (a hung-task report and the task row of its dump share one). Derived once per view for
    every rule that reads it (callers must not change them)."""
    return view.of_view("traced", lambda view: list(_traced(view)))


def _traced(view: HostView) -> Iterator[Traced]:
    tasks = latest_tasks(view)
    seen: set[tuple[str, ...]] = set()
    for task in tasks.index:
        row = int(task)
        functions = functions_of(view, row)
        if not functions or tuple(functions) in seen:
            continue
        seen.add(tuple(functions))
        delay = view.cell("tasks", row, "delay")
        yield Traced(None, None, functions, None if delay is None or pd.isna(delay) else int(delay), None, view, row)
    reports = kind_records(view.rows, *EVENT_KINDS_WITH_TRACE)
    if not reports:
        return
    stacks = stack_functions(view)
    for index, row in reports:
        if missing(row["stack"]):
            continue
        stack = int(row["stack"])  # type: ignore[call-overload]
        functions = stacks.get(stack, [])
        if not functions or tuple(functions) in seen:
            continue
        seen.add(tuple(functions))
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
        yield Traced(who, TaskRef(str(comm), int(pid)) if known else None, functions, None,  # type: ignore[call-overload]
                     view.event_evidence(int(index)), view, None, position)  # type: ignore[call-overload]
