"""A task-state line's plan (how its state and pid follow from its digits) gives what its fields
give, on every task-state line of the real logs in tests/data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stallscope.capture.state_lines import STATE_FIELDS, state_and_pid, state_plan
from stallscope.parse.kinds import STATE_KINDS
from stallscope.parse.lines import LineParser, Template
from stallscope.records.stream import RecordReader

DATA = Path(__file__).resolve().parents[1] / "data"
_DIGIT_RUN = re.compile(r"[0-9]+")
_NOT_LOGS = {".json", ".md", ".sh", ".py", ".expect"}


def _state_lines() -> list[tuple[str, str]]:
    """(file, body) of every task-state line of the logs of tests/data (report fixtures and
    syzkaller's reports included)."""
    parser = LineParser()
    found: list[tuple[str, str]] = []
    for path in sorted(DATA.rglob("*")):
        if not path.is_file() or path.suffix in _NOT_LOGS:
            continue
        reader = RecordReader(str(path))
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
        records = [record for number, line in enumerate(text, 1) for record in reader.feed(number, line)]
        records.extend(reader.flush())
        for record in records:
            parsed = parser.parse(record.body)
            if parsed is not None and parsed.kind in STATE_KINDS:
                found.append((str(path.relative_to(DATA)), record.body))
    return found


STATE_LINES = _state_lines()


def test_the_logs_hold_both_layouts_of_task_state_lines() -> None:
    bodies = [body for _name, body in STATE_LINES]
    assert len(bodies) > 300
    assert any("task:" in body and "state:" in body for body in bodies)  # 5.9+
    assert any("task:" not in body for body in bodies)  # "kswapd0  D ffff... 0 69 2 0x00000000"


def test_a_plan_gives_what_the_fields_give_on_every_real_task_state_line() -> None:
    parser = LineParser()
    planned = 0
    for name, body in STATE_LINES:
        template = parser.template(body)
        assert template is not None, (name, body)
        runs = _DIGIT_RUN.findall(body)
        plan = state_plan(template.only(STATE_FIELDS), len(runs))
        expected = state_and_pid(template.fill(runs))
        if plan is None:
            continue
        planned += 1
        state, pid_run = plan
        assert (state, None if pid_run is None else int(runs[pid_run])) == expected, (name, body)
    # The shapes real logs print are planned (a pid that is one digit run, a state letter that no
    # digit changes): both layouts, kworkers' names with digits included.
    assert planned == len(STATE_LINES)


@pytest.mark.parametrize(("body", "state", "pid"), [
    ("task:kworker/u8:2    state:D stack:0     pid:12    tgid:12    ppid:2      flags:0x00004000", "D", 12),
    ("kworker/3:1     D    0    70      2 0x00000000", "D", 70),
    ("kswapd0         D ffff88003fc16a40     0    69      2 0x00000000", "D", 69),
])
def test_a_plan_reads_the_pid_from_the_run_the_fields_take_it_from(body: str, state: str, pid: int) -> None:
    template = LineParser().template(body)
    assert template is not None and template.kind in STATE_KINDS
    runs = _DIGIT_RUN.findall(body)
    plan = state_plan(template.only(STATE_FIELDS), len(runs))
    assert plan is not None
    assert (plan[0], int(runs[plan[1]])) == (state, pid) == state_and_pid(template.fill(runs))


def test_no_plan_where_the_state_letter_depends_on_the_digits() -> None:
    # A shape whose "state" is a digit run (no kernel prints one): the fields must be read.
    template = Template("task_state_new", (("comm", "x"),), (("state", (0,)), ("pid", (1,))), (),
                        (("state", 0), ("pid", 1)))
    assert state_plan(template, 2) is None
