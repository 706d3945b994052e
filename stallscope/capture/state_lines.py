"""What a task-state line (``sched_show_task()``'s first line) tells the tasks table: its state
letter, pid and command name, from its fields.

:func:`state_and_pid` is the one definition. :func:`state_plan` only records, once per line
shape, how its answer depends on the line's digits, found by asking :func:`state_and_pid` itself;
the bulk reader then reads a task's state and pid without filling the line's fields (measured in
bench/README.md, twenty-first round).
"""

from __future__ import annotations

from stallscope.capture.task_values import to_int
from stallscope.parse.lines import Template

StateAndPid = tuple[str | None, int | None]
# (the state letter, the index of the digit run that is the pid, None: no pid) of a line shape.
StatePlan = tuple[str | None, int | None]
# Every field the functions below read: a reader that has a line's template fills only these.
STATE_FIELDS = frozenset({"state", "task_head", "comm", "pid", "num"})


def state_and_pid(fields: dict[str, str]) -> StateAndPid:
    """The state letter and pid of a task-state line. One function, not one per field: it runs
    once per task of a capture (bench/README.md, twenty-first round)."""
    state = fields.get("state")
    if state is None:
        head = fields.get("task_head", "").rstrip()
        state = head[-1:] if head else None
    pid = fields.get("pid")
    if pid is None:
        # The old layout has no labels: free stack, pid, ppid are the last three numbers.
        numbers = fields.get("num", "").split()
        return state, int(numbers[-2]) if len(numbers) >= 2 else None
    try:
        return state, int(pid)
    except ValueError:  # a field the grammar saw twice (see to_int)
        return state, to_int(pid)


def state_comm(fields: dict[str, str]) -> str | None:
    """The command name of a task-state line: ``task:comm`` (5.9+), or the head before the state
    letter (``kswapd0         D``)."""
    comm = fields.get("comm")
    if comm is not None:
        return comm.strip() or None
    head = fields.get("task_head", "").rstrip()
    return (head[:-1].rstrip() or None) if head else None


def state_plan(template: Template, runs: int) -> StatePlan | None:
    """How :func:`state_and_pid` reads a task-state line of ``template`` (a shape of ``runs``
    digit runs): the same state letter whatever the digits, and the pid as one digit run (or
    none); None when it is not that simple (then fill the fields and ask it).

    Found by filling the shape with two sets of digit runs, all different, and asking
    :func:`state_and_pid` of each: a pid that is the k-th run in both is the k-th run."""
    first = [str(1000 + at) for at in range(runs)]
    second = [str(5000 + 7 * at) for at in range(runs)]
    try:
        state, pid = state_and_pid(template.fill(first))
        other_state, other_pid = state_and_pid(template.fill(second))
    except ValueError:  # a pid that is not a number in this shape: the fields decide, line by line
        return None
    if state != other_state:
        return None
    if pid is None and other_pid is None:
        return state, None
    found = [at for at in range(runs) if pid == int(first[at]) and other_pid == int(second[at])]
    return (state, found[0]) if len(found) == 1 else None
