"""What a task-state line (``sched_show_task()``'s first line) tells the tasks table: its state
letter and pid, from its fields or, compiled per template, from its digit runs alone.

The bulk reader reads task-state lines (one per reported task, as many as MemAlloc lines) without
decoding them: the state letter is part of the line's shape, and the pid is one digit run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stallscope.capture.task_values import to_int
from stallscope.parse.lines import Template

StateAndPid = tuple[str | None, int | None]
StateOf = Callable[[Sequence[str | bytes]], StateAndPid]


def state_and_pid(fields: dict[str, str]) -> StateAndPid:
    state = fields.get("state")
    if state is None:
        head = fields.get("task_head", "").rstrip()
        state = head[-1:] if head else None
    return state, state_pid(fields)


def state_comm(fields: dict[str, str]) -> str | None:
    """The command name of a task-state line: ``task:comm`` (5.9+), or the head before the state
    letter (``kswapd0         D``)."""
    comm = fields.get("comm")
    if comm is not None:
        return comm.strip() or None
    head = fields.get("task_head", "").rstrip()
    return (head[:-1].rstrip() or None) if head else None


def state_pid(fields: dict[str, str]) -> int | None:
    pid = fields.get("pid")
    if pid is not None:
        return to_int(pid)
    # The old layout has no labels: free stack, pid, ppid are the last three numbers.
    numbers = fields.get("num", "").split()
    return int(numbers[-2]) if len(numbers) >= 2 else None


def compile_state_of(template: Template) -> StateOf | None:
    """:func:`state_and_pid` of ``template.fill(numbers)`` as a function of ``numbers`` (str or
    bytes digit runs), or None when the shape holds something this does not fold."""
    constants = dict(template.constants)
    variables = dict(template.variables)
    if "state" in variables:
        return None
    state, _ = state_and_pid(constants)
    if "state" not in constants and "task_head" in variables:
        # The old layout's "comm  S": the letter ends the head; a command name with digits
        # (kswapd0) makes the head variable, not its last letter.
        last = variables["task_head"][-1]
        if not isinstance(last, str) or not last.rstrip():
            return None
        state = last.rstrip()[-1]
    if "pid" in variables:
        segments = variables["pid"]
        if len(segments) != 1 or not isinstance(segments[0], int):
            return None
        at = segments[0]
        return lambda numbers: (state, int(numbers[at]))
    if "pid" in constants or "num" not in variables:
        pid = state_pid(constants)
        return lambda numbers: (state, pid)
    if "num" in variables:
        runs = [part for part in variables["num"] if isinstance(part, int)]
        # Digit runs joined by blanks only, so that its words are exactly those runs.
        if any(isinstance(part, str) and part.strip() for part in variables["num"]):
            return None
        if len(runs) < 2:
            return lambda numbers: (state, None)
        at = runs[-2]
        return lambda numbers: (state, int(numbers[at]))
    return None
