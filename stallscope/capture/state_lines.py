"""What a task-state line (``sched_show_task()``'s first line) tells the tasks table: its state
letter, pid and command name, from its fields.

A version compiled per template from the digit runs alone was retired: 2.2-5.5x on a step of at
most 1.1% of ``analyze``, 1.02-1.18x on a whole load within the machine's noise (bench/pairs.py,
bench/README.md).
"""

from __future__ import annotations

from stallscope.capture.task_values import to_int

StateAndPid = tuple[str | None, int | None]
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
